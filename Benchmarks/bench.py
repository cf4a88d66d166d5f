"""Latency of Sinter-compiled models against ONNX Runtime, measured in the same run.

    python bench.py SINTER OUT_DIR MODEL.onnx [MODEL.onnx ...]

For each model: compile with `sinter compile --emit shared,python`, run both on the same
seeded input, check the outputs agree, and time the median of repeated runs with 1 and with 2
threads (Sinter's context pool; ONNX Runtime's intra-op threads), the two runtimes timed in
turns so that the machine's drift hits both. Prints a Markdown table
with the ratios Sinter / ONNX Runtime (below 1 means Sinter is faster).
"""
import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort


def interleaved_medians(fns, budget=2.0, rounds=10, min_runs=5):
    """Median ms of each function, timed in turns: `rounds` rounds, each giving every function
    an equal slice of the budget. These VMs drift (a neighbour's load comes and goes for
    seconds), and timing one runtime's whole budget after the other's put the drift into the
    ratio; in turns, both see the same machine."""
    for fn in fns:
        fn()  # warm up
    times = [[] for _ in fns]
    slice_s = budget / rounds
    for r in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            while True:
                t = time.perf_counter()
                fn()
                times[i].append((time.perf_counter() - t) * 1000)
                done = time.perf_counter() - start >= slice_s
                if done and (r < rounds - 1 or len(times[i]) >= min_runs):
                    break
    return [float(np.median(t)) for t in times]


def main():
    sinter, out = sys.argv[1], sys.argv[2]
    rows = []
    for path in sys.argv[3:]:
        name = os.path.splitext(os.path.basename(path))[0].replace("-", "_").replace(".", "_")
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        t = time.perf_counter()
        subprocess.run([sinter, "compile", path, "--emit", "shared,python", "--name", name, "-o", d], check=True,
                       capture_output=True)
        compile_s = time.perf_counter() - t
        spec = importlib.util.spec_from_file_location(name, os.path.join(d, name + ".py"))
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        model = mod.Model()
        model2 = mod.Model(num_threads=2)
        rng = np.random.default_rng(0)
        feeds = {}
        for i in model.inputs:
            if i["dtype"].kind == "f":
                feeds[i["name"]] = rng.standard_normal(i["shape"]).astype(i["dtype"])
            else:
                feeds[i["name"]] = rng.integers(0, 10, size=i["shape"]).astype(i["dtype"])
        def session(threads):
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
            return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
        sess, sess2 = session(1), session(2)
        ours = model.run(**feeds)
        ref = sess.run(None, feeds)
        agree = all(np.allclose(a, b, rtol=1e-3, atol=1e-4) for a, b in zip(ours, ref))
        agree = agree and all(np.array_equal(a, b) for a, b in zip(ours, model2.run(**feeds)))
        s1, o1 = interleaved_medians([lambda: model.run(**feeds), lambda: sess.run(None, feeds)])
        s2, o2 = interleaved_medians([lambda: model2.run(**feeds), lambda: sess2.run(None, feeds)])
        del model, model2, sess, sess2
        memory = [measure_memory(kind, os.path.join(d, name + ".py"), path) for kind in ("sinter", "ort")]
        rows.append((name, s1, o1, s2, o2, compile_s, agree, os.path.getsize(os.path.join(d, f"lib{name}.so")), memory))
    print("| model | Sinter 1T ms | ORT 1T ms | ratio 1T | Sinter 2T ms | ORT 2T ms | ratio 2T | compile s | outputs agree | .so bytes |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
    for name, s1, o1, s2, o2, c, a, size, _ in rows:
        print(f"| {name} | {s1:.3f} | {o1:.3f} | {s1 / o1:.2f} | {s2:.3f} | {o2:.3f} | {s2 / o2:.2f} | {c:.1f} | {'yes' if a else 'NO'} | {size} |")
    print()
    print("Memory, each runtime alone in a fresh Python process that loads the model and runs it 3 times")
    print("(Benchmarks/memory.py): peak RSS of the process (interpreter and numpy included: about 30 MB), the RSS")
    print("growth from loading plus running (weights paged in, arenas, caches), and Sinter's workspace (arena +")
    print("kernel scratch; ONNX Runtime does not report its arena, so its growth column is the comparison).")
    print()
    print("| model | Sinter peak RSS MB | ORT peak RSS MB | ratio | Sinter load+run MB | ORT load+run MB | Sinter workspace KB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, *_, (ours, theirs) in rows:
        mb = lambda b: b / 2**20
        print(f"| {name} | {mb(ours['peak_rss']):.1f} | {mb(theirs['peak_rss']):.1f} | "
              f"{ours['peak_rss'] / theirs['peak_rss']:.2f} | {mb(ours['load'] + ours['run']):.1f} | "
              f"{mb(theirs['load'] + theirs['run']):.1f} | {ours['workspace'] / 1024:.0f} |")


def measure_memory(kind, module, model):
    args = [module, model] if kind == "sinter" else [model]
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "memory.py")
    r = subprocess.run([sys.executable, script, kind, *args], check=True, capture_output=True, text=True)
    return json.loads(r.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
