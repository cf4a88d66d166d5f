import SinterIR

/// `expand-training`: losses and optimizer updates become the arithmetic they stand for
/// (IR/TrainingOps.swift), so the whole train step is elementwise, reduction and softmax work
/// that fusion merges and codegen already lowers. Results keep the op's result names.
///
///     %p.1 = sgd-update %p, %dp, %lr {weight_decay = 0.0} : f32[4]
///     ==>
///     %0 = mul %lr, %dp : f32[4]
///     %p.1 = sub %p, %0 : f32[4]
public struct ExpandTraining: Pass {
    public static let name = "expand-training"
    public static let summary = "rewrite loss and optimizer-update ops into elementwise and reduction arithmetic"
    public init() {}

    public func run(_ graph: inout Graph, _ context: PassContext) throws(SinterError) -> Bool {
        guard let expanded = try TrainingExpansion.expand(graph) else { return false }
        graph = expanded
        return true
    }
}
