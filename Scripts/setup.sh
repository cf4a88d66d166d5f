#!/usr/bin/env bash
# One-time set-up for a fresh Debian 12 machine with Swift 6 installed:
#   - LLVM 19 (llvm-19-dev) for codegen, qemu + arm64 cross libc for ARM64 checks;
#   - /usr/local/lib/pkgconfig/sinter-llvm.pc, which the CLLVM system library names, so that
#     plain `swift build` / `swift test` work afterwards with no environment variables;
#   - a Python venv in .venv with numpy (the tests' numeric reference), onnx, onnxruntime and lit;
#   - LLVM 19's FileCheck (llvm-19-tools), which the golden .sir tests run under lit;
#   - Open MPI (openmpi-bin) for `sinter train --data-parallel`, which loads libmpi at run time,
#     and its headers (libopenmpi-dev) for the C example that does its own all-reduce.
# Safe to run again: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

need=()
[ -x /usr/lib/llvm-19/bin/llvm-config ] || need+=(llvm-19-dev)
[ -x /usr/lib/llvm-19/bin/FileCheck ] || need+=(llvm-19-tools)
command -v qemu-aarch64 >/dev/null || need+=(qemu-user)
[ -d /usr/aarch64-linux-gnu/lib ] || need+=(libc6-dev-arm64-cross libgcc-12-dev-arm64-cross)
command -v pkg-config >/dev/null || need+=(pkg-config)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
command -v mpirun >/dev/null || need+=(openmpi-bin)
command -v mpicc >/dev/null || need+=(libopenmpi-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

LLVM_CONFIG=/usr/lib/llvm-19/bin/llvm-config
pc_dir=/usr/local/lib/pkgconfig
pc_file="$pc_dir/sinter-llvm.pc"
pc_text="Name: sinter-llvm
Description: LLVM 19 C API for Sinter
Version: $($LLVM_CONFIG --version)
Cflags: -I$($LLVM_CONFIG --includedir)
Libs: -L$($LLVM_CONFIG --libdir) $($LLVM_CONFIG --libs)"
if [ ! -f "$pc_file" ] || [ "$(cat "$pc_file")" != "$pc_text" ]; then
  echo "setup: writing $pc_file"
  $SUDO mkdir -p "$pc_dir"
  printf '%s\n' "$pc_text" | $SUDO tee "$pc_file" >/dev/null
fi

# numpy for references; onnx (pinned: its node tests are the conformance suite) and
# onnxruntime for ONNX tests; lit drives the golden FileCheck tests; threadpoolctl pins
# numpy's BLAS to one thread in the GEMM benchmark; scikit-learn's bundled digits are the
# training test's data (no download).
if [ ! -x .venv/bin/python ] || [ ! -x .venv/bin/lit ] \
   || ! .venv/bin/python -c 'import numpy, onnx, onnxruntime, threadpoolctl, sklearn' 2>/dev/null \
   || [ "$(.venv/bin/python -c 'import onnx; print(onnx.__version__)')" != "1.23.0" ]; then
  echo "setup: creating .venv with numpy, onnx and onnxruntime"
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check 'numpy>=1.26' 'onnx==1.23.0' 'onnxruntime>=1.20' 'lit==18.1.8' \
    'threadpoolctl>=3.1' 'scikit-learn>=1.3'
fi
echo "setup: done (LLVM $($LLVM_CONFIG --version), $(.venv/bin/python -c 'import numpy; print("numpy", numpy.__version__)'))"
