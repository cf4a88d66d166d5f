import ArgumentParser
import Foundation
import Sinter

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compile a model in memory (JIT) and run it on .npy inputs.",
        discussion:
            "Runs the same LLVM code `sinter compile` emits. Each output is written to DIR/<output name>.npy "
            + "when --output-dir is given; names are made safe so nothing is written outside DIR."
    )

    @Argument(help: "The model (.sir or .onnx).")
    var model: String

    @Option(
        name: .customLong("input"),
        help: ArgumentHelp("An input as NAME=FILE.npy (repeatable).", valueName: "NAME=FILE"))
    var inputs: [String] = []

    @Option(name: .customLong("output-dir"), help: "Folder to write outputs to as .npy files.")
    var outputDir: String?

    @OptionGroup var pipeline: PipelineOptions

    func run() throws {
        do throws(SinterError) {
            var options = try pipeline.compileOptions()
            let given = try parseInputs()
            guard FileManager.default.fileExists(atPath: model) else { throw SinterError("no such file: '\(model)'") }
            // Each input file is read once, whatever needs it first.
            var files: [String: [UInt8]] = [:]
            func decode(_ name: String, expected: DType? = nil) throws(SinterError) -> TensorData? {
                guard let path = given[name] else { return nil }
                let bytes: [UInt8]
                if let cached = files[path] { bytes = cached } else { bytes = try FileIO.read(path) }
                files[path] = bytes
                return try Npy.decode(bytes, origin: path, expected: expected)
            }
            // Symbolic dimensions (a batch) take their sizes from the input files: an ONNX import
            // needs them bound; a .sir graph keeps them symbolic until the pipeline binds them.
            func bind(_ declared: [String: TensorType]) throws(SinterError) {
                let bound = try Sinter.bindings(
                    declared: declared, given: Array(given.keys), bindings: options.bindings
                ) { name throws(SinterError) in try decode(name) ?? TensorData([], shape: [0]) }
                guard !bound.isEmpty else { return }
                options.bindings.merge(bound) { a, _ in a }
                let list = bound.keys.sorted().map { "\($0)=\(bound[$0] ?? 0)" }.joined(separator: ", ")
                FileHandle.standardError.write(Data("note: bound \(list) from the input files\n".utf8))
            }
            let onnx = model.hasSuffix(".onnx")
            if onnx { try bind(try ONNXImporter.inputTypes(model)) }
            // Inputs that decide shapes or control flow are specialised from their files.
            let (graph, specialised) = try Sinter.loadSpecialising(
                model, bindings: options.bindings, constants: options.constantInputs
            ) { name throws(SinterError) in try decode(name) }
            if !onnx {
                try bind(Dictionary(graph.inputs.map { (graph.name(of: $0), graph.type(of: $0)) }) { a, _ in a })
            }
            if !specialised.isEmpty {
                let names = specialised.map { "'\($0)'" }.joined(separator: ", ")
                let files = specialised.count == 1 ? "its file" : "their files"
                let note =
                    "note: specialised input\(specialised.count == 1 ? "" : "s") \(names) to the values in "
                    + "\(files) (they decide shapes or control flow)\n"
                FileHandle.standardError.write(Data(note.utf8))
            }
            // Check every input before compiling, and report all problems at once.
            var diags: [Diagnostic] = []
            let names = graph.inputs.map(graph.name(of:))
            for name in given.keys.sorted() where !names.contains(name) && !specialised.contains(name) {
                diags.append(
                    Diagnostic(
                        "--input '\(name)': the model has no input of that name (inputs: "
                            + "\(names.joined(separator: ", ")))"
                    ))
            }
            for name in names where given[name] == nil {
                diags.append(Diagnostic("missing --input \(name)=FILE.npy"))
            }
            if !diags.isEmpty { throw SinterError(diags) }
            let model = try Sinter.jit(graph, options)
            var tensors: [TensorData] = []
            for (spec, name) in zip(model.program.inputs, names) {
                guard let path = given[name], let t = try decode(name, expected: spec.type.dtype) else { continue }
                if t.type != TensorType(spec.type.dtype, spec.shape) {
                    diags.append(
                        Diagnostic("input '\(name)' from '\(path)' is \(t.type) but the model expects \(spec.type)"))
                }
                tensors.append(t)
            }
            if !diags.isEmpty { throw SinterError(diags) }
            let outputs = try model.run(tensors)
            for (spec, t) in zip(model.program.outputs, outputs) {
                print("\(spec.name): \(t.type)  \(summary(t))")
                if let dir = outputDir {
                    let path = try OutputPaths.file(for: spec.name, in: dir)
                    try FileIO.writeAtomically(Npy.encode(t), to: path)
                    print("  wrote \(path)")
                }
            }
        } catch {
            throw reportAndExit(error)
        }
    }

    func parseInputs() throws(SinterError) -> [String: String] {
        var out: [String: String] = [:]
        var diags: [Diagnostic] = []
        for s in inputs {
            let parts = s.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                diags.append(Diagnostic("--input '\(s)' must look like NAME=FILE.npy"))
                continue
            }
            if out[parts[0]] != nil { diags.append(Diagnostic("--input '\(parts[0])' is given twice")) }
            out[parts[0]] = parts[1]
        }
        if !diags.isEmpty { throw SinterError(diags) }
        return out
    }

    func summary(_ t: TensorData) -> String {
        let v = t.doubles
        guard !v.isEmpty else { return "(empty)" }
        let head = v.prefix(6).map { String(format: "%.6g", $0) }.joined(separator: ", ")
        let mean = v.reduce(0, +) / Double(v.count)
        return String(format: "min %.6g  max %.6g  mean %.6g  [", v.min()!, v.max()!, mean) + head
            + (v.count > 6 ? ", ...]" : "]")
    }
}

/// Output file names come from the model, which the user may not control: keep them inside
/// the output folder whatever they contain.
enum OutputPaths {
    static func safeName(_ name: String) -> String {
        var s = String(
            name.unicodeScalars.map { c -> Character in
                (("a"..."z").contains(c) || ("A"..."Z").contains(c) || ("0"..."9").contains(c) || c == "_" || c == "-"
                    || c == ".")
                    ? Character(c) : "_"
            })
        while s.hasPrefix(".") { s = "_" + s.dropFirst() }
        return s.isEmpty ? "_" : s
    }

    static func file(for name: String, in dir: String) throws(SinterError) -> String {
        var isDir: ObjCBool = false
        if !FileManager.default.fileExists(atPath: dir, isDirectory: &isDir) {
            do { try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true) } catch {
                throw SinterError("cannot create output folder '\(dir)': \(error.localizedDescription)")
            }
        } else if !isDir.boolValue {
            throw SinterError("--output-dir '\(dir)' is not a folder")
        }
        let base = URL(fileURLWithPath: dir).standardizedFileURL
        let file = base.appendingPathComponent(safeName(name) + ".npy").standardizedFileURL
        guard file.deletingLastPathComponent().path == base.path else {
            throw SinterError("output name '\(name)' would be written outside '\(dir)'")
        }
        return file.path
    }
}
