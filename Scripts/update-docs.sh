#!/usr/bin/env bash
# Regenerates the generated blocks of the docs (IR op table, default pipeline) in place.
set -euo pipefail
cd "$(dirname "$0")/.."
SINTER_UPDATE_DOCS=1 swift test --filter GeneratedDocsTests
