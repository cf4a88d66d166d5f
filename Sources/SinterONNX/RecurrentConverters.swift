import SinterIR

/// RNN, GRU and LSTM unrolled over their (static) sequence length into IR ops: the input
/// projection for all time steps is one matmul; each step adds the recurrent matmul and
/// the gate activations. Directions, initial states, sequence lengths (constant), clip,
/// activation lists, GRU's linear_before_reset, LSTM peepholes and input_forget follow the
/// ONNX spec.
extension Converters {
    enum Cell { case rnn, gru, lstm }

    static func recurrent(_ cell: Cell) -> Converter {
        { ctx, n throws(SinterError) in try Recurrent(ctx: ctx, n: n, cell: cell).run() }
    }

    struct Recurrent {
        let ctx: ImportContext
        let n: ONNXNode
        let cell: Cell
        var name: String { Converters.out(n) }

        func emit(_ op: Op, _ xs: [ValueID], _ a: [String: AttributeValue], _ tag: String) throws(SinterError)
            -> ValueID
        {
            try ctx.emit(op, xs, Converters.attrs(a), name: "\(name).\(tag)", at: n)
        }

        func emit(_ op: Op, _ xs: [ValueID], _ tag: String) throws(SinterError) -> ValueID {
            try emit(op, xs, [:], tag)
        }

        func columns(_ x: ValueID, _ from: Int, _ to: Int, _ tag: String) throws(SinterError) -> ValueID {
            let s = try ctx.staticShape(x, n)
            return try emit(.slice, [x], ["starts": .ints([0, from]), "ends": .ints([s[0], to])], tag)
        }

        /// One named activation from the ONNX list, with its alpha/beta.
        func activate(_ kind: String, _ alpha: Double?, _ beta: Double?, _ x: ValueID, _ tag: String)
            throws(SinterError) -> ValueID
        {
            switch kind.lowercased() {
            case "sigmoid": return try emit(.sigmoid, [x], tag)
            case "tanh": return try emit(.tanh, [x], tag)
            case "relu": return try emit(.relu, [x], tag)
            case "leakyrelu": return try emit(.leakyRelu, [x], ["alpha": .float(alpha ?? 0.01)], tag)
            case "hardsigmoid":
                return try emit(.hardSigmoid, [x], ["alpha": .float(alpha ?? 0.2), "beta": .float(beta ?? 0.5)], tag)
            case "elu": return try emit(.elu, [x], ["alpha": .float(alpha ?? 1)], tag)
            case "softplus": return try emit(.softplus, [x], tag)
            case "affine":
                let a = try ctx.scalar(alpha ?? 1, .f32, name: "\(name).\(tag).a"),
                    b = try ctx.scalar(beta ?? 0, .f32, name: "\(name).\(tag).b")
                return try emit(.add, [try emit(.mul, [x, a], "\(tag).ax"), b], tag)
            case "scaledtanh":
                let a = try ctx.scalar(alpha ?? 1, .f32, name: "\(name).\(tag).a"),
                    b = try ctx.scalar(beta ?? 1, .f32, name: "\(name).\(tag).b")
                return try emit(.mul, [try emit(.tanh, [try emit(.mul, [x, b], "\(tag).bx")], "\(tag).t"), a], tag)
            case "softsign":
                let one = try ctx.scalar(1, .f32, name: "\(name).\(tag).one")
                return try emit(
                    .div, [x, try emit(.add, [try emit(.abs, [x], "\(tag).abs"), one], "\(tag).den")], tag)
            default: throw n.error("activation '\(kind)' is not supported")
            }
        }

