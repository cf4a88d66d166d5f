"""Independent numpy reference for the MLP example: prints the probabilities like main.c."""
import os
import sys
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
x = np.load(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "input.npy")).astype(np.float64)
h = x
for i in range(3):
    h = h @ np.load(os.path.join(here, f"w{i}.npy")).astype(np.float64) + np.load(os.path.join(here, f"b{i}.npy"))
    if i < 2:
        h = np.maximum(h, 0)
e = np.exp(h - h.max(axis=-1, keepdims=True))
p = e / e.sum(axis=-1, keepdims=True)
for row in p:
    print(" ".join(f"{v:.9g}" for v in row))
