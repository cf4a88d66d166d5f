"""Writes an MLP (64-256-128-10, seeded random weights) and a small CNN (three convs: 3×3 padded,
3×3 stride 2, 1×1; global average pool; a linear head) as ONNX, calibration samples as .npz and
test inputs, for the post-training int8 tests; then, when given an exported QDQ model, runs it in
onnxruntime.

    python int8_mlp.py make DIR
    python int8_mlp.py run MODEL INPUT OUTPUT"""
import sys

import numpy as np

if sys.argv[1] == "run":
    import onnxruntime as ort

    sess = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
    np.save(sys.argv[4], sess.run(None, {sess.get_inputs()[0].name: np.load(sys.argv[3])})[0])
    sys.exit(0)

import onnx
from onnx import TensorProto, helper, numpy_helper

out = sys.argv[2]
rng = np.random.default_rng(3)
dims = [64, 256, 128, 10]
nodes, inits, h = [], [], "x"
for i in range(3):
    w = (rng.standard_normal((dims[i], dims[i + 1])) / np.sqrt(dims[i])).astype(np.float32)
    b = (rng.standard_normal(dims[i + 1]) * 0.1).astype(np.float32)
    inits += [numpy_helper.from_array(w, f"w{i}"), numpy_helper.from_array(b, f"b{i}")]
    nodes += [helper.make_node("MatMul", [h, f"w{i}"], [f"m{i}"]), helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"])]
    h = f"a{i}"
    if i < 2:
        nodes.append(helper.make_node("Relu", [h], [f"r{i}"]))
        h = f"r{i}"
graph = helper.make_graph(
    nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [32, 64])],
    [helper.make_tensor_value_info(h, TensorProto.FLOAT, [32, 10])], inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f"{out}/mlp.onnx")
np.savez(f"{out}/calib.npz", x=rng.standard_normal((16, 32, 64)).astype(np.float32))
np.save(f"{out}/x.npy", rng.standard_normal((32, 64)).astype(np.float32))

# The CNN: conv weights He-scaled, biases small, so activations keep a useful range.
cnn_nodes, cnn_inits, h, c = [], [], "x", 3
# Dense, dense strided, depthwise and grouped (4 groups) convs.
for i, (m, k, stride, g) in enumerate([(16, 3, 1, 1), (24, 3, 2, 1), (24, 3, 1, 24), (32, 1, 1, 4)]):
    w = (rng.standard_normal((m, c // g, k, k)) * np.sqrt(2 / (c // g * k * k))).astype(np.float32)
    b = (rng.standard_normal(m) * 0.1).astype(np.float32)
    cnn_inits += [numpy_helper.from_array(w, f"cw{i}"), numpy_helper.from_array(b, f"cb{i}")]
    pad = k // 2
    cnn_nodes += [
        helper.make_node(
            "Conv", [h, f"cw{i}", f"cb{i}"], [f"c{i}"], pads=[pad] * 4, strides=[stride] * 2, group=g),
        helper.make_node("Relu", [f"c{i}"], [f"cr{i}"]),
    ]
    h, c = f"cr{i}", m
head = (rng.standard_normal((32, 10)) / np.sqrt(32)).astype(np.float32)
cnn_inits += [numpy_helper.from_array(head, "hw"), numpy_helper.from_array(np.zeros(10, np.float32), "hb")]
cnn_nodes += [
    helper.make_node("GlobalAveragePool", [h], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"]),
    helper.make_node("MatMul", ["flat", "hw"], ["hm"]), helper.make_node("Add", ["hm", "hb"], ["logits"]),
]
graph = helper.make_graph(
    cnn_nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8, 3, 12, 12])],
    [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [8, 10])], cnn_inits)
onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), f"{out}/cnn.onnx")
np.savez(f"{out}/calib_cnn.npz", x=rng.standard_normal((16, 8, 3, 12, 12)).astype(np.float32))
np.save(f"{out}/x_cnn.npy", rng.standard_normal((8, 3, 12, 12)).astype(np.float32))
