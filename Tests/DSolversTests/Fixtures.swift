import DConfig
import DCore
import DData
import Foundation

/// A fresh directory for one test's files.
func temporaryDirectory(_ name: String = #function) -> String {
    let dir = NSTemporaryDirectory() + "dendrite-solver-tests-\(getpid())-\(name.filter { $0.isLetter || $0.isNumber })"
    try? FileManager.default.removeItem(atPath: dir)
    try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

/// Writes `count` 4×4 images of two classes (bright top half or bright bottom half, with
/// seeded noise) as IDX files `images.gz` and `labels.gz` in `dir`.
func writeTwoClassData(_ dir: String, count: Int = 40, seed: UInt64 = 1) throws {
    var rng = RandomStream(seed: seed)
    var pixels: [UInt8] = [], labels: [UInt8] = []
    for i in 0..<count {
        let label = UInt8(i % 2)
        labels.append(label)
        for p in 0..<16 {
            let bright = (p < 8) == (label == 0)
            pixels.append(UInt8((bright ? 160 : 40) + Int(rng.next() % 60)))
        }
    }
    try IDXFile(dims: [count, 4, 4], bytes: pixels).write(to: dir + "/images.gz", gzip: true)
    try IDXFile(dims: [count], bytes: labels).write(to: dir + "/labels.gz", gzip: true)
}

/// A small MLP on the two-class data, with a test phase over the same files.
let twoClassNet = """
    name: tiny
    layer:
      - name: data
        type: IDXData
        top: [data, label]
        transform_param: {scale: 0.00390625}
        idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 8, shuffle: true}
        include: {phase: TRAIN}
      - name: data
        type: IDXData
        top: [data, label]
        transform_param: {scale: 0.00390625}
        idx_data_param: {images: images.gz, labels: labels.gz, batch_size: 16}
        include: {phase: TEST}
      - {name: ip1, type: InnerProduct, bottom: data, top: h, inner_product_param: {num_output: 6}}
      - {name: relu, type: ReLU, bottom: h, top: h}
      - {name: drop, type: Dropout, bottom: h, top: h, dropout_param: {dropout_ratio: 0.2}}
      - {name: ip2, type: InnerProduct, bottom: h, top: s, inner_product_param: {num_output: 2}}
      - {name: accuracy, type: Accuracy, bottom: [s, label], top: accuracy, include: {phase: TEST}}
      - {name: loss, type: SoftmaxWithLoss, bottom: [s, label], top: loss}
    """

func writeSolver(_ dir: String, _ extra: String = "", maxIter: Int = 60, baseLR: Double = 0.5,
                 testInterval: Int = 20, lrPolicy: String = "fixed", testIter: Int = 1, net: String = twoClassNet) throws -> String {
    try writeTwoClassData(dir)
    try net.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
    let solver = """
        net: net.yaml
        base_lr: \(baseLR)
        momentum: 0.9
        weight_decay: 0.0005
        lr_policy: \(lrPolicy)
        max_iter: \(maxIter)
        test_iter: \(testIter)
        test_interval: \(testInterval)
        random_seed: 7
        snapshot_prefix: out/tiny
        \(extra)
        """
    try solver.write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
    return dir + "/solver.yaml"
}
