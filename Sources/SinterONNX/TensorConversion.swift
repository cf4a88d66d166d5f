import Foundation
import SinterIR

/// ONNX element types Sinter maps to its own dtypes (TensorProto.DataType numbering).
enum ONNXType {
    static func dtype(_ code: Int32) -> DType? {
        switch code {
        case 1: .f32
        case 2: .u8
        case 3: .i8
        case 4: .u16
        case 5: .i16
        case 6: .i32
        case 7: .i64
        case 9: .bool
        case 10: .f16
        case 11: .f64
        case 12: .u32
        case 13: .u64
        case 16: .bf16
        default: nil
        }
    }

    static func code(_ d: DType) -> Int32 {
        switch d {
        case .f32: 1
        case .u8: 2
        case .i8: 3
        case .i16: 5
        case .i32: 6
        case .i64: 7
        case .bool: 9
        case .f16: 10
        case .f64: 11
        case .bf16: 16
        case .u16: 4
        case .u32: 12
        case .u64: 13
        }
    }

    static func name(_ code: Int32) -> String {
        let names: [Int32: String] = [
            1: "FLOAT", 2: "UINT8", 3: "INT8", 4: "UINT16", 5: "INT16", 6: "INT32", 7: "INT64",
            8: "STRING", 9: "BOOL", 10: "FLOAT16", 11: "DOUBLE", 12: "UINT32", 13: "UINT64",
            14: "COMPLEX64", 15: "COMPLEX128", 16: "BFLOAT16", 17: "FLOAT8E4M3FN", 18: "FLOAT8E4M3FNUZ",
            19: "FLOAT8E5M2", 20: "FLOAT8E5M2FNUZ", 21: "UINT4", 22: "INT4", 23: "FLOAT4E2M1",
        ]
        return names[code] ?? "type \(code)"
    }
}

extension Onnx_TensorProto {
    /// The tensor's bytes as Sinter stores them. External data is read from `directory`,
    /// and only from inside it.
    func tensorData(directory: String, location: SourceLocation) throws(SinterError) -> TensorData {
        guard let dtype = ONNXType.dtype(dataType) else {
            throw SinterError(
                "tensor '\(name)' has element type \(ONNXType.name(dataType)), which Sinter does not support",
                at: location)
        }
        let shape = dims.map { Int($0) }
        guard shape.allSatisfy({ $0 >= 0 }), let count = checkedProduct(shape),
            TensorType(dtype, shape).problem == nil
        else {
            throw SinterError("tensor '\(name)' has an invalid shape \(shape)", at: location)
        }
        guard let need = checkedProduct([count, dtype.byteSize]) else {
            throw SinterError("tensor '\(name)' of shape \(shape) has more bytes than memory can hold", at: location)
        }
        var bytes: [UInt8]
        if dataLocation == .external {
            bytes = try externalBytes(directory: directory, location: location)
        } else if hasRawData {
            bytes = [UInt8](rawData)
        } else {
            bytes = typedFieldBytes(dtype)
        }
        guard bytes.count == need else {
            throw SinterError(
                "tensor '\(name)' holds \(bytes.count) bytes but \(dtype.rawValue)\(shape) needs \(need)", at: location)
        }
        if dtype == .bool { bytes = bytes.map { $0 != 0 ? 1 : 0 } }
        return TensorData(dtype: dtype, shape: shape, bytes: bytes)
    }

    private func typedFieldBytes(_ dtype: DType) -> [UInt8] {
        var out: [UInt8] = []
        func put<T: FixedWidthInteger>(_ v: T) { withUnsafeBytes(of: v.littleEndian) { out += $0 } }
        switch dtype {
        case .f32: for v in floatData { put(v.bitPattern) }
        case .f64: for v in doubleData { put(v.bitPattern) }
        case .i64: for v in int64Data { put(v) }
        case .i32: for v in int32Data { put(v) }
        case .i16: for v in int32Data { put(Int16(truncatingIfNeeded: v)) }
        case .i8: for v in int32Data { put(Int8(truncatingIfNeeded: v)) }
        case .u8, .bool: for v in int32Data { put(UInt8(truncatingIfNeeded: v)) }
        case .f16, .bf16, .u16: for v in int32Data { put(UInt16(truncatingIfNeeded: v)) }
        case .u32: for v in uint64Data { put(UInt32(truncatingIfNeeded: v)) }
        case .u64: for v in uint64Data { put(v) }
        }
        return out
    }

    private func externalBytes(directory: String, location: SourceLocation) throws(SinterError) -> [UInt8] {
        var entries: [String: String] = [:]
        for e in externalData { entries[e.key] = e.value }
        guard let file = entries["location"], !file.isEmpty else {
            throw SinterError("tensor '\(name)' is stored externally but names no file", at: location)
        }
        // Paths are resolved inside the model's folder only.
        let base = URL(fileURLWithPath: directory).standardizedFileURL
        let url = base.appendingPathComponent(file).standardizedFileURL
        guard !file.hasPrefix("/"), url.path.hasPrefix(base.path + "/") else {
            throw SinterError("tensor '\(name)': external data '\(file)' is outside the model's folder", at: location)
        }
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw SinterError("tensor '\(name)': external data file '\(file)' is missing", at: location)
        }
        let offset = Int(entries["offset"] ?? "0") ?? -1
        let length = entries["length"].flatMap { Int($0) } ?? (data.count - max(offset, 0))
        guard offset >= 0, length >= 0, offset <= data.count, length <= data.count - offset else {
            throw SinterError(
                "tensor '\(name)': external data range \(offset)+\(length) is outside '\(file)' (\(data.count) bytes)",
                at: location)
        }
        return [UInt8](data[offset..<(offset + length)])
    }
}

extension TensorData {
    /// The tensor as an ONNX TensorProto (raw little-endian data).
    func tensorProto(name: String) -> Onnx_TensorProto {
        var t = Onnx_TensorProto()
        t.name = name
        t.dataType = ONNXType.code(dtype)
        t.dims = shape.map { Int64($0) }
        t.rawData = Data(bytes)
        return t
    }
}
