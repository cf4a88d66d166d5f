"""Python binding check.

    python python_check.py make MODEL.onnx        # writes a small CNN as ONNX
    python python_check.py check DIR MODEL.onnx   # runs DIR/cnn.py (the generated loader) and onnxruntime
"""
import importlib.util
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def make(path):
    rng = np.random.default_rng(1)
    w1 = numpy_helper.from_array((rng.standard_normal((6, 3, 3, 3)) * 0.3).astype(np.float32), "w1")
    b1 = numpy_helper.from_array((rng.standard_normal(6) * 0.1).astype(np.float32), "b1")
    w2 = numpy_helper.from_array((rng.standard_normal((10, 6 * 4 * 4)) * 0.1).astype(np.float32), "w2")
    b2 = numpy_helper.from_array((rng.standard_normal(10) * 0.1).astype(np.float32), "b2")
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w2", "b2"], ["g"], transB=1),
        helper.make_node("Softmax", ["g"], ["y"], axis=1),
    ]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 10])], [w1, b1, w2, b2])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def check(directory, model):
    import onnxruntime as ort

    spec = importlib.util.spec_from_file_location("cnn", f"{directory}/cnn.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    m = mod.Model()
    assert m.inputs[0]["name"] == "x" and m.inputs[0]["shape"] == (2, 3, 8, 8), m.inputs
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    got = m.run(x)[0]
    named = m.run(x=x)[0]
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    assert np.array_equal(got, named)
    diff = np.abs(got - want).max()
    assert np.allclose(got, want, rtol=1e-5, atol=1e-6), diff
    try:
        m.run(x.astype(np.float64))
        raise AssertionError("a float64 input must be rejected")
    except mod.SinterError as e:
        assert "must be float32" in str(e), e
    print(f"ok {diff:.3g}")


if __name__ == "__main__":
    make(sys.argv[2]) if sys.argv[1] == "make" else check(sys.argv[2], sys.argv[3])
