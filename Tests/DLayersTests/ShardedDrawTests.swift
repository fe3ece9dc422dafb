import DCore
import DData
@testable import DLayers
import Testing

/// Data-parallel training: every layer that draws at random in TRAIN draws, on rank r of N with
/// a batch of 2, exactly what one process with the batch of 2N draws for those samples, so
/// that the ranks together train the single process's step.
@Suite struct ShardedDrawTests {
    static let layers = [
        "{name: l, type: Dropout, bottom: x, top: y}",
        "{name: l, type: Noise, bottom: x, top: y, noise_param: {ratio: 0.4}}",
        "{name: l, type: Noise, bottom: x, top: y, noise_param: {type: GAUSSIAN, sigma: 0.5}}",
        "{name: l, type: Pooling, bottom: x, top: y, pooling_param: {pool: STOCHASTIC, kernel_size: 2, stride: 2}}",
    ]

    @Test(arguments: layers)
    func eachRankDrawsItsSliceOfTheWholeBatch(_ yaml: String) throws {
        let ranks = 3, perRank = 2, sample = 2 * 4 * 4
        let x = (0..<(ranks * perRank * sample)).map { Float($0 % 17 + 1) / 17 }  // positive, for stochastic pooling
        let whole = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([ranks * perRank, 2, 4, 4]), x)])
        whole.iteration = 5
        let all = try whole.forward()[0]
        let out = all.count / ranks
        for rank in 0..<ranks {
            let rig = try LayerRig(try makeLayer(yaml), bottoms: [(Shape([perRank, 2, 4, 4]), Array(x[(rank * perRank * sample)...].prefix(perRank * sample)))])
            rig.iteration = 5
            rig.shard = Shard(index: rank, count: ranks)
            let y = try rig.forward()[0]
            #expect(y == Array(all[(rank * out)..<((rank + 1) * out)]), "rank \(rank)")
        }
    }
}
