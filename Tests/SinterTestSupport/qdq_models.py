"""Writes small quantized ONNX models in the form quantization tools write them (scales and
zero points as initializers, int8 weights), with random inputs and onnxruntime's outputs.

    python qdq_models.py OUT_DIR

Each model goes to OUT_DIR/NAME/ as model.onnx, input_<i>.npy and output_<i>.npy. The
reference runs with graph optimisations off, so onnxruntime evaluates the QDQ ops as written
(its fused int8 kernels may round differently)."""
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[1]
rng = np.random.default_rng(2026)


def init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def save(name, nodes, inputs, outputs, initializers, feeds):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(os.path.join(d, "model.onnx"), opts, providers=["CPUExecutionProvider"])
    for k, v in enumerate(feeds):
        np.save(os.path.join(d, f"input_{k}.npy"), v)
    names = [i.name for i in sess.get_inputs()]
    for k, v in enumerate(sess.run(None, dict(zip(names, feeds)))):
        np.save(os.path.join(d, f"output_{k}.npy"), v)


def value(name, elem, shape):
    return helper.make_tensor_value_info(name, elem, shape)


def qdq(x, scale, zero, name, axis=None):
    """QuantizeLinear then DequantizeLinear of x (per tensor)."""
    kw = {} if axis is None else {"axis": axis}
    return [
        helper.make_node("QuantizeLinear", [x, scale, zero], [name + "_q"], **kw),
        helper.make_node("DequantizeLinear", [name + "_q", scale, zero], [name], **kw),
    ]


# An MLP layer: u8 activations per tensor, i8 weights per output column, f32 bias, ReLU.
w = rng.integers(-127, 128, size=(16, 12)).astype(np.int8)
save(
    "qdq_mlp",
    qdq("x", "xs", "xz", "xq")
    + [
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=1),
        helper.make_node("MatMul", ["xq", "wf"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["mb"]),
        helper.make_node("Relu", ["mb"], ["r"]),
    ]
    + qdq("r", "ys", "yz", "y"),
    [value("x", TensorProto.FLOAT, [8, 16])],
    [value("y", TensorProto.FLOAT, [8, 12])],
    [
        init("xs", np.float32(0.02)), init("xz", np.uint8(128)), init("w", w),
        init("ws", rng.uniform(0.002, 0.01, 12).astype(np.float32)), init("wz", np.zeros(12, np.int8)),
        init("b", rng.uniform(-0.5, 0.5, 12).astype(np.float32)),
        init("ys", np.float32(0.05)), init("yz", np.uint8(0)),
    ],
    [rng.uniform(-2.5, 2.5, (8, 16)).astype(np.float32)],
)

# A conv layer: i8 weights per output channel (axis 0).
wc = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
save(
    "qdq_conv",
    qdq("x", "xs", "xz", "xq")
    + [
        helper.make_node("DequantizeLinear", ["w", "ws", "wz"], ["wf"], axis=0),
        helper.make_node("Conv", ["xq", "wf", "b"], ["c"], pads=[1, 1, 1, 1]),
    ]
    + qdq("c", "ys", "yz", "y"),
    [value("x", TensorProto.FLOAT, [2, 3, 8, 8])],
    [value("y", TensorProto.FLOAT, [2, 4, 8, 8])],
    [
        init("xs", np.float32(0.015)), init("xz", np.uint8(120)), init("w", wc),
        init("ws", rng.uniform(0.002, 0.01, 4).astype(np.float32)), init("wz", np.zeros(4, np.int8)),
        init("b", rng.uniform(-0.5, 0.5, 4).astype(np.float32)),
        init("ys", np.float32(0.04)), init("yz", np.uint8(128)),
    ],
    [rng.uniform(-1.8, 1.8, (2, 3, 8, 8)).astype(np.float32)],
)

# QLinearMatMul and QLinearConv with initializer parameters: exact integer results.
save(
    "qlinear_matmul",
    [helper.make_node("QLinearMatMul", ["a", "as", "az", "b", "bs", "bz", "ys", "yz"], ["y"])],
    [value("a", TensorProto.UINT8, [4, 16])],
    [value("y", TensorProto.UINT8, [4, 8])],
    [
        init("as", np.float32(0.02)), init("az", np.uint8(128)),
        init("b", rng.integers(-127, 128, size=(16, 8)).astype(np.int8)),
        init("bs", np.float32(0.004)), init("bz", np.int8(0)),
        init("ys", np.float32(0.03)), init("yz", np.uint8(100)),
    ],
    [rng.integers(0, 256, size=(4, 16)).astype(np.uint8)],
)
save(
    "qlinear_conv",
    [
        helper.make_node(
            "QLinearConv", ["x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b"], ["y"], pads=[1, 1, 1, 1], strides=[2, 2]
        )
    ],
    [value("x", TensorProto.UINT8, [1, 8, 9, 9])],
    [value("y", TensorProto.UINT8, [1, 6, 5, 5])],
    [
        init("xs", np.float32(0.01)), init("xz", np.uint8(3)),
        init("w", rng.integers(-127, 128, size=(6, 8, 3, 3)).astype(np.int8)),
        init("ws", rng.uniform(0.001, 0.004, 6).astype(np.float32)), init("wz", np.zeros(6, np.int8)),
        init("ys", np.float32(0.05)), init("yz", np.uint8(128)),
        init("b", rng.integers(-2000, 2000, size=6).astype(np.int32)),
    ],
    [rng.integers(0, 256, size=(1, 8, 9, 9)).astype(np.uint8)],
)

# Dynamic quantization of activations feeding an integer matmul (onnxruntime's dynamic form).
save(
    "dynamic_matmul",
    [
        helper.make_node("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"]),
        helper.make_node("MatMulInteger", ["xq", "w", "xz", "wz"], ["y"]),
    ],
    [value("x", TensorProto.FLOAT, [5, 32])],
    [value("y", TensorProto.INT32, [5, 7])],
    [init("w", rng.integers(0, 256, size=(32, 7)).astype(np.uint8)), init("wz", np.uint8(131))],
    [rng.normal(0, 1.5, (5, 32)).astype(np.float32)],
)
