"""Peak memory of one runtime on one model, in a fresh process (so the two never share pages).

    python memory.py sinter MODULE.py MODEL.onnx     # the Python module `sinter compile --emit python` wrote
    python memory.py ort MODEL.onnx

Loads the model, runs it 3 times on seeded inputs and prints one JSON line: peak RSS of the
whole process (VmHWM, including the Python interpreter, numpy and the runtime's library),
the RSS growth caused by loading and by running (what the model itself costs), and for Sinter
its workspace (arena + kernel scratch) in bytes.
"""
import importlib.util
import json
import resource
import sys

import numpy as np


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize()


def feeds_for(inputs):
    rng = np.random.default_rng(0)
    out = {}
    for name, shape, dtype in inputs:
        if dtype.kind == "f":
            out[name] = rng.standard_normal(shape).astype(dtype)
        else:
            out[name] = rng.integers(0, 10, size=shape).astype(dtype)
    return out


def main():
    kind = sys.argv[1]
    if kind == "sinter":
        spec = importlib.util.spec_from_file_location("m", sys.argv[2])
        mod = importlib.util.module_from_spec(spec)
        base = rss_bytes()
        spec.loader.exec_module(mod)
        model = mod.Model()
        loaded = rss_bytes()
        feeds = feeds_for([(i["name"], i["shape"], i["dtype"]) for i in model.inputs])
        run = lambda: model.run(**feeds)
        workspace = int(model._workspace_size())
    else:
        import onnxruntime as ort
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        base = rss_bytes()
        sess = ort.InferenceSession(sys.argv[2], opts, providers=["CPUExecutionProvider"])
        loaded = rss_bytes()
        types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32}
        feeds = feeds_for([(i.name, i.shape, np.dtype(types[i.type])) for i in sess.get_inputs()])
        run = lambda: sess.run(None, feeds)
        workspace = None
    before = rss_bytes()
    for _ in range(3):
        run()
    after = rss_bytes()
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent across exec.
    with open("/proc/self/status") as f:
        peak = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))
    print(json.dumps({"peak_rss": peak, "load": loaded - base, "run": after - before, "workspace": workspace}))


if __name__ == "__main__":
    main()
