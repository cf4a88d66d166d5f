import Foundation

/// LLVM-C has no linker: shared objects are linked by the system C compiler driver.
enum Linker {
    static func linkShared(object: [UInt8], to path: String, driver: String, target: Target) throws(SinterError) {
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("sinter-link-\(UUID().uuidString)")
        do { try fm.createDirectory(at: dir, withIntermediateDirectories: true) } catch {
            throw SinterError("cannot create a temporary folder: \(error.localizedDescription)")
        }
        defer { try? fm.removeItem(at: dir) }
        let obj = dir.appendingPathComponent("model.o").path
        let tmpOut = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        try FileIO.writeAtomically(object, to: obj)
        var args = ["-shared", "-o", tmpOut, obj]
        if target != .host { args = ["--target=\(target.triple)", "-fuse-ld=lld"] + args }
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
