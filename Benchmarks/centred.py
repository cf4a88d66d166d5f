"""Input-sensitive copies of the ONNX light zoo models, for the int8 and bf16 benchmarks'
top-1 agreement (Benchmarks/int8.py, bf16.py).

The conformance suite's light_*_random models (Tests/ONNX/real_models.py) draw every
parameter independently of the activations, and with standard-normal inputs they are
constant classifiers: every input gets the same top-1 class, so agreement with f32 says
nothing. These copies (`centred`) use a data-dependent initialisation instead, which spreads
200 seeded inputs over 30-150 classes. They are also chaotic — a ReLU network centred at
every layer amplifies small perturbations with depth — so the agreement they measure is
low on deep models for any int8 scheme (onnxruntime's own included), which is why the
benchmark prints onnxruntime's agreement next to Sinter's.

    python centred.py OUT_DIR light_resnet50 [light_squeezenet ...]   # writes OUT_DIR/NAME_centred.onnx
"""
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "Tests", "ONNX"))
from real_models import DATA, feed_inputs, input_shape  # noqa: E402


def parameter_roles(graph):
    """Each float parameter (initializer or ConstantOfShape output) with the role its consumer
    gives it, following Reshape/Unsqueeze: ("weight", fan_in) for Conv W and Gemm/MatMul B,
    ("bias",) for Conv/Gemm C, ("bn_scale",), ("bn_bias",), ("bn_mean",), ("bn_var",) for
    BatchNormalization inputs 1..4, ("scale",) and ("shift",) for the operand of a Mul and of
    an Add (Caffe's Scale layer after each BatchNormalization in densenet121 and
    inception_v2). Also returns every parameter's shape."""
    shapes = {t.name: list(t.dims) for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    constants = {t.name: t for t in graph.initializer}
    constants.update({c.output[0]: c.attribute[0].t for c in graph.node if c.op_type == "Constant"})
    for n in graph.node:
        if n.op_type == "ConstantOfShape" and n.input[0] in constants:
            shapes[n.output[0]] = numpy_helper.to_array(constants[n.input[0]]).astype(np.int64).tolist()
    consumers = {}
    for n in graph.node:
        for i, name in enumerate(n.input):
            consumers.setdefault(name, []).append((n, i))

    def role(name, shape):
        uses = consumers.get(name, [])
        if len(uses) != 1:
            return None
        n, i = uses[0]
        if n.op_type in ("Reshape", "Unsqueeze") and i == 0:
            return role(n.output[0], shape)
        dims = [d for d in shape if d != 1] or [1]  # inception_v1 reshapes [1, 1, 1000, 1024] for its Gemm
        if n.op_type == "Conv":
            return {1: ("weight", int(np.prod(shape[1:]))), 2: ("bias",)}.get(i)
        if n.op_type == "Gemm":
            trans_b = any(a.name == "transB" and a.i for a in n.attribute)
            return {1: ("weight", dims[-1] if trans_b else dims[0]), 2: ("bias",)}.get(i)
        if n.op_type == "MatMul" and i == 1:
            return ("weight", dims[-2] if len(dims) > 1 else dims[0])
        if n.op_type == "BatchNormalization":
            return {1: ("bn_scale",), 2: ("bn_bias",), 3: ("bn_mean",), 4: ("bn_var",)}.get(i)
        return {"Mul": ("scale",), "Add": ("shift",)}.get(n.op_type)

    return {name: r for name, shape in shapes.items() if (r := role(name, shape))}, shapes


def centred(model, rng, calibration_samples=32):
    """The light model with seeded random parameters: the ConstantOfShape weights become
    initializers, and the small tensors the light model kept with their pretrained values
    (biases, BatchNorm statistics) are redrawn too. By role (parameter_roles):

    - Conv W, Gemm/MatMul B: He-normal, N(0, 2/fan_in);
    - BatchNormalization scale, Scale-layer factor: U(0.5, 1.5);
    - BatchNormalization bias, Scale-layer shift: N(0, 0.1^2);
    - data-dependent, as in data-dependent initialisation (Kraehenbuehl et al. 2016; Mishkin
      and Matas' LSUV): a BatchNormalization's mean and variance are its input's per-channel
      mean and variance; a Conv/Gemm that does not feed a BatchNormalization has its W scaled
      and its bias set per output channel so that its output has mean 0 and variance 1. The
      statistics are measured with onnxruntime on seeded standard-normal inputs (at least
      `calibration_samples` values per channel), layer by layer in topological order.

    Why data-dependent: with statistics and biases drawn independently of the activations,
    each ReLU passes on a positive per-channel offset that is the same for every input;
    layer after layer, and through the global pool, it swamps the input-dependent part (the
    logits of different standard-normal inputs correlate at > 0.999, and ResNet-50's and
    ShuffleNet's reach 1e5-1e7 with He-normal weights), so every input got the same top-1
    class. Centred and scaled as a trained network's statistics would be, the classifiers
    are input-sensitive (seeded standard-normal inputs spread their top-1 over many classes,
    so int8 top-1 agreement with f32 can be measured over many classes) and their logits stay
    of order 1-10. The price: a ReLU network centred at every layer amplifies small
    perturbations with depth, so rounding differences and int8/bf16 noise move the deep
    models' (ResNet-50, DenseNet-121, Inception) outputs far more than before."""
    import onnxruntime as ort

    m = onnx.ModelProto()
    m.CopyFrom(model)
    roles, shapes = parameter_roles(m.graph)
    order = {name: k for k, name in enumerate(shapes)}
    values = {}
    for name in sorted(roles, key=order.get):
        role, shape = roles[name], shapes[name]
        if role[0] == "weight":
            v = rng.standard_normal(shape) * np.sqrt(2.0 / max(role[1], 1))
        elif role[0] in ("bn_scale", "scale"):
            v = rng.uniform(0.5, 1.5, size=shape)
        elif role[0] in ("bn_bias", "shift"):
            v = rng.standard_normal(shape) * 0.1
        elif role[0] == "bn_var":
            v = np.ones(shape)  # measured below
        else:  # bn_mean, bias: measured below
            v = np.zeros(shape)
        values[name] = v.astype(np.float32)
    kept = [n for n in m.graph.node if not (n.op_type == "ConstantOfShape" and n.output[0] in values)]
    del m.graph.node[:]
    m.graph.node.extend(kept)
    others = [t for t in m.graph.initializer if t.name not in values]
    del m.graph.initializer[:]
    m.graph.initializer.extend(others)

    # Calibration points in topological order: (level, kind, tensor measured, parameters set).
    # A point's level is one more than the deepest point upstream of the tensor it measures,
    # so a level is measured after every level before it has been set.
    points, level_of, row_major, source = [], {}, {}, {}
    consumers = {}
    for n in m.graph.node:
        for name in n.input:
            consumers.setdefault(name, []).append(n)
    for n in m.graph.node:
        point = None
        if n.op_type == "BatchNormalization" and len(n.input) > 4:
            point = ("bn", n.input[0], [n.input[3], n.input[4]])
        elif n.op_type in ("Conv", "Gemm") and len(n.input) > 2 and n.input[2] in values:
            w = source.get(n.input[1], n.input[1])
            if w in values and all(c.op_type != "BatchNormalization" for c in consumers.get(n.output[0], [])):
                point = ("affine", n.output[0], [w, n.input[2]])
                row_major[w] = n.op_type == "Conv" or any(a.name == "transB" and a.i for a in n.attribute)
        elif n.op_type in ("Reshape", "Unsqueeze") and n.input[0] in values:
            source[n.output[0]] = n.input[0]
        level = max([level_of.get(i, -1) for i in n.input if not (point and i in point[2])], default=-1)
        if point:
            level += 1
            points.append((level,) + point)
        for o in n.output:
            level_of[o] = level

    if points:
        fed = sorted({name for p in points for name in p[3]})
        calib = onnx.ModelProto()
        calib.CopyFrom(m)
        for name in sorted(values, key=order.get):
            if name not in fed:
                calib.graph.initializer.append(numpy_helper.from_array(values[name], name))
        listed = {i.name for i in calib.graph.input}
        for name in fed:
            if name not in listed:
                calib.graph.input.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, shapes[name]))
        del calib.graph.output[:]
        for name in sorted({p[2] for p in points}):
            calib.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        sess = ort.InferenceSession(calib.SerializeToString(), options, providers=["CPUExecutionProvider"])
        data = feed_inputs(model)[0]
        inputs = []
        for level in range(max(p[0] for p in points) + 1):
            here = [p for p in points if p[0] == level]
            names = sorted({p[2] for p in here})
            stats = {name: [0, 0.0, 0.0] for name in names}  # count, sum, sum of squares per channel
            runs = 0
            while runs == 0 or min(s[0] for s in stats.values()) < calibration_samples:
                if len(inputs) == runs:
                    inputs.append(rng.standard_normal(input_shape(data)).astype(np.float32))
                outs = sess.run(names, {data.name: inputs[runs], **{k: values[k] for k in fed}})
                runs += 1
                for name, y in zip(names, outs):
                    y = np.moveaxis(y.astype(np.float64), 1, 0).reshape(y.shape[1], -1)
                    s = stats[name]
                    s[0] += y.shape[1]
                    s[1] = s[1] + y.sum(1)
                    s[2] = s[2] + (y * y).sum(1)
            for _, kind, name, params in here:
                count, total, squares = stats[name]
                mean = total / count
                var = np.maximum(squares / count - mean * mean, 1e-6)
                if kind == "bn":
                    values[params[0]], values[params[1]] = mean.astype(np.float32), var.astype(np.float32)
                else:
                    w, bias = params
                    std = np.sqrt(var)
                    shape = values[w].shape
                    if row_major[w]:  # Conv W [M, C/g, kh, kw], Gemm B transposed [N, K]
                        scaled = values[w].reshape(len(std), -1) / std[:, None]
                    else:  # Gemm B [K, N]
                        scaled = values[w].reshape(-1, len(std)) / std[None, :]
                    values[w] = scaled.reshape(shape).astype(np.float32)
                    values[bias] = ((values[bias] - mean) / std).astype(np.float32)
    for name in sorted(values, key=order.get):
        m.graph.initializer.append(numpy_helper.from_array(values[name], name))
    return m


def main(out, names):
    os.makedirs(out, exist_ok=True)
    for name in names:
        model = onnx.load(os.path.join(DATA, "light", name + ".onnx"))
        rng = np.random.default_rng(2026)
        onnx.save(centred(model, rng), os.path.join(out, name + "_centred.onnx"))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
