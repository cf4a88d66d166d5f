// swift-tools-version:6.0
import PackageDescription

// Layers point one way: SinterIR ← SinterPasses ← SinterCodegen ← Sinter ← sinter (CLI).
// CLLVM is a system library over the LLVM 19 C headers; `Scripts/setup.sh` writes the
// `sinter-llvm.pc` file it names, so no unsafe flags are needed and other packages can
// depend on Sinter by URL.
let package = Package(
    name: "Sinter",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Sinter", targets: ["Sinter"]),
        .library(name: "SinterIR", targets: ["SinterIR"]),
        .executable(name: "sinter", targets: ["sinter"]),
        .executable(name: "sinter-fuzz", targets: ["SinterFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        .target(name: "SinterIR", path: "IR"),
        .target(name: "SinterPasses", dependencies: ["SinterIR"], path: "Passes"),
        // ONNX protobuf -> IR. Generated onnx.pb.swift is committed (Scripts/generate-onnx-proto.sh).
        .target(
            name: "SinterONNX", dependencies: ["SinterIR", .product(name: "SwiftProtobuf", package: "swift-protobuf")]),
        .systemLibrary(name: "CLLVM", path: "Sources/CLLVM", pkgConfig: "sinter-llvm"),
        .target(name: "SinterCodegen", dependencies: ["SinterIR", "SinterPasses", "CLLVM"]),
        .target(name: "Sinter", dependencies: ["SinterIR", "SinterPasses", "SinterCodegen", "SinterONNX"]),
        .executableTarget(
            name: "sinter",
            dependencies: ["Sinter", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Fuzz targets (Scripts/fuzz.sh): a reproducer in normal builds, libFuzzer with -D SINTER_LIBFUZZER.
        .executableTarget(name: "SinterFuzz", dependencies: ["Sinter"]),
        // Helpers shared by the test targets (paths, subprocesses, the numpy reference).
        .target(
            name: "SinterTestSupport", dependencies: ["SinterIR"], path: "Tests/SinterTestSupport",
            exclude: ["numpy_reference.py", "ort_reference.py"]),
        .testTarget(name: "SinterIRTests", dependencies: ["SinterIR", "SinterTestSupport"], exclude: ["Golden"]),
        .testTarget(
            name: "SinterPassesTests", dependencies: ["SinterPasses", "SinterTestSupport"], exclude: ["Golden"]),
        .testTarget(name: "SinterONNXTests", dependencies: ["SinterONNX", "Sinter", "SinterTestSupport"]),
        .testTarget(name: "SinterCodegenTests", dependencies: ["SinterCodegen", "SinterTestSupport"]),
        .testTarget(name: "SinterTests", dependencies: ["Sinter", "SinterTestSupport"]),
        .testTarget(name: "sinterTests", dependencies: ["Sinter", "SinterTestSupport"], exclude: ["Harness"]),
    ],
    swiftLanguageModes: [.v6]
)
