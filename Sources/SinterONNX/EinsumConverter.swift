import SinterIR

/// Einsum composed from IR ops, the way numpy's `optimize=False` path reads it, left to right:
/// each operand first loses its repeated letters (a diagonal: a strided slice of the
/// flattened pair) and the letters no one else needs (a sum); then operands are contracted
/// pairwise as one batched matmul — transposed to [batch, free, summed] and [batch, summed,
/// free], reshaped to three axes, multiplied, reshaped back — and the result is transposed
/// to the output's order. Ellipses become fresh letters, right-aligned as numpy broadcasts.
extension Converters {
    static let einsum: Converter = { ctx, n throws(SinterError) in
        let name = out(n)
        guard let equation = n.string("equation") else { throw n.error("needs the 'equation' attribute") }
        var operands = try (0..<n.proto.input.count).map { i throws(SinterError) in try ctx.input(n, i) }
        // 16-bit floats are computed in f32 and rounded once at the end.
        let narrow =
            operands.first.map { [.f16, .bf16].contains(ctx.type($0).dtype) ? ctx.type($0).dtype : nil } ?? nil
        if narrow != nil {
            operands = try operands.enumerated().map { i, v throws(SinterError) in
                try ctx.emit(.cast, [v], attrs(["to": .string("f32")]), name: "\(name).wide\(i)", at: n)
            }
        }
        let shapes = try operands.map { v throws(SinterError) in try ctx.staticShape(v, n) }
        let (terms, output) = try EinsumEquation.parse(equation, ranks: shapes.map(\.count), n)
        var sizes: [Character: Int] = [:]
        for (t, s) in zip(terms, shapes) {
            for (c, d) in zip(t, s) {
                if let known = sizes[c], known != d {
                    throw n.error("letter '\(c)' is \(known) in one place and \(d) in another (no broadcasting)")
                }
                sizes[c] = d
            }
        }
        var step = 0
        func emit(_ op: Op, _ xs: [ValueID], _ a: [String: AttributeValue] = [:]) throws(SinterError) -> ValueID {
            step += 1
            return try ctx.emit(op, xs, attrs(a), name: "\(name).e\(step)", at: n)
        }
        func shape(_ letters: [Character]) -> [Int] { letters.map { sizes[$0] ?? 1 } }
        func reshaped(_ v: ValueID, _ to: [Int]) throws(SinterError) -> ValueID {
            step += 1
            return try reshape(ctx, v, to, "\(name).e\(step)", n)
        }
        func transposed(_ v: ValueID, _ from: [Character], _ to: [Character]) throws(SinterError) -> ValueID {
            let perm = to.compactMap { from.firstIndex(of: $0) }
            return perm == Array(perm.indices) ? v : try emit(.transpose, [v], ["perm": .ints(perm)])
        }
        /// Removes repeated letters (keeping the diagonal) and sums letters not in `keep`.
        func reduced(_ v: ValueID, _ term: [Character], keep: Set<Character>) throws(SinterError)
            -> (ValueID, [Character])
        {
            var v = v, term = term
            while let (i, j) = firstRepeat(term) {
                // Bring the pair last, flatten it, and take every (size + 1)-th element.
                let rest = term.indices.filter { $0 != i && $0 != j }
                let others = rest.map { term[$0] }
                let c = term[i], size = sizes[c] ?? 1
                if rest + [i, j] != Array(term.indices) {
                    v = try emit(.transpose, [v], ["perm": .ints(rest + [i, j])])
                }
                v = try reshaped(v, shape(others) + [size * size])
                step += 1
                v = try slice(ctx, v, axis: others.count, 0, size * size, step: size + 1, "\(name).e\(step)", n)
                term = others + [c]
            }
            let summed = term.indices.filter { !keep.contains(term[$0]) }
            if !summed.isEmpty {
                v = try emit(.reduceSum, [v], ["axes": .ints(summed), "keepdims": .bool(false)])
                term = term.filter { keep.contains($0) }
            }
            return (v, term)
        }
        func needed(after k: Int) -> Set<Character> { Set(output).union(terms.dropFirst(k + 1).flatMap { $0 }) }

        var (acc, accTerm) = try reduced(operands[0], terms[0], keep: needed(after: 0))
        for k in 1..<terms.count {
            let later = needed(after: k)
            let (b, bTerm) = try reduced(operands[k], terms[k], keep: later.union(accTerm))
            let (a, aTerm) = try reduced(acc, accTerm, keep: later.union(bTerm))
            let shared = aTerm.filter { bTerm.contains($0) }
            let batch = shared.filter { later.contains($0) }
            let contracted = shared.filter { !later.contains($0) }
            let left = aTerm.filter { !bTerm.contains($0) }, right = bTerm.filter { !aTerm.contains($0) }
            let (bs, ls, rs, ks) = (shape(batch), shape(left), shape(right), shape(contracted))
            let (nb, nl, nr, nk) = (bs.reduce(1, *), ls.reduce(1, *), rs.reduce(1, *), ks.reduce(1, *))
            let a3 = try reshaped(try transposed(a, aTerm, batch + left + contracted), [nb, nl, nk])
            let b3 = try reshaped(try transposed(b, bTerm, batch + contracted + right), [nb, nk, nr])
            let product = try emit(.matmul, [a3, b3])
            accTerm = batch + left + right
            acc = try reshaped(product, bs + ls + rs)
        }
        let (final, finalTerm) = try reduced(acc, accTerm, keep: Set(output))
        let ordered = try transposed(final, finalTerm, output)
        if let narrow {
            return [try ctx.emit(.cast, [ordered], attrs(["to": .string(narrow.rawValue)]), name: name, at: n)]
        }
        return [try ctx.emit(.identity, [ordered], name: name, at: n)]
    }

