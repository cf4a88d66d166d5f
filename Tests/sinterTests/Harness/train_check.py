"""The generated Python loader's Trainer against the C harness (train.c) on the same library.

  train_check.py BUILD_DIR PREFIX DATA_DIR STEPS LR
runs the steps train.c runs (alternating step and grads + apply, lr halved after the second
step) and writes DATA_DIR/py_losses.bin and DATA_DIR/py_param_<i>.bin; checks a save/load round
trip into a second Trainer and that a NaN learning rate is refused. Prints "ok" on success.
"""
import importlib.util
import os
import sys

import numpy as np

build, prefix, data, steps, lr = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
spec = importlib.util.spec_from_file_location(prefix, os.path.join(build, prefix + ".py"))
m = importlib.util.module_from_spec(spec)
spec.loader.exec_module(m)
t = m.Trainer()
x = np.fromfile(os.path.join(data, "x.bin"), np.float32).reshape(t._model.inputs[0]["shape"])
y = np.fromfile(os.path.join(data, "y.bin"), t.labels["dtype"]).reshape(t.labels["shape"])
assert abs(t.lr - np.float32(lr)) == 0, t.lr
losses = []
for s in range(steps):
    if s == 2:
        t.lr = np.float32(lr) / 2
    if s % 2 == 0:
        losses.append(t.step(x, labels=y))
    else:
        losses.append(t.grads(x, labels=y))
        g = t.gradient(0)
        assert g.shape == t.params[0]["shape"] and np.isfinite(g).all() and np.abs(g).sum() > 0
        t.apply()
assert t.steps == steps, t.steps
np.array(losses, np.float32).tofile(os.path.join(data, "py_losses.bin"))
for i in range(len(t.params)):
    t.get_param(i).tofile(os.path.join(data, "py_param_%d.bin" % i))
ckpt = os.path.join(data, "py.ckpt")
t.save(ckpt)
u = m.Trainer()
u.load(ckpt)
assert u.steps == steps and u.lr == t.lr
for i, p in enumerate(t.params):
    assert np.array_equal(u.get_param(p["name"]), t.get_param(i)), p["name"]
for i in range(len(t.slots)):
    assert np.array_equal(u.get_slot(i), t.get_slot(i))
assert np.array_equal(u.predict(x)[0], t.predict(x)[0])
try:
    t.lr = float("nan")
except m.SinterError:
    pass
else:
    raise AssertionError("a NaN learning rate was accepted")
try:
    t.step(x[:1], labels=y)
except m.SinterError:
    pass
else:
    raise AssertionError("a wrongly shaped input was accepted")
print("ok")
