"""Writes transformer.onnx: one pre-norm Transformer encoder block (token + position
embeddings, 4-head self-attention, GELU MLP, residuals), seeded weights, opset 20.

    python make_model.py   # next to this file
"""
import os

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(20261129)
T, D, H, F, V = 16, 32, 4, 64, 100
inits = []


def w(name, shape, scale=None):
    scale = scale if scale is not None else 1 / np.sqrt(shape[0])
    inits.append(numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name))
    return name


def const(name, values, dtype=np.int64):
    inits.append(numpy_helper.from_array(np.array(values, dtype=dtype), name))
    return name


nodes = [
    helper.make_node("Gather", [w("tok", [V, D], 0.5), "ids"], ["emb"]),
    helper.make_node("Add", ["emb", w("pos", [T, D], 0.1)], ["x0"]),
    helper.make_node("LayerNormalization", ["x0", w("ln1_s", [D], 0.1), w("ln1_b", [D], 0.1)], ["h"], axis=-1, epsilon=1e-5),
]
for p in "qkv":
    nodes += [
        helper.make_node("MatMul", ["h", w(f"w{p}", [D, D])], [f"{p}mm"]),
        helper.make_node("Add", [f"{p}mm", w(f"b{p}", [D], 0.1)], [f"{p}b"]),
        helper.make_node("Reshape", [f"{p}b", const(f"shape_{p}", [1, T, H, D // H])], [f"{p}r"]),
        helper.make_node("Transpose", [f"{p}r"], [f"{p}t"], perm=[0, 2, 3, 1] if p == "k" else [0, 2, 1, 3]),
    ]
nodes += [
    helper.make_node("MatMul", ["qt", "kt"], ["scores"]),
    helper.make_node("Div", ["scores", const("sqrt_d", np.sqrt(D // H), np.float32)], ["scaled"]),
    helper.make_node("Softmax", ["scaled"], ["probs"], axis=-1),
    helper.make_node("MatMul", ["probs", "vt"], ["ctx"]),
    helper.make_node("Transpose", ["ctx"], ["ctx_t"], perm=[0, 2, 1, 3]),
    helper.make_node("Reshape", ["ctx_t", const("shape_o", [1, T, D])], ["ctx_r"]),
    helper.make_node("MatMul", ["ctx_r", w("wo", [D, D])], ["omm"]),
    helper.make_node("Add", ["omm", w("bo", [D], 0.1)], ["attn"]),
    helper.make_node("Add", ["x0", "attn"], ["x1"]),
    helper.make_node("LayerNormalization", ["x1", w("ln2_s", [D], 0.1), w("ln2_b", [D], 0.1)], ["h2"], axis=-1, epsilon=1e-5),
    helper.make_node("MatMul", ["h2", w("w1", [D, F])], ["f1"]),
    helper.make_node("Add", ["f1", w("b1", [F], 0.1)], ["f1b"]),
    helper.make_node("Gelu", ["f1b"], ["g"]),
    helper.make_node("MatMul", ["g", w("w2", [F, D])], ["f2"]),
    helper.make_node("Add", ["f2", w("b2", [D], 0.1)], ["f2b"]),
    helper.make_node("Add", ["x1", "f2b"], ["y"]),
]
graph = helper.make_graph(nodes, "transformer", [helper.make_tensor_value_info("ids", TensorProto.INT64, [1, T])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, T, D])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
onnx.checker.check_model(model)
onnx.save(model, os.path.join(os.path.dirname(os.path.abspath(__file__)), "transformer.onnx"))