    private static func firstRepeat(_ term: [Character]) -> (Int, Int)? {
        for i in term.indices {
            if let j = term[(i + 1)...].firstIndex(of: term[i]) { return (i, j) }
        }
        return nil
    }
}

/// An Einsum equation read into one letter list per operand and the output's, with `...`
/// replaced by fresh letters (digits, which the equation cannot use) for the broadcast axes.
enum EinsumEquation {
    static func parse(_ text: String, ranks: [Int], _ n: ONNXNode) throws(SinterError)
        -> ([[Character]], [Character])
    {
        let clean = text.filter { !$0.isWhitespace }
        let sides = clean.components(separatedBy: "->")
        guard sides.count <= 2 else { throw n.error("equation '\(text)' has more than one '->'") }
        let inputs = sides[0].components(separatedBy: ",")
        guard inputs.count == ranks.count else {
            throw n.error("equation '\(text)' names \(inputs.count) operands, the node has \(ranks.count)")
        }
        let ellipsisRank = zip(inputs, ranks).map { t, r in t.contains("...") ? r - (t.count - 3) : 0 }.max() ?? 0
        guard ellipsisRank <= 10 else { throw n.error("equation '\(text)': '...' stands for more than 10 axes") }
        guard ellipsisRank >= 0 else {
            throw n.error("equation '\(text)': an operand with '...' names more axes than its rank")
        }
        let fresh = (0..<ellipsisRank).map { Character(String($0)) }
        func letters(_ t: String, rank: Int?) throws(SinterError) -> [Character] {
            var out: [Character] = []
            let parts = t.components(separatedBy: "...")
            guard parts.count <= 2 else { throw n.error("equation '\(text)': more than one '...' in '\(t)'") }
            for (i, p) in parts.enumerated() {
                for c in p {
                    guard c.isLetter, c.isASCII else { throw n.error("equation '\(text)': '\(c)' is not a letter") }
                    out.append(c)
                }
                if i == 0 && parts.count == 2 {
                    let count = rank.map { $0 - (t.count - 3) } ?? ellipsisRank
                    guard count >= 0 else { throw n.error("equation '\(text)': '\(t)' has more letters than axes") }
                    out += fresh.suffix(count)
                }
            }
            if let rank, out.count != rank {
                throw n.error("equation '\(text)': '\(t)' has \(out.count) letters for an operand of rank \(rank)")
            }
            return out
        }
        var terms: [[Character]] = []
        for (t, r) in zip(inputs, ranks) { terms.append(try letters(t, rank: r)) }
        if sides.count == 2 { return (terms, try letters(sides[1], rank: nil)) }
        // Implicit output: the broadcast axes, then letters used once, in alphabetical order.
        var counts: [Character: Int] = [:]
        for c in terms.joined() { counts[c, default: 0] += 1 }
        let once = counts.filter { $0.value == 1 && $0.key.isLetter }.map(\.key).sorted()
        return (terms, fresh + once)
    }
}
