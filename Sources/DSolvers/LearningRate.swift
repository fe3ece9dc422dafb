import DConfig
#if canImport(Glibc)
import Glibc
#endif

extension LRPolicy {
    /// The learning rate at `iteration` (0-based, as Caffe's `iter_`), by Caffe's formulas;
    /// `reductions` is how often the plateau policy has cut the rate so far.
    public func rate(base: Double, iteration it: Int, maxIter: Int, reductions: Int = 0) -> Double {
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
        case .cosine:
            guard maxIter > 0 else { return base }
            return base * 0.5 * (1 + cos(Double.pi * min(i, Double(maxIter)) / Double(maxIter)))
        case .plateau(let gamma):
            return base * pow(gamma, Double(reductions))
        }
    }
}

extension SolverSpec {
    /// The policy's rate, scaled during `warmup_iter` by (it + 1) / warmup_iter.
    public func learningRate(iteration: Int, maxIter: Int, reductions: Int) -> Double {
        let r = lrPolicy.rate(base: baseLR, iteration: iteration, maxIter: maxIter, reductions: reductions)
        guard warmupIter > 0, iteration < warmupIter else { return r }
        return r * Double(iteration + 1) / Double(warmupIter)
    }
}
