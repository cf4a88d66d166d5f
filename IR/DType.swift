/// Element types of Sinter tensors. The raw value is the spelling in `.sir` text.
public enum DType: String, CaseIterable, Sendable, Hashable {
    case f32, f16, bf16, f64, i8, u8, i16, i32, i64, bool, u16, u32, u64

    /// Size of one element in bytes.
    public var byteSize: Int {
        switch self {
        case .f64, .i64, .u64: 8
        case .f32, .i32, .u32: 4
        case .f16, .bf16, .i16, .u16: 2
        case .i8, .u8, .bool: 1
        }
    }

    public var isFloat: Bool {
        switch self {
        case .f32, .f16, .bf16, .f64: true
        case .i8, .u8, .i16, .i32, .i64, .bool, .u16, .u32, .u64: false
        }
    }

    public var isSignedInteger: Bool {
        switch self {
        case .i8, .i16, .i32, .i64: true
        case .u8, .bool, .f32, .f16, .bf16, .f64, .u16, .u32, .u64: false
        }
    }

    /// numpy's `dtype.str` for this type (little-endian), used by the `.npy` reader and writer.
    /// bf16 has no numpy spelling; its raw bits are stored as `<u2`, which reads back as u16
    /// unless the reader expects bf16.
    public var numpyDescr: String {
        switch self {
        case .f32: "<f4"
        case .f16: "<f2"
        case .bf16: "<u2"
        case .f64: "<f8"
        case .i8: "|i1"
        case .u8: "|u1"
        case .i16: "<i2"
        case .i32: "<i4"
        case .i64: "<i8"
        case .bool: "|b1"
        case .u16: "<u2"
        case .u32: "<u4"
        case .u64: "<u8"
        }
    }

    /// numpy's dtype name (bf16 as its raw `uint16` bits), for generated Python and tests.
    public var numpyName: String {
        switch self {
        case .f32: "float32"
        case .f16: "float16"
        case .bf16: "uint16"
        case .f64: "float64"
        case .i8: "int8"
        case .u8: "uint8"
        case .i16: "int16"
        case .i32: "int32"
        case .i64: "int64"
        case .bool: "bool"
        case .u16: "uint16"
        case .u32: "uint32"
        case .u64: "uint64"
        }
    }

    /// Stable numbering used by the C ABI (`sinter_dtype` in generated headers).
    public var abiCode: Int32 {
        switch self {
        case .f32: 1
        case .f16: 2
        case .bf16: 3
        case .f64: 4
        case .i8: 5
        case .u8: 6
        case .i16: 7
        case .i32: 8
        case .i64: 9
        case .bool: 10
        case .u16: 11
        case .u32: 12
        case .u64: 13
        }
    }
}
