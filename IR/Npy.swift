/// Reading and writing numpy `.npy` files (format versions 1–3, little-endian, C order),
/// used for large constants next to `.sir` files and for `sinter run` inputs and outputs.
public enum Npy {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Decodes `.npy` bytes. `expected` resolves the one ambiguous spelling (`<u2` = bf16) and
    /// lets callers accept numpy's bool spelling variants. `origin` names the file in errors.
    public static func decode(_ data: [UInt8], origin: String, expected: DType? = nil) throws(SinterError) -> TensorData
    {
        func fail(_ why: String) -> SinterError { SinterError("\(origin): malformed .npy file: \(why)") }
        guard data.count >= 10, Array(data[0..<6]) == magic else { throw fail("missing the \\x93NUMPY magic") }
        let major = data[6]
        let headerLen: Int
        let headerStart: Int
        switch major {
        case 1:
            headerLen = Int(data[8]) | Int(data[9]) << 8
            headerStart = 10
        case 2, 3:
            guard data.count >= 12 else { throw fail("truncated header") }
            headerLen = Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
            headerStart = 12
        default:
            throw fail("unsupported format version \(major)")
        }
        guard headerStart + headerLen <= data.count else { throw fail("truncated header") }
        guard let header = String(validating: data[headerStart..<(headerStart + headerLen)], as: UTF8.self) else {
            throw fail("header is not text")
        }
        guard let descr = field(header, "descr").flatMap(unquote) else { throw fail("no 'descr' in header") }
        guard let fortran = field(header, "fortran_order") else { throw fail("no 'fortran_order' in header") }
        guard let shapeText = field(header, "shape") else { throw fail("no 'shape' in header") }
        guard let shape = parseShape(shapeText) else { throw fail("cannot read shape \(shapeText)") }
        guard let dtype = dtypeFor(descr, expected: expected) else {
            throw fail(
                "unsupported dtype '\(descr)' (Sinter reads f2/f4/f8, i1/i2/i4/i8, u1/u2/u4/u8 and b1; "
                    + "u2 as bf16 where bf16 is expected)"
            )
        }
        guard let need = checkedProduct(shape + [dtype.byteSize]) else { throw fail("shape \(shape) is too large") }
        let payload = headerStart + headerLen
        guard data.count - payload == need else {
            throw fail(
                "expected \(need) data bytes for shape \(shape) of \(dtype.rawValue), found \(data.count - payload)")
        }
        let raw = Array(data[payload...])
        if fortran.hasPrefix("True") && shape.count > 1 {
            return TensorData(
                dtype: dtype, shape: shape, bytes: fromFortranOrder(raw, shape: shape, elementBytes: dtype.byteSize))
        }
        return TensorData(dtype: dtype, shape: shape, bytes: raw)
    }

    /// Reorders column-major bytes (numpy's `fortran_order: True`) to row-major.
    static func fromFortranOrder(_ raw: [UInt8], shape: [Int], elementBytes: Int) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: raw.count)
        let count = shape.reduce(1, *)
        var fStrides = [Int](repeating: 1, count: shape.count)
        for d in 1..<shape.count { fStrides[d] = fStrides[d - 1] * shape[d - 1] }
        var index = [Int](repeating: 0, count: shape.count)
        for flat in 0..<count {
            var src = 0
            for d in shape.indices { src += index[d] * fStrides[d] }
            for b in 0..<elementBytes { out[flat * elementBytes + b] = raw[src * elementBytes + b] }
            for d in stride(from: shape.count - 1, through: 0, by: -1) {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
            }
        }
        return out
    }

    /// Encodes a tensor as a version 1.0 `.npy` file.
    public static func encode(_ t: TensorData) -> [UInt8] {
        let shapeText =
            t.shape.isEmpty
            ? "()"
            : t.shape.count == 1
                ? "(\(t.shape[0]),)"
                : "(" + t.shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '\(t.dtype.numpyDescr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        let n = header.utf8.count
        var out = magic + [1, 0, UInt8(n & 0xFF), UInt8(n >> 8)]
        out += Array(header.utf8)
        out += t.bytes
        return out
    }

    private static func dtypeFor(_ descr: String, expected: DType?) -> DType? {
        let normalized = descr.first == "=" ? "<" + descr.dropFirst() : descr
        if normalized == "<V2" || (normalized == "<u2" && expected == .bf16) { return .bf16 }
        for d in DType.allCases where d != .bf16 {
            let want = d.numpyDescr
            if normalized == want || normalized == "<" + want.dropFirst() || normalized == "|" + want.dropFirst() {
                return d
            }
        }
        if normalized == "|?" || normalized == "<?" { return .bool }
        return nil
    }

    /// Extracts the text after `'key':` up to the next top-level comma.
    private static func field(_ header: String, _ key: String) -> String? {
        let needle = Array("'\(key)'")
        let chars = Array(header)
        guard let at = chars.indices.first(where: { chars[$0...].starts(with: needle) }) else { return nil }
        var rest = String(chars[(at + needle.count)...])[...].drop { $0 == " " }
        guard rest.first == ":" else { return nil }
        rest = rest.dropFirst().drop { $0 == " " }
        var depth = 0
        var end = rest.startIndex
        while end < rest.endIndex {
            let c = rest[end]
            if c == "(" { depth += 1 }
            if c == ")" { depth -= 1 }
            if (c == "," && depth == 0) || c == "}" { break }
            end = rest.index(after: end)
        }
        return String(rest[rest.startIndex..<end]).trimmingSpaces()
    }

    private static func unquote(_ s: String) -> String? {
        guard s.count >= 2, let f = s.first, f == "'" || f == "\"", s.last == f else { return nil }
        return String(s.dropFirst().dropLast())
    }

    private static func parseShape(_ s: String) -> [Int]? {
        guard s.first == "(", s.last == ")" else { return nil }
        let inner = s.dropFirst().dropLast()
        var dims: [Int] = []
        for part in inner.split(separator: ",") {
            let t = String(part).trimmingSpaces()
            if t.isEmpty { continue }
            guard let v = Int(t.hasSuffix("L") ? String(t.dropLast()) : t), v >= 0 else { return nil }
            dims.append(v)
        }
        return dims
    }
}

extension String {
    func trimmingSpaces() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\n" || f == "\t" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\n" || l == "\t" { s = s.dropLast() }
        return String(s)
    }
}
