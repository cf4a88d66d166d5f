#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Open MPI, loaded at run time (`dlopen`), so building Sinter needs no MPI and only
/// `--data-parallel` runs need it installed. Only what data-parallel training uses: the world
/// communicator's rank and size, and a sum all-reduce.
///
/// Open MPI's handles (`MPI_COMM_WORLD`, `MPI_FLOAT`, `MPI_SUM`) are addresses of exported
/// globals (`ompi_mpi_comm_world`, ...), which is how they are found here; an MPI library
/// without them (MPICH's handles are integers) is refused with a message.
public final class MPI: @unchecked Sendable {
    public let rank: Int
    public let size: Int
    private let handle: UnsafeMutableRawPointer
    private let allreduce:
        @convention(c) (
            UnsafeRawPointer?, UnsafeMutableRawPointer?, Int32, UnsafeMutableRawPointer?, UnsafeMutableRawPointer?,
            UnsafeMutableRawPointer?
        ) -> Int32
    private let finalizeFn: @convention(c) () -> Int32
    private let world, float, sum: UnsafeMutableRawPointer
    private var finalized = false

    /// Loads libmpi (`SINTER_MPI_LIBRARY`, else Open MPI's `libmpi.so.40`) and calls MPI_Init.
    public init() throws(SinterError) {
        let names =
            getenv("SINTER_MPI_LIBRARY").map { [String(cString: $0)] } ?? ["libmpi.so.40", "libmpi.so", "libmpi.dylib"]
        var loaded: UnsafeMutableRawPointer?
        var why = ""
        for name in names {
            // RTLD_GLOBAL: Open MPI's own plugins resolve libmpi's symbols through it.
            loaded = dlopen(name, RTLD_NOW | RTLD_GLOBAL)
            if loaded != nil { break }
            why = dlerror().map { String(cString: $0) } ?? "not found"
        }
        guard let loaded else {
            throw SinterError(
                "--data-parallel needs Open MPI's libmpi at run time (\(why)); on Debian or Ubuntu: "
                    + "apt install openmpi-bin, then run `mpirun -n K sinter train ... --data-parallel`")
        }
        handle = loaded
        func symbol(_ name: String) throws(SinterError) -> UnsafeMutableRawPointer {
            guard let p = dlsym(loaded, name) else {
                throw SinterError(
                    "the MPI library has no '\(name)': --data-parallel supports Open MPI (set SINTER_MPI_LIBRARY "
                        + "to its libmpi.so)")
            }
            return p
        }
        typealias Init = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
        typealias Query = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<Int32>?) -> Int32
        let initFn = unsafeBitCast(try symbol("MPI_Init"), to: Init.self)
        let rankFn = unsafeBitCast(try symbol("MPI_Comm_rank"), to: Query.self)
        let sizeFn = unsafeBitCast(try symbol("MPI_Comm_size"), to: Query.self)
        allreduce = unsafeBitCast(try symbol("MPI_Allreduce"), to: type(of: allreduce))
        finalizeFn = unsafeBitCast(try symbol("MPI_Finalize"), to: type(of: finalizeFn))
        world = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        sum = try symbol("ompi_mpi_op_sum")
        guard initFn(nil, nil) == 0 else { throw SinterError("MPI_Init failed") }
        var r: Int32 = 0, s: Int32 = 0
        guard rankFn(world, &r) == 0, sizeFn(world, &s) == 0 else {
            throw SinterError("MPI_Comm_rank/MPI_Comm_size failed")
        }
        rank = Int(r)
        size = Int(s)
    }

    /// Element-wise sum over all ranks, in place (MPI_Allreduce with MPI_SUM on floats).
    public func sumAll(_ values: inout [Float]) throws(SinterError) {
        guard size > 1, !values.isEmpty else { return }
        var out = [Float](repeating: 0, count: values.count)
        let status = values.withUnsafeBytes { send in
            out.withUnsafeMutableBytes { recv in
                allreduce(send.baseAddress, recv.baseAddress, Int32(values.count), float, sum, world)
            }
        }
        guard status == 0 else { throw SinterError("MPI_Allreduce failed (\(status))") }
        values = out
    }

    /// MPI_Finalize; afterwards no other call may be made.
    public func finalize() {
        guard !finalized else { return }
        finalized = true
        _ = finalizeFn()
    }
}
