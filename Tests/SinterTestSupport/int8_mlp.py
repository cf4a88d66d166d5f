"""Writes an MLP (64-256-128-10, seeded random weights) as ONNX, calibration samples as .npz
and a test input, for the post-training int8 tests; then, when given an exported QDQ model,
runs it in onnxruntime.

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
