// swift-tools-version:6.0
// A Swift app that links a model precompiled by Sinter. `sinter compile mlp.sir --emit
// shared,header,modulemap -o Sources/mlp` writes the library, its header and the module map
// that makes `import mlp` work; build with the library folder on the linker path:
//   swift build -Xlinker -LSources/mlp -Xlinker -rpath -Xlinker "$PWD/Sources/mlp"
import PackageDescription

let package = Package(
    name: "MLPApp",
    targets: [
        .systemLibrary(name: "mlp", path: "Sources/mlp"),
        .executableTarget(name: "App", dependencies: ["mlp"]),
    ]
)
