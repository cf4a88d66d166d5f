#!/usr/bin/env bash
# Regenerates Sources/SinterONNX/Generated/onnx.pb.swift from the onnx.proto shipped in the
# pinned `onnx` wheel. Needs protoc (apt-get install protobuf-compiler) and builds the
# protoc-gen-swift plugin from the swift-protobuf checkout SwiftPM already resolved.
# The output is committed, so normal builds never run this.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v protoc >/dev/null || { echo "needs protoc: apt-get install protobuf-compiler" >&2; exit 1; }
[ -x .venv/bin/python ] || bash Scripts/setup.sh
.venv/bin/python -c 'import onnx' 2>/dev/null || .venv/bin/pip install -q "onnx==1.23.0"
proto_dir=$(.venv/bin/python -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')
swift package resolve
swift build -c release --package-path .build/checkouts/swift-protobuf --scratch-path .build-protoc --product protoc-gen-swift
plugin=$(swift build -c release --package-path .build/checkouts/swift-protobuf --scratch-path .build-protoc --show-bin-path)/protoc-gen-swift
tmp=$(mktemp -d)
cp "$proto_dir/onnx.proto" "$tmp/onnx.proto"
protoc --plugin=protoc-gen-swift="$plugin" --swift_opt=Visibility=Public --swift_out="$tmp" -I "$tmp" "$tmp/onnx.proto"
mv "$tmp/onnx.pb.swift" Sources/SinterONNX/Generated/onnx.pb.swift
rm -rf "$tmp"
echo "wrote Sources/SinterONNX/Generated/onnx.pb.swift"
