"""Post-training int8 against f32 and against onnxruntime's own int8, measured in one run.

    python int8.py SINTER OUT_DIR MODEL.onnx [MODEL.onnx ...]

For each model: 8 seeded calibration samples; Sinter `calibrate` (minmax) then `compile
--quantize int8`; onnxruntime's `quantize_static` (QDQ, per-channel i8 weights, u8
activations) on the same samples. Median latency at 1 and 2 threads of Sinter f32, Sinter int8,
ORT f32 and ORT int8; the output's signal-to-quantization-noise ratio against f32 (over 8
seeded inputs); for
classifiers (one image in, class scores out), top-1 agreement with f32 over 200 seeded inputs and
how many classes f32's top-1 covered; the share of the model's multiply-adds that ran in int8;
artifact sizes. Then a digits classifier (scikit-learn's bundled data, trained here) in f32 and
int8: test accuracy. A second table: dynamic int8 (no calibration) against onnxruntime's
`quantize_dynamic`, for the same models.
"""
import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import onnx
import onnx.version_converter
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_dynamic, quantize_static

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import interleaved_medians  # noqa: E402

SAMPLES = 8
ort.set_default_logger_severity(3)
AGREEMENT_INPUTS = 200
SQNR_INPUTS = 8


def load(sinter, path, d, name, extra):
    os.makedirs(d, exist_ok=True)
    subprocess.run([sinter, "compile", path, "--emit", "shared,python", "--name", name, "-o", d] + extra, check=True,
                   capture_output=True)
    spec = importlib.util.spec_from_file_location(name, os.path.join(d, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod, os.path.getsize(os.path.join(d, f"lib{name}.so"))


def session(path, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def sqnr_over(reference, other, inputs):
    """The SQNR over several inputs: their total signal power over their total noise power (one
    input's ratio swings on a model whose output is a near-one-hot softmax, such as ShuffleNet)."""
    signal = noise = 0.0
    for feeds in inputs:
        ref, x = reference(feeds).astype(np.float64), other(feeds).astype(np.float64)
        signal += np.sum(ref ** 2)
        noise += np.sum((ref - x) ** 2)
    return 10 * np.log10(signal / max(noise, 1e-30))


def int8_share(sinter, path, extra):
    """The multiply-adds of int8 kernels and of all matmul and conv kernels, from the kernel report."""
    r = subprocess.run([sinter, "dump", path, "--kernel-report"] + extra, check=True, capture_output=True, text=True)
    m = re.search(r"// multiply-adds: (\d+), in int8 (\d+)", r.stdout)
    return (int(m.group(2)), int(m.group(1))) if m else (0, 0)


def ort_model(path, d):
    """The model as onnxruntime's quantizer takes it: opset >= 13 (older models list their
    initializers as inputs, as the version converter needs)."""
    model = onnx.load(path)
    if max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 13:
        return path
    listed = {i.name for i in model.graph.input}
    for t in model.graph.initializer:
        if t.name not in listed:
            model.graph.input.append(helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)))
    converted = onnx.version_converter.convert_version(model, 13)
    out = os.path.join(d, "model_opset13.onnx")
    onnx.save(converted, out)
    return out


def agreement(f32, i8, shapes, rng):
    """Top-1 agreement of int8 with f32 over seeded inputs, and the classes f32's top-1 covered."""
    if len(shapes) != 1:
        return None
    (name, shape), = shapes.items()
    same, classes = 0, set()
    a, b = f32.Model(), i8.Model()
    for _ in range(AGREEMENT_INPUTS):
        x = rng.standard_normal(shape).astype(np.float32)
        want, got = a.run(**{name: x})[0], b.run(**{name: x})[0]
        if want.shape[0] != 1 or want.size < 10 or want.size != want.shape[1]:
            return None
        classes.add(int(want.argmax()))
        same += int(want.argmax() == got.argmax())
    return same / AGREEMENT_INPUTS, len(classes)


def centred_agreement(sinter, out, path, extra, with_ort):
    """Top-1 agreement on an input-sensitive copy of a light zoo model (Benchmarks/centred.py:
    the same architecture, data-dependent random init): Sinter compiled with `extra` (after
    calibrating the copy as `bench_model` calibrates the model) and, when `with_ort`, ORT's
    quantize_static on it too. Returns (Sinter's agreement, f32 classes, ORT's agreement or
    None), or None when the model is not one of the light zoo's random-weight copies."""
    from centred import DATA, centred

    base = os.path.splitext(os.path.basename(path))[0]
    light = os.path.join(DATA, "light", base.removesuffix("_random") + ".onnx")
    if not base.endswith("_random") or not os.path.exists(light):
        return None
    d = os.path.join(out, base + "_centred")
    os.makedirs(d, exist_ok=True)
    copy = os.path.join(d, "model.onnx")
    onnx.save(centred(onnx.load(light), np.random.default_rng(2026)), copy)
    model = onnx.load(copy)
    inits = {i.name for i in model.graph.initializer}
    shapes = {i.name: [dim.dim_value for dim in i.type.tensor_type.shape.dim]
              for i in model.graph.input if i.name not in inits}
    rng = np.random.default_rng(0)
    samples = [{n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()} for _ in range(SAMPLES)]
    np.savez(os.path.join(d, "calib.npz"), **{n: np.stack([s[n] for s in samples]) for n in shapes})
    args = list(extra)
    if "--calibration" in args:
        calib = os.path.join(d, "calib.json")
        subprocess.run([sinter, "calibrate", copy, "--data", os.path.join(d, "calib.npz"), "-o", calib], check=True,
                       capture_output=True)
        args[args.index("--calibration") + 1] = calib
    f32, _ = load(sinter, copy, os.path.join(d, "f32"), base + "_centred", [])
    tag = "int8" if "--quantize" in args else "bf16"
    low, _ = load(sinter, copy, os.path.join(d, tag), f"{base}_centred_{tag}", args)
    ours = agreement(f32, low, shapes, np.random.default_rng(1))
    if ours is None:
        return None
    theirs = None
    if with_ort:
        quantized = os.path.join(d, "ort_int8.onnx")
        quantize_static(ort_model(copy, d), quantized, Reader(samples), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        a, b = session(copy, 1), session(quantized, 1)
        (name, shape), = shapes.items()
        x_rng, same = np.random.default_rng(1), 0
        for _ in range(AGREEMENT_INPUTS):
            x = x_rng.standard_normal(shape).astype(np.float32)
            same += int(a.run(None, {name: x})[0].argmax() == b.run(None, {name: x})[0].argmax())
        theirs = same / AGREEMENT_INPUTS
    return ours[0], ours[1], theirs


class Reader(CalibrationDataReader):
    def __init__(self, samples):
        self.samples = iter(samples)

    def get_next(self):
        return next(self.samples, None)


def bench_model(sinter, out, path):
    name = os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_")
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model = onnx.load(path)
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    rng = np.random.default_rng(0)
    shapes = {i.name: [dim.dim_value for dim in i.type.tensor_type.shape.dim] for i in inputs}
    samples = [{n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()} for _ in range(SAMPLES)]
    np.savez(os.path.join(d, "calib.npz"), **{n: np.stack([s[n] for s in samples]) for n in shapes})
    calib = os.path.join(d, "calib.json")
    subprocess.run([sinter, "calibrate", path, "--data", os.path.join(d, "calib.npz"), "-o", calib], check=True,
                   capture_output=True)
    quant = ["--quantize", "int8", "--calibration", calib]
    f32, f32_size = load(sinter, path, os.path.join(d, "f32"), name, [])
    i8, i8_size = load(sinter, path, os.path.join(d, "int8"), name + "_int8", quant)
    dyn, _ = load(sinter, path, os.path.join(d, "dynamic"), name + "_dyn", ["--quantize", "int8-dynamic"])
    ort_int8, ort_dyn = os.path.join(d, "ort_int8.onnx"), os.path.join(d, "ort_dynamic.onnx")
    row_dynamic_share = int8_share(sinter, path, ["--quantize", "int8-dynamic"])
    original, path = path, ort_model(path, d)
    quantize_static(path, ort_int8, Reader(samples), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    quantize_dynamic(path, ort_dyn, per_channel=True, weight_type=QuantType.QInt8)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    row = {"name": name, "f32 size": f32_size, "int8 size": i8_size}
    inputs = [feeds] + [{n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
                        for _ in range(SQNR_INPUTS - 1)]
    runs = {"f32": f32.Model(), "int8": i8.Model(), "dynamic": dyn.Model()}
    ours = {k: (lambda x, m=m: m.run(**x)[0]) for k, m in runs.items()}
    theirs = {k: (lambda x, m=session(p, 1): m.run(None, x)[0]) for k, p in (("int8", ort_int8), ("dynamic", ort_dyn))}
    row["sqnr"] = sqnr_over(ours["f32"], ours["int8"], inputs)
    row["ort sqnr"] = sqnr_over(ours["f32"], theirs["int8"], inputs)
    row["int8 share"] = int8_share(sinter, path, quant)
    row["dynamic share"] = row_dynamic_share
    row["dynamic sqnr"] = sqnr_over(ours["f32"], ours["dynamic"], inputs)
    row["ort dynamic sqnr"] = sqnr_over(ours["f32"], theirs["dynamic"], inputs)
    row["agreement"] = agreement(f32, i8, shapes, np.random.default_rng(1))
    row["centred"] = centred_agreement(sinter, out, original, quant, with_ort=True)
    for threads in (1, 2):
        a, b, g = f32.Model(num_threads=threads), i8.Model(num_threads=threads), dyn.Model(num_threads=threads)
        c, e, h = session(path, threads), session(ort_int8, threads), session(ort_dyn, threads)
        row[threads] = tuple(interleaved_medians([
            lambda: a.run(**feeds), lambda: b.run(**feeds), lambda: c.run(None, feeds), lambda: e.run(None, feeds),
            lambda: g.run(**feeds), lambda: h.run(None, feeds)], budget=6.0))
    return row


def digits(sinter, out):
    """A 64-128-10 MLP trained by scikit-learn on its bundled digits, as ONNX, f32 and int8."""
    path, xtr, xte, yte, n = digits_model(out)
    d = os.path.dirname(path)
    # Calibration: training rows, in batches of the model's batch size.
    batches = [xtr[i:i + n] for i in range(0, len(xtr) - n + 1, n)]
    np.savez(os.path.join(d, "calib.npz"), x=np.stack(batches))
    calib = os.path.join(d, "calib.json")
    subprocess.run([sinter, "calibrate", path, "--data", os.path.join(d, "calib.npz"), "-o", calib], check=True,
                   capture_output=True)
    f32, _ = load(sinter, path, os.path.join(d, "f32"), "digits", [])
    i8, _ = load(sinter, path, os.path.join(d, "int8"), "digits_int8", ["--quantize", "int8", "--calibration", calib])
    acc = lambda m: float(np.mean(m.Model().run(x=xte)[0].argmax(1) == yte))
    return acc(f32), acc(i8), n


def digits_model(out):
    """The digits MLP as ONNX (batch = the test split) in OUT/digits; returns its path, the
    training and test images, the test labels and the test split's size."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(128,), max_iter=400, random_state=0).fit(xtr, ytr)
    n = len(xte)
    nodes = [
        helper.make_node("MatMul", ["x", "w0"], ["m0"]), helper.make_node("Add", ["m0", "b0"], ["a0"]),
        helper.make_node("Relu", ["a0"], ["r0"]), helper.make_node("MatMul", ["r0", "w1"], ["m1"]),
        helper.make_node("Add", ["m1", "b1"], ["logits"]),
    ]
    inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in
             {"w0": clf.coefs_[0], "b0": clf.intercepts_[0], "w1": clf.coefs_[1], "b1": clf.intercepts_[1]}.items()]
    graph = helper.make_graph(nodes, "digits", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [n, 64])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [n, 10])], inits)
    d = os.path.join(out, "digits")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "digits.onnx")
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path, xtr, xte, yte, n


def digits_cnn(sinter, out):
    """A CNN on the same digits split: two random 3×3 conv layers (He init, seeded) with ReLU and a
    2×2 max pool, and a linear readout fitted by ridge regression on the training images' features.
    Returns f32 and int8 test accuracy, int8's top-1 agreement with f32, and how many classes f32's
    top-1 covered."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    x, y = load_digits(return_X_y=True)
    x = (x / 16).astype(np.float32).reshape(-1, 1, 8, 8)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.25, random_state=0, stratify=y)
    rng = np.random.default_rng(0)
    w0 = (rng.standard_normal((32, 1, 3, 3)) * np.sqrt(2 / 9)).astype(np.float32)
    w1 = (rng.standard_normal((64, 32, 3, 3)) * np.sqrt(2 / 288)).astype(np.float32)
    b0, b1 = np.full(32, 0.05, np.float32), np.full(64, 0.05, np.float32)
    n = len(xte)
    d = os.path.join(out, "digits_cnn")
    os.makedirs(d, exist_ok=True)

    def graph(batch, readout):
        nodes = [
            helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c0"], ["r0"]),
            helper.make_node("Conv", ["r0", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c1"], ["r1"]),
            helper.make_node("MaxPool", ["r1"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
            helper.make_node("Flatten", ["p"], ["f"]),
        ]
        values = {"w0": w0, "b0": b0, "w1": w1, "b1": b1}
        if readout is None:
            result, width = "f", 64 * 16
        else:
            nodes += [helper.make_node("MatMul", ["f", "wr"], ["m"]), helper.make_node("Add", ["m", "br"], ["logits"])]
            values.update(wr=readout[0], br=readout[1])
            result, width = "logits", 10
        inits = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in values.items()]
        g = helper.make_graph(nodes, "digits_cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 1, 8, 8])],
                              [helper.make_tensor_value_info(result, TensorProto.FLOAT, [batch, width])], inits)
        return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])

    # The readout: ridge regression from the conv features (computed by onnxruntime) to one-hot labels.
    feats = session(graph(len(xtr), None).SerializeToString(), 1).run(None, {"x": xtr})[0]
    onehot = np.eye(10, dtype=np.float32)[ytr]
    a = np.hstack([feats, np.ones((len(feats), 1), np.float32)])
    coef = np.linalg.solve(a.T @ a + 1.0 * np.eye(a.shape[1]), a.T @ onehot)
    path = os.path.join(d, "digits_cnn.onnx")
    onnx.save(graph(n, (coef[:-1], coef[-1])), path)
    batches = [xtr[i:i + n] for i in range(0, len(xtr) - n + 1, n)]
    np.savez(os.path.join(d, "calib.npz"), x=np.stack(batches))
    calib = os.path.join(d, "calib.json")
    subprocess.run([sinter, "calibrate", path, "--data", os.path.join(d, "calib.npz"), "-o", calib], check=True,
                   capture_output=True)
    quant = ["--quantize", "int8", "--calibration", calib]
    f32, _ = load(sinter, path, os.path.join(d, "f32"), "digits_cnn", [])
    i8, _ = load(sinter, path, os.path.join(d, "int8"), "digits_cnn_int8", quant)
    pf, pq = f32.Model().run(x=xte)[0].argmax(1), i8.Model().run(x=xte)[0].argmax(1)
    done, total = int8_share(sinter, path, quant)
    return float(np.mean(pf == yte)), float(np.mean(pq == yte)), float(np.mean(pf == pq)), len(set(pf)), n, \
        done / max(total, 1)


def main():
    sinter, out = sys.argv[1], sys.argv[2]
    rows = [bench_model(sinter, out, p) for p in sys.argv[3:]]
    print("| model | threads | Sinter f32 ms | Sinter int8 ms | int8/f32 | ORT f32 ms | ORT int8 ms | "
          "Sinter int8 / ORT int8 | SQNR dB (ORT's) | top-1 agreement (f32 classes) | multiply-adds in int8 | "
          ".so f32 → int8 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        for t in (1, 2):
            sf, si, of, oi = r[t][:4]
            done, total = r["int8 share"]
            share = f"{100 * done / total:.1f}%" if total else "—"
            agree = f"{100 * r['agreement'][0]:.1f}% ({r['agreement'][1]})" if r["agreement"] else "—"
            print(f"| {r['name']} | {t} | {sf:.3f} | {si:.3f} | {si / sf:.2f} | {of:.3f} | {oi:.3f} | {si / oi:.2f} | "
                  f"{r['sqnr']:.1f} ({r['ort sqnr']:.1f}) | {agree} | {share} | {r['f32 size']} → {r['int8 size']} |")
    centred = [(r["name"], r["centred"]) for r in rows if r["centred"]]
    if centred:
        print()
        print("Top-1 agreement on input-sensitive copies of the zoo models (Benchmarks/centred.py: the same "
              "architecture with a data-dependent random init, whose f32 top-1 spreads over many classes; such "
              "a network amplifies small perturbations with depth, so ORT's agreement is given for scale):")
        print()
        print("| model | f32 top-1 classes (of 200 inputs) | Sinter int8 agreement | ORT int8 agreement |")
        print("| --- | ---: | ---: | ---: |")
        for name, (ours, classes, theirs) in centred:
            print(f"| {name} | {classes} | {100 * ours:.1f}% | {100 * theirs:.1f}% |")
    print()
    print("Dynamic int8 (`--quantize int8-dynamic`: no calibration, activations quantized per row at run time) "
          "against ORT's `quantize_dynamic` (per-channel i8 weights, activations per tensor):")
    print()
    print("| model | threads | Sinter f32 ms | Sinter dynamic ms | dynamic/f32 | ORT f32 ms | ORT dynamic ms | "
          "Sinter dynamic / ORT dynamic | SQNR dB (ORT's) | multiply-adds in int8 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        for t in (1, 2):
            sf, _, of, _, sd, od = r[t]
            done, total = r["dynamic share"]
            share = f"{100 * done / total:.1f}%" if total else "—"
            print(f"| {r['name']} | {t} | {sf:.3f} | {sd:.3f} | {sd / sf:.2f} | {of:.3f} | {od:.3f} | {sd / od:.2f} | "
                  f"{r['dynamic sqnr']:.1f} ({r['ort dynamic sqnr']:.1f}) | {share} |")
    f, q, n = digits(sinter, out)
    print()
    print(f"Digits (scikit-learn MLP 64-128-10, {n} test images): f32 accuracy {100 * f:.2f}%, "
          f"int8 {100 * q:.2f}% (drop {100 * (f - q):.2f} points).")
    f, q, agree, classes, n, share = digits_cnn(sinter, out)
    print(f"Digits CNN (two 3×3 convs, max pool, ridge readout; {n} test images): f32 accuracy {100 * f:.2f}%, "
          f"int8 {100 * q:.2f}% (drop {100 * (f - q):.2f} points); top-1 agreement {100 * agree:.2f}% over "
          f"{classes} classes; {100 * share:.1f}% of multiply-adds in int8.")


if __name__ == "__main__":
    main()
