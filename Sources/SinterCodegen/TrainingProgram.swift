import SinterIR

/// What `sinter compile --train` adds to an artifact: three lowered programs that share the
/// parameters as inputs, the parameters' starting values, and the optimizer's starting
/// learning rate. `ModuleEmitter.emitTraining` turns them into the `NAME_train_*` C ABI.
///
/// - `gradients`: `(model inputs..., labels, step, params..., states...) -> (loss, grads...,
///   states'...)` (states: batch norm's running statistics);
/// - `apply`: `(grads..., lr, step, params..., slots...) -> (params'..., slots'...)`;
/// - `predict`: `(model inputs..., params..., states...) -> (model outputs...)`.
public struct TrainingProgram: Sendable {
    public var gradients: KernelProgram
    public var apply: KernelProgram
    public var predict: KernelProgram
    /// Starting values, one per parameter, in input order.
    public var initialParameters: [TensorData]
    /// Starting values of the states, in input order.
    public var initialStates: [TensorData]
    public var learningRate: Float
    /// Names every parameter and slot with its type and the optimizer: a checkpoint of another
    /// model or optimizer is refused (`SINTER_ERR_CHECKPOINT_MISMATCH`).
    public var fingerprint: UInt64

    public init(
        gradients: KernelProgram, apply: KernelProgram, predict: KernelProgram, initialParameters: [TensorData],
        initialStates: [TensorData] = [], learningRate: Float, fingerprint: UInt64
    ) {
        self.initialStates = initialStates
        self.gradients = gradients
        self.apply = apply
        self.predict = predict
        self.initialParameters = initialParameters
        self.learningRate = learningRate
        self.fingerprint = fingerprint
    }

    public var parameterCount: Int { initialParameters.count }
    var stateCount: Int { initialStates.count }
    /// Where the parameters start among the gradients program's inputs.
    private var firstParameter: Int { gradients.inputs.count - stateCount - parameterCount }
    public var modelInputs: [KernelProgram.TensorSpec] { Array(gradients.inputs.prefix(firstParameter - 2)) }
    public var labels: KernelProgram.TensorSpec { gradients.inputs[firstParameter - 2] }
    public var parameters: [KernelProgram.TensorSpec] {
        Array(gradients.inputs[firstParameter..<(firstParameter + parameterCount)])
    }
    /// The optimizer's slots.
    public var slots: [KernelProgram.TensorSpec] { Array(apply.inputs.dropFirst(2 * parameterCount + 2)) }
    public var states: [KernelProgram.TensorSpec] { Array(gradients.inputs.suffix(stateCount)) }
    public var outputs: [KernelProgram.TensorSpec] { predict.outputs }

    /// Workspace that any one of the three programs needs.
    public var workspaceSize: Int { max(gradients.workspaceSize, apply.workspaceSize, predict.workspaceSize) }

    /// Where things live in a training context, one 64-byte aligned block:
    ///
    ///     0    header: i32 threads, ptr workspace, ptr (unused), ptr pool, i32 owns memory,
    ///          f32 lr, i64 steps, i32 active bank, f32 loss, f32 step input
    ///     64   bank 0: each parameter, then each slot, 64-byte aligned
    ///     64+B bank 1: the same; `apply` writes the inactive bank, then the banks swap
    ///     64+2B gradients, one per parameter, 64-byte aligned, zero between them
    ///
    /// The first 32 bytes are an inference context's, so the programs' run functions take a
    /// training context as it is.
    public struct Layout: Sendable, Equatable {
        public static let header = 64
        public static let threads = 0, workspace = 8, pool = 24, owns = 32, lr = 36, steps = 40, bank = 48
        public static let loss = 52, stepInput = 56
        /// Offsets of the parameters, the slots, then the states inside a bank.
        public var bankOffsets: [Int]
        public var bankSize: Int
        public var gradientOffsets: [Int]
        public var gradientsSize: Int

        public init(_ t: TrainingProgram) {
            func pack(_ specs: [KernelProgram.TensorSpec]) -> ([Int], Int) {
                var offsets: [Int] = [], size = 0
                for s in specs {
                    offsets.append(size)
                    size += (s.shape.reduce(1, *) * s.type.dtype.byteSize + 63) / 64 * 64
                }
                return (offsets, size)
            }
            (bankOffsets, bankSize) = pack(t.parameters + t.slots + t.states)
            (gradientOffsets, gradientsSize) = pack(t.parameters)
        }

        public func bank(_ b: Int) -> Int { Self.header + b * bankSize }
        public var gradients: Int { Self.header + 2 * bankSize }
        public var stateSize: Int { gradients + gradientsSize }
    }

    public var layout: Layout { Layout(self) }

    /// The checkpoint header `NAME_train_save` writes and `NAME_train_load` checks (its first
    /// 24 bytes): magic `SINTERT1`, the bank's size in bytes, the fingerprint.
    public static let checkpointMagic: [UInt8] = Array("SINTERT1".utf8)

    public var checkpointPrefix: [UInt8] {
        var out = Self.checkpointMagic
        withUnsafeBytes(of: UInt64(layout.bankSize).littleEndian) { out += $0 }
        withUnsafeBytes(of: fingerprint.littleEndian) { out += $0 }
        return out
    }
}
