/// The target the current process fuzzes or reproduces (set once at start-up).
enum Fuzzing {
    nonisolated(unsafe) static var target = FuzzTarget.onnx
}
