import SinterIR

/// Builds a graph from a fuzzer's bytes for the `pipeline` target: an f32 input of rank 1–4,
/// then up to 12 ops, each applied to an earlier value with attributes taken from the bytes
/// (axes, perms, pads, strides and kernel sizes may be out of range: the shape rules must
/// refuse those cleanly). An op the shape rules refuse is skipped; the last value is the output.
struct GraphGenerator {
    var bytes: [UInt8]
    var at = 0
    var builder = GraphBuilder(name: "gen")
    var values: [ValueID] = []

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func byte() -> Int? {
        guard at < bytes.count else { return nil }
        defer { at += 1 }
        return Int(bytes[at])
    }

    /// 1 … m.
    mutating func positive(_ m: Int) -> Int { 1 + (byte() ?? 0) % m }

    mutating func list(_ n: Int, _ f: (inout GraphGenerator) -> Int) -> [Int] {
        var out: [Int] = []
        for _ in 0..<n { out.append(f(&self)) }
        return out
    }

    /// A small signed number: −2 … 13, so most values are in range and some are not.
    mutating func small() -> Int { (byte() ?? 2) % 16 - 2 }

    mutating func constant(_ shape: [Int]) -> ValueID? {
        let count = shape.reduce(1, *)
        guard count <= 4096 else { return nil }
        let seed = byte() ?? 0
        let values = (0..<count).map { Float(($0 * 37 + seed) % 17) / 8 - 1 }
        return try? builder.constant(TensorData(values, shape: shape))
    }

    mutating func graph() -> Graph? {
        guard let r = byte() else { return nil }
        let shape = (0..<(1 + r % 4)).map { _ in 1 + (byte() ?? 0) % 9 }
        guard let x = try? builder.input("x", TensorType(.f32, shape)) else { return nil }
        values = [x]
        var steps = 0
        while steps < 12, let op = byte() {
            steps += 1
            let v = values[(byte() ?? 0) % values.count]
            if let r = apply(op % 13, to: v) { values.append(r) }
        }
        builder.output(values[values.count - 1])
        return builder.graph
    }

    mutating func apply(_ choice: Int, to v: ValueID) -> ValueID? {
        let s = builder.graph.type(of: v).shape ?? []
        let rank = s.count
        func run(_ op: Op, _ operands: [ValueID], _ attrs: [String: AttributeValue] = [:]) -> ValueID? {
            (try? builder.apply(op, operands, attributes: Attributes(attrs)))?.first
        }
        switch choice {
        case 0:
            let ops: [Op] = [.relu, .tanh, .sigmoid, .exp, .neg, .abs, .sqrt, .gelu, .erf, .floor, .softplus]
            return run(ops[(byte() ?? 0) % ops.count], [v])
        case 1:
            let ops: [Op] = [.add, .sub, .mul, .div, .max, .min]
            return run(ops[(byte() ?? 0) % ops.count], [v, values[(byte() ?? 0) % values.count]])
        case 2:
            guard let c = constant(Array(s.suffix((byte() ?? 0) % (rank + 1)))) else { return nil }
            return run(.add, [v, c])
        case 3:
            guard let last = s.last, let w = constant([last, 1 + (byte() ?? 0) % 40]) else { return nil }
            return run(.matmul, [v, w])
        case 4:
            let k = byte() ?? 0
            return run(.transpose, [v], ["perm": .ints((0..<rank).map { ($0 + k) % max(rank, 1) })])
        case 5:
            let split = (byte() ?? 0) % (rank + 1)
            let dims = [s.prefix(split).reduce(1, *), s.dropFirst(split).reduce(1, *)]
            return run(.reshape, [v], ["shape": .ints(dims)])
        case 6:
            return run([Op.softmax, .logSoftmax][(byte() ?? 0) % 2], [v], ["axis": .int(small() % 5)])
        case 7:
            let ops: [Op] = [.reduceSum, .reduceMean, .reduceMax, .reduceMin]
            return run(
                ops[(byte() ?? 0) % ops.count], [v], ["axes": .ints([small() % 5]), "keepdims": .bool(small() > 5)])
        case 8:
            guard rank >= 3 else { return nil }
            let wShape: [Int] = [positive(6), s[1], positive(3), positive(3)]
            guard let w = constant(wShape) else { return nil }
            let spatial = rank - 2
            let pads: [Int] = list(2 * spatial) { $0.small() % 3 }
            let strides: [Int] = list(spatial) { $0.positive(3) }
            let dilations: [Int] = list(spatial) { $0.positive(2) }
            return run(.conv, [v, w], ["pads": .ints(pads), "strides": .ints(strides), "dilations": .ints(dilations)])
        case 9:
            guard rank >= 3 else { return nil }
            let spatial = rank - 2
            let kernel: [Int] = list(spatial) { $0.positive(3) }
            let pads: [Int] = list(2 * spatial) { $0.small() % 2 }
            let strides: [Int] = list(spatial) { $0.positive(3) }
            let op: Op = (byte() ?? 0) % 2 == 0 ? .maxPool : .avgPool
            let attrs: [String: AttributeValue] = [
                "kernel": .ints(kernel), "pads": .ints(pads), "strides": .ints(strides),
                "ceil_mode": .bool(small() > 6),
            ]
            return run(op, [v], attrs)
        case 10:
            return run(.concat, [v, values[(byte() ?? 0) % values.count]], ["axis": .int(small() % 5)])
        case 11:
            return run(
                .slice, [v],
                [
                    "starts": .ints((0..<rank).map { _ in small() % 4 }),
                    "ends": .ints(s.map { $0 - small() % 3 }),
                ])
        default:
            guard let last = s.last, let scale = constant([last]), let bias = constant([last]) else { return nil }
            return run(.layerNorm, [v, scale, bias], ["axis": .int(-1 - small() % 2)])
        }
    }
}
