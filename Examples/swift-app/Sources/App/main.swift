import mlp

/// Runs the precompiled MLP on a fixed input and prints the class probabilities.
var ctx: OpaquePointer?
guard mlp_create(&ctx, 1) == 0, let ctx else { fatalError("mlp_create failed") }
defer { mlp_destroy(ctx) }

let inputCount = 4 * 64, outputCount = 4 * 10
let x: [Float] = (0..<inputCount).map { Float($0 % 17) / 8 - 1 }
var y = [Float](repeating: 0, count: outputCount)
let status = x.withUnsafeBytes { xs in
    y.withUnsafeMutableBytes { ys in
        var inputs: [UnsafeRawPointer?] = [xs.baseAddress]
        var outputs: [UnsafeMutableRawPointer?] = [ys.baseAddress]
        return mlp_run(ctx, &inputs, &outputs, nil)
    }
}
guard status == 0 else { fatalError(String(cString: mlp_status_string(status))) }
for row in 0..<4 {
    print(y[(row * 10)..<(row * 10 + 10)].map { String(format: "%.6f", Double($0)) }.joined(separator: " "))
}

import Foundation
