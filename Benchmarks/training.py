"""Train-step time: Sinter against PyTorch-CPU and JAX on the same models, batch and optimizer.

  training.py SINTER WORKDIR

Models (Tests/SinterTestSupport/train_digits.py, scikit-learn's bundled digits): the MLP
64-128-64-10 and the CNN conv3x3(8)-pool-conv3x3(16)-pool-fc(10), at batch 32 and 256 (MLP)
and 32 (CNN); cross-entropy from logits, Adam (lr 1e-3). One step = forward, loss, backward and
the Adam update of every parameter, on a fixed batch.

- Sinter: `sinter train` itself (the JIT-compiled step, plus its per-step batch gathering and
  parameter hand-over), the median of its samples/s over epochs 2-10, as ms per step. (Timing the
  step alone with `sinter bench` on random inputs measures denormal arithmetic: random weights
  saturate the softmax.)
- PyTorch: torch.set_num_threads(n); zero_grad, forward, F.cross_entropy, backward,
  torch.optim.Adam.step.
- JAX: jax.jit of value_and_grad plus a hand-written Adam (the same formulas), in a subprocess
  per thread count (XLA's intra-op threads are fixed at start-up).

Prints a markdown table: median milliseconds per step and Sinter / min(PyTorch, JAX).
"""
import json
import os
import re
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "Tests", "SinterTestSupport"))


def median_ms(fn, seconds=1.5, warmup=5):
    for _ in range(warmup):
        fn()
    times = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end or len(times) < 10:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def torch_step(kind, batch, threads):
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if kind == "mlp":
        model = torch.nn.Sequential(
            torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 10))
        x = torch.rand(batch, 64)
    else:
        model = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
            torch.nn.Conv2d(8, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
            torch.nn.Linear(64, 10))
        x = torch.rand(batch, 1, 8, 8)
    y = torch.randint(0, 10, (batch,))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return median_ms(step)


JAX_CHILD = r"""
import json, sys, time, statistics
import numpy as np
import jax, jax.numpy as jnp
kind, batch = sys.argv[1], int(sys.argv[2])
key = jax.random.PRNGKey(0)
def dense(k, i, o): return [jax.random.normal(k, (i, o)) * (2 / i) ** 0.5, jnp.zeros(o)]
ks = jax.random.split(key, 4)
if kind == "mlp":
    params = dense(ks[0], 64, 128) + dense(ks[1], 128, 64) + dense(ks[2], 64, 10)
    def forward(p, x):
        h = jax.nn.relu(x @ p[0] + p[1]); h = jax.nn.relu(h @ p[2] + p[3]); return h @ p[4] + p[5]
    x = jnp.asarray(np.random.rand(batch, 64), jnp.float32)
else:
    params = [jax.random.normal(ks[0], (8, 1, 3, 3)) * 0.4, jnp.zeros(8),
              jax.random.normal(ks[1], (16, 8, 3, 3)) * 0.15, jnp.zeros(16)] + dense(ks[2], 64, 10)
    def conv(x, w, b):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), ((1, 1), (1, 1)))
        return y + b[None, :, None, None]
    def pool(x): return jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")
    def forward(p, x):
        h = pool(jax.nn.relu(conv(x, p[0], p[1]))); h = pool(jax.nn.relu(conv(h, p[2], p[3])))
        return h.reshape(h.shape[0], -1) @ p[4] + p[5]
    x = jnp.asarray(np.random.rand(batch, 1, 8, 8), jnp.float32)
y = jnp.asarray(np.random.randint(0, 10, batch))
def loss(p, x, y):
    logp = jax.nn.log_softmax(forward(p, x))
    return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))
@jax.jit
def step(p, m, v, t, x, y):
    l, g = jax.value_and_grad(loss)(p, x, y)
    m = [0.9 * a + 0.1 * b for a, b in zip(m, g)]
    v = [0.999 * a + 0.001 * b * b for a, b in zip(v, g)]
    c1, c2 = 1 - 0.9 ** t, 1 - 0.999 ** t
    p = [q - 1e-3 * (a / c1) / (jnp.sqrt(b / c2) + 1e-8) for q, a, b in zip(p, m, v)]
    return p, m, v, l
m = [jnp.zeros_like(q) for q in params]; v = [jnp.zeros_like(q) for q in params]
state = [params, m, v]
def run():
    p, mm, vv, l = step(state[0], state[1], state[2], 1.0, x, y)
    l.block_until_ready(); state[:] = [p, mm, vv]
for _ in range(5): run()
times = []; end = time.perf_counter() + 1.5
while time.perf_counter() < end or len(times) < 10:
    t0 = time.perf_counter(); run(); times.append(time.perf_counter() - t0)
print(json.dumps(1000 * statistics.median(times)))
"""


def jax_step(kind, batch, threads):
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'} " \
        f"intra_op_parallelism_threads={threads}"
    env["JAX_PLATFORMS"] = "cpu"
    r = subprocess.run([sys.executable, "-c", JAX_CHILD, kind, str(batch)], env=env, capture_output=True, text=True)
    if r.returncode != 0:
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def sinter_step(sinter, work, kind, batch, threads):
    out = subprocess.run(
        [sinter, "train", os.path.join(work, kind, f"{kind}.onnx"), "--data", os.path.join(work, kind, "train.npz"),
         "--batch-size", str(batch), "--optimizer", "adam", "--epochs", "10", "--threads", str(threads),
         "--checkpoint", os.path.join(work, f"{kind}.ckpt")],
        check=True, capture_output=True, text=True).stdout
    rates = [float(r) for r in re.findall(r"([0-9.]+) samples/s", out)][1:]
    return 1000 * batch / statistics.median(rates) if rates else None


def main():
    sinter, work = sys.argv[1], sys.argv[2]
    import train_digits

    for kind in ["mlp", "cnn"]:
        os.makedirs(os.path.join(work, kind), exist_ok=True)
        train_digits.make(os.path.join(work, kind), [128, 64], 0, conv=(kind == "cnn"))
    try:
        import torch
        torch_version = torch.__version__
    except ImportError:
        torch_version = None
    try:
        import jax
        jax_version = jax.__version__
    except ImportError:
        jax_version = None
    print(f"PyTorch {torch_version or 'not installed'}, JAX {jax_version or 'not installed'}; "
          "median ms per Adam step, ratio = Sinter / the faster of the two (below 1 is faster).")
    print()
    print("| model | batch | threads | Sinter | PyTorch | JAX | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for kind, batch in [("mlp", 32), ("mlp", 256), ("cnn", 32)]:
        for threads in [1, 2]:
            pt = torch_step(kind, batch, threads) if torch_version else None
            jx = jax_step(kind, batch, threads) if jax_version else None
            best = min([t for t in [pt, jx] if t is not None], default=None)
            s = sinter_step(sinter, work, kind, batch, threads)
            ratio = f"{s / best:.2f}" if s and best else "-"
            name = "MLP 64-128-64-10" if kind == "mlp" else "CNN 2×conv3x3"
            fmt = lambda v: f"{v:.3f}" if v is not None else "-"  # noqa: E731
            print(f"| {name} | {batch} | {threads} | {fmt(s)} | {fmt(pt)} | {fmt(jx)} | {ratio} |")


if __name__ == "__main__":
    main()
