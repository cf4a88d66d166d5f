"""--dynamic check: one shared object per model serves every batch size.

    python dynamic_check.py make DIR     # writes DIR/mlp.onnx and DIR/cnn.onnx with a symbolic batch N
    python dynamic_check.py check DIR    # runs DIR/<model>/<model>.py at n = 1, 7, 64 (and 100), vs onnxruntime

Prints "ok" and exits 0 when every size matches onnxruntime within atol 1e-4 + rtol 1e-4 and a size
outside the bounds is refused; otherwise prints what differed and exits 1.
"""
import importlib.util
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

SHAPES = {"mlp": (784,), "cnn": (3, 16, 16)}


def make(out):
    rng = np.random.default_rng(0)

    def w(name, shape, scale=0.1):
        return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)

    def save(name, nodes, inits):
        x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *SHAPES[name]])
        y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])
        graph = helper.make_graph(nodes, name, [x], [y], inits)
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), os.path.join(out, name + ".onnx"))

    save("mlp", [helper.make_node("Gemm", ["x", "w0", "b0"], ["h0"]), helper.make_node("Relu", ["h0"], ["r0"]),
                 helper.make_node("Gemm", ["r0", "w1", "b1"], ["h1"]), helper.make_node("Relu", ["h1"], ["r1"]),
                 helper.make_node("MatMul", ["r1", "w2"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["a2"]),
                 helper.make_node("Softmax", ["a2"], ["y"], axis=-1)],
         [w("w0", [784, 512], 0.05), w("b0", [512]), w("w1", [512, 512], 0.05), w("b1", [512]), w("w2", [512, 10]),
          w("b2", [10])])
    save("cnn", [helper.make_node("Conv", ["x", "cw", "cb"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["bn"]),
                 helper.make_node("Relu", ["bn"], ["r"]),
                 helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
                 helper.make_node("Conv", ["p", "cw2"], ["c2"], pads=[1, 1, 1, 1], group=2),
                 helper.make_node("GlobalAveragePool", ["c2"], ["g"]), helper.make_node("Flatten", ["g"], ["f"]),
                 helper.make_node("Gemm", ["f", "fw", "fb"], ["y"], transB=1)],
         [w("cw", [16, 3, 3, 3], 0.3), w("cb", [16]), numpy_helper.from_array(np.ones(16, np.float32) * 1.1, "s"),
          w("bb", [16]), w("m", [16]), numpy_helper.from_array(np.ones(16, np.float32) * 0.5, "v"),
          w("cw2", [32, 8, 3, 3], 0.2), w("fw", [10, 32]), w("fb", [10])])


def check(out):
    failures = []
    for name, shape in SHAPES.items():
        spec = importlib.util.spec_from_file_location(name, os.path.join(out, name, name + ".py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        model = module.Model(num_threads=2)
        if model.inputs[0]["shape"][0] != -1:
            failures.append("%s: introspection reports %s, not a symbolic first dimension" % (name, model.inputs[0]))
        session = ort.InferenceSession(os.path.join(out, name + ".onnx"))
        for n in [1, 7, 64, 100]:
            x = np.random.default_rng(n).standard_normal((n, *shape)).astype(np.float32)
            got = model.run(x)[0]
            want = session.run(None, {"x": x})[0]
            if got.shape != want.shape or not np.allclose(got, want, atol=1e-4, rtol=1e-4):
                failures.append("%s n=%d: shape %s, max |diff| %s" % (name, n, got.shape,
                                                                     np.abs(got - want).max() if got.shape == want.shape
                                                                     else "-"))
        try:
            model.run(np.zeros((257, *shape), np.float32))
            failures.append("%s: n=257 outside 1..256 was accepted" % name)
        except module.SinterError:
            pass
    print("\n".join(failures) if failures else "ok")
    return 1 if failures else 0


if __name__ == "__main__":
    if sys.argv[1] == "make":
        make(sys.argv[2])
    else:
        sys.exit(check(sys.argv[2]))
