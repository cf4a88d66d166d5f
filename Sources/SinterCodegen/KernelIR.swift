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

/// The kernel IR: one loop nest per fused group, described by its iteration space and the
/// strides of each operand, after dimensions that can be walked as one have been merged.
/// Emitters turn each case into one LLVM function with explicit vector code.
public enum KernelBody: Hashable, Sendable {
    /// out[i] = expr(in0[i·s0], in1[i·s1], ...) over `shape`; `strides[k]` are operand k's
    /// element strides per dimension (0 where it broadcasts).
    case elementwise(expr: ScalarExpr, shape: [Int], strides: [[Int]])
    /// Batched C[b] = A[b] · B[b]; batch strides are element strides into A and B per batch dim.
    case matmul(batch: [Int], aBatchStrides: [Int], bBatchStrides: [Int], m: Int, n: Int, k: Int)
    /// Byte copy (reshape, or an output that is an input or a constant).
    case copy(bytes: Int)
    /// out (row-major over `shape`) = in at `inStrides` (elements).
    case transpose(shape: [Int], inStrides: [Int], elementBytes: Int)
    /// Softmax over the middle dimension of [outer, axis, inner].
    case softmax(outer: Int, axis: Int, inner: Int)
    /// Reduction over the dims flagged in `reduced` (adjacent dims of the same kind merged).
    case reduce(ReduceKind, shape: [Int], reduced: [Bool])
}

public struct Kernel: Hashable, Sendable {
    /// Symbol of the LLVM function (internal linkage).
    public var name: String
    public var body: KernelBody
    public var operands: [Buffer]
    public var result: Buffer
    /// f32 lanes per vector for this kernel's schedule.
    public var vectorWidth: Int
    /// The graph node(s) the kernel computes, for reports.
    public var sources: [String]
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
    public var workspaceBytes: Int
    public static let workspaceAlignment = MemoryPlan.alignment
    /// What `NAME_workspace_size()` reports: the arena rounded up to the alignment, so the
    /// value can go straight to C11 `aligned_alloc`.
    public var workspaceSize: Int {
        (workspaceBytes + Self.workspaceAlignment - 1) / Self.workspaceAlignment * Self.workspaceAlignment
    }
}
