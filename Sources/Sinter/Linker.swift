import Foundation

/// LLVM-C has no linker: shared objects are linked by the system C compiler driver.
enum Linker {
    /// A fresh temporary folder, removed when `body` returns.
    static func withTemporaryDirectory<R>(_ body: (URL) throws(SinterError) -> R) throws(SinterError) -> R {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("sinter-\(UUID().uuidString)")
        do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw SinterError("cannot create a temporary folder: \(error.localizedDescription)")
        }
        defer { try? fm.removeItem(at: dir) }
        return try body(dir)
    }

    static func linkShared(objects: [[UInt8]], to path: String, driver: String?, target: Target) throws(SinterError) {
        try withTemporaryDirectory { dir throws(SinterError) in
            try linkShared(objects: objects, to: path, driver: driver, target: target, in: dir)
        }
    }

    private static func linkShared(objects: [[UInt8]], to path: String, driver: String?, target: Target, in dir: URL)
        throws(SinterError)
    {
        let cross = target.triple.split(separator: "-").first != Target.host.triple.split(separator: "-").first
        let driver = driver ?? ProcessInfo.processInfo.environment["SINTER_CC"] ?? (cross ? "clang" : "cc")
        let fm = FileManager.default
        let tmpOut = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        var files: [String] = []
        for (i, object) in objects.enumerated() {
            let obj = dir.appendingPathComponent("model\(i).o").path
            try FileIO.writeAtomically(object, to: obj)
            files.append(obj)
        }
        var args = ["-shared", "-o", tmpOut] + files
        if cross { args = ["--target=\(target.triple)", "-fuse-ld=lld"] + args }
        args.append("-lm")
        let (status, output) = try run(driver, args)
        guard status == 0 else {
            try? fm.removeItem(atPath: tmpOut)
            throw SinterError("linking '\(path)' with '\(driver)' failed (exit \(status)):\n\(output)")
        }
        guard rename(tmpOut, path) == 0 else {
            try? fm.removeItem(atPath: tmpOut)
            throw SinterError("cannot write '\(path)': \(String(cString: strerror(errno)))")
        }
    }

    /// A static library holding the one object file.
    static func archive(object: [UInt8], to path: String, name: String) throws(SinterError) {
        try withTemporaryDirectory { dir throws(SinterError) in
            try archive(object: object, to: path, name: name, in: dir)
        }
    }

    private static func archive(object: [UInt8], to path: String, name: String, in dir: URL) throws(SinterError) {
        let obj = dir.appendingPathComponent("\(name).o").path
        try FileIO.writeAtomically(object, to: obj)
        let tmp = dir.appendingPathComponent("lib.a").path
        let (status, output) = try run("ar", ["rcs", tmp, obj])
        guard status == 0 else { throw SinterError("creating '\(path)' with ar failed (exit \(status)):\n\(output)") }
        try FileIO.writeAtomically(try FileIO.read(tmp), to: path)
    }

    static func run(_ tool: String, _ args: [String]) throws(SinterError) -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = [tool] + args
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        do { try p.run() } catch { throw SinterError("cannot run '\(tool)': \(error.localizedDescription)") }
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
