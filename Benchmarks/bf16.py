"""bf16 (`--precision bf16`) against f32, measured in one run.

    python bf16.py SINTER OUT_DIR MODEL.onnx [MODEL.onnx ...]

For each model: Sinter f32 and Sinter bf16 (matmul and conv weights stored as bf16, activations
rounded to bf16, f32 sums) against onnxruntime's f32 — its CPU provider has no bf16 MatMul, so f32 is
what it offers. Median latency at 1 and 2 threads, interleaved; the bf16 output's
signal-to-noise ratio against f32; for classifiers, top-1 agreement with f32 over 200 seeded
inputs; the share of multiply-adds in the bf16 GEMM and convolution; artifact sizes. Then the digits MLP
(scikit-learn's bundled data, trained here): f32 and bf16 test accuracy. On a CPU without a bf16
dot product (avx512_bf16, ARM64 bf16) Sinter refuses `--precision bf16`, and so does this table.
"""
import os
import re
import subprocess
import sys

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import interleaved_medians  # noqa: E402
from int8 import SQNR_INPUTS, agreement, centred_agreement, digits_model, load, session, sqnr_over  # noqa: E402


def bf16_share(sinter, path):
    """The multiply-adds of the bf16 GEMM and of all matmul and conv kernels, from the kernel report."""
    r = subprocess.run([sinter, "dump", path, "--kernel-report", "--precision", "bf16"], check=True,
                       capture_output=True, text=True)
    total = re.search(r"// multiply-adds: (\d+)", r.stdout)
    bf16 = re.search(r"in bf16 (\d+)", r.stdout)
    return (int(bf16.group(1)) if bf16 else 0, int(total.group(1)) if total else 0)


def bench_model(sinter, out, path):
    name = os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_")
    d = os.path.join(out, name)
    model = onnx.load(path)
    inits = {i.name for i in model.graph.initializer}
    shapes = {i.name: [dim.dim_value for dim in i.type.tensor_type.shape.dim]
              for i in model.graph.input if i.name not in inits}
    f32, f32_size = load(sinter, path, os.path.join(d, "f32"), name, [])
    b16, b16_size = load(sinter, path, os.path.join(d, "bf16"), name + "_bf16", ["--precision", "bf16"])
    rng = np.random.default_rng(0)
    feeds = {n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
    row = {"name": name, "sizes": (f32_size, b16_size), "share": bf16_share(sinter, path)}
    inputs = [feeds] + [{n: rng.standard_normal(s).astype(np.float32) for n, s in shapes.items()}
                        for _ in range(SQNR_INPUTS - 1)]
    a, b = f32.Model(), b16.Model()
    row["sqnr"] = sqnr_over(lambda x: a.run(**x)[0], lambda x: b.run(**x)[0], inputs)
    row["agreement"] = agreement(f32, b16, shapes, np.random.default_rng(1))
    row["centred"] = centred_agreement(sinter, out, path, ["--precision", "bf16"], with_ort=False)
    for threads in (1, 2):
        a, b, c = f32.Model(num_threads=threads), b16.Model(num_threads=threads), session(path, threads)
        row[threads] = tuple(interleaved_medians(
            [lambda: a.run(**feeds), lambda: b.run(**feeds), lambda: c.run(None, feeds)], budget=4.0))
    return row


def digits(sinter, out):
    path, _, xte, yte, _ = digits_model(out)
    d = os.path.dirname(path)
    f32, _ = load(sinter, path, os.path.join(d, "f32"), "digits", [])
    b16, _ = load(sinter, path, os.path.join(d, "bf16"), "digits_bf16", ["--precision", "bf16"])
    acc = lambda m: float(np.mean(m.Model().run(x=xte)[0].argmax(1) == yte))
    return acc(f32), acc(b16), len(xte)


def main():
    sinter, out = sys.argv[1], sys.argv[2]
    rows = [bench_model(sinter, out, p) for p in sys.argv[3:]]
    print("| model | threads | Sinter f32 ms | Sinter bf16 ms | bf16/f32 | ORT f32 ms | Sinter bf16 / ORT f32 | "
          "SQNR dB | top-1 agreement (f32 classes) | multiply-adds in bf16 | .so f32 → bf16 |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        for t in (1, 2):
            sf, sb, of = r[t]
            done, total = r["share"]
            share = f"{100 * done / total:.1f}%" if total else "—"
            agree = f"{100 * r['agreement'][0]:.1f}% ({r['agreement'][1]})" if r["agreement"] else "—"
            print(f"| {r['name']} | {t} | {sf:.3f} | {sb:.3f} | {sb / sf:.2f} | {of:.3f} | {sb / of:.2f} | "
                  f"{r['sqnr']:.1f} | {agree} | {share} | {r['sizes'][0]} → {r['sizes'][1]} |")
    centred = [(r["name"], r["centred"]) for r in rows if r["centred"]]
    if centred:
        print()
        print("Top-1 agreement on input-sensitive copies of the zoo models (as in the int8 section):")
        print()
        print("| model | f32 top-1 classes (of 200 inputs) | Sinter bf16 agreement |")
        print("| --- | ---: | ---: |")
        for name, (ours, classes, _) in centred:
            print(f"| {name} | {classes} | {100 * ours:.1f}% |")
    f, b, n = digits(sinter, out)
    print()
    print(f"Digits (scikit-learn MLP 64-128-10, {n} test images): f32 accuracy {100 * f:.2f}%, "
          f"bf16 {100 * b:.2f}% (drop {100 * (f - b):.2f} points).")


if __name__ == "__main__":
    main()
