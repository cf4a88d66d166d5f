#!/usr/bin/env bash
# Fuzzes one target with libFuzzer and AddressSanitizer:
#   bash Scripts/fuzz.sh TARGET SECONDS
# (TARGET: onnx, onnx-lower, sir, sir-lower, npy, weights, pipeline, checkpoint)
# Seeds come from the repository (models, golden .sir files, .npy files, the node tests when
# present) plus what `sinter-fuzz TARGET --write-seeds` makes. A crash, a time-out (10 s) or
# an out-of-memory (2 GiB) is a finding: the input is kept under .build/fuzz-findings/TARGET
# and the script exits 1 naming it; nothing found exits 0. The working corpus stays in
# .build/fuzz-corpus/TARGET, so later runs continue from it.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-}
seconds=${2:-}
case "$target" in onnx|onnx-lower|sir|sir-lower|npy|weights|pipeline|checkpoint) ;; *)
  echo "usage: bash Scripts/fuzz.sh onnx|onnx-lower|sir|sir-lower|npy|weights|pipeline|checkpoint SECONDS" >&2; exit 2 ;;
esac
[[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2; }

scratch=.build/fuzz
# SwiftPM's --sanitize fuzzer links libFuzzer but does not pass coverage to the compile jobs:
# ask for edge coverage and comparison tracing explicitly.
coverage=(-Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp -Xswiftc -DSINTER_LIBFUZZER)
swift build --product sinter-fuzz --sanitize fuzzer --sanitize address "${coverage[@]}" \
  --scratch-path "$scratch" >&2
fuzzer=$(swift build --product sinter-fuzz --sanitize fuzzer --sanitize address "${coverage[@]}" \
  --scratch-path "$scratch" --show-bin-path)/sinter-fuzz

corpus=.build/fuzz-corpus/$target
made=.build/fuzz-seeds/$target          # what sinter-fuzz writes (seeds, and the ONNX dictionary)
seeds=.build/fuzz-seeds/$target-files   # seeds copied from the repository
findings=.build/fuzz-findings/$target
rm -rf "$made" "$seeds"
mkdir -p "$corpus" "$made" "$seeds" "$findings"
ASAN_OPTIONS=detect_leaks=0 SINTER_FUZZ_TARGET=$target SINTER_FUZZ_WRITE_SEEDS=$made "$fuzzer"
options=()
case "$target" in
  onnx|onnx-lower)
    cp Examples/transformer/transformer.onnx "$seeds/"
    # The ONNX node tests, when Scripts/conformance.sh has generated them: ~1,900 small models.
    for f in .build/onnx-node-tests-*/*/model.onnx; do
      [ -f "$f" ] || continue
      [ "$(stat -c %s "$f")" -le 65536 ] && cp "$f" "$seeds/$(basename "$(dirname "$f")").onnx"
    done
    options+=("-dict=$made/onnx.dict")
    ;;
  sir|sir-lower) cp Examples/mlp/mlp.sir Tests/*/Golden/*.sir "$seeds/" ;;
  npy)
    cp Examples/mlp/*.npy "$seeds/"
    .venv/bin/python -c "import numpy as np; np.savez('$seeds/two.npz', a=np.ones((2, 3), np.float32), b=np.arange(4, dtype=np.int8))"
    ;;
  weights|pipeline|checkpoint) cp "$made"/* "$seeds/" ;;
esac
start_mark=$(mktemp)

# Leak checks are off: LeakSanitizer cannot see pointers Swift keeps in enum payloads' spare
# bits, so every lazily built static table (the op schema, converter tables) reads as a leak.
echo "fuzz.sh: $target for ${seconds}s (corpus $corpus, findings $findings)" >&2
set +e
# Swift's backtracer would catch the crash signal first (and can hang under ASan): leave it to libFuzzer.
SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0 SINTER_FUZZ_TARGET=$target "$fuzzer" "$corpus" "$seeds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
  -max_total_time="$seconds" -detect_leaks=0 -print_final_stats=1 -artifact_prefix="$findings/" "${options[@]}" 2>&1 \
  | grep -v -E '^#[0-9]+\s+(NEW|REDUCE|pulse)' | tail -40
status=${PIPESTATUS[0]}
set -e
found=$(find "$findings" -type f -newer "$start_mark" | head -1)
rm -f "$start_mark"
if [ "$status" -ne 0 ] || [ -n "$found" ]; then
  echo "fuzz.sh: $target found a problem (libFuzzer exit $status): ${found:-see the output above}" >&2
  exit 1
fi
echo "fuzz.sh: $target: nothing found in ${seconds}s" >&2
