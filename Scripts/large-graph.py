"""Writes an N-node .sir graph to stdout, for the compile-time and memory check of very large
graphs (docs/robustness.md).
    python3 Scripts/large-graph.py N [SEED] [random|layers] > big.sir
random (the default): unary elementwise ops drawn at random, 10% residual adds, 3% matmuls
  with a constant [8, 8] weight, 2% softmaxes, on [4, 8] tensors; almost every fused kernel
  differs, so nothing is shared.
layers: a deep residual stack of identical blocks (matmul by the block's own constant
  weight, bias add, tanh, residual add), like an unrolled recurrent or very deep network;
  the blocks' kernels are equal, so codegen emits each once.
"""
import random
import sys

n = int(sys.argv[1])
rng = random.Random(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
kind = sys.argv[3] if len(sys.argv) > 3 else "random"
print("graph @large(%x: f32[4,8]) -> (%y: f32[4,8]) {")
if kind == "random":
    unary = ["relu", "tanh", "sigmoid", "neg", "abs", "exp", "sqrt", "softplus", "gelu", "erf"]
    print("  %w = constant dense<0.125> : f32[8,8]")
    values = ["%x"]
    for i in range(n):
        last = values[-1]
        r = rng.random()
        if r < 0.10 and len(values) > 1:
            line = f"add {last}, {values[rng.randrange(max(0, len(values) - 50), len(values))]}"
        elif r < 0.13:
            line = f"matmul {last}, %w"
        elif r < 0.15:
            line = f"softmax {last} {{axis = -1}}"
        else:
            line = f"{rng.choice(unary)} {last}"
        name = "%y" if i == n - 1 else f"%v{i}"
        print(f"  {name} = {line} : f32[4,8]")
        values.append(name)
elif kind == "layers":
    last = "%x"
    for b in range(max(1, n // 6)):
        # Weights differ per block (so CSE keeps them apart); the kernels do not.
        print(f"  %w{b} = constant dense<{0.01 + b * 1e-6:.8f}> : f32[8,8]")
        print(f"  %c{b} = constant dense<{0.001 * (b % 97):.6f}> : f32[8]")
        print(f"  %m{b} = matmul {last}, %w{b} : f32[4,8]")
        print(f"  %a{b} = add %m{b}, %c{b} : f32[4,8]")
        print(f"  %t{b} = tanh %a{b} : f32[4,8]")
        print(f"  %r{b} = add %t{b}, {last} : f32[4,8]")
        last = f"%r{b}"
    print(f"  %y = neg {last} : f32[4,8]")
else:
    sys.exit(f"large-graph.py: unknown kind {kind!r} (random or layers)")
print("}")
