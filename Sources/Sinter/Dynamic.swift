import Foundation

/// A symbolic dimension left to run time: `--dynamic N` or `--dynamic N=1..256`.
public struct DynamicDimension: Hashable, Sendable, CustomStringConvertible {
    public var symbol: String
    public var minimum: Int
    /// nil: no upper bound.
    public var maximum: Int?

    public init(symbol: String, minimum: Int = 1, maximum: Int? = nil) {
        self.symbol = symbol
        self.minimum = minimum
        self.maximum = maximum
    }

    /// Parses `N`, `N=1..256` or `N=8..` (the form `--dynamic` takes).
    public init(parsing text: String) throws(SinterError) {
        let parts = text.split(separator: "=", maxSplits: 1).map(String.init)
        let usage = "--dynamic '\(text)' must look like N or N=MIN..MAX (e.g. N=1..256), with 1 <= MIN <= MAX"
        guard let name = parts.first, !name.isEmpty, !name.contains("."), !name.contains(" ") else {
            throw SinterError(usage)
        }
        self.init(symbol: name)
        guard parts.count == 2 else { return }
        let bounds = parts[1].components(separatedBy: "..")
        guard bounds.count == 2, let lo = Int(bounds[0]), lo >= 1 else { throw SinterError(usage) }
        minimum = lo
        if !bounds[1].isEmpty {
            guard let hi = Int(bounds[1]), hi >= lo else { throw SinterError(usage) }
            maximum = hi
        }
    }

    public var description: String { "\(symbol)=\(minimum)..\(maximum.map(String.init) ?? "")" }
}

extension Sinter {
    /// Compiles the model at `path` once for a dimension chosen at run time: the graph is
    /// imported at each specialised size (`DynamicProgram.sizes`) and at one more size that
    /// only serves as a witness, `DynamicBatch.check` proves every size treats the entries of
    /// the dimension apart, and each size is lowered with the usual pipeline.
    public static func lowerDynamic(
        _ path: String, _ dimension: DynamicDimension, _ options: CompileOptions,
        dump: @escaping (String) -> Void = { print($0, terminator: "") }
    ) throws(SinterError) -> DynamicProgram {
        try options.checkPrecision()
        let symbol = dimension.symbol
        let sizes = DynamicProgram.sizes(maximum: dimension.maximum)
        guard let witness = (3...).first(where: { !sizes.contains($0) }) else { throw SinterError("internal") }
        func graph(_ n: Int) throws(SinterError) -> Graph {
            var o = options
            o.bindings[symbol] = n
            o.passes = [PassSpec(InferShapes.name)]
            o.passManager.printAfter = []
            o.passManager.printAfterAll = false
            let g = try load(path, bindings: o.bindings, constants: options.constantInputs)
            return try optimize(g, o, dump: { _ in }).0
        }
        let reference = try graph(witness)
        var variants: [DynamicProgram.Variant] = []
        var axes: DynamicBatch.Axes?
        for n in sizes {
            let g = try graph(n)
            axes = try DynamicBatch.check(g, size: n, against: reference, size: witness, symbol: symbol)
            var o = options
            o.bindings[symbol] = n
            variants.append(DynamicProgram.Variant(size: n, program: try lower(g, o, dump: dump)))
        }
        guard let axes, axes.inputs.contains(true) else {
            throw SinterError("--dynamic \(symbol): no input of '\(path)' has a dimension named \(symbol)")
        }
        return DynamicProgram(
            symbol: symbol, minimum: dimension.minimum, maximum: dimension.maximum, variants: variants, batched: axes)
    }

    /// Sizes of symbolic input dimensions read off the given input tensors (for `sinter run`,
    /// which needs no `--shape`), from the inputs' declared types (`ONNXImporter.inputTypes`
    /// before an ONNX import, which needs them; a loaded `.sir` graph's input types): a
    /// dimension two inputs give different sizes is an error naming both. Only inputs with
    /// symbolic dimensions are read; dimensions already in `bindings` are left alone.
    public static func bindings(
        declared: [String: TensorType], given names: [String], bindings: [String: Int],
        value: (String) throws(SinterError) -> TensorData
    ) throws(SinterError) -> [String: Int] {
        var found: [String: (size: Int, input: String)] = [:]
        var diags: [Diagnostic] = []
        for name in names.sorted() {
            guard let t = declared[name], t.dims.contains(where: { $0.fixedValue == nil }),
                let shape = try value(name).type.shape, shape.count == t.rank
            else { continue }
            for (d, size) in zip(t.dims, shape) {
                guard case .symbol(let s) = d, bindings[s] == nil else { continue }
                if let f = found[s], f.size != size {
                    diags.append(Diagnostic("input '\(name)' gives \(s) = \(size) but '\(f.input)' gives \(f.size)"))
                } else {
                    found[s] = (size, name)
                }
            }
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return found.mapValues(\.size)
    }
}
