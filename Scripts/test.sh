#!/usr/bin/env bash
# Runs every test: sets up what is missing (idempotent), builds, then `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash Scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
