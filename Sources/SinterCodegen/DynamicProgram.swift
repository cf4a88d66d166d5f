import SinterIR
import SinterPasses

/// An artifact whose first-axis size N (usually the batch) is chosen at run time
/// (`sinter compile --dynamic N=1..256`): the graph lowered once per specialised size, and a
/// `NAME_run(ctx, n, ...)` that covers `n` with runs of those sizes, largest first, each on a
/// contiguous part of every input and output that carries N. `DynamicBatch.check` has proved
/// that the graph keeps the entries of N apart, so the parts give the whole.
///
/// Sizes are 1 and the powers of two up to the bound (at most 64): a run of 7 is 4 + 2 + 1.
/// Kernels that come out identical in two variants are emitted once, and so are weights.
public struct DynamicProgram: Sendable {
    public struct Variant: Sendable {
        public var size: Int
        public var program: KernelProgram
        public init(size: Int, program: KernelProgram) {
            self.size = size
            self.program = program
        }
    }

    /// The symbol's name in the model (`N`, `batch_size`).
    public var symbol: String
    public var minimum: Int
    /// nil: any n ≥ minimum.
    public var maximum: Int?
    /// Ascending sizes; the first is 1.
    public var variants: [Variant]
    /// Which inputs and outputs carry N on axis 0.
    public var batched: DynamicBatch.Axes
    /// Every variant's weights, each distinct tensor once.
    public private(set) var constants: [TensorData] = []
    /// For each variant, its constant `i` is `constants[constantIndex[variant][i]]`.
    public private(set) var constantIndex: [[Int]] = []

    /// The sizes to specialise for `minimum...maximum`.
    public static func sizes(maximum: Int?) -> [Int] {
        let cap = Swift.min(maximum ?? 64, 64)
        return [1, 2, 4, 8, 16, 32, 64].filter { $0 <= cap }
    }

    public init(symbol: String, minimum: Int, maximum: Int?, variants: [Variant], batched: DynamicBatch.Axes) {
        self.symbol = symbol
        self.minimum = minimum
        self.maximum = maximum
        self.variants = variants
        self.batched = batched
        var index: [TensorData: Int] = [:]
        for v in variants {
            constantIndex.append(
                v.program.constants.map { t in
                    if let i = index[t] { return i }
                    constants.append(t)
                    index[t] = constants.count - 1
                    return constants.count - 1
                })
        }
    }

    public var name: String { variants[0].program.name }

    /// Inputs and outputs as introspection reports them: -1 for the N axis.
    public var inputs: [KernelProgram.TensorSpec] { symbolic(variants[0].program.inputs, batched.inputs) }
    public var outputs: [KernelProgram.TensorSpec] { symbolic(variants[0].program.outputs, batched.outputs) }

    private func symbolic(_ specs: [KernelProgram.TensorSpec], _ carries: [Bool]) -> [KernelProgram.TensorSpec] {
        zip(specs, carries).map { s, b in
            var s = s
            if b {
                s.shape[0] = -1
                s.type.dims[0] = .symbol(symbol)
            }
            return s
        }
    }

    /// The sizes a run over `n` entries is cut into, largest first.
    public func parts(_ n: Int) -> [Int] {
        var left = n
        var out: [Int] = []
        for v in variants.reversed() {
            while left >= v.size {
                out.append(v.size)
                left -= v.size
            }
        }
        return out
    }

    public func contains(_ n: Int) -> Bool { n >= minimum && n <= (maximum ?? Int.max) }

    /// `NAME_workspace_size_for(n)`: the largest workspace of the variants a run over `n` uses.
    public func workspaceSize(for n: Int) -> Int {
        variants.filter { $0.size <= n }.map(\.program.workspaceSize).max() ?? 0
    }

    /// `NAME_workspace_size()`: enough for every n within the bounds.
    public var workspaceSize: Int { workspaceSize(for: maximum ?? Int.max) }
}
