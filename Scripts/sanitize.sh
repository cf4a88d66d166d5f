#!/usr/bin/env bash
# Runs the Swift test suite under a sanitizer, in its own build folder:
#   bash Scripts/sanitize.sh address|thread [swift test options, e.g. --filter SinterIRTests]
# The `sinter` and `sinter-fuzz` executables the tests start come from the same instrumented
# build, so the CLI tests check them too. LeakSanitizer runs with the committed suppressions
# (Scripts/lsan.supp: frames of the Swift runtime and Foundation only). Exit 0 when every test
# passes with no report. Full runs take long; their dated results are in docs/robustness.md.
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${1:-}
case "$kind" in address|thread) ;; *) echo "usage: bash Scripts/sanitize.sh address|thread [swift test options]" >&2; exit 2 ;; esac
shift
scratch=.build/sanitize-$kind
bash Scripts/setup.sh >/dev/null
start=$(date +%s)
swift build --build-tests --sanitize="$kind" --scratch-path "$scratch"
echo "sanitize.sh: built in $(( $(date +%s) - start ))s" >&2
export LSAN_OPTIONS="suppressions=$PWD/Scripts/lsan.supp:print_suppressions=0"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1"
# Swift's backtracer and the sanitizers both want the crash signals: leave them to the sanitizer.
export SWIFT_BACKTRACE=enable=no
start=$(date +%s)
if [ $# -gt 0 ]; then
  swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" "$@"
else
  swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" --skip DataParallelTests
  # Open MPI leaks at MPI_Finalize from plugins it has already unloaded, so LeakSanitizer
  # cannot name (or suppress) their frames: the data-parallel tests run with memory-error
  # checks only.
  ASAN_OPTIONS="detect_leaks=0" swift test --skip-build --sanitize="$kind" --scratch-path "$scratch" \
    --filter DataParallelTests
fi
echo "sanitize.sh: $kind: tests passed in $(( $(date +%s) - start ))s" >&2
