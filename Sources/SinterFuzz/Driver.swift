import Foundation

/// `sinter-fuzz TARGET FILE...` runs files through a fuzz target (crash inputs kept as
/// regression tests, under Tests/Fuzz); `sinter-fuzz TARGET --write-seeds DIR` writes the
/// seeds only the program can make (the weights file, generator inputs, the ONNX dictionary).
///
/// Built with `-D SINTER_LIBFUZZER` and `--sanitize fuzzer` (Scripts/fuzz.sh), libFuzzer's
/// own `main` runs instead: the target comes from `SINTER_FUZZ_TARGET`, and
/// `SINTER_FUZZ_WRITE_SEEDS=DIR` writes the seeds and exits.
enum Driver {
    static func usage() -> Never {
        let targets = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
        FileHandle.standardError.write(Data("usage: sinter-fuzz \(targets) FILE... | --write-seeds DIR\n".utf8))
        exit(2)
    }

    /// Prints how many generated graphs reached codegen when a pipeline run ends.
    static func reportAtExit() {
        atexit {
            guard Fuzzing.target == .pipeline else { return }
            let g = FuzzTarget.generated, c = FuzzTarget.reachedCodegen
            FileHandle.standardError.write(Data("pipeline: \(c) of \(g) generated graphs reached codegen\n".utf8))
        }
    }
}

#if SINTER_LIBFUZZER
    @_cdecl("LLVMFuzzerInitialize")
    public func fuzzerInitialize(_ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutableRawPointer) -> Int32 {
        let env = ProcessInfo.processInfo.environment
        guard let target = env["SINTER_FUZZ_TARGET"].flatMap(FuzzTarget.init(rawValue:)) else { Driver.usage() }
        Fuzzing.target = target
        if let dir = env["SINTER_FUZZ_WRITE_SEEDS"] { exit(Seeds.write(target, into: dir)) }
        Driver.reportAtExit()
        return 0
    }

    @_cdecl("LLVMFuzzerTestOneInput")
    public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
        Fuzzing.target.run(size > 0 && data != nil ? Array(UnsafeBufferPointer(start: data, count: size)) : [])
        return 0
    }
#else
    @main
    struct Reproducer {
        static func main() {
            let arguments = CommandLine.arguments
            guard arguments.count >= 3, let target = FuzzTarget(rawValue: arguments[1]) else { Driver.usage() }
            Fuzzing.target = target
            if arguments[2] == "--write-seeds" {
                guard arguments.count == 4 else { Driver.usage() }
                exit(Seeds.write(target, into: arguments[3]))
            }
            Driver.reportAtExit()
            for path in arguments.dropFirst(2) {
                guard let data = FileManager.default.contents(atPath: path) else {
                    FileHandle.standardError.write(Data("cannot read '\(path)'\n".utf8))
                    exit(2)
                }
                target.run([UInt8](data))
                print("ok \(path)")
            }
        }
    }
#endif
