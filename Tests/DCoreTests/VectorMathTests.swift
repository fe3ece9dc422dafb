@testable import DCore
import Foundation
import Testing

@Suite struct VectorMathTests {
    /// The eight-wide exp, sigmoid and tanh (the LSTM's gates, the Sigmoid layer), against libm's,
    /// from saturation to saturation.
    @Test func functionsMatchLibm() {
        var worst = (exp: Float(0), sigmoid: Float(0), tanh: Float(0))
        var x: Float = -95
        while x < 95 {
            let v = SIMD8<Float>((0..<8).map { x + Float($0) * 0.003 })
            let e = VectorMath.exp(v), s = VectorMath.sigmoid(v), t = VectorMath.tanh(v)
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

    /// log(1 + e) over [0, 1], the softplus's range, against libm's log1p in Double: relative
    /// error, including tiny e where 1 + e rounds to 1.
    @Test func log1pUnitMatchesLibm() {
        var samples: [Float] = [0, 1, 1e-30, 1e-12, 5.9604645e-8, 1e-7, 0.4142135, 0.41421357, 0.5, Float.leastNonzeroMagnitude]
        samples += (0..<4000).map { Float($0) / 3999 }
        samples += (1...60).map { Float(Foundation.pow(2.0, -Double($0) / 2)) }
        var worst = 0.0
        for start in stride(from: 0, to: samples.count, by: 8) {
            let chunk = Array(samples[start..<min(start + 8, samples.count)])
            let y = VectorMath.log1pUnit(SIMD8<Float>(chunk + Array(repeating: 0, count: 8 - chunk.count)))
            for (k, e) in chunk.enumerated() {
                let exact = Foundation.log1p(Double(e))
                worst = max(worst, exact == 0 ? Double(abs(y[k])) : abs(Double(y[k]) - exact) / exact)
            }
        }
        #expect(worst < 3.6e-7, "relative error \(worst)")  // 3 ulp
    }

    /// NaN goes through every function; ±∞ saturate.
    @Test func specialValues() {
        let v = SIMD8<Float>(.nan, .infinity, -.infinity, 0, -0.0, 100, -100, 1)
        let e = VectorMath.exp(v), s = VectorMath.sigmoid(v), t = VectorMath.tanh(v), l = VectorMath.log1pUnit(v)
        #expect(e[0].isNaN && s[0].isNaN && t[0].isNaN && l[0].isNaN)
        #expect(s[1] == 1 && s[2] < 1e-37 && s[3] == 0.5 && s[4] == 0.5 && s[5] == 1 && s[6] < 1e-37)
        #expect(t[1] == 1 && t[2] == -1 && t[3] == 0 && t[5] == 1 && t[6] == -1)
        #expect(e[3] == 1 && l[3] == 0 && abs(l[7] - Float(M_LN2)) <= Float(M_LN2).ulp)
    }

    /// The partial loads and stores of a tail touch only `count` floats.
    @Test func tailsTouchOnlyTheirFloats() {
        for count in 1...8 {
            var memory = [Float](repeating: -1, count: 10)
            memory.withUnsafeMutableBufferPointer { b in
                let v = VectorMath.load(b.baseAddress!, count)
                #expect((0..<8).allSatisfy { v[$0] == ($0 < count ? -1 : 0) })
                VectorMath.store(SIMD8<Float>(repeating: Float(count)), b.baseAddress! + 1, count)
                #expect(b[0] == -1 && (1...count).allSatisfy { b[$0] == Float(count) } && b[count + 1] != Float(count))
            }
        }
    }

    /// The levels this CPU runs: plain (`VectorMath`) and, from AVX2, the C kernels with FMA.
    static let levels = SmallGEMM.Level.allCases.filter { $0 <= SmallGEMM.supported }

    static func tensor(_ values: [Float]) -> Tensor { Tensor(shape: Shape([values.count]), values: values) }

    /// The Sigmoid layer's forward at each level: for every tail length, on one thread or three,
    /// in place or not, each value gets the bits it gets alone, and is within 2e-7 of the sigmoid
    /// in Double.
    @Test(arguments: InPlaceKernelTests.counts) func sigmoidForwardKeepsEachValuesBits(count: Int) {
        let x = InPlaceKernelTests.inputs(count)
        for level in Self.levels {
            for steepness: Float in [1, 2.5] {
                let expected = x.map { value in
                    let alone = Self.tensor([value])
                    ActivationKernel.sigmoidForward(input: alone.view, output: alone.view, steepness: steepness, parallel: .serial, level: level)
                    return alone.values[0]
                }
                for (value, y) in zip(x, expected) where !value.isNaN {
                    let exact: Double = 1 / (1 + Foundation.exp(-Double(steepness * value)))
                    #expect(abs(Double(y) - exact) <= 2e-7, "σ(\(steepness)·\(value)) = \(y) at \(level)")
                }
                #expect(zip(x, expected).allSatisfy { !$0.0.isNaN || $0.1.isNaN }, "NaN stays NaN at \(level)")
                for threads in [1, 3] {
                    let input = Self.tensor(x), output = Tensor(shape: Shape([count]))
                    ActivationKernel.sigmoidForward(input: input.view, output: output.view, steepness: steepness,
                                                    parallel: Parallel(threads: threads), level: level)
                    #expect(InPlaceKernelTests.bits(output.values) == InPlaceKernelTests.bits(expected), "\(level), \(threads) threads")
                    ActivationKernel.sigmoidForward(input: input.view, output: input.view, steepness: steepness,
                                                    parallel: Parallel(threads: threads), level: level)
                    #expect(InPlaceKernelTests.bits(input.values) == InPlaceKernelTests.bits(expected), "in place, \(level), \(threads) threads")
                }
            }
        }
    }

    /// The sigmoid cross-entropy loss and its gradient at each level against the formulas in
    /// Double, for every tail length, with ignored targets among the lanes (one of them on a NaN
    /// score, which must not reach the loss), and the gradient added onto what is there.
    @Test(arguments: [1, 7, 8, 9, 16, 37, 1001]) func sigmoidCrossEntropyMatchesDouble(count: Int) {
        var x: [Float] = (0..<count).map { i in Float((i * 37) % 101) * 0.31 - 15 }
        let t: [Float] = (0..<count).map { i in i % 5 == 3 ? -1 : Float((i * 11) % 17) / 16 }
        if count > 3 { x[3] = .nan }
        var expected = 0.0, valid = 0
        for i in 0..<count where t[i] != -1 {
            let xi = Double(x[i]), ti = Double(t[i])
            let s: Double = 1 / (1 + Foundation.exp(-xi))
            let term: Double = ti * Foundation.log(s) + (1 - ti) * Foundation.log(1 - s)
            expected -= term
            valid += 1
        }
        let before = (0..<count).map { Float($0 % 7) - 3 }
        for level in Self.levels {
            let scores = Self.tensor(x), targets = Self.tensor(t)
            let (loss, counted) = LossKernel.sigmoidCrossEntropy(scores: scores.view, targets: targets.view, ignore: -1, level: level)
            #expect(counted == valid, "\(level)")
            #expect(abs(loss - expected) <= 1e-6 * max(expected, 1), "\(loss) against \(expected) at \(level)")
            let all = LossKernel.sigmoidCrossEntropy(scores: scores.view, targets: targets.view, ignore: nil, level: level)
            #expect(all.valid == count && (all.loss.isNaN == (count > 3)), "without ignore_label at \(level)")
            for accumulate in [false, true] {
                let dx = Self.tensor(before)
                LossKernel.sigmoidCrossEntropyBackward(scores: scores.view, targets: targets.view, ignore: -1, scale: 0.5,
                                                       inputGrad: dx.view, accumulate: accumulate, level: level)
                for i in 0..<count {
                    let sigmoid: Double = 1 / (1 + Foundation.exp(-Double(x[i])))
                    let g: Double = t[i] == -1 ? 0 : 0.5 * (sigmoid - Double(t[i]))
                    let want: Double = g + (accumulate ? Double(before[i]) : 0)
                    #expect(abs(Double(dx.values[i]) - want) <= 1e-6, "element \(i) of \(count), accumulate \(accumulate), \(level)")
                }
            }
        }
    }
}
