import SinterIR

/// `--format dot`: the graph for Graphviz, with fused kernels as clusters.
public enum DotWriter {
    public static func dot(_ g: Graph, fusion: FusionPlan?) -> String {
        func id(_ v: ValueID) -> String { "v\(v.index)" }
        func esc(_ s: String) -> String {
            s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        }
        var out =
            "digraph \"\(esc(g.name))\" {\n  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n"
        for v in g.inputs {
            out += "  \(id(v)) [label=\"%\(esc(g.name(of: v)))\\n\(g.type(of: v))\", shape=ellipse];\n"
        }
        var clustered = Set<Int>()
        for (k, group) in (fusion?.groups ?? []).enumerated() where group.nodes.count > 1 {
            out += "  subgraph cluster_\(k) {\n    label=\"kernel \(k)\"; style=rounded; color=blue;\n"
            for i in group.nodes {
                let n = g.nodes[i]
                out +=
                    "    \(id(n.results[0])) [label=\"\(n.op.rawValue)\\n%\(esc(g.name(of: n.results[0])))"
                    + "\\n\(g.type(of: n.results[0]))\"];\n"
                clustered.insert(i)
            }
            out += "  }\n"
        }
        for (i, n) in g.nodes.enumerated() where !clustered.contains(i) {
            let shape = n.payload != nil ? ", shape=note, color=gray" : ""
            out +=
                "  \(id(n.results[0])) [label=\"\(n.op.rawValue)\\n%\(esc(g.name(of: n.results[0])))"
                + "\\n\(g.type(of: n.results[0]))\"\(shape)];\n"
        }
        for n in g.nodes {
            for o in n.operands { out += "  \(id(o)) -> \(id(n.results[0]));\n" }
        }
        for (k, v) in g.outputs.enumerated() {
            out += "  out\(k) [label=\"output %\(esc(g.name(of: v)))\", shape=ellipse];\n  \(id(v)) -> out\(k);\n"
        }
        return out + "}\n"
    }
}

import Foundation
