import SinterCodegen
import SinterIR
import Testing

/// The generated code really is vectorised for this CPU: packed zmm (AVX-512) or ymm (AVX2)
/// instructions in the kernels for add, exp and reduce-sum at an awkward size (n = 1027).
struct AssemblyTests {
    static func packedRegister(_ target: Target) -> String? {
        guard target.isX86 else { return nil }
        return target.vectorWidth == 16 ? "zmm" : target.vectorWidth == 8 ? "ymm" : "xmm"
    }

    static func kernelAssembly(_ g: Graph) throws -> String {
        let asm = try Codegen.assembly(lowered(g), prefix: "t")
        // Only the kernel functions (k<index>_<op>), not the ABI glue.
        var out = "", inKernel = false
        for line in asm.split(separator: "\n") {
            if line.hasSuffix(":") && !line.hasPrefix(".") && !line.hasPrefix(" ") && !line.hasPrefix("\t") {
                inKernel = line.hasPrefix("k")
            }
            if inKernel { out += line + "\n" }
        }
        return out
    }

    @Test(arguments: ["add", "exp", "reduce-sum"])
    func packedVectorCode(_ opName: String) throws {
        let target = Target.host
        guard let reg = Self.packedRegister(target) else { return }
        let op = try #require(Op(rawValue: opName))
        var b = GraphBuilder(name: "v")
        let x = try b.input("x", TensorType(.f32, [1027]))
        let y = op == .add ? try b.binary(.add, x, try b.input("y", TensorType(.f32, [1027]))) : try b.unary(op, x)
        b.output(y)
        let asm = try Self.kernelAssembly(b.graph)
        let mnemonic: String = switch op {
        case .add, .reduceSum: "vaddps"
        default: "vfmadd"
        }
        let packed = asm.split(separator: "\n").filter { $0.contains(mnemonic) && $0.contains("%\(reg)") }
        #expect(!packed.isEmpty, "no packed \(mnemonic) on \(reg) in the \(opName) kernel:\n\(asm.prefix(3000))")
    }

    @Test func weightsAreOneByteStringPerTensor() throws {
        var b = GraphBuilder(name: "w")
        let x = try b.input("x", TensorType(.f32, [2, 3]))
        let w = try b.constant(TensorData((0..<6).map(Float.init), shape: [3, 2]))
        b.output(try b.matmul(x, w))
        let ll = try Codegen.llvmIR(lowered(b.graph), prefix: "w", optimize: false)
        let weightLines = ll.split(separator: "\n").filter { $0.hasPrefix("@w_weight0 ") }
        #expect(weightLines.count == 1)
        #expect(weightLines.first?.contains("constant [24 x i8] c\"") == true, "\(weightLines)")
    }
}
