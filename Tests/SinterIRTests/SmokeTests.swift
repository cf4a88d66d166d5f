import Testing
@testable import SinterIR

@Test func parsesAndPrintsSmallGraph() throws {
    let text = """
    graph @g(%x: f32[4,8], %"a b": f32[8]) -> (%out: f32[4,8]) {
      %c = constant dense<[1.0, -0.0, nan, inf, -inf, 1e-05, 3.5, 0.1]> : f32[8]
      %0 = add %x, %c : f32[4,8]
      %1 = mul %0, %"a b" : f32[4,8]
      %s = reduce-sum %1 {axes = [1], keepdims = true} : f32[4,1]
      %out = sub %1, %s : f32[4,8]
    }

    """
    let g = try Parser.parse(text)
    #expect(Printer.print(g) == text)
}
