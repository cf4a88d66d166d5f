#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Minimal file access on the C library, so SinterIR needs no Foundation.
public enum FileIO {
    public static func read(_ path: String) throws(SinterError) -> [UInt8] {
        guard let f = fopen(path, "rb") else {
            throw SinterError("cannot open '\(path)': \(String(cString: strerror(errno)))")
        }
        defer { fclose(f) }
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = buf.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, f) }
            if n > 0 { out += buf[0..<n] }
            if n < buf.count {
                if ferror(f) != 0 { throw SinterError("cannot read '\(path)': \(String(cString: strerror(errno)))") }
                break
            }
        }
        return out
    }

    /// Writes to a temporary file next to `path`, then renames it into place, so that a
    /// failure never leaves a half-written file where the user's file was.
    public static func writeAtomically(_ bytes: [UInt8], to path: String) throws(SinterError) {
        let tmp = path + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard let f = fopen(tmp, "wb") else {
            throw SinterError("cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        let written = bytes.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, f) }
        // On disk before the rename: a crash leaves the old file or the new one, never a torn one.
        let synced = fflush(f) == 0 && fsync(fileno(f)) == 0
        let closed = fclose(f)
        guard written == bytes.count, synced, closed == 0 else {
            unlink(tmp)
            throw SinterError("cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
        guard rename(tmp, path) == 0 else {
            let e = String(cString: strerror(errno))
            unlink(tmp)
            throw SinterError("cannot write '\(path)': \(e)")
        }
    }

    public static func readText(_ path: String) throws(SinterError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }
}

/// Reading and writing `.sir` files together with the `.npy` files their constants name.
public enum SirFile {
    /// Parses a `.sir` file; `constant "w.npy"` loads `w.npy` from the same folder. Names that
    /// are absolute or climb out of the folder are refused.
    public static func load(_ path: String) throws(SinterError) -> Graph {
        try parse(try FileIO.readText(path), path: path)
    }

    /// The cases of a file split at `// -----` lines (MLIR's `--split-input-file`), each
    /// padded with blank lines so diagnostics keep the whole file's line numbers.
    public static func splitCases(_ path: String) throws(SinterError) -> [String] {
        let lines = try FileIO.readText(path).split(separator: "\n", omittingEmptySubsequences: false)
        var cases: [String] = []
        var current: [Substring] = []
        var first = 0
        for (i, line) in lines.enumerated() {
            if line.drop(while: { $0 == " " }).hasPrefix("// -----") {
                cases.append(String(repeating: "\n", count: first) + current.joined(separator: "\n"))
                current = []
                first = i + 1
            } else {
                current.append(line)
            }
        }
        cases.append(String(repeating: "\n", count: first) + current.joined(separator: "\n"))
        return cases
    }

    /// Parses `.sir` text read from `path`; constant files resolve relative to its folder.
    public static func parse(_ text: String, path: String) throws(SinterError) -> Graph {
        let dir = directory(of: path)
        return try Parser.parse(text, path: path) { name, loc throws(SinterError) in
            guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
                throw SinterError("constant file '\(name)' must be a relative path inside the model's folder", at: loc)
            }
            let bytes: [UInt8]
            do throws(SinterError) { bytes = try FileIO.read(dir + "/" + name) } catch {
                throw SinterError(error.diagnostics[0].message, at: loc)
            }
            do throws(SinterError) { return try Npy.decode(bytes, origin: name) } catch {
                throw SinterError(error.diagnostics[0].message, at: loc)
            }
        }
    }

    /// Writes `graph` to `path` and each file-backed constant as `.npy` next to it.
    public static func save(_ graph: Graph, to path: String) throws(SinterError) {
        let dir = directory(of: path)
        for node in graph.nodes {
            if let p = node.payload, let f = p.file {
                try FileIO.writeAtomically(Npy.encode(p.data), to: dir + "/" + f)
            }
        }
        try FileIO.writeAtomically(Array(Printer.print(graph).utf8), to: path)
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
