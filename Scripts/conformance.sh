#!/usr/bin/env bash
# ONNX conformance: writes the onnx wheel's backend node tests and real-model tests as
# files (once per wheel version), runs them through `sinter test-onnx` (release build),
# prints pass rates, fails if a test in Tests/ONNX/expected_*pass.txt no longer passes, and
# regenerates docs/ops.md and docs/models.md.
#   bash Scripts/conformance.sh [--update-expected]
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh >/dev/null
swift build -c release --product sinter
sinter=$(swift build -c release --show-bin-path)/sinter
version=$(.venv/bin/python -c 'import onnx; print(onnx.__version__)')
node=.build/onnx-node-tests-$version
real=.build/onnx-real-models-$version
if [ ! -f "$node/.complete" ]; then
  rm -rf "$node"
  .venv/bin/python Tests/ONNX/onnx_node_tests.py "$node"
  touch "$node/.complete"
fi
if [ ! -f "$real/.complete" ]; then
  rm -rf "$real"
  .venv/bin/python Tests/ONNX/real_models.py "$real" 2>/dev/null
  touch "$real/.complete"
fi
status=0
echo "== ONNX backend node tests"
.venv/bin/python Tests/ONNX/conformance.py node "$node" "$sinter" "$@" || status=1
echo "== real models"
.venv/bin/python Tests/ONNX/conformance.py real "$real" "$sinter" "$@" || status=1
exit $status
