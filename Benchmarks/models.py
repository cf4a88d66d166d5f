"""The matmul-heavy benchmark models, built with onnx.helper and seeded random weights (no
download):

    python models.py OUT_DIR

writes matmul_1024 (A and B both inputs), matmul_1024_const (B a weight), mlp_784_b256
(784-512-512-10, batch 256), transformer_s128 (one encoder block: seq 128, hidden 256, 4 heads,
FFN 1024, post-norm, GELU) and lstm_s64 (seq 64, batch 8, input 128, hidden 256).
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

RNG = np.random.default_rng(0)


def weight(name, shape, scale=None):
    scale = scale or 1 / np.sqrt(shape[0])
    return numpy_helper.from_array((RNG.standard_normal(shape) * scale).astype(np.float32), name)


def save(out, name, nodes, inputs, outputs, inits, opset=17):
    graph = helper.make_graph(nodes, name, inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, name + ".onnx"))


def f32(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def matmuls(out):
    save(out, "matmul_1024", [helper.make_node("MatMul", ["A", "B"], ["Y"])],
         [f32("A", [1024, 1024]), f32("B", [1024, 1024])], [f32("Y", [1024, 1024])], [])
    save(out, "matmul_1024_const", [helper.make_node("MatMul", ["A", "B"], ["Y"])],
         [f32("A", [1024, 1024])], [f32("Y", [1024, 1024])], [weight("B", [1024, 1024])])


def mlp(out):
    sizes = [784, 512, 512, 10]
    nodes, inits, x = [], [], "x"
    for i in range(3):
        inits += [weight(f"w{i}", [sizes[i], sizes[i + 1]]), weight(f"b{i}", [sizes[i + 1]], 0.1)]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"h{i}"]))
        x = f"h{i}"
        if i < 2:
            nodes.append(helper.make_node("Relu", [x], [f"r{i}"]))
            x = f"r{i}"
    nodes.append(helper.make_node("Softmax", [x], ["y"], axis=-1))
    save(out, "mlp_784_b256", nodes, [f32("x", [256, 784])], [f32("y", [256, 10])], inits)


def transformer(out, seq=128, hidden=256, heads=4, ffn=1024):
    d = hidden // heads
    inits = [weight(n, [hidden, hidden]) for n in ("wq", "wk", "wv", "wo")]
    inits += [weight("w1", [hidden, ffn]), weight("b1", [ffn], 0.1), weight("w2", [ffn, hidden]),
              weight("b2", [hidden], 0.1)]
    inits += [numpy_helper.from_array(np.ones(hidden, np.float32), n) for n in ("g1", "g2")]
    inits += [numpy_helper.from_array(np.zeros(hidden, np.float32), n) for n in ("be1", "be2")]
    inits += [numpy_helper.from_array(np.array([seq, heads, d], np.int64), "split_shape"),
              numpy_helper.from_array(np.array([seq, hidden], np.int64), "merge_shape"),
              numpy_helper.from_array(np.array(1 / np.sqrt(d), np.float32), "scale")]
    n = helper.make_node
    nodes = []
    for p in ("q", "k", "v"):
        nodes += [n("MatMul", ["x", "w" + p], [p]), n("Reshape", [p, "split_shape"], [p + "r"]),
                  n("Transpose", [p + "r"], [p + "t"], perm=[1, 0, 2])]
    nodes += [n("Transpose", ["kt"], ["ktt"], perm=[0, 2, 1]), n("MatMul", ["qt", "ktt"], ["s"]),
              n("Mul", ["s", "scale"], ["ss"]), n("Softmax", ["ss"], ["p"], axis=-1),
              n("MatMul", ["p", "vt"], ["c"]), n("Transpose", ["c"], ["ct"], perm=[1, 0, 2]),
              n("Reshape", ["ct", "merge_shape"], ["cm"]), n("MatMul", ["cm", "wo"], ["o"]),
              n("Add", ["x", "o"], ["r1"]), n("LayerNormalization", ["r1", "g1", "be1"], ["n1"], axis=-1),
              n("MatMul", ["n1", "w1"], ["f1"]), n("Add", ["f1", "b1"], ["f1b"]), n("Gelu", ["f1b"], ["g"]),
              n("MatMul", ["g", "w2"], ["f2"]), n("Add", ["f2", "b2"], ["f2b"]), n("Add", ["n1", "f2b"], ["r2"]),
              n("LayerNormalization", ["r2", "g2", "be2"], ["y"], axis=-1)]
    save(out, "transformer_s128", nodes, [f32("x", [seq, hidden])], [f32("y", [seq, hidden])], inits, opset=20)


def lstm(out, seq=64, batch=8, inp=128, hidden=256):
    inits = [weight("W", [1, 4 * hidden, inp], 0.1), weight("R", [1, 4 * hidden, hidden], 0.1),
             weight("B", [1, 8 * hidden], 0.1)]
    node = helper.make_node("LSTM", ["x", "W", "R", "B"], ["", "h"], hidden_size=hidden)
    save(out, "lstm_s64", [node], [f32("x", [seq, batch, inp])], [f32("h", [1, batch, hidden])], inits)


if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    matmuls(out)
    mlp(out)
    transformer(out)
    lstm(out)
