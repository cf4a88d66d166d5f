import SinterIR
import SinterPasses

typealias CodegenError = SinterError

/// Where a kernel operand lives at run time.
public enum Buffer: Hashable, Sendable, CustomStringConvertible {
    case input(Int)
    case output(Int)
    case workspace(offset: Int)
    case constant(Int)

    public var description: String {
        switch self {
        case .input(let i): "input[\(i)]"
        case .output(let i): "output[\(i)]"
        case .workspace(let o): "workspace+\(o)"
        case .constant(let i): "weight[\(i)]"
        }
    }
}

/// A copy of `shape` elements from `in + inOffset` at `inStrides` to `out + outOffset` at
/// `outStrides` (all in elements): transpose, slice, tile, split and concat parts.
public struct StridedCopy: Hashable, Sendable {
    public var shape: [Int]
    public var inStrides: [Int]
    public var inOffset: Int
    public var outStrides: [Int]
    public var outOffset: Int
    public var elementBytes: Int
}

/// Elementwise work fused into a matmul or conv store: `expr` reads the accumulator as
/// operand 0 and the kernel's extra operands (after A/X and B/W) as operands 1, 2, ...
public struct Epilogue: Hashable, Sendable {
    public struct Operand: Hashable, Sendable {
        public var dtype: DType
        /// Element strides per batch dimension (matmul) or for the image index (conv).
        public var batch: [Int]
        /// Element stride per output row (matmul M, conv output channel).
        public var row: Int
        /// Element stride per output column (matmul N, conv spatial position): 0 or 1.
        public var col: Int
    }
    public var expr: ScalarExpr
    public var operands: [Operand]
    /// The kernel's result dtype: f32, or the 8-bit type of a quantization the int8 kernels end
    /// their epilogue with (its final cast), which they then store.
    public var result: DType = .f32
}

/// Where a matmul operand's elements are, in elements: `offset`, then a stride per batch
/// dimension and one for each of its two matrix axes (A: rows m then k; B: k then columns n).
/// Transposes folded into the matmul (`trans_a`/`trans_b`, or a fused transpose in front)
/// only change these numbers.
public struct MatrixLayout: Hashable, Sendable {
    public var offset: Int
    public var batch: [Int]
    public var rowStride: Int
    public var colStride: Int

    /// A contiguous row-major `rows × cols` matrix per batch entry.
    public static func contiguous(batch: [Int], rows: Int, cols: Int) -> MatrixLayout {
        MatrixLayout(offset: 0, batch: batch.map { $0 * rows * cols }, rowStride: cols, colStride: 1)
    }
}

/// Geometry of a convolution or pooling window over NC[spatial] tensors.
public struct WindowGeometry: Hashable, Sendable {
    public var batch: Int
    public var channels: Int  // input channels
    public var input: [Int]  // spatial input sizes
    public var window: ShapeRules.Window
    public var outChannels: Int  // conv: M; pooling: = channels
    public var group: Int
    public var countIncludePad: Bool
}

/// Geometry of a 2-D convolution on channel-blocked tensors: x [batch, inBlocks, H, W, inBlock],
/// weights [outBlocks, inBlocks, kh, kw, inBlock, block], result [batch, outBlocks, OH, OW, block].
/// An inBlock of 1 is a plain NCHW input.
public struct BlockedConvGeometry: Hashable, Sendable {
    public var batch: Int
    public var inBlocks: Int
    public var outBlocks: Int
    public var block: Int
    public var inBlock: Int
    public var input: [Int]  // H, W
    public var window: ShapeRules.Window
    /// Groups of a grouped dense conv (1: dense); output block o reads the input blocks
    /// `ShapeRules.groupedInBlocks(o)`. The weights hold `weightInBlocks` input blocks per
    /// output block (all `inBlocks` when dense); unused by depthwise convs.
    public var group = 1
    public var weightInBlocks = 0

    /// The input blocks output block `ob` reads, as run-time values [lo, hi): for a grouped
    /// conv, loaded from a table of `ShapeRules.groupedInBlocks` (the one definition the
    /// weights were blocked by) with one (lo, hi) pair per output block.
    func inBlockRange(_ ir: IRBuilder, _ ob: IRValue) -> (IRValue, IRValue) {
        guard group > 1 else { return (ir.constI64(0), ir.constI64(inBlocks)) }
        let ranges = (0..<outBlocks).flatMap { o in
            let r = ShapeRules.groupedInBlocks(
                o, inChannels: inBlocks * inBlock, outChannels: outBlocks * block, group: group, x: inBlock, y: block)
            return [r.lowerBound, r.upperBound]
        }
        let table = ir.constantGlobal("group_blocks", ir.constArray(ir.i64, ranges.map { ir.constI64($0) }))
        let at = ir.mul(ob, ir.constI64(2))
        return (
            ir.load(ir.i64, ir.gep(ir.i64, table, at), align: 8),
            ir.load(ir.i64, ir.gep(ir.i64, table, ir.add(at, ir.constI64(1))), align: 8)
        )
    }
}

public struct Kernel: Hashable, Sendable {
    /// Symbol of the LLVM function (internal linkage).
    public var name: String
    public var body: KernelBody
    public var operands: [Buffer]
    /// Bytes added to each operand's address before the call (`KernelUnitBody.hoistingOffsets`);
    /// empty when all are 0.
    public var operandOffsets: [Int] = []
    public var result: Buffer
    /// f32 lanes per vector for this kernel's schedule.
    public var vectorWidth: Int
    /// Register tile of a register-blocked micro-kernel (blocked conv: output blocks ×
    /// pixels), from `Schedules`; empty for kernels without one.
    public var registerTile: [Int] = []
    /// The graph node(s) the kernel computes, for reports.
    public var sources: [String]
    /// Workspace bytes the kernel needs for itself while it runs (im2col buffers); they are
    /// placed after the arena and passed as the last argument.
    public var scratchBytes: Int = 0
    /// How many independent parts the kernel splits into for the thread pool (1: not split).
    /// Parts share the kernel's scratch; each uses its own region (see the unit body's `schedule`).
    public var tasks: Int = 1

    /// What the kernel's function depends on: everything but its name, sources and buffers.
    struct Code: Hashable {
        var body: KernelBody
        var operands: Int
        var scratch: Bool
        var split: Bool
        var vectorWidth: Int
        var registerTile: [Int]
    }

    var code: Code {
        Code(
            body: body, operands: operands.count, scratch: scratchBytes > 0, split: tasks > 1,
            vectorWidth: vectorWidth, registerTile: registerTile)
    }
}

/// Everything codegen needs to build the artifact, independent of LLVM.
public struct KernelProgram: Sendable {
    public struct TensorSpec: Hashable, Sendable {
        public var name: String
        public var type: TensorType
        public var shape: [Int]
    }
    public var name: String
    public var inputs: [TensorSpec]
    public var outputs: [TensorSpec]
    public var constants: [TensorData]
    public var kernels: [Kernel]
    /// The memory plan's arena; kernel scratch follows it at `scratchOffset`.
    public var workspaceBytes: Int
    public static let workspaceAlignment = MemoryPlan.alignment

    static func aligned(_ n: Int) -> Int { (n + workspaceAlignment - 1) / workspaceAlignment * workspaceAlignment }

    public var scratchOffset: Int { Self.aligned(workspaceBytes) }

    /// What `NAME_workspace_size()` reports: arena plus the largest kernel scratch, rounded
    /// up to the alignment so the value can go straight to C11 `aligned_alloc`.
    public var workspaceSize: Int { Self.aligned(scratchOffset + (kernels.map(\.scratchBytes).max() ?? 0)) }
}
