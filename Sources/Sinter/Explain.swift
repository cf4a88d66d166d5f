/// Attributions from the compiled backward (`sinter explain`): which input elements the
/// model's output for a class depends on.
///
/// - `gradient`: ∂y_c/∂x;
/// - `gradientTimesInput`: x·∂y_c/∂x;
/// - `integratedGradients`: (x − x₀)·mean over k of ∂y_c/∂x at x₀ + (k + ½)/steps·(x − x₀)
///   (midpoint rule; x₀ = 0), whose sum approaches y_c(x) − y_c(x₀) (completeness).
public struct Explainer {
    public enum Method: String, CaseIterable, Sendable {
        case gradient
        case gradientTimesInput = "gradient-x-input"
        case integratedGradients = "integrated-gradients"
    }

    public struct Result: Sendable {
        /// Shaped like the input.
        public var attributions: TensorData
        /// The class explained for each sample.
        public var targets: [Int]
        /// The explained output y_c(x) per sample, and y_c at the baseline (integrated gradients).
        public var scores: [Double]
        public var baselineScores: [Double]
    }

    let model: JITModel
    let inputType: TensorType
    let outputShape: [Int]

    /// `model`'s first input must have a static shape (bind the batch first).
    public init(_ model: Graph, options: CompileOptions = CompileOptions()) throws(SinterError) {
        let graph = try Explanation.build(model)
        self.model = try Sinter.jit(graph, options)
        inputType = graph.type(of: graph.inputs[0])
        guard let shape = graph.type(of: graph.outputs[0]).shape, shape.count == 2 else {
            throw SinterError("explain needs the model's first output to be [N, C] scores")
        }
        outputShape = shape
    }

    /// `target`: the class for every sample; nil: each sample's highest-scoring class.
    public func explain(_ x: TensorData, others: [TensorData] = [], method: Method, target: Int? = nil, steps: Int = 50)
        throws(SinterError) -> Result
    {
        let (n, c) = (outputShape[0], outputShape[1])
        if let target, !(0..<c).contains(target) {
            throw SinterError("--target \(target) is not a class of the model's output (0..<\(c))")
        }
        guard steps > 0 else { throw SinterError("--steps must be positive") }
        let zeroMask = TensorData(dtype: inputType.dtype, shape: [n, c], values: [Double](repeating: 0, count: n * c))
        func run(_ input: TensorData, _ mask: TensorData) throws(SinterError) -> (TensorData, TensorData) {
            let out = try model.run([input] + others + [mask])
            return (out[0], out[1])
        }
        let (scoresAll, _) = try run(x, zeroMask)
        let v = scoresAll.doubles
        let targets = (0..<n).map { r in
            target ?? (0..<c).max { v[r * c + $0] < v[r * c + $1] } ?? 0
        }
        var mask = [Double](repeating: 0, count: n * c)
        for (r, t) in targets.enumerated() { mask[r * c + t] = 1 }
        let maskTensor = TensorData(dtype: inputType.dtype, shape: [n, c], values: mask)
        let scores = targets.enumerated().map { r, t in v[r * c + t] }
        let xs = x.doubles
        switch method {
        case .gradient, .gradientTimesInput:
            let g = try run(x, maskTensor).1.doubles
            let a = method == .gradient ? g : zip(g, xs).map { $0 * $1 }
            return Result(
                attributions: TensorData(dtype: x.dtype, shape: x.shape, values: a), targets: targets, scores: scores,
                baselineScores: [])
        case .integratedGradients:
            var sum = [Double](repeating: 0, count: xs.count)
            for k in 0..<steps {
                let alpha = (Double(k) + 0.5) / Double(steps)
                let point = TensorData(dtype: x.dtype, shape: x.shape, values: xs.map { $0 * alpha })
                let g = try run(point, maskTensor).1.doubles
                for i in sum.indices { sum[i] += g[i] }
            }
            let a = zip(sum, xs).map { $0 / Double(steps) * $1 }
            let base = try run(
                TensorData(dtype: x.dtype, shape: x.shape, values: [Double](repeating: 0, count: xs.count)), zeroMask
            ).0.doubles
            return Result(
                attributions: TensorData(dtype: x.dtype, shape: x.shape, values: a), targets: targets, scores: scores,
                baselineScores: targets.enumerated().map { r, t in base[r * c + t] })
        }
    }
}
