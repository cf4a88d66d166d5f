#!/usr/bin/env bash
# ONNX conformance: writes the onnx wheel's backend node tests as files (once per wheel
# version), runs them through `sinter test-onnx`, prints the pass rate, fails if a test in
# Tests/ONNX/expected_pass.txt no longer passes, and regenerates docs/ops.md.
#   bash Scripts/conformance.sh [--update-expected]
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh >/dev/null
swift build --product sinter
version=$(.venv/bin/python -c 'import onnx; print(onnx.__version__)')
cases=.build/onnx-node-tests-$version
if [ ! -f "$cases/.complete" ]; then
  rm -rf "$cases"
  .venv/bin/python Tests/ONNX/onnx_node_tests.py "$cases"
  touch "$cases/.complete"
fi
.venv/bin/python Tests/ONNX/conformance.py "$cases" .build/debug/sinter "$@"
