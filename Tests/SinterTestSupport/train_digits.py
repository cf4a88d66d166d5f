"""Digits MLP for the training tests (scikit-learn's bundled data, no download).

  train_digits.py make DIR [--hidden 128,64] [--seed 0] [--cnn [--bn]] [--dropout RATIO]
      DIR/mlp.onnx: an untrained 64-H1-H2-10 MLP (Gemm with transB=1, as PyTorch exports it,
      ReLU, logits out), batch axis symbolic 'N', He-initialised from the seed; --dropout: a
      Dropout (inference mode, ratio as an input) after each hidden ReLU;
      DIR/train.npz: x float32 [S,64] (pixels / 16), y int64 [S]; DIR/test.npz the same.
      The split is train_test_split(test_size=0.25, random_state=0, stratify=y).
      --cnn: DIR/cnn.onnx instead, x [N,1,8,8]: Conv 3x3 (8) - ReLU - MaxPool 2 - Conv 3x3 (16) -
      ReLU - MaxPool 2 - Flatten - Gemm (10); the .npz features are [S,1,8,8]. --bn: a
      BatchNormalization (inference mode, running mean 0 and variance 1) after each Conv.
  train_digits.py eval MODEL.onnx DIR/test.npz
      prints the test accuracy of MODEL in onnxruntime.
"""
import sys

import numpy as np


def cnn(out, seed, bn=False):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)

    def he(shape, fan_in):
        return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)

    inits = [
        numpy_helper.from_array(he((8, 1, 3, 3), 9), "conv1.weight"),
        numpy_helper.from_array(np.zeros(8, np.float32), "conv1.bias"),
        numpy_helper.from_array(he((16, 8, 3, 3), 72), "conv2.weight"),
        numpy_helper.from_array(np.zeros(16, np.float32), "conv2.bias"),
        numpy_helper.from_array(he((10, 64), 64), "fc.weight"),
        numpy_helper.from_array(np.zeros(10, np.float32), "fc.bias"),
    ]
    pool = dict(kernel_shape=[2, 2], strides=[2, 2])
    relu_in = {1: "c1", 2: "c2"}
    bn_nodes = {1: [], 2: []}
    if bn:
        for i, c in [(1, 8), (2, 16)]:
            for name, v in [("weight", 1), ("bias", 0), ("running_mean", 0), ("running_var", 1)]:
                inits.append(numpy_helper.from_array(np.full(c, v, np.float32), f"bn{i}.{name}"))
            bn_nodes[i] = [helper.make_node(
                "BatchNormalization", [f"c{i}", f"bn{i}.weight", f"bn{i}.bias", f"bn{i}.running_mean",
                                       f"bn{i}.running_var"], [f"b{i}"], name=f"bn{i}")]
            relu_in[i] = f"b{i}"
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        *bn_nodes[1],
        helper.make_node("Relu", [relu_in[1]], ["r1"], name="relu1"),
        helper.make_node("MaxPool", ["r1"], ["p1"], name="pool1", **pool),
        helper.make_node("Conv", ["p1", "conv2.weight", "conv2.bias"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        *bn_nodes[2],
        helper.make_node("Relu", [relu_in[2]], ["r2"], name="relu2"),
        helper.make_node("MaxPool", ["r2"], ["p2"], name="pool2", **pool),
        helper.make_node("Flatten", ["p2"], ["f"], axis=1, name="flatten"),
        helper.make_node("Gemm", ["f", "fc.weight", "fc.bias"], ["logits"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "digits_cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, f"{out}/cnn.onnx")


def make(out, hidden, seed, conv=False, dropout=0.0, bn=False):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    y = digits.target.astype(np.int64)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    if conv:
        xtr, xte = xtr.reshape(-1, 1, 8, 8), xte.reshape(-1, 1, 8, 8)
        np.savez(f"{out}/train.npz", x=xtr, y=ytr)
        np.savez(f"{out}/test.npz", x=xte, y=yte)
        cnn(out, seed, bn)
        return
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
            if dropout:
                if i == 0:
                    inits.append(numpy_helper.from_array(np.array(dropout, np.float32), "dropout.ratio"))
                nodes.append(helper.make_node("Dropout", [h, "dropout.ratio"], [f"d{i}"], name=f"dropout{i}"))
                h = f"d{i}"
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
        dropout = float(args[args.index("--dropout") + 1]) if "--dropout" in args else 0.0
        make(args[0], hidden, seed, conv="--cnn" in args, dropout=dropout, bn="--bn" in args)
    else:
        evaluate(sys.argv[2], sys.argv[3])
