#!/usr/bin/env bash
# Style checks CI runs: `swift format lint` (the toolchain's own, configured by .swift-format)
# over all Swift sources but the generated protobuf code, and a 120-character line limit on
# library code. `swift format format -i -r IR Passes Sources Tests` fixes most findings.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(find IR Passes Sources Tests -name '*.swift' ! -path '*/Generated/*' | sort)
swift format lint --strict $files Package.swift
long=$(find IR Passes Sources -name '*.swift' ! -path '*/Generated/*' -print0 | xargs -0 awk 'length > 120 { print FILENAME ":" FNR ": " length " characters" }')
if [ -n "$long" ]; then
  echo "lines longer than 120 characters in library code:"
  echo "$long"
  exit 1
fi
echo "lint: $(echo "$files" | wc -l) files clean"
