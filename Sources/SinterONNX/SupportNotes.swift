/// What the importer supports per ONNX op beyond "all opsets the wheel's tests use (6–28),
/// all attributes": the limits users hit. `sinter ops` prints these; docs/ops.md adds pass counts.
extension Converters {
    static let notes: [String: String] = [
        "Attention":
            "opsets 23+: 3-D/4-D, bool/float masks, causal, sliding window, GQA, past/present, softcap, qk "
            + "output modes; nonpad_kv_seqlen must be constant",
        "Acos": libm(1), "Acosh": libm(2), "Asin": libm(1), "Asinh": libm(1), "Atan": libm(1), "Atanh": libm(2),
        "Cos": libm(1), "Cosh": libm(1), "Sin": libm(1), "Sinh": libm(2), "Tan": libm(1),
        "BitShift": "signed types too (arithmetic right shift); shifts past the width give 0 (or -1)",
        "CastLike": "to the thirteen Sinter dtypes, like Cast",
        "DepthToSpace": "static 4-D shapes; DCR and CRD (a reshape, a transpose, a reshape)",
        "GatherElements": "static shapes: one gather from the flattened data (negative indices wrap)",
        "NegativeLogLikelihoodLoss": "static shapes; weights, ignore_index, every reduction",
        "SoftmaxCrossEntropyLoss": "static shapes; weights, ignore_index, every reduction, log_prob output",
        "Hardmax": "arg-max compared with an iota (first maximum wins)",
        "LpNormalization": "p = 1 or 2",
        "OneHot": "depth constant; any index dtype (negative indices wrap)",
        "ReduceLogSumExp": "f32 and f64 (max-shifted: log(sum(exp(x - max))) + max); axes constant",
        "RMSNormalization": "stash_type 1 (computed in f32)",
        "SpaceToDepth": "static 4-D shapes; DCR and CRD",
        "Trilu": "k constant (the mask is a compile-time constant)",
        "Mod": "float fmod=0 as numpy.mod (divisor's sign), fmod=1 as C fmod; integer x mod 0 is 0",
        "CumSum": "its own kernel (cumsum); axis constant; any numeric dtype",
        "TopK": "its own kernel (top-k); K constant; sorted, ties in index order",
        "ScatterND": "its own kernel (scatter-nd); every reduction; out-of-range indices are skipped",
        "ScatterElements": "scatter-nd on the flattened data; every reduction; out-of-range indices are skipped",
        "Scatter": "as ScatterElements",
        "Einsum":
            "static shapes, no broadcasting of size-1 axes; diagonals, sums, batched matmuls, ellipses; f32, f64, "
            + "and f16/bf16 computed in f32",
        "LpPool": "a depthwise convolution with weights of ones over abs(x)^p; no ceil_mode",
        "GlobalLpPool": "sum of abs(x)^p over the spatial axes, then the 1/p power",
        "RotaryEmbedding": "3-D and 4-D inputs, interleaved or halves, partial rotary_embedding_dim, position_ids",
        "If": "the condition must be known at compile time (run specialises graph inputs it depends on); the "
            + "branch is imported inline",
        "Loop": "unrolled (at most 4096 iterations) while the trip count and each iteration's condition are known "
            + "at compile time; no sequence values",
        "Scan": "unrolled over the static sequence axis; opset 8's batch axis without sequence_lens",
        "QuantizeLinear":
            "i8/u8/i16/u16/i32, per tensor, per axis and blocked; constant parameters become a quantized type "
            + "(`quantize`), others run as arithmetic; no float8/int4",
        "DequantizeLinear": "as QuantizeLinear; an int8 initializer becomes a quantized constant",
        "DynamicQuantizeLinear": "composed: range widened to include 0, u8 with a computed scale and zero point",
        "MatMulInteger": "integer products summed exactly in f64 (no int8 kernel yet)",
        "QLinearMatMul": "as MatMulInteger, then scaled and rounded like the reference",
        "ConvInteger": "f32 convolutions of the weights split as 16·hi + lo, exact up to 4096 terms per output",
        "QLinearConv": "as ConvInteger, plus the i32 bias, then scaled and rounded like the reference",
        "Size": "static shapes (result is a constant)",
        "BatchNormalization":
            "inference, or training mode (batch statistics, running mean and variance as outputs 1 and 2); "
            + "`sinter train` keeps the running statistics as state",
        "Cast": "to the thirteen Sinter dtypes (no strings, float8, int4, uint4, uint2)",
        "Clip": "min/max constant (attributes) or given at run time",
        "Conv": "N-D, groups/depthwise, dilations, all auto_pad modes",
        "ConvTranspose": "N-D, groups, output_padding, output_shape, auto_pad",
        "ConstantOfShape": "shape must be constant",
        "Dropout":
            "inference (mask output all true), or training mode with ratio 0; `sinter train` runs Dropout layers "
            + "with seeded masks",
        "Expand": "shape must be constant",
        "GRU":
            "unrolled over the static sequence; both directions, linear_before_reset, activation lists; "
            + "sequence_lens constant",
        "LSTM": "unrolled; peepholes, input_forget, layout, activation lists; sequence_lens constant",
        "RNN": "unrolled; both directions, layout, activation lists; sequence_lens constant",
        "MaxPool": "no Indices output; storage_order 0",
        "Pad": "constant, reflect, edge, wrap; pads/axes/value constant",
        "Range": "inputs must be constant (result is a constant)",
        "Reshape": "shape must be constant; allowzero",
        "Resize":
            "nearest/linear/cubic, every coordinate mode, antialias, exclude_outside, axes, "
            + "keep_aspect_ratio_policy; scales/sizes/roi constant",
        "Shape": "static shapes (result is a constant)",
        "Slice": "starts/ends/axes/steps constant",
        "Split": "split sizes constant or num_outputs",
        "Tile": "repeats constant",
        "Upsample": "opsets 7–9 (nearest and linear)",
    ]

    /// The trigonometric and hyperbolic functions run the C library's, element by element; the
    /// bound is what VectorMathAccuracyTests measures against float64 numpy over the whole range.
    static func libm(_ ulp: Int) -> String {
        "libm per element; max error \(ulp) ulp over the whole float range (glibc 2.36, checked against float64 numpy)"
    }

    /// Rows of (op, notes) for every supported ONNX op.
    public static var supportTable: [(op: String, notes: String)] {
        table.keys.sorted().map { ($0, notes[$0] ?? "all attributes") }
    }
}

extension ONNXImporter {
    public static var supportTable: [(op: String, notes: String)] { Converters.supportTable }
}
