"""numpy (float64) reference for TrainingTests: a 2-layer MLP's train steps.

  train_reference.py DIR
reads DIR/config.json ({"optimizer", "lr", "steps", "weight_decay", "label_smoothing",
"momentum", "beta1", "beta2", "clip_norm"}) and DIR/{x,y,w0,b0,w1,b1}.npy, runs `steps` steps of
  logits = relu(x @ w0 + b0) @ w1 + b1,  loss = cross-entropy (mean over the batch, smoothed)
with the optimizer written out here by hand (PyTorch's formulas), and writes
DIR/ref_{w0,b0,w1,b1}.npy and DIR/ref_loss.npy (the loss of each step, before its update).
"""
import json
import sys

import numpy as np

d = sys.argv[1]
cfg = json.load(open(f"{d}/config.json"))
x = np.load(f"{d}/x.npy").astype(np.float64)
y = np.load(f"{d}/y.npy")
params = {k: np.load(f"{d}/{k}.npy").astype(np.float64) for k in ["w0", "b0", "w1", "b1"]}
opt, lr, wd = cfg["optimizer"], cfg["lr"], cfg["weight_decay"]
eps = {"adam": 1e-8, "adamw": 1e-8, "rmsprop": 1e-8, "adagrad": 1e-10}.get(opt, 0)
state = {k: [np.zeros_like(v), np.zeros_like(v)] for k, v in params.items()}
losses = []
n, c = x.shape[0], params["b1"].shape[0]
s = cfg["label_smoothing"]
target = np.eye(c)[y] * (1 - s) + s / c
for t in range(1, cfg["steps"] + 1):
    w0, b0, w1, b1 = (params[k] for k in ["w0", "b0", "w1", "b1"])
    pre = x @ w0 + b0
    h = np.maximum(pre, 0)
    logits = h @ w1 + b1
    m = logits.max(axis=1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=1, keepdims=True))
    losses.append(-(target * logp).sum() / n)
    dlogits = (np.exp(logp) - target) / n
    grads = {"w1": h.T @ dlogits, "b1": dlogits.sum(axis=0)}
    dh = dlogits @ w1.T * (pre > 0)
    grads["w0"] = x.T @ dh
    grads["b0"] = dh.sum(axis=0)
    if cfg.get("clip_norm"):
        norm = np.sqrt(sum((g * g).sum() for g in grads.values()))
        scale = min(1.0, cfg["clip_norm"] / (norm + 1e-6))
        grads = {k: g * scale for k, g in grads.items()}
    for k, p in params.items():
        g = grads[k]
        a, b = state[k]
        if opt != "adamw":
            g = g + wd * p
        if opt == "sgd":
            p = p - lr * g
        elif opt in ("momentum", "nesterov"):
            a = cfg["momentum"] * a + g
            p = p - lr * (g + cfg["momentum"] * a if opt == "nesterov" else a)
        elif opt in ("adam", "adamw"):
            b1_, b2_ = cfg["beta1"], cfg["beta2"]
            a = b1_ * a + (1 - b1_) * g
            b = b2_ * b + (1 - b2_) * g * g
            step = (a / (1 - b1_ ** t)) / (np.sqrt(b / (1 - b2_ ** t)) + eps)
            if opt == "adamw":
                step = step + wd * p
            p = p - lr * step
        elif opt == "rmsprop":
            a = 0.99 * a + 0.01 * g * g
            p = p - lr * g / (np.sqrt(a) + eps)
        elif opt == "adagrad":
            a = a + g * g
            p = p - lr * g / (np.sqrt(a) + eps)
        params[k], state[k] = p, [a, b]
for k, v in params.items():
    np.save(f"{d}/ref_{k}.npy", v)
np.save(f"{d}/ref_loss.npy", np.array(losses))
