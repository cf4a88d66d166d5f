#!/usr/bin/env bash
# Data-parallel scaling of `sinter train`: samples/s of the digits MLP (64-128-64-10, Adam) at a
# global batch of 256 with 1 process and with `mpirun -n 2 ... --data-parallel` (1 thread per
# rank), in the same run; prints a ratio table. Needs Open MPI (Scripts/setup.sh installs it).
#   bash Benchmarks/data_parallel.sh [EPOCHS]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-40}
swift build -c release --product sinter >/dev/null
sinter=.build/release/sinter
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
.venv/bin/python Tests/SinterTestSupport/train_digits.py make "$dir" >/dev/null
# 1280 samples: five global batches of 256 per epoch for both runs (no partial batch).
.venv/bin/python -c "import numpy as np, sys; d = np.load(sys.argv[1] + '/train.npz'); \
np.savez(sys.argv[1] + '/even.npz', x=d['x'][:1280], y=d['y'][:1280])" "$dir"
rate() { tr '\r' '\n' | sed 's/\x1b\[K//g' | grep -E "^epoch [0-9]+/$epochs  loss" | tail -n +2 | \
  awk '{ s += $(NF-1); n++ } END { printf "%.0f", s / n }'; }
args=(train "$dir/mlp.onnx" --data "$dir/even.npz" --batch-size 256 --epochs "$epochs" --seed 1 --threads 1)
one=$("$sinter" "${args[@]}" | rate)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
two=$(mpirun -n 2 "$sinter" "${args[@]}" --data-parallel | rate)
echo "| setup | samples/s (mean of epochs 2..$epochs) | vs 1 process |"
echo "|---|---:|---:|"
echo "| 1 process, 1 thread | $one | 1.00 |"
echo "| 2 ranks × 1 thread (--data-parallel) | $two | $(awk -v a="$two" -v b="$one" 'BEGIN { printf "%.2f", a / b }') |"
