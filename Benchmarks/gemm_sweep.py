"""GEMM throughput sweep: Sinter's compiled MatMul against numpy/OpenBLAS and ONNX Runtime,
single-threaded, in one run.

    python gemm_sweep.py SINTER OUT_DIR

Each shape M×K·K×N is one ONNX MatMul with A and B both graph inputs, fresh on every call
(so nothing is packed ahead of time); a last row repeats 1024³ with B a constant weight, which
Sinter packs at compile time. GFLOP/s = 2·M·N·K / best of the timed runs. numpy runs under
threadpoolctl with one thread and the table names the BLAS kernel it used. The core's peak
comes from an FMA-throughput micro-benchmark (Benchmarks/fma_peak.c, built with the system C
compiler for this CPU), since these VMs hide the clock.
"""
import importlib.util
import os
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from threadpoolctl import threadpool_info, threadpool_limits

SHAPES = [(64, 64, 64), (128, 128, 128), (256, 256, 256), (512, 512, 512), (1024, 1024, 1024),
          (2048, 2048, 2048), (1000, 1000, 1000), (777, 333, 1021), (1, 1024, 1024), (256, 784, 512),
          (128, 256, 1024), (128, 1024, 256)]


def best_seconds(fn, budget=1.0, min_runs=3, max_runs=200):
    fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_runs or (time.perf_counter() - start < budget and len(times) < max_runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def model(path, m, k, n, const_b):
    a = helper.make_tensor_value_info("A", TensorProto.FLOAT, [m, k])
    y = helper.make_tensor_value_info("Y", TensorProto.FLOAT, [m, n])
    inputs, inits = [a], []
    b = np.random.default_rng(1).standard_normal((k, n)).astype(np.float32)
    if const_b:
        inits.append(numpy_helper.from_array(b, "B"))
    else:
        inputs.append(helper.make_tensor_value_info("B", TensorProto.FLOAT, [k, n]))
    graph = helper.make_graph([helper.make_node("MatMul", ["A", "B"], ["Y"])], "mm", inputs, [y], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return b


def peak_gflops(out):
    exe = os.path.join(out, "fma_peak")
    src = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fma_peak.c")
    subprocess.run(["cc", "-O2", "-march=native", "-ffp-contract=fast", src, "-o", exe], check=True)
    line = subprocess.run([exe], check=True, capture_output=True, text=True).stdout.strip()
    return float(line.split()[0]), line


def main():
    sinter, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    peak, peak_line = peak_gflops(out)
    print(f"Peak of one core (FMA micro-benchmark): {peak_line}\n")
    with threadpool_limits(1):
        blas = ", ".join(f"{i.get('internal_api')} {i.get('architecture', '')}".strip()
                         for i in threadpool_info() if i.get("user_api") == "blas") or "unknown"
    print(f"numpy BLAS: {blas} (1 thread)\n")
    print("| M×K·K×N | B | Sinter GFLOP/s | % of peak | numpy GFLOP/s | ORT GFLOP/s | Sinter / numpy | Sinter / ORT |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    rng = np.random.default_rng(0)
    for (m, k, n), const_b in [(s, False) for s in SHAPES] + [((1024, 1024, 1024), True)]:
        name = f"mm_{m}_{k}_{n}" + ("_const" if const_b else "")
        path = os.path.join(out, name + ".onnx")
        b = model(path, m, k, n, const_b)
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        subprocess.run([sinter, "compile", path, "--emit", "shared,python", "--name", name, "-o", d], check=True,
                       capture_output=True)
        spec = importlib.util.spec_from_file_location(name, os.path.join(d, name + ".py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        ours = mod.Model(num_threads=1)
        a = rng.standard_normal((m, k)).astype(np.float32)
        feeds = {"A": a} if const_b else {"A": a, "B": b}
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        got = ours.run(**feeds)[0]
        assert np.allclose(got, a @ b, rtol=1e-3, atol=1e-3 * np.sqrt(k)), name
        flops = 2.0 * m * n * k
        s = flops / best_seconds(lambda: ours.run(**feeds)) / 1e9
        with threadpool_limits(1):
            np_g = flops / best_seconds(lambda: a @ b) / 1e9
        o = flops / best_seconds(lambda: sess.run(None, feeds)) / 1e9
        print(f"| {m}×{k}·{k}×{n} | {'constant' if const_b else 'input'} | {s:.1f} | {100 * s / peak:.0f}% | "
              f"{np_g:.1f} | {o:.1f} | "
              f"{s / np_g:.2f} | {s / o:.2f} |", flush=True)


if __name__ == "__main__":
    main()
