/// Reading numpy `.npz` archives as `numpy.savez` writes them: a ZIP of `.npy` members,
/// stored without compression (zip64 sizes included). `savez_compressed` archives are refused
/// with a message saying so, as are truncated or malformed ones; nothing is trusted that the
/// file did not prove (every size is checked against the bytes that are there).
public enum Npz {
    /// The arrays by name (the member name without `.npy`), in archive order.
    public static func decode(_ data: [UInt8], origin: String) throws(SinterError) -> [(String, TensorData)] {
        func fail(_ why: String) -> SinterError { SinterError("\(origin): malformed .npz file: \(why)") }
        func u16(_ at: Int) -> Int { Int(data[at]) | Int(data[at + 1]) << 8 }
        func u32(_ at: Int) -> Int { u16(at) | u16(at + 2) << 16 }
        func u64(_ at: Int) -> Int? {
            let hi = u32(at + 4)
            guard hi < 1 << 30 else { return nil }
            return u32(at) | hi << 32
        }
        var out: [(String, TensorData)] = []
        var at = 0
        while at + 4 <= data.count, u32(at) == 0x0403_4b50 {
            guard at + 30 <= data.count else { throw fail("truncated member header at byte \(at)") }
            let flags = u16(at + 6), method = u16(at + 8)
            var size = u32(at + 18)
            let nameLength = u16(at + 26), extraLength = u16(at + 28)
            let nameStart = at + 30, extraStart = nameStart + nameLength, payload = extraStart + extraLength
            guard payload <= data.count else { throw fail("truncated member header at byte \(at)") }
            guard let name = String(validating: data[nameStart..<extraStart], as: UTF8.self) else {
                throw fail("member name at byte \(at) is not text")
            }
            guard method == 0 else {
                throw fail("member '\(name)' is compressed; write the archive with numpy.savez, not savez_compressed")
            }
            guard flags & 0x8 == 0 else { throw fail("member '\(name)' has its size after the data (streamed zip)") }
            if size == 0xFFFF_FFFF {
                // zip64: the extra field 0x0001 holds the uncompressed then the compressed size.
                var e = extraStart
                var found: Int?
                while e + 4 <= payload {
                    let id = u16(e), length = u16(e + 2)
                    guard e + 4 + length <= payload else { break }
                    if id == 1, length >= 16 { found = u64(e + 12) }
                    e += 4 + length
                }
                guard let found else { throw fail("member '\(name)' has no zip64 size") }
                size = found
            }
            guard size <= data.count - payload else { throw fail("member '\(name)' is truncated") }
            let key = name.hasSuffix(".npy") ? String(name.dropLast(4)) : name
            out.append((key, try Npy.decode(Array(data[payload..<(payload + size)]), origin: "\(origin):\(name)")))
            at = payload + size
        }
        guard !out.isEmpty else { throw fail("no arrays (not a ZIP archive of .npy files)") }
        return out
    }
}
