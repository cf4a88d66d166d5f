"""ShuffleNet's grouped 1×1 convolutions (4 groups, not depthwise), one at a time: the blocked
direct kernel (`conv-nchwc`, what `layout` runs a grouped conv as inside a chain of blocked convs)
against the NCHW kernel (a packed GEMM per group, what runs in ShuffleNet, whose channel shuffles
keep its grouped convs out of blocked chains). Kernel time only (`sinter bench --profile`, one
thread, the grouped conv's own row). The blocked kernel's output blocks of b channels read the
whole input blocks that cover the groups they overlap, so when groups do not fill whole blocks (34,
68 or 136 channels per group at b = 16) it does more multiply-adds than the conv has: the `work`
column.
Channels that do not fill blocks of b at all (136) cannot run blocked.

    python Benchmarks/grouped.py SINTER OUT_DIR
"""

import os
import re
import subprocess
import sys

import numpy as np

# (channels in = out, height = width, occurrences in ShuffleNet v1 g4): every grouped 1×1 conv of
# the benchmark's ShuffleNet with as many outputs as inputs (its other two are 24 → 112 and
# 112 → 112, once each).
SHAPES = [(136, 28, 7), (272, 14, 15), (544, 7, 6)]
GROUPS = 4
NCHW = ("infer-shapes,fold-constants,canonicalize,layout{block=0},canonicalize,dce,rematerialize,fuse,"
        "plan-memory")


def profile_row(sinter, model, passes, name):
    """(ms, unit) of the kernel computing `name` from `sinter bench --profile` (one thread)."""
    args = [sinter, "bench", model, "--threads", "1", "--seconds", "1", "--profile"]
    if passes:
        args += ["--passes", passes]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and re.search(rf"\(({name}|{name}\.b)[,)]", cells[2]):
            return float(cells[5]), cells[3]
    raise RuntimeError(f"no kernel for {name} in the profile of {model}:\n{out}")


def block_width():
    """The f32 lanes of this host's vectors, what `layout` blocks channels by (x86-64 here)."""
    with open("/proc/cpuinfo") as f:
        flags = f.read()
    return 16 if " avx512f" in flags else 8 if " avx2" in flags else 4


def blocks_read(c, b):
    """Input blocks the blocked kernel reads, summed over output blocks: each one reads the whole
    blocks covering the groups it overlaps (ShapeRules.groupedInBlocks)."""
    per = c // GROUPS
    total = 0
    for ob in range(c // b):
        g0, g1 = ob * b // per, (ob * b + b - 1) // per
        total += ((g1 + 1) * per + b - 1) // b - g0 * per // b
    return total


def main():
    sinter, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    b = block_width()
    rng = np.random.default_rng(0)
    print(f"| C → C (groups of C/{GROUPS}) | input | in ShuffleNet | blocked ms | GFLOP/s | work | "
          "NCHW GEMM per group ms | GFLOP/s | faster |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for c, h, count in SHAPES:
        cg = c // GROUPS
        np.save(os.path.join(out, f"d_{c}.npy"), rng.standard_normal((c, c, 1, 1)).astype(np.float32))
        np.save(os.path.join(out, f"g_{c}.npy"), rng.standard_normal((c, cg, 1, 1)).astype(np.float32))
        grouped = (f"  %w = constant \"g_{c}.npy\" : f32[{c},{cg},1,1]\n"
                   f"  %y = conv %t, %w {{group = {GROUPS}}} : f32[1,{c},{h},{h}]\n}}\n")
        head = f"graph @g(%x: f32[1,{c},{h},{h}]) -> (%y: f32[1,{c},{h},{h}]) {{\n"
        alone = os.path.join(out, f"grouped_{c}.sir")
        with open(alone, "w") as f:
            f.write(head + f"  %t = relu %x : f32[1,{c},{h},{h}]\n" + grouped)
        # A dense conv in front puts the grouped conv inside a blocked chain.
        chained = os.path.join(out, f"grouped_{c}_chain.sir")
        with open(chained, "w") as f:
            f.write(head + f"  %d = constant \"d_{c}.npy\" : f32[{c},{c},1,1]\n"
                    f"  %t = conv %x, %d : f32[1,{c},{h},{h}]\n" + grouped)
        flops = 2 * c * cg * h * h
        gemm, _ = profile_row(sinter, alone, NCHW, "y")
        if c % b:
            print(f"| {c} → {c} | {h}×{h} | {count} | — | — | — | {gemm:.4f} | {flops / gemm / 1e6:.0f} | "
                  f"NCHW ({c} channels do not fill blocks of {b}) |")
            continue
        blocked, unit = profile_row(sinter, chained, None, "y")
        if unit != "conv-nchwc":
            raise RuntimeError(f"{chained}: layout ran the grouped conv as {unit}, not the blocked kernel")
        work = b * b * blocks_read(c, b) / (c * cg)
        faster = "blocked" if blocked <= gemm else "NCHW"
        print(f"| {c} → {c} | {h}×{h} | {count} | {blocked:.4f} | {flops / blocked / 1e6:.0f} | {work:.2f}× | "
              f"{gemm:.4f} | {flops / gemm / 1e6:.0f} | {faster} |")


if __name__ == "__main__":
    if len(sys.argv) != 3 or not re.match(r".*sinter$", sys.argv[1]):
        sys.exit(__doc__)
    main()
