#!/usr/bin/env bash
# The main job on a fresh machine: set up, build the compiler, compile the shipped MLP
# example to a shared object + C header, link the C app against it and run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
swift build --product sinter
sinter=.build/debug/sinter
out=.build/example
mkdir -p "$out"
"$sinter" compile Examples/mlp/mlp.sir -o "$out/libmlp.so"
"$sinter" compile Examples/mlp/mlp.sir --emit header -o "$out/mlp.h"
cc -std=c11 -Wall -Werror -O2 -I"$out" -o "$out/mlp_app" Examples/mlp/main.c -L"$out" -lmlp -Wl,-rpath,'$ORIGIN'
echo "== C app linked against $out/libmlp.so (class probabilities, one row per batch item):"
"$out/mlp_app" Examples/mlp/input.npy
echo "== the same model through the JIT (sinter run):"
"$sinter" run Examples/mlp/mlp.sir --input x=Examples/mlp/input.npy
