"""Writes the real-model tests of the pinned `onnx` wheel as case folders for
`sinter test-onnx` (same layout as onnx_node_tests.py):

- light_*: the nine light architectures (weights replaced by ConstantOfShape, so every
  weight is 0.02), input arange(n)/n reshaped to the input shape (as the ONNX runner makes
  it), expected output from light_*_output_0.pb;
- light_*_random: the same architectures with seeded random weights and a seeded random
  input, expected output from onnxruntime (uniform weights can hide a wrong conv);
- simple/*, pytorch-converted/*, pytorch-operator/*: model.onnx with test_data_set_*/ *.pb.

    python real_models.py OUT_DIR
"""
import glob
import os
import sys
import warnings

import numpy as np
import onnx
from onnx import numpy_helper

DATA = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data")


def save_case(out, name, model, data_sets, reason=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    onnx.save(model, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "OPS"), "w") as f:
        f.write(" ".join(sorted({n.op_type for n in model.graph.node})) + "\n")
    with open(os.path.join(d, "SCOPE"), "w") as f:
        f.write("in\n")
    for k, (inputs, outputs) in enumerate(data_sets):
        sd = os.path.join(d, str(k))
        os.makedirs(sd, exist_ok=True)
        for kind, values in (("input", inputs), ("output", outputs)):
            for i, v in enumerate(values):
                np.save(os.path.join(sd, f"{kind}_{i}.npy"), np.ascontiguousarray(v))
    if reason:
        with open(os.path.join(d, "SKIP"), "w") as f:
            f.write(reason + "\n")


def feed_inputs(model):
    init = {t.name for t in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in init]


def input_shape(info):
    return [d.dim_value for d in info.type.tensor_type.shape.dim]


def randomized(model, rng):
    """Replaces every ConstantOfShape weight by a seeded random initializer (positive where
    it feeds a BatchNormalization variance)."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    variance_inputs = {n.input[4] for n in m.graph.node if n.op_type == "BatchNormalization" and len(n.input) > 4}
    scale_inputs = {n.input[1] for n in m.graph.node if n.op_type == "BatchNormalization"}
    kept = []
    for n in m.graph.node:
        if n.op_type != "ConstantOfShape":
            kept.append(n)
            continue
        shape_name = n.input[0]
        shape = None
        for t in m.graph.initializer:
            if t.name == shape_name:
                shape = numpy_helper.to_array(t).astype(np.int64).tolist()
        for c in m.graph.node:
            if c.op_type == "Constant" and c.output[0] == shape_name:
                shape = numpy_helper.to_array(c.attribute[0].t).astype(np.int64).tolist()
        if shape is None:
            kept.append(n)
            continue
        out = n.output[0]
        fan_in = int(np.prod(shape[1:])) if len(shape) > 1 else 1
        if out in variance_inputs:
            value = rng.uniform(0.5, 1.5, size=shape)
        elif out in scale_inputs:
            value = rng.uniform(0.5, 1.5, size=shape)
        else:
            value = rng.standard_normal(shape) * np.sqrt(1.0 / max(fan_in, 1))
        m.graph.initializer.append(numpy_helper.from_array(value.astype(np.float32), out))
    del m.graph.node[:]
    m.graph.node.extend(kept)
    return m


def main(out):
    warnings.simplefilter("ignore")
    import onnxruntime as ort

    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(2026)
    for path in sorted(glob.glob(os.path.join(DATA, "light", "light_*.onnx"))):
        name = os.path.basename(path)[:-5]
        model = onnx.load(path)
        info = feed_inputs(model)[0]
        shape = input_shape(info)
        n = int(np.prod(shape))
        x = (np.arange(n, dtype=np.float32) / n).reshape(shape)
        expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(DATA, "light", name + "_output_0.pb")))
        save_case(out, name, model, [([x], [expected])])
        rand = randomized(model, rng)
        xr = rng.standard_normal(shape).astype(np.float32)
        sess = ort.InferenceSession(rand.SerializeToString(), providers=["CPUExecutionProvider"])
        ref = sess.run(None, {info.name: xr})
        save_case(out, name + "_random", rand, [([xr], ref)])
    for folder in ("simple", "pytorch-converted", "pytorch-operator"):
        for d in sorted(glob.glob(os.path.join(DATA, folder, "*"))):
            model_path = os.path.join(d, "model.onnx")
            if not os.path.exists(model_path):
                continue
            model = onnx.load(model_path)
            sets, reason = [], None
            for sd in sorted(glob.glob(os.path.join(d, "test_data_set_*"))):
                ins = [numpy_helper.to_array(onnx.load_tensor(p)) for p in sorted(glob.glob(os.path.join(sd, "input_*.pb")))]
                outs = []
                for p in sorted(glob.glob(os.path.join(sd, "output_*.pb"))):
                    try:
                        outs.append(numpy_helper.to_array(onnx.load_tensor(p)))
                    except Exception as e:  # noqa: BLE001 - sequences and maps are not tensors
                        reason = f"output is not a tensor ({type(e).__name__})"
                sets.append((ins, outs))
            if not sets:
                reason = reason or "no data sets"
            save_case(out, f"{folder}.{os.path.basename(d)}", model, sets, reason)
    print(f"wrote real-model cases to {out}")


if __name__ == "__main__":
    main(sys.argv[1])