        func run() throws(SinterError) -> [ValueID?] {
            let gates = cell == .rnn ? 1 : cell == .gru ? 3 : 4
            let layout = n.int("layout", default: 0)
            var x = try ctx.input(n, 0)
            if layout == 1 { x = try emit(.transpose, [x], ["perm": .ints([1, 0, 2])], "x_seq") }
            let xs = try ctx.staticShape(x, n)
            guard xs.count == 3, xs[0] > 0 else {
                throw n.error("needs a non-empty input sequence [seq, batch, input]")
            }
            let (seq, batch, inputSize) = (xs[0], xs[1], xs[2])
            guard seq <= Converters.unrollLimit else {
                throw n.error("has \(seq) time steps, more than the \(Converters.unrollLimit) Sinter unrolls")
            }
            let w = try ctx.input(n, 1), r = try ctx.input(n, 2)
            let ws = try ctx.staticShape(w, n), rs = try ctx.staticShape(r, n)
            guard ws.count == 3, rs.count == 3, ws[0] == rs[0], (1...2).contains(ws[0]), ws[2] == inputSize,
                rs[2] > 0, ws[1] == gates * rs[2], rs[1] == ws[1],
                checkedProduct([seq, batch, gates * rs[2]]) != nil
            else {
                throw n.error(
                    "needs W [directions, \(gates)·hidden, \(inputSize)] and "
                        + "R [directions, \(gates)·hidden, hidden], got \(ws) and \(rs)")
            }
            let dirs = ws[0]
            let hidden = rs[2]
            let direction = n.string("direction") ?? "forward"
            guard (direction == "bidirectional") == (dirs == 2) else {
                throw n.error("direction '\(direction)' does not match \(dirs) weight sets")
            }
            let b = try ctx.optionalInput(n, 3)
            let seqLens = try ctx.constantInput(n, 4, "sequence_lens")?.ints
            var h0 = try ctx.optionalInput(n, 5)
            var c0 = cell == .lstm ? try ctx.optionalInput(n, 6) : nil
            let p = cell == .lstm ? try ctx.optionalInput(n, 7) : nil
            if layout == 1 {
                if let v = h0 { h0 = try emit(.transpose, [v], ["perm": .ints([1, 0, 2])], "h0_seq") }
                if let v = c0 { c0 = try emit(.transpose, [v], ["perm": .ints([1, 0, 2])], "c0_seq") }
            }
            let defaults: [String] =
                switch cell {
                case .rnn: ["Tanh"]
                case .gru: ["Sigmoid", "Tanh"]
                case .lstm: ["Sigmoid", "Tanh", "Tanh"]
                }
            let names = n.attribute("activations").map { $0.strings.map { String(decoding: $0, as: UTF8.self) } } ?? []
            let alphas = n.attribute("activation_alpha").map { $0.floats.map(Double.init) } ?? []
            let betas = n.attribute("activation_beta").map { $0.floats.map(Double.init) } ?? []
            let clip = n.float("clip")
            let linearBeforeReset = n.int("linear_before_reset", default: 0) == 1
            let inputForget = n.int("input_forget", default: 0) == 1

            var ys: [ValueID] = [], hs: [ValueID] = [], cs: [ValueID] = []
            for dir in 0..<dirs {
                let tag = "d\(dir)"
                // Per-direction activations, each with its alpha/beta in list order.
                var acts: [(String, Double?, Double?)] = []
                for k in 0..<defaults.count {
                    let i = dir * defaults.count + k
                    let kind = i < names.count ? names[i] : defaults[k]
                    acts.append((kind, i < alphas.count ? alphas[i] : nil, i < betas.count ? betas[i] : nil))
                }
                func act(_ k: Int, _ v: ValueID, _ t: String) throws(SinterError) -> ValueID {
                    var v = v
                    if let clip {
                        v = try emit(.clip, [v], ["min": .float(-clip), "max": .float(clip)], "\(t).clip")
                    }
                    return try activate(acts[k].0, acts[k].1, acts[k].2, v, t)
                }
                func slice3(_ t: ValueID, _ what: String, width: Int) throws(SinterError) -> ValueID {
                    let s = try emit(
                        .slice, [t], ["starts": .ints([dir, 0, 0]), "ends": .ints([dir + 1, width, Int(1 << 40)])],
                        "\(tag).\(what)")
                    let shape = try ctx.staticShape(s, n)
                    return try Converters.reshape(ctx, s, Array(shape.dropFirst()), "\(name).\(tag).\(what)2", n)
                }
                let wt = try emit(.transpose, [try slice3(w, "w", width: gates * hidden)], "\(tag).wt")  // [in, G·h]
                let rt = try emit(.transpose, [try slice3(r, "r", width: gates * hidden)], "\(tag).rt")  // [h, G·h]
                var wb: ValueID?, rb: ValueID?
                if let b {
                    let bd = try slice3(
                        try Converters.reshape(ctx, b, [dirs, 1, 2 * gates * hidden], "\(name).b3", n), "b", width: 1)
                    wb = try Converters.reshape(
                        ctx, try columns(bd, 0, gates * hidden, "\(tag).wb"), [gates * hidden], "\(name).\(tag).wb1", n)
                    rb = try Converters.reshape(
                        ctx, try columns(bd, gates * hidden, 2 * gates * hidden, "\(tag).rb"), [gates * hidden],
                        "\(name).\(tag).rb1", n)
                }
                // Input projection for every step at once: [seq·batch, in] × [in, G·h].
                let flat = try Converters.reshape(ctx, x, [seq * batch, inputSize], "\(name).xflat", n)
                var xw = try emit(.matmul, [flat, wt], "\(tag).xw")
                if let wb { xw = try emit(.add, [xw, wb], "\(tag).xwb") }
                // GRU keeps the recurrent bias of the candidate gate apart (linear_before_reset).
                var rbh: ValueID?
                if let rb {
                    if cell == .gru {
                        let rbMat = try Converters.reshape(ctx, rb, [1, gates * hidden], "\(name).\(tag).rb2", n)
                        let zr = try columns(rbMat, 0, 2 * hidden, "\(tag).rbzr")
                        let zero = try ctx.constant(
                            TensorData(dtype: .f32, shape: [1, hidden], values: Array(repeating: 0, count: hidden)),
                            name: "\(name).\(tag).rbz0")
                        xw = try emit(
                            .add, [xw, try emit(.concat, [zr, zero], ["axis": .int(1)], "\(tag).rbzr0")], "\(tag).xwbr")
                        rbh = try columns(rbMat, 2 * hidden, 3 * hidden, "\(tag).rbh")
                    } else {
                        xw = try emit(.add, [xw, rb], "\(tag).xwbr")
                    }
                }
                func initial(_ v: ValueID?, _ what: String) throws(SinterError) -> ValueID {
                    if let v { return try slice3(v, what, width: batch) }
                    return try ctx.constant(
                        TensorData(
                            dtype: .f32, shape: [batch, hidden], values: Array(repeating: 0, count: batch * hidden)),
                        name: "\(name).\(tag).\(what)0")
                }
                var hPrev = try initial(h0, "h0"), cPrev = try initial(c0, "c0")
                var peep: [ValueID] = []
                if let p {
                    let pd = try slice3(
                        try Converters.reshape(ctx, p, [dirs, 1, 3 * hidden], "\(name).p3", n), "p", width: 1)
                    for k in 0..<3 { peep.append(try columns(pd, k * hidden, (k + 1) * hidden, "\(tag).p\(k)")) }
                }
                let reverse = direction == "reverse" || dir == 1
                var stepOutputs = [ValueID?](repeating: nil, count: seq)
                for step in 0..<seq {
                    let t = reverse ? seq - 1 - step : step
                    let st = "\(tag).t\(t)"
                    let xt = try emit(
                        .slice, [xw],
                        ["starts": .ints([t * batch, 0]), "ends": .ints([(t + 1) * batch, gates * hidden])], "\(st).xw")
                    func gate(_ v: ValueID, _ k: Int, _ what: String) throws(SinterError) -> ValueID {
                        try columns(v, k * hidden, (k + 1) * hidden, "\(st).\(what)")
                    }
                    var hNew: ValueID, cNew: ValueID?
                    switch cell {
                    case .rnn:
                        let pre = try emit(.add, [xt, try emit(.matmul, [hPrev, rt], "\(st).hr")], "\(st).pre")
                        hNew = try act(0, pre, "\(st).h")
                    case .gru:
                        let hr = try emit(.matmul, [hPrev, rt], "\(st).hr")
                        let z = try act(
                            0, try emit(.add, [try gate(xt, 0, "xz"), try gate(hr, 0, "hz")], "\(st).zpre"), "\(st).z")
                        let rg = try act(
                            0, try emit(.add, [try gate(xt, 1, "xr"), try gate(hr, 1, "hr_")], "\(st).rpre"), "\(st).r")
                        var recurrent: ValueID
                        if linearBeforeReset {
                            var hh = try gate(hr, 2, "hh")
                            if let rbh { hh = try emit(.add, [hh, rbh], "\(st).hhb") }
                            recurrent = try emit(.mul, [rg, hh], "\(st).rhh")
                        } else {
                            let rh = try emit(.mul, [rg, hPrev], "\(st).rh")
                            recurrent = try emit(
                                .matmul, [rh, try columns(rt, 2 * hidden, 3 * hidden, "\(st).rth")], "\(st).rhr")
                            if let rbh { recurrent = try emit(.add, [recurrent, rbh], "\(st).rhrb") }
                        }
                        let cand = try act(
                            1, try emit(.add, [try gate(xt, 2, "xh"), recurrent], "\(st).hpre"), "\(st).hc")
                        let one = try ctx.scalar(1, .f32, name: "\(name).\(st).one")
                        hNew = try emit(
                            .add,
                            [
                                try emit(.mul, [try emit(.sub, [one, z], "\(st).1mz"), cand], "\(st).a"),
                                try emit(.mul, [z, hPrev], "\(st).b"),
                            ], "\(st).h")
                    case .lstm:
                        let pre = try emit(.add, [xt, try emit(.matmul, [hPrev, rt], "\(st).hr")], "\(st).pre")
                        var iPre = try gate(pre, 0, "i"), oPre = try gate(pre, 1, "o"), fPre = try gate(pre, 2, "f")
                        let cPre = try gate(pre, 3, "c")
                        if !peep.isEmpty {
                            iPre = try emit(.add, [iPre, try emit(.mul, [peep[0], cPrev], "\(st).pi")], "\(st).ip")
                            fPre = try emit(.add, [fPre, try emit(.mul, [peep[2], cPrev], "\(st).pf")], "\(st).fp")
                        }
                        let i = try act(0, iPre, "\(st).ig")
                        let f =
                            inputForget
                            ? try emit(.sub, [try ctx.scalar(1, .f32, name: "\(name).\(st).one"), i], "\(st).fg")
                            : try act(0, fPre, "\(st).fg")
                        let c = try act(1, cPre, "\(st).cg")
                        let cell = try emit(
                            .add, [try emit(.mul, [f, cPrev], "\(st).fc"), try emit(.mul, [i, c], "\(st).ic")],
                            "\(st).c")
                        if !peep.isEmpty {
                            oPre = try emit(.add, [oPre, try emit(.mul, [peep[1], cell], "\(st).po")], "\(st).op")
                        }
                        let o = try act(0, oPre, "\(st).og")
                        hNew = try emit(.mul, [o, try act(2, cell, "\(st).hc")], "\(st).h")
                        cNew = cell
                    }
                    var yt = hNew
                    if let seqLens {
                        let mask = try ctx.constant(
                            TensorData(
                                dtype: .bool, shape: [batch, 1],
                                values: (0..<batch).map { t < ($0 < seqLens.count ? seqLens[$0] : seq) ? 1 : 0 }),
                            name: "\(name).\(st).mask")
                        let zero = try ctx.scalar(0, .f32, name: "\(name).\(st).zero")
                        yt = try emit(.where, [mask, hNew, zero], "\(st).y")
                        hNew = try emit(.where, [mask, hNew, hPrev], "\(st).hm")
                        if let c = cNew { cNew = try emit(.where, [mask, c, cPrev], "\(st).cm") }
                    }
                    hPrev = hNew
                    if let c = cNew { cPrev = c }
                    stepOutputs[t] = try Converters.reshape(ctx, yt, [1, 1, batch, hidden], "\(name).\(st).y4", n)
                }
                ys.append(
                    seq == 1
                        ? stepOutputs[0]!
                        : try emit(.concat, stepOutputs.compactMap { $0 }, ["axis": .int(0)], "\(tag).y"))
                hs.append(try Converters.reshape(ctx, hPrev, [1, batch, hidden], "\(name).\(tag).hlast", n))
                cs.append(try Converters.reshape(ctx, cPrev, [1, batch, hidden], "\(name).\(tag).clast", n))
            }
            var y = ys.count == 1 ? ys[0] : try emit(.concat, ys, ["axis": .int(1)], "y_all")
            var yh = hs.count == 1 ? hs[0] : try emit(.concat, hs, ["axis": .int(0)], "h_all")
            var yc = cs.count == 1 ? cs[0] : try emit(.concat, cs, ["axis": .int(0)], "c_all")
            if layout == 1 {
                y = try emit(.transpose, [y], ["perm": .ints([2, 0, 1, 3])], "y_batch")
                yh = try emit(.transpose, [yh], ["perm": .ints([1, 0, 2])], "h_batch")
                yc = try emit(.transpose, [yc], ["perm": .ints([1, 0, 2])], "c_batch")
            }
            return [y, yh, cell == .lstm ? yc : nil]
        }
    }
}
