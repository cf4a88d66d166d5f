"""numpy reference for Sinter's op tests: reads a JSON list of cases, writes each result.

Each case: {"op": mnemonic, "attrs": {...}, "inputs": [paths], "output": path}. Math runs in
float64 and is rounded to float32 once, so the reference is (nearly) correctly rounded.
"""
import json
import sys

import numpy as np


def reduce_axes(x, attrs):
    axes = attrs.get("axes")
    return (tuple(axes) if axes is not None else None), bool(attrs.get("keepdims", False))


def softmax(x, attrs):
    axis = attrs.get("axis", -1)
    m = np.max(x, axis=axis, keepdims=True) if x.size else x
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def reduce_max(x, attrs):
    axes, keep = reduce_axes(x, attrs)
    return np.max(x, axis=axes, keepdims=keep, initial=-np.inf)


OPS = {
    "add": lambda a, t: a[0] + a[1],
    "sub": lambda a, t: a[0] - a[1],
    "mul": lambda a, t: a[0] * a[1],
    "div": lambda a, t: a[0] / a[1],
    "max": lambda a, t: np.maximum(a[0], a[1]),
    "min": lambda a, t: np.minimum(a[0], a[1]),
    "neg": lambda a, t: -a[0],
    "abs": lambda a, t: np.abs(a[0]),
    "exp": lambda a, t: np.exp(a[0]),
    "log": lambda a, t: np.log(a[0]),
    "sqrt": lambda a, t: np.sqrt(a[0]),
    "relu": lambda a, t: np.maximum(a[0], 0),
    "sigmoid": lambda a, t: 1 / (1 + np.exp(-a[0])),
    "tanh": lambda a, t: np.tanh(a[0]),
    "matmul": lambda a, t: np.matmul(a[0], a[1]),
    "reshape": lambda a, t: a[0].reshape(t["shape"]),
    "transpose": lambda a, t: np.transpose(a[0], t.get("perm")),
    "softmax": lambda a, t: softmax(a[0], t),
    "reduce-sum": lambda a, t: np.sum(a[0], axis=reduce_axes(a[0], t)[0], keepdims=reduce_axes(a[0], t)[1]),
    "reduce-mean": lambda a, t: np.mean(a[0], axis=reduce_axes(a[0], t)[0], keepdims=reduce_axes(a[0], t)[1]),
    "reduce-max": lambda a, t: reduce_max(a[0], t),
}

with np.errstate(all="ignore"):
    for case in json.load(open(sys.argv[1])):
        args = [np.load(p).astype(np.float64) for p in case["inputs"]]
        out = OPS[case["op"]](args, case.get("attrs", {}))
        np.save(case["output"], np.array(out, dtype=np.float32, order="C"))
