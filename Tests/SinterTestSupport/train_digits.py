"""Digits MLP for the training tests (scikit-learn's bundled data, no download).

  train_digits.py make DIR [--hidden 128,64] [--seed 0]
      DIR/mlp.onnx: an untrained 64-H1-H2-10 MLP (Gemm with transB=1, as PyTorch exports it,
      ReLU, logits out), batch axis symbolic 'N', He-initialised from the seed;
      DIR/train.npz: x float32 [S,64] (pixels / 16), y int64 [S]; DIR/test.npz the same.
      The split is train_test_split(test_size=0.25, random_state=0, stratify=y).
  train_digits.py eval MODEL.onnx DIR/test.npz
      prints the test accuracy of MODEL in onnxruntime.
"""
import sys

import numpy as np


def make(out, hidden, seed):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    np.savez(f"{out}/train.npz", x=xtr, y=ytr)
    np.savez(f"{out}/test.npz", x=xte, y=yte)

    rng = np.random.default_rng(seed)
    sizes = [64] + hidden + [10]
    nodes, inits = [], []
    prev = "x"
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((b, a)) * np.sqrt(2.0 / a)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"),
                  numpy_helper.from_array(np.zeros(b, np.float32), f"fc{i}.bias")]
        last = i == len(sizes) - 2
        h = "logits" if last else f"h{i}"
        nodes.append(helper.make_node("Gemm", [prev, f"fc{i}.weight", f"fc{i}.bias"], [h], transB=1,
                                      name=f"fc{i}"))
        if not last:
            nodes.append(helper.make_node("Relu", [h], [f"r{i}"], name=f"relu{i}"))
            h = f"r{i}"
        prev = h
    graph = helper.make_graph(
        nodes, "digits_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, f"{out}/mlp.onnx")


def evaluate(model, data):
    import onnxruntime as ort

    d = np.load(data)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"x": d["x"]})[0]
    print(f"accuracy {np.mean(np.argmax(logits, axis=1) == d['y']):.6f}")


if __name__ == "__main__":
    if sys.argv[1] == "make":
        args = sys.argv[2:]
        hidden = [128, 64]
        seed = 0
        if "--hidden" in args:
            hidden = [int(h) for h in args[args.index("--hidden") + 1].split(",")]
        if "--seed" in args:
            seed = int(args[args.index("--seed") + 1])
        make(args[0], hidden, seed)
    else:
        evaluate(sys.argv[2], sys.argv[3])
