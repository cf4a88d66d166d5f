"""ResNet-50's 1×1 convolutions, one at a time: the direct NCHWc kernel (what `layout` runs them
as) against the packed GEMM (the NCHW pointwise conv: weights [M, C] · input [C, H·W], with
`layout` off), kernel time only (`sinter bench --profile`, one thread, the conv's own row: a
chain of blocked convs converts no layout between them). Prints a markdown table with each
kernel's GFLOP/s and which one is faster for the shape.

    python Benchmarks/pointwise.py SINTER OUT_DIR
"""

import os
import re
import subprocess
import sys

import numpy as np

# (input channels, output channels, input height = width, stride): every distinct 1×1 conv of
# ResNet-50 v1 (the bottlenecks' reduce and expand convs and the stride-2 projections).
SHAPES = [
    (64, 64, 56, 1), (64, 256, 56, 1), (256, 64, 56, 1), (256, 128, 56, 1), (256, 512, 56, 2),
    (128, 512, 28, 1), (512, 128, 28, 1), (512, 256, 28, 1), (512, 1024, 28, 2),
    (256, 1024, 14, 1), (1024, 256, 14, 1), (1024, 512, 14, 1), (1024, 2048, 14, 2),
    (512, 2048, 7, 1), (2048, 512, 7, 1),
]
NCHW = ("infer-shapes,fold-constants,canonicalize,layout{block=0},canonicalize,dce,rematerialize,fuse,"
        "plan-memory")


def conv_ms(sinter, model, passes):
    """The conv kernel's mean time in ms from `sinter bench --profile` (one thread)."""
    args = [sinter, "bench", model, "--threads", "1", "--seconds", "1", "--profile"]
    if passes:
        args += ["--passes", passes]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and cells[3] in ("conv", "conv-nchwc"):
            return float(cells[5]), cells[3]
    raise RuntimeError(f"no conv kernel in the profile of {model}:\n{out}")


def main():
    sinter, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    print("| C → M | input | stride | direct NCHWc ms | GFLOP/s | packed GEMM (NCHW) ms | GFLOP/s | faster |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- |")
    for c, m, h, s in SHAPES:
        o = (h - 1) // s + 1
        path = os.path.join(out, f"pw_{c}_{m}_{h}_{s}.sir")
        weights = f"pw_{c}_{m}.npy"
        np.save(os.path.join(out, weights), np.random.default_rng(0).standard_normal((m, c, 1, 1)).astype(np.float32))
        with open(path, "w") as f:
            f.write(f"graph @pw(%x: f32[1,{c},{h},{h}]) -> (%y: f32[1,{m},{o},{o}]) {{\n"
                    f"  %w = constant \"{weights}\" : f32[{m},{c},1,1]\n"
                    f"  %y = conv %x, %w {{strides = [{s}, {s}]}} : f32[1,{m},{o},{o}]\n}}\n")
        flops = 2 * c * m * o * o
        direct, unit = conv_ms(sinter, path, None)
        gemm, _ = conv_ms(sinter, path, NCHW)
        if unit != "conv-nchwc":
            raise RuntimeError(f"{path}: layout ran it as {unit}, not the blocked kernel")
        faster = "direct" if direct <= gemm else "GEMM"
        print(f"| {c} → {m} | {h}×{h} | {s} | {direct:.3f} | {flops / direct / 1e6:.0f} | {gemm:.3f} | "
              f"{flops / gemm / 1e6:.0f} | {faster} |")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not re.match(r".*sinter$", sys.argv[1]):
        sys.exit(__doc__)
    main()
