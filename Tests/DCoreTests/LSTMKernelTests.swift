@testable import DCore
import Foundation
import Testing

@Suite struct LSTMKernelTests {
    /// The eight-wide exp, sigmoid and tanh the gate kernels use, against libm's, from saturation to saturation.
    @Test func vectorisedFunctionsMatchLibm() {
        var worst = (exp: Float(0), sigmoid: Float(0), tanh: Float(0))
        var x: Float = -95
        while x < 95 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.003 })
            let e = LSTMKernel.vexp(v), s = LSTMKernel.vsigmoid(v), t = LSTMKernel.vtanh(v)
            for k in 0..<8 where abs(v[k]) < 87 {
                worst.exp = max(worst.exp, abs(e[k] - Foundation.exp(v[k])) / Foundation.exp(v[k]))
            }
            for k in 0..<8 {
                worst.sigmoid = max(worst.sigmoid, abs(s[k] - 1 / (1 + Foundation.exp(-v[k]))))
                worst.tanh = max(worst.tanh, abs(t[k] - Foundation.tanh(v[k])))
            }
            x += 0.0371
        }
        #expect(worst.exp < 5e-7, "relative error of exp \(worst.exp)")
        #expect(worst.sigmoid < 2e-7, "sigmoid \(worst.sigmoid)")
        #expect(worst.tanh < 3e-7, "tanh \(worst.tanh)")
    }
}
