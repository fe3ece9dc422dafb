import DConfig
#if canImport(Glibc)
import Glibc
#endif

extension LRPolicy {
    /// The learning rate at `iteration` (0-based, as Caffe's `iter_`), by Caffe's formulas.
    public func rate(base: Double, iteration it: Int, maxIter: Int) -> Double {
        let i = Double(it)
        switch self {
        case .fixed:
            return base
        case .step(let gamma, let stepsize):
            return base * pow(gamma, (i / Double(stepsize)).rounded(.down))
        case .multistep(let gamma, let stepvalues):
            return base * pow(gamma, Double(stepvalues.filter { it >= $0 }.count))
        case .exp(let gamma):
            return base * pow(gamma, i)
        case .inv(let gamma, let power):
            return base * pow(1 + gamma * i, -power)
        case .poly(let power):
            guard maxIter > 0 else { return base }
            return base * pow(max(0, 1 - i / Double(maxIter)), power)
        case .sigmoid(let gamma, let stepsize):
            return base / (1 + Glibc.exp(-gamma * (i - Double(stepsize))))
        }
    }
}
