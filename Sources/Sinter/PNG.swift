/// A minimal PNG writer (8-bit RGB, no filter, stored deflate blocks): enough for attribution
/// heat maps without a dependency. Chunks carry CRC-32 and the zlib stream Adler-32, as the
/// format requires; `Tests/sinterTests/ExplainTests.swift` decodes the result with Python's
/// zlib and checks both.
public enum PNG {
    /// `pixels`: height rows of width RGB triples.
    static func rgb(width: Int, height: Int, pixels: [UInt8]) -> [UInt8] {
        var raw: [UInt8] = []
        raw.reserveCapacity((width * 3 + 1) * height)
        for y in 0..<height {
            raw.append(0)  // filter: none
            raw += pixels[(y * width * 3)..<((y + 1) * width * 3)]
        }
        var header: [UInt8] = []
        header += be32(UInt32(width)) + be32(UInt32(height))
        header += [8, 2, 0, 0, 0]  // 8 bits, RGB, deflate, no filter method, no interlace
        return [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + chunk("IHDR", header) + chunk("IDAT", zlib(raw))
            + chunk("IEND", [])
    }

    static func be32(_ v: UInt32) -> [UInt8] {
        [UInt8(v >> 24), UInt8((v >> 16) & 255), UInt8((v >> 8) & 255), UInt8(v & 255)]
    }

    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        return be32(UInt32(data.count)) + body + be32(crc32(body))
    }

    /// zlib: header, stored blocks of at most 65535 bytes, Adler-32.
    static func zlib(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]
        var start = 0
        repeat {
            let n = min(65535, data.count - start)
            let last: UInt8 = start + n == data.count ? 1 : 0
            out += [last, UInt8(n & 255), UInt8(n >> 8), UInt8(~n & 255), UInt8((~n >> 8) & 255)]
            out += data[start..<(start + n)]
            start += n
        } while start < data.count
        var a: UInt32 = 1, b: UInt32 = 0
        for byte in data {
            a = (a + UInt32(byte)) % 65521
            b = (b + a) % 65521
        }
        return out + be32(b << 16 | a)
    }

    static func crc32(_ data: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for byte in data {
            c ^= UInt32(byte)
            for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        }
        return ~c
    }

    /// Attributions [N, C, H, W] or [N, H, W] as a heat map: per sample the sum over channels,
    /// red for positive and blue for negative, scaled by the sample's largest magnitude, each
    /// map enlarged to at least 64 pixels a side, samples side by side (at most 16). Nil for
    /// other shapes.
    public static func heatMap(_ a: TensorData) -> [UInt8]? {
        let s = a.shape
        guard s.count == 3 || s.count == 4, let n = s.first, n > 0 else { return nil }
        let (channels, h, w) = s.count == 4 ? (s[1], s[2], s[3]) : (1, s[1], s[2])
        guard h > 0, w > 0, h <= 4096, w <= 4096 else { return nil }
        let shown = min(n, 16), scale = max(1, 64 / min(h, w)), gap = 2
        let width = shown * w * scale + (shown - 1) * gap, height = h * scale
        var pixels = [UInt8](repeating: 255, count: width * height * 3)
        let v = a.doubles
        for k in 0..<shown {
            var map = [Double](repeating: 0, count: h * w)
            for c in 0..<channels {
                for i in 0..<(h * w) { map[i] += v[(k * channels + c) * h * w + i] }
            }
            let peak = max(map.map(abs).max() ?? 0, 1e-12)
            for y in 0..<(h * scale) {
                for x in 0..<(w * scale) {
                    let t = map[(y / scale) * w + x / scale] / peak
                    let strength = UInt8(max(0, min(255, (1 - abs(t)) * 255)))
                    let p = (y * width + k * (w * scale + gap) + x) * 3
                    // White at 0, red at +1, blue at −1.
                    pixels[p] = t >= 0 ? 255 : strength
                    pixels[p + 1] = strength
                    pixels[p + 2] = t >= 0 ? strength : 255
                }
            }
        }
        return rgb(width: width, height: height, pixels: pixels)
    }
}
