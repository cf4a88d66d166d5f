"""Regenerates the seeded weights and sample input of the MLP example (numpy only).

    python3 make_weights.py   # writes w0..w2, b0..b2 and input.npy next to this file
"""
import os
import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(20261129)
sizes = [64, 128, 64, 10]
for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
    w = (rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(np.float32)
    b = (rng.standard_normal(n_out) * 0.1).astype(np.float32)
    np.save(os.path.join(here, f"w{i}.npy"), w)
    np.save(os.path.join(here, f"b{i}.npy"), b)
np.save(os.path.join(here, "input.npy"), rng.standard_normal((4, 64)).astype(np.float32))
