import SinterIR
import Testing

/// Each kind of invalid input gives one clear message at the right file:line:col.
struct VerifierErrorTests {
    static let cases: [(String, String, String)] = [
        // (name, source, expected "line:col: message")
        (
            "unknown op",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %y = frobnicate %x : f32[4]
            }
            """, "2:8: error: unknown op 'frobnicate'"
        ),
        (
            "operand count",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %y = add %x : f32[4]
            }
            """, "2:8: error: 'add' takes 2 operand(s), got 1"
        ),
        (
            "shape mismatch",
            """
            graph @g(%x: f32[4,3], %w: f32[4,5]) -> (%y: f32[4,5]) {
              %y = matmul %x, %w : f32[4,5]
            }
            """, "2:8: error: 'matmul': contracting dimensions differ: [4,3] x [4,5] (3 vs 4)"
        ),
        (
            "matmul accumulating f32 from f32 operands",
            """
            graph @g(%x: f32[4,3], %w: f32[3,5]) -> (%y: f32[4,5]) {
              %y = matmul %x, %w {to = "f32"} : f32[4,5]
            }
            """, "2:8: error: 'matmul': matmul's 'to' may only be \"f32\", on bf16 or f16 operands (got \"f32\" on f32)"
        ),
        (
            "int8 product with a bias of the wrong length",
            """
            graph @g(%x: u8<0.5:128>[4,3], %w: i8<0.25:0>[3,5], %b: i32[4]) -> (%y: f32[4,5]) {
              %y = qmatmul %x, %w, %b : f32[4,5]
            }
            """,
            "2:8: error: 'qmatmul': the bias must be i32[5] (one per output channel, at scale_a · scale_b), got i32[4]"
        ),
        (
            "i32 bias on a dynamic int8 product",
            """
            graph @g(%x: f32[4,3], %w: i8<0.25:0>[3,5], %b: i32[5]) -> (%y: f32[4,5]) {
              %y = qmatmul %x, %w, %b : f32[4,5]
            }
            """,
            "2:8: error: 'qmatmul': an i32 bias needs a quantized a (its scale is scale_a · scale_b); add an f32 one instead"
        ),
        (
            "blocked int8 conv whose weights do not fill the blocks",
            """
            graph @g(%x: u8<0.5:128>[1,2,6,6,8], %w: i8<0.25:0>[12,16,3,3]) -> (%y: f32[1,1,4,4,8]) {
              %y = qconv-nchwc %x, %w : f32[1,1,4,4,8]
            }
            """,
            "2:8: error: 'qconv-nchwc': blocks do not match: x u8<0.5:128>[1,2,6,6,8] (blocks of 4k channels), "
                + "weights i8<0.25:0>[12,16,3,3], 8 output channels per block"
        ),
        (
            "conv accumulating f32 from f32 operands",
            """
            graph @g(%x: f32[1,2,4,4], %w: f32[3,2,1,1]) -> (%y: f32[1,3,4,4]) {
              %y = conv %x, %w {to = "f32"} : f32[1,3,4,4]
            }
            """, "2:8: error: 'conv': conv's 'to' may only be \"f32\", on bf16 operands (got \"f32\" on f32)"
        ),
        (
            "zero point outside the storage type",
            """
            graph @g(%x: u8<0.5:300>[4]) -> (%y: f32[4]) {
              %y = dequantize %x : f32[4]
            }
            """, "1:14: error: zero point 300 is outside the range of u8 (0...255)"
        ),
        (
            "per-axis scale count",
            """
            graph @g(%x: f32[2,3]) -> (%y: i8<axis=1: 0.5:0, 0.25:0>[2,3]) {
              %y = quantize %x {to = "i8<axis=1: 0.5:0, 0.25:0>"} : i8<axis=1: 0.5:0, 0.25:0>[2,3]
            }
            """, "1:32: error: quantization along axis 1 needs 3 scales (the axis' size), got 2"
        ),
        (
            "quantization parameters on a float",
            """
            graph @g(%x: f32<0.5:0>[4]) -> (%y: f32[4]) {
              %y = relu %x : f32[4]
            }
            """, "1:14: error: quantization parameters need an 8-, 16- or 32-bit integer element type, not f32"
        ),
        (
            "dequantize of a plain integer",
            """
            graph @g(%x: u8[4]) -> (%y: f32[4]) {
              %y = dequantize %x : f32[4]
            }
            """, "2:8: error: 'dequantize': needs a quantized operand (a type like u8<0.02:128>[...]), got u8[4]"
        ),
        (
            "quantize to a type without parameters",
            """
            graph @g(%x: f32[4]) -> (%y: u8[4]) {
              %y = quantize %x {to = "u8"} : u8[4]
            }
            """, "2:8: error: 'quantize': 'to' = \"u8\" has no quantization parameters (write \"u8<0.02:0>\")"
        ),
        (
            "memory slot for an undefined value",
            """
            graph @g(%x: f32[16]) -> (%y: f32[16]) {
              %a = exp %x : f32[16]
              %y = relu %a : f32[16]
              memory 64 "hand" [%a at 0, %q at 0] in-place [] views []
            }
            """, "4:3: error: memory plan: '%q' is not defined by any node"
        ),
        (
            "memory slot misaligned",
            """
            graph @g(%x: f32[16]) -> (%y: f32[16]) {
              %a = exp %x : f32[16]
              %y = relu %a : f32[16]
              memory 128 "hand" [%a at 32] in-place [] views []
            }
            """, "4:3: error: memory plan: '%a' at 32 is not a multiple of 64"
        ),
        (
            "memory slot outside the arena",
            """
            graph @g(%x: f32[16]) -> (%y: f32[16]) {
              %a = exp %x : f32[16]
              %y = relu %a : f32[16]
              memory 64 "hand" [%a at 64] in-place [] views []
            }
            """, "4:3: error: memory plan: '%a' (64 bytes at 64) does not fit the 64-byte arena"
        ),
        (
            "memory slot for a graph output",
            """
            graph @g(%x: f32[16]) -> (%y: f32[16]) {
              %y = exp %x : f32[16]
              memory 64 "hand" [%y at 0] in-place [] views []
            }
            """, "3:3: error: memory plan: '%y' is a graph output or a constant, which has no arena slot"
        ),
        (
            "memory view that is not a reshape",
            """
            graph @g(%x: f32[16]) -> (%y: f32[16]) {
              %a = exp %x : f32[16]
              %y = relu %a : f32[16]
              memory 64 "hand" [%a at 0] in-place [] views [%a]
            }
            """, "4:3: error: memory plan: '%a' is listed as a reshape or identity but is 'exp'"
        ),
        (
            "memory line syntax",
            """
            graph @g(%x: f32[16]) -> (%y: f32[16]) {
              %y = exp %x : f32[16]
              memory 64 "hand" [%y 0] in-place [] views []
            }
            """, "3:24: error: expected 'at' between a value and its offset, found '0'"
        ),
        (
            "kernel member",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %a = exp %x : f32[4]
              %y = relu %a : f32[4]
              kernel [%a, %q]
            }
            """, "4:3: error: kernel 0: '%q' is not defined by any node"
        ),
        (
            "kernel escaping value",
            """
            graph @g(%x: f32[4]) -> (%a: f32[4], %y: f32[4]) {
              %a = exp %x : f32[4]
              %y = relu %a : f32[4]
              kernel [%a, %y]
            }
            """, "4:3: error: kernel 0: '%a' is a graph output but not the kernel's root"
        ),
        (
            "kernel expression blow-up",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %a0 = mul %x, %x : f32[4]
              %a1 = mul %a0, %a0 : f32[4]
              %a2 = mul %a1, %a1 : f32[4]
              %a3 = mul %a2, %a2 : f32[4]
              %a4 = mul %a3, %a3 : f32[4]
              %a5 = mul %a4, %a4 : f32[4]
              %a6 = mul %a5, %a5 : f32[4]
              %a7 = mul %a6, %a6 : f32[4]
              %a8 = mul %a7, %a7 : f32[4]
              %a9 = mul %a8, %a8 : f32[4]
              %a10 = mul %a9, %a9 : f32[4]
              %a11 = mul %a10, %a10 : f32[4]
              %a12 = mul %a11, %a11 : f32[4]
              %a13 = mul %a12, %a12 : f32[4]
              %a14 = mul %a13, %a13 : f32[4]
              %a15 = mul %a14, %a14 : f32[4]
              %a16 = mul %a15, %a15 : f32[4]
              %a17 = mul %a16, %a16 : f32[4]
              %a18 = mul %a17, %a17 : f32[4]
              %a19 = mul %a18, %a18 : f32[4]
              %a20 = mul %a19, %a19 : f32[4]
              %a21 = mul %a20, %a20 : f32[4]
              %a22 = mul %a21, %a21 : f32[4]
              %a23 = mul %a22, %a22 : f32[4]
              %a24 = mul %a23, %a23 : f32[4]
              %a25 = mul %a24, %a24 : f32[4]
              %a26 = mul %a25, %a25 : f32[4]
              %a27 = mul %a26, %a26 : f32[4]
              %a28 = mul %a27, %a27 : f32[4]
              %y = mul %a28, %a28 : f32[4]
              kernel [%a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9, %a10, %a11, %a12, %a13, %a14, %a15, %a16, %a17, %a18, %a19, %a20, %a21, %a22, %a23, %a24, %a25, %a26, %a27, %a28, %y]
            }
            """, "32:3: error: kernel 0: its expression costs more than 1024 when written out"
        ),
        (
            "kernel too many members",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %a0 = exp %x : f32[4]
              %a1 = exp %a0 : f32[4]
              %a2 = exp %a1 : f32[4]
              %a3 = exp %a2 : f32[4]
              %a4 = exp %a3 : f32[4]
              %a5 = exp %a4 : f32[4]
              %a6 = exp %a5 : f32[4]
              %a7 = exp %a6 : f32[4]
              %a8 = exp %a7 : f32[4]
              %a9 = exp %a8 : f32[4]
              %a10 = exp %a9 : f32[4]
              %a11 = exp %a10 : f32[4]
              %a12 = exp %a11 : f32[4]
              %a13 = exp %a12 : f32[4]
              %a14 = exp %a13 : f32[4]
              %a15 = exp %a14 : f32[4]
              %a16 = exp %a15 : f32[4]
              %a17 = exp %a16 : f32[4]
              %a18 = exp %a17 : f32[4]
              %a19 = exp %a18 : f32[4]
              %a20 = exp %a19 : f32[4]
              %a21 = exp %a20 : f32[4]
              %a22 = exp %a21 : f32[4]
              %a23 = exp %a22 : f32[4]
              %a24 = exp %a23 : f32[4]
              %a25 = exp %a24 : f32[4]
              %a26 = exp %a25 : f32[4]
              %a27 = exp %a26 : f32[4]
              %a28 = exp %a27 : f32[4]
              %a29 = exp %a28 : f32[4]
              %a30 = exp %a29 : f32[4]
              %a31 = exp %a30 : f32[4]
              %a32 = exp %a31 : f32[4]
              %a33 = exp %a32 : f32[4]
              %a34 = exp %a33 : f32[4]
              %a35 = exp %a34 : f32[4]
              %a36 = exp %a35 : f32[4]
              %a37 = exp %a36 : f32[4]
              %a38 = exp %a37 : f32[4]
              %a39 = exp %a38 : f32[4]
              %a40 = exp %a39 : f32[4]
              %a41 = exp %a40 : f32[4]
              %a42 = exp %a41 : f32[4]
              %a43 = exp %a42 : f32[4]
              %a44 = exp %a43 : f32[4]
              %a45 = exp %a44 : f32[4]
              %a46 = exp %a45 : f32[4]
              %a47 = exp %a46 : f32[4]
              %a48 = exp %a47 : f32[4]
              %a49 = exp %a48 : f32[4]
              %a50 = exp %a49 : f32[4]
              %a51 = exp %a50 : f32[4]
              %a52 = exp %a51 : f32[4]
              %a53 = exp %a52 : f32[4]
              %a54 = exp %a53 : f32[4]
              %a55 = exp %a54 : f32[4]
              %a56 = exp %a55 : f32[4]
              %a57 = exp %a56 : f32[4]
              %a58 = exp %a57 : f32[4]
              %a59 = exp %a58 : f32[4]
              %a60 = exp %a59 : f32[4]
              %a61 = exp %a60 : f32[4]
              %a62 = exp %a61 : f32[4]
              %a63 = exp %a62 : f32[4]
              %y = exp %a63 : f32[4]
              kernel [%a0, %a1, %a2, %a3, %a4, %a5, %a6, %a7, %a8, %a9, %a10, %a11, %a12, %a13, %a14, %a15, %a16, %a17, %a18, %a19, %a20, %a21, %a22, %a23, %a24, %a25, %a26, %a27, %a28, %a29, %a30, %a31, %a32, %a33, %a34, %a35, %a36, %a37, %a38, %a39, %a40, %a41, %a42, %a43, %a44, %a45, %a46, %a47, %a48, %a49, %a50, %a51, %a52, %a53, %a54, %a55, %a56, %a57, %a58, %a59, %a60, %a61, %a62, %a63, %y]
            }
            """, "67:3: error: kernel 0: 65 members; a kernel takes at most 64"
        ),
        (
            "rank too high",
            """
            graph @g(%x: f32[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]) -> (%x: f32[1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]) {
            }
            """, "1:1: error: '%x' has rank 33; tensors have at most 32 dimensions"
        ),
        (
            "empty but huge",
            """
            graph @g(%x: f32[0,4611686018427387904,4]) -> (%x: f32[0,4611686018427387904,4]) {
            }
            """, "1:1: error: '%x' has type f32[0,4611686018427387904,4], which is too large for memory"
        ),
        (
            "enum attribute value",
            """
            graph @g(%x: f32[4]) -> (%y: f32[6]) {
              %y = pad %x {mode = "mirror", pads = [1, 1]} : f32[6]
            }
            """, "2:8: error: attribute 'mode' of 'pad' is \"mirror\", not one of constant, reflect, edge, wrap"
        ),
        (
            "type mismatch",
            """
            graph @g(%x: f32[4]) -> (%y: f32[5]) {
              %y = relu %x : f32[5]
            }
            """, "2:8: error: type mismatch: 'relu' gives f32[4] but '%y' is declared f32[5]"
        ),
        (
            "dtype mismatch",
            """
            graph @g(%x: f32[4], %z: f16[4]) -> (%y: f32[4]) {
              %y = add %x, %z : f32[4]
            }
            """, "2:8: error: 'add': operand types differ: f32 and f16"
        ),
        (
            "undefined value",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %y = add %x, %nope : f32[4]
            }
            """, "2:16: error: use of undefined value '%nope'"
        ),
        (
            "duplicate name",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %x = relu %x : f32[4]
              %y = relu %x : f32[4]
            }
            """, "2:3: error: duplicate value name '%x'"
        ),
        (
            "unknown attribute",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %y = softmax %x {axiss = 0} : f32[4]
            }
            """, "2:8: error: unknown attribute 'axiss' for 'softmax' (expected one of: axis)"
        ),
        (
            "attribute kind",
            """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %y = softmax %x {axis = [0]} : f32[4]
            }
            """, "2:8: error: attribute 'axis' of 'softmax' must be int, got ints [0]"
        ),
        (
            "attribute value",
            """
            graph @g(%x: f32[4,2]) -> (%y: f32[4,2]) {
              %y = softmax %x {axis = 2} : f32[4,2]
            }
            """, "2:8: error: 'softmax': axis 2 is out of range for [4,2]"
        ),
        (
            "missing attribute",
            """
            graph @g(%x: f32[4,2]) -> (%y: f32[8]) {
              %y = reshape %x : f32[8]
            }
            """, "2:8: error: 'reshape' needs attribute 'shape'"
        ),
        (
            "bad dense literal",
            """
            graph @g(%x: f32[2]) -> (%y: f32[2]) {
              %c = constant dense<[1.0, 2.0, 3.0]> : f32[2]
              %y = add %x, %c : f32[2]
            }
            """, "2:17: error: dense literal has 3 element(s) but f32[2] needs 2"
        ),
        (
            "undefined output",
            """
            graph @g(%x: f32[2]) -> (%nope: f32[2]) {
              %y = relu %x : f32[2]
            }
            """, "1:26: error: graph output '%nope' is never defined"
        ),
        (
            "syntax",
            """
            graph @g(%x: f32[2]) -> (%y: f32[2]) {
              %y = relu %x : f32[2
            }
            """, "3:1: error: expected ']' to close the shape, found '}'"
        ),
        (
            "bad dtype",
            """
            graph @g(%x: f33[2]) -> (%y: f32[2]) {
            }
            """,
            "1:14: error: unknown element type 'f33' (expected one of f32, f16, bf16, f64, i8, u8, i16, i32, i64, bool, u16, u32, u64)"
        ),
        (
            "type too large",
            """
            graph @g(%x: f32[4611686018427387904,4]) -> (%x: f32[4611686018427387904,4]) {
            }
            """, "1:1: error: '%x' has type f32[4611686018427387904,4], which is too large for memory"
        ),
        (
            "overflowing tile",
            """
            graph @g(%x: f32[2,2]) -> (%y: f32[2,2]) {
              %y = tile %x {repeats = [4611686018427387904, 4611686018427387904]} : f32[2,2]
            }
            """, "2:8: error: 'tile': tile of [2,2] by [4611686018427387904, 4611686018427387904] is too large"
        ),
        (
            "slice step",
            """
            graph @g(%x: f32[4]) -> (%y: f32[1]) {
              %y = slice %x {ends = [4], starts = [0], steps = [-9223372036854775808]} : f32[1]
            }
            """, "2:8: error: 'slice': slice step -9223372036854775808 on axis 0 is not allowed"
        ),
        (
            "dtype constraint",
            """
            graph @g(%x: i32[2]) -> (%y: i32[2]) {
              %y = exp %x : i32[2]
            }
            """, "2:8: error: 'exp' needs a floating-point type, got i32"
        ),
        (
            "empty channel block",
            """
            graph @p(%x: f32[1,1,2,2,0]) -> (%y: f32[1,1,2,2,0]) {
              %y = max-pool-nchwc %x {kernel = [1, 1]} : f32[1,1,2,2,0]
            }
            """,
            "2:8: error: 'max-pool-nchwc': blocked pooling needs a static input [N, C/b, H, W, b] with b > 0 and 'kernel'"
        ),
        (
            "blocked conv weights",
            """
            graph @c(%x: f32[1,2,4,4,8], %w: f32[1,2,3,3,4,8]) -> (%y: f32[1,1,2,2,8]) {
              %y = conv-nchwc %x, %w : f32[1,1,2,2,8]
            }
            """,
            "2:8: error: 'conv-nchwc': conv-nchwc blocks do not match: input [1,2,4,4,8], weights [1,2,3,3,4,8], group 1"
        ),
        (
            // 2 groups of 8 channels: each output block of 8 reads one input block, not two.
            "grouped blocked conv weights",
            """
            graph @c(%x: f32[1,2,4,4,8], %w: f32[2,2,1,1,8,8]) -> (%y: f32[1,2,4,4,8]) {
              %y = conv-nchwc %x, %w {group = 2} : f32[1,2,4,4,8]
            }
            """,
            "2:8: error: 'conv-nchwc': conv-nchwc blocks do not match: input [1,2,4,4,8], weights [2,2,1,1,8,8], group 2"
        ),
    ]

    @Test(arguments: cases.indices)
    func reportsMessageAndLocation(_ i: Int) {
        let (name, source, expected) = Self.cases[i]
        do {
            _ = try Parser.parse(source, path: "t.sir")
            Issue.record("\(name): parsed without error")
        } catch {
            let messages = error.diagnostics.map(\.description)
            #expect(messages.first == "t.sir:" + expected, "\(name): got \(messages)")
        }
    }

    @Test func reportsAllProblemsAtOnce() {
        let source = """
            graph @g(%x: f32[4]) -> (%y: f32[4]) {
              %a = frob %x : f32[4]
              %b = blarg %x : f32[4]
              %y = add %x, %missing : f32[4]
            }
            """
        do {
            _ = try Parser.parse(source, path: "t.sir")
            Issue.record("parsed without error")
        } catch {
            #expect(
                error.diagnostics.map(\.description) == [
                    "t.sir:2:8: error: unknown op 'frob'",
                    "t.sir:3:8: error: unknown op 'blarg'",
                    "t.sir:4:16: error: use of undefined value '%missing'",
                ])
        }
    }
}
