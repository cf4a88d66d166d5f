"""Runs ONNX models with onnxruntime: each argument triple is MODEL INPUT_DIR OUTPUT_DIR;
inputs are input_<i>.npy in graph-input order, outputs are written as output_<i>.npy."""
import glob
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort

args = sys.argv[1:]
for model, ind, outd in zip(args[0::3], args[1::3], args[2::3]):
    onnx.checker.check_model(onnx.load(model))
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    feeds = {i.name: np.load(os.path.join(ind, f"input_{k}.npy")) for k, i in enumerate(sess.get_inputs())}
    os.makedirs(outd, exist_ok=True)
    for k, v in enumerate(sess.run(None, feeds)):
        np.save(os.path.join(outd, f"output_{k}.npy"), v)
