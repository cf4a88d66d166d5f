"""Recurrent models for the training tests: a toy sequence task, no download.

  train_sequence.py make DIR CELL [--seed 0]
      CELL is lstm, gru or rnn. DIR/model.onnx: x [N, 6, 3] -> Transpose -> CELL (hidden 12,
      ONNX's own op, as PyTorch exports it) -> last hidden state -> Gemm -> logits [N, 2];
      initialised uniformly in ±1/sqrt(hidden) from the seed, as PyTorch does.
      DIR/train.npz and DIR/test.npz: x float32 [S, 6, 3] in [-1, 1), y int64 [S]: 1 when the
      first feature's running sum ends above the last step's third feature, else 0 (needs
      memory of the whole sequence).
  train_sequence.py eval MODEL.onnx DIR/test.npz
      prints the test accuracy of MODEL in onnxruntime.
"""
import sys

import numpy as np

T, F, H = 6, 3, 12


def data(rng, n):
    x = rng.uniform(-1, 1, (n, T, F)).astype(np.float32)
    y = (x[:, :, 0].sum(axis=1) > x[:, -1, 2]).astype(np.int64)
    return x, y


def make(out, cell, seed):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[cell]
    bound = 1 / np.sqrt(H)

    def u(shape):
        return rng.uniform(-bound, bound, shape).astype(np.float32)

    inits = [
        numpy_helper.from_array(u((1, gates * H, F)), "W"),
        numpy_helper.from_array(u((1, gates * H, H)), "R"),
        numpy_helper.from_array(u((1, 2 * gates * H)), "B"),
        numpy_helper.from_array(u((2, H)), "fc.weight"),
        numpy_helper.from_array(np.zeros(2, np.float32), "fc.bias"),
        numpy_helper.from_array(np.array([-1, H], np.int64), "shape"),
    ]
    op = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}[cell]
    extra = {"linear_before_reset": 1} if cell == "gru" else {}
    nodes = [
        helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2], name="time_major"),
        helper.make_node(op, ["xt", "W", "R", "B"], ["", "h"], hidden_size=H, name=cell, **extra),
        helper.make_node("Reshape", ["h", "shape"], ["hf"], name="flatten"),
        helper.make_node("Gemm", ["hf", "fc.weight", "fc.bias"], ["logits"], transB=1, name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "seq_" + cell,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", T, F])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 2])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, f"{out}/model.onnx")
    drng = np.random.default_rng(1234)
    for name, n in [("train", 2048), ("test", 512)]:
        x, y = data(drng, n)
        np.savez(f"{out}/{name}.npz", x=x, y=y)


def evaluate(model, test):
    import onnxruntime as ort

    d = np.load(test)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    logits = sess.run(None, {"x": d["x"]})[0]
    print("accuracy %.4f" % float((logits.argmax(axis=1) == d["y"]).mean()))


if __name__ == "__main__":
    if sys.argv[1] == "make":
        seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 0
        make(sys.argv[2], sys.argv[3], seed)
    else:
        evaluate(sys.argv[2], sys.argv[3])
