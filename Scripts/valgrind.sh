#!/usr/bin/env bash
# Runs generated code under valgrind: memcheck on the MLP example app, on NCHW depthwise convs
# (masked row loads) and on the thread-pool stress harness, helgrind on the stress harness.
#   bash Scripts/valgrind.sh [RUNS]      (runs per caller thread in the stress harness; default 10)
# Artifacts are built for x86-64-v3 on x86-64 hosts (valgrind cannot decode AVX-512). Exit 0
# when every tool reports 0 errors; the dated results are in docs/robustness.md.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-10}
command -v valgrind >/dev/null || { echo "valgrind.sh: install valgrind (bash Scripts/setup.sh)" >&2; exit 2; }
swift build --product sinter >&2
sinter=$(swift build --product sinter --show-bin-path)/sinter
cpu=()
[ "$(uname -m)" = x86_64 ] && cpu=(--cpu x86-64-v3)
dir=$PWD/.build/valgrind   # the artifacts and each tool's full report stay here
rm -rf "$dir" && mkdir -p "$dir"

# A residual conv net whose convs, matmul and max pool split across the pool (as in
# ArtifactTests.threadPoolStress), with splat weights so the file needs no side data.
cat > "$dir/res.sir" <<'SIR'
graph @res(%x: f32[1,32,32,32]) -> (%y: f32[512,64]) {
  %w3 = constant dense<0.01> : f32[32,32,3,3]
  %w1 = constant dense<-0.02> : f32[32,32,1,1]
  %wm = constant dense<0.05> : f32[64,64]
  %c0 = conv %x, %w3 {pads = [1, 1, 1, 1]} : f32[1,32,32,32]
  %h0 = relu %c0 : f32[1,32,32,32]
  %d0 = conv %h0, %w1 : f32[1,32,32,32]
  %x1 = add %d0, %x : f32[1,32,32,32]
  %c1 = conv %x1, %w3 {pads = [1, 1, 1, 1]} : f32[1,32,32,32]
  %h1 = relu %c1 : f32[1,32,32,32]
  %d1 = conv %h1, %w1 : f32[1,32,32,32]
  %x2 = add %d1, %x1 : f32[1,32,32,32]
  %p = max-pool %x2 {kernel = [3, 3], pads = [1, 1, 1, 1]} : f32[1,32,32,32]
  %f = reshape %p {shape = [512, 64]} : f32[512,64]
  %y = matmul %f, %wm : f32[512,64]
}
SIR
"$sinter" compile "$dir/res.sir" --emit shared,header --name res "${cpu[@]}" -o "$dir" >&2
cc -std=c11 -O1 -g -DPREFIX=res -DHEADER='"res.h"' -I "$dir" Tests/sinterTests/Harness/stress.c \
  -L "$dir" -lres -Wl,-rpath,"$dir" -lpthread -o "$dir/stress"
"$sinter" compile Examples/mlp/mlp.sir --emit shared,header "${cpu[@]}" -o "$dir" >&2
cc -std=c11 -O1 -g -I "$dir" Examples/mlp/main.c -L "$dir" -lmlp -Wl,-rpath,"$dir" -o "$dir/mlp_app"

# NCHW depthwise convs on 14- and 7-pixel rows: on x86 whole masked vectors (vmaskmovps on
# x86-64-v3) whose off lanes lie before a row's start or past its end. Built with the MLP
# app's symbol prefix, so the same main.c runs it.
mkdir -p "$dir/dw"
cat > "$dir/dw/dw.sir" <<'SIR'
graph @dw(%x: f32[1,20,14,14]) -> (%y: f32[1,20,7,7]) {
  %w = constant dense<0.1> : f32[20,1,3,3]
  %w2 = constant dense<-0.2> : f32[20,1,3,3]
  %c = conv %x, %w {group = 20, pads = [1, 1, 1, 1]} : f32[1,20,14,14]
  %r = relu %c : f32[1,20,14,14]
  %y = conv %r, %w2 {group = 20, pads = [1, 1, 1, 1], strides = [2, 2]} : f32[1,20,7,7]
}
SIR
"$sinter" compile "$dir/dw/dw.sir" --emit shared,header --name mlp "${cpu[@]}" -o "$dir/dw" >&2
cc -std=c11 -O1 -g -I "$dir/dw" Examples/mlp/main.c -L "$dir/dw" -lmlp -Wl,-rpath,"$dir/dw" -o "$dir/dw/dw_app"
.venv/bin/python -c "import numpy as np; np.save('$dir/dw/input.npy', np.random.default_rng(3).random((1, 20, 14, 14), dtype=np.float32))"

status=0
check() {
  local name=$1; shift
  local start=$(date +%s)
  if valgrind --error-exitcode=99 --quiet "$@" > "$dir/$name.out" 2> "$dir/$name.err"; then
    echo "valgrind.sh: $name: 0 errors ($(( $(date +%s) - start ))s)"
  else
    echo "valgrind.sh: $name: FAILED ($(( $(date +%s) - start ))s; report: $dir/$name.err)"
    head -60 "$dir/$name.err"; status=1
  fi
}
check memcheck-mlp --tool=memcheck --leak-check=full --errors-for-leak-kinds=all "$dir/mlp_app" Examples/mlp/input.npy
check memcheck-depthwise --tool=memcheck --leak-check=full --errors-for-leak-kinds=all "$dir/dw/dw_app" \
  "$dir/dw/input.npy"
check memcheck-stress --tool=memcheck --leak-check=full --errors-for-leak-kinds=all "$dir/stress" "$runs"
check helgrind-stress --tool=helgrind "$dir/stress" "$runs"
exit $status
