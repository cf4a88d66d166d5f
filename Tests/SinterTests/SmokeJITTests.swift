import Testing
import Sinter

@Test func jitAddsVectors() throws {
    var b = GraphBuilder(name: "addv")
    let x = try b.input("x", TensorType(.f32, [1027]))
    let y = try b.input("y", TensorType(.f32, [1027]))
    let s = try b.add(x, y)
    let e = try b.unary(.exp, s)
    b.output(e)
    let model = try Sinter.jit(b.graph)
    let xs = (0..<1027).map { Float($0) * 0.01 - 5 }
    let ys = (0..<1027).map { Float($0 % 7) * 0.1 }
    let out = try model.run([TensorData(xs, shape: [1027]), TensorData(ys, shape: [1027])])
    let got = out[0].floats!
    var maxRel: Float = 0
    for i in 0..<1027 {
        let want = Foundation.exp(xs[i] + ys[i])
        maxRel = max(maxRel, abs(got[i] - want) / want)
    }
    print("max rel err", maxRel)
    #expect(maxRel < 1e-6)
}
import Foundation
