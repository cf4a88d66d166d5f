import SinterIR

/// The names `--keep-float` matches a product by: its own result's (an ONNX Conv's or
/// MatMul's output) and, when its only user adds a per-channel bias — the add `fold-batchnorm`
/// leaves, or a Gemm's — that add's result, the name the fused int8 or bf16 kernel carries in
/// `sinter dump`. Shared by `quantize`, `quantize-dynamic` and `precision-bf16`.
enum KeepFloat {
    static func names(of i: Int, _ g: Graph, users: [ValueID: [Int]]) -> [String] {
        let own = g.name(of: g.nodes[i].results[0])
        guard let (add, _) = FoldQDQ.channelAdd(after: i, g, users: users) else { return [own] }
        return [own, g.name(of: g.nodes[add].results[0])]
    }

    /// Whether `keep` names node `i`.
    static func kept(_ i: Int, _ g: Graph, users: [ValueID: [Int]], _ keep: Set<String>) -> Bool {
        !keep.isEmpty && names(of: i, g, users: users).contains(where: keep.contains)
    }
}
