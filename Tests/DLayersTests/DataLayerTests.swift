import DConfig
import DCore
import DData
@testable import DLayers
import Foundation
import Testing

/// IDXData's augmentation through the layer: TRAIN draws per sample and seed, independent of
/// the thread count; TEST crops the centre; bad settings are located errors.
@Suite struct DataLayerAugmentationTests {
    static let dir: String = {
        let dir = NSTemporaryDirectory() + "dendrite-data-layer-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let pixels = (0..<(12 * 3 * 8 * 8)).map { UInt8(truncatingIfNeeded: $0 * 37 % 251) }
        try? IDXFile(dims: [12, 3, 8, 8], bytes: pixels).write(to: dir + "/images", gzip: false)
        try? IDXFile(dims: [12], bytes: (0..<12).map { UInt8($0 % 3) }).write(to: dir + "/labels", gzip: false)
        return dir
    }()

    func layer(_ transform: String, phase: Phase = .train) throws -> IDXDataLayer {
        let yaml = "{name: data, type: IDXData, top: [data, label], transform_param: {\(transform)}, idx_data_param: {images: images, labels: labels, batch_size: 4}}"
        return try #require(try makeLayer(yaml, phase: phase, netFile: Self.dir + "/net.yaml") as? IDXDataLayer)
    }

    /// One batch of `layer`: the data top.
    func batch(_ layer: IDXDataLayer, phase: Phase = .train, seed: UInt64 = 9, threads: Int = 1) throws -> [Float] {
        let data = Tensor(shape: Shape([4] + layer.sampleDims)), labels = Tensor(shape: Shape([4]))
        let io = LayerIO(bottoms: [], bottomGrads: [], accumulateBottom: [], tops: [data.view, labels.view], topGrads: [nil, nil],
                         params: [], paramGrads: [], work: [], intWork: [], index: 0)
        try layer.forward(io, StepContext(phase: phase, seed: seed, parallel: Parallel(threads: threads)))
        return data.values
    }

    @Test func trainDrawsPerSeedAndNotPerThread() throws {
        let settings = "scale: 0.5, mean_value: [10, 20, 30], mirror: true, crop_size: 6, translation: 1, rotation: 10, elastic_alpha: 3, elastic_sigma: 2, erase_probability: 0.5"
        #expect(try layer(settings).sampleDims == [3, 6, 6])
        let one = try batch(try layer(settings)), two = try batch(try layer(settings), threads: 2)
        #expect(one == two && one.allSatisfy(\.isFinite))
        #expect(try batch(try layer(settings), seed: 10) != one)
        // Plain batches differ from distorted ones; a second batch is other samples.
        let plain = try batch(try layer("scale: 0.5, mean_value: [10, 20, 30], crop_size: 6"), phase: .train)
        #expect(plain != one)
        let l = try layer(settings)
        _ = try batch(l)
        #expect(try batch(l) != one)
    }

    /// A TRAIN layer builds each next batch on its prefetch thread: what it serves is, bit for
    /// bit, what a layer without prefetch builds, across epochs, after the order is set from
    /// outside (a resume) and when the seed changes.
    @Test func prefetchedBatchesAreTheSerialOnes() throws {
        let settings = "mirror: true, crop_size: 6, translation: 1, rotation: 10, elastic_alpha: 3, elastic_sigma: 2"
        let yaml = "{name: data, type: IDXData, top: [data, label], transform_param: {\(settings)}, idx_data_param: {images: images, labels: labels, batch_size: 4, shuffle: true}}"
        let prefetching = try #require(try makeLayer(yaml, phase: .train, netFile: Self.dir + "/net.yaml") as? IDXDataLayer)
        let serial = IDXDataLayer(name: "data", dataset: prefetching.dataset, batchSize: 4,
                                  transform: (prefetching.transform, prefetching.augmentation, prefetching.normalization),
                                  shuffle: true, seed: prefetching.order.seed, prefetch: false)
        #expect(serial.prefetcher == nil)
        func next(_ layer: IDXDataLayer, seed: UInt64) throws -> [Float] {
            let data = Tensor(shape: Shape([4] + layer.sampleDims)), labels = Tensor(shape: Shape([4]))
            let io = LayerIO(bottoms: [], bottomGrads: [], accumulateBottom: [], tops: [data.view, labels.view], topGrads: [nil, nil],
                             params: [], paramGrads: [], work: [], intWork: [], index: 0)
            try layer.forward(io, StepContext(phase: .train, seed: seed, parallel: Parallel(threads: 2)))
            return data.values + labels.values
        }
        var batches: [[Float]] = []
        for step in 0..<12 {  // 12 samples, 4 a batch: three epochs
            if step == 7 {  // a resume: both layers jump to epoch 5, position 2
                for l in [prefetching, serial] { l.order = SampleOrder(count: 12, shuffle: true, seed: l.order.seed, epoch: 5, position: 2) }
            }
            let seed: UInt64 = step < 10 ? 3 : 4
            let served = try next(prefetching, seed: seed)
            #expect(served == (try next(serial, seed: seed)), "step \(step)")
            #expect(prefetching.order == serial.order)
            batches.append(served)
        }
        // Served from the prefetch except after the start, the jump and the change of seed.
        #expect(prefetching.prefetcher?.served == 9)
        #expect(Set(batches).count == batches.count)
    }

    /// Data-parallel training: each rank's layer (batch 2, its shard of 3) serves its slice of
    /// the batch of 6 one process draws, samples and distortions alike, through the prefetch
    /// and across epochs; the orders stay the global one.
    @Test func shardsServeSlicesOfTheGlobalBatch() throws {
        let settings = "mirror: true, crop_size: 6, translation: 1, rotation: 10"
        func make(_ batch: Int) throws -> IDXDataLayer {
            let yaml = "{name: data, type: IDXData, top: [data, label], transform_param: {\(settings)}, idx_data_param: {images: images, labels: labels, batch_size: \(batch), shuffle: true}}"
            return try #require(try makeLayer(yaml, phase: .train, netFile: Self.dir + "/net.yaml") as? IDXDataLayer)
        }
        func next(_ layer: IDXDataLayer, _ n: Int) throws -> (data: [Float], labels: [Float]) {
            let data = Tensor(shape: Shape([n] + layer.sampleDims)), labels = Tensor(shape: Shape([n]))
            let io = LayerIO(bottoms: [], bottomGrads: [], accumulateBottom: [], tops: [data.view, labels.view], topGrads: [nil, nil],
                             params: [], paramGrads: [], work: [], intWork: [], index: 0)
            try layer.forward(io, StepContext(phase: .train, seed: 3, parallel: .serial))
            return (data.values, labels.values)
        }
        let whole = try make(6)
        let ranks = try (0..<3).map { r in
            let l = try make(2)
            l.shard = Shard(index: r, count: 3)
            return l
        }
        for step in 0..<5 {  // 12 samples, 6 a global batch: two and a half epochs
            let expected = try next(whole, 6)
            let served = try ranks.map { try next($0, 2) }
            #expect(served.flatMap(\.data) == expected.data, "step \(step)")
            #expect(served.flatMap(\.labels) == expected.labels, "step \(step)")
            #expect(ranks.allSatisfy { $0.order == whole.order })
        }
        #expect(ranks.allSatisfy { ($0.prefetcher?.served ?? 0) == 4 })
    }

    /// `pad` alone crops the image's own size from the padded image: the shape is unchanged.
    @Test func padAloneKeepsTheShape() throws {
        #expect(try layer("pad: 2").sampleDims == [3, 8, 8])
        #expect(try layer("pad: 2", phase: .test).augmentation.cropSize == 8)
        #expect(try batch(try layer("pad: 2", phase: .test), phase: .test) == (try batch(try layer("", phase: .test), phase: .test)))
    }

    @Test func testCropsTheCentre() throws {
        let l = try layer("crop_size: 4", phase: .test)
        let out = try batch(l, phase: .test)
        let images = try IDXFile.read(Self.dir + "/images", expectedRanks: 4...4, role: "images")
        // Sample 0, channel 1, rows 2…5, columns 2…5 of the 8×8 plane.
        let expected = (2..<6).flatMap { y in (2..<6).map { x in Float(images.bytes[64 + 8 * y + x]) } }
        #expect(Array(out[16..<32]) == expected)
        #expect(try batch(try layer("crop_size: 4", phase: .test), phase: .test, seed: 1) == out)  // no draw in TEST
    }

    /// `mean_file`: the mean image is subtracted in the sample's own frame, before the crop
    /// (as Caffe does), then `scale` applies.
    @Test func meanFileIsSubtractedBeforeTheCrop() throws {
        let mean = (0..<192).map { Float($0 % 7) - 0.5 }
        try IDXFile(dims: [3, 8, 8], floats: mean).write(to: Self.dir + "/mean.idx", gzip: false)
        let out = try batch(try layer("scale: 0.5, crop_size: 4, mean_file: mean.idx", phase: .test), phase: .test)
        let images = try IDXFile.read(Self.dir + "/images", expectedRanks: 4...4, role: "images")
        // Sample 1, channel 2, rows 2…5, columns 2…5: (x − mean at the same place) · 0.5.
        var expected: [Float] = []
        for y in 2..<6 {
            for x in 2..<6 {
                let k = 128 + 8 * y + x
                expected.append((Float(images.bytes[192 + k]) - mean[k]) * 0.5)
            }
        }
        #expect(Array(out[(48 + 32)..<(48 + 48)]) == expected)
        // A one-channel mean image of a three-channel sample does not fit; a uniform mean image is mean_value.
        try IDXFile(dims: [8, 8], bytes: Array(repeating: 20, count: 64)).write(to: Self.dir + "/grey-mean.idx", gzip: false)
        #expect(throws: ConfigError.self) { try layer("mean_file: grey-mean.idx") }
        try IDXFile(dims: [3, 8, 8], bytes: Array(repeating: 20, count: 192)).write(to: Self.dir + "/flat-mean.idx", gzip: false)
        let distort = "scale: 0.25, crop_size: 6, mirror: true"
        #expect(try batch(try layer(distort + ", mean_file: flat-mean.idx")) == (try batch(try layer(distort + ", mean_value: [20]"))))
    }

    @Test func meanFileErrors() {
        func message(_ transform: String) -> String {
            do { _ = try layer(transform); return "accepted" } catch let e as ConfigError { return e.headline + " | " + (e.hint ?? "") } catch { return "\(error)" }
        }
        try? IDXFile(dims: [1, 8, 8], bytes: Array(repeating: 20, count: 64)).write(to: Self.dir + "/one-channel-mean.idx", gzip: false)
        for (setting, expected) in [
            ("mean_file: nowhere.idx", "transform_param.mean_file: \(Self.dir)/nowhere.idx:"),
            ("mean_file: one-channel-mean.idx", "the mean image is 1×8×8, the data's samples 3×8×8"),
            ("mean_file: mean.binaryproto", "Caffe's binaryproto mean files are not read yet"),
            ("mean_file: one-channel-mean.idx, mean_value: [1]", "give mean_file or mean_value, not both"),
        ] {
            #expect(message(setting).contains(expected), "\(message(setting))")
        }
    }

    /// Random erasing alone: the rectangle gets erase_value, through mean_value and scale.
    @Test func erasingWritesTheEraseValueThroughTheTransform() throws {
        let erased = try batch(try layer("scale: 0.5, mean_value: 10, erase_probability: 1, erase_area: [0.25, 0.25], erase_aspect: 1, erase_value: 50.5"))
        // (50.5 − 10) · 0.5, which no byte gives, in a 4×4 square of each channel of the 8×8 images.
        #expect(erased.filter { $0 == 20.25 }.count == 4 * 3 * 16)
        let test = try batch(try layer("scale: 0.5, mean_value: 10, erase_probability: 1, erase_value: 50.5", phase: .test), phase: .test)
        #expect(test == (try batch(try layer("scale: 0.5, mean_value: 10", phase: .test), phase: .test)))
    }

    @Test func badSettingsAreLocated() {
        func message(_ transform: String) -> String? {
            do { _ = try layer(transform); return nil } catch let e as ConfigError { return e.headline } catch { return "\(error)" }
        }
        for (setting, expected) in [("crop_size: 9", "transform_param.crop_size: is 9, larger than the 8×8 images"),
                                    ("pad: 9", "transform_param.pad: is 9, more than the crop's side 8: a crop could miss the image"),
                                    ("crop_size: 4, pad: 5", "transform_param.pad: is 5, more than the crop's side 4"),
                                    ("pad: -1", "transform_param.pad: must be at least 0, found -1"),
                                    ("zoom: 1", "transform_param.zoom: must be below 1 (the factor is drawn from [1 − zoom, 1 + zoom]), found 1.0"),
                                    ("rotation: -5", "transform_param.rotation: must be a finite number ≥ 0, found -5.0"),
                                    ("scale: 0", "transform_param.scale: must not be 0: every sample would become zero"),
                                    ("erase_probability: 1.5", "transform_param.erase_probability: is a probability, at most 1, found 1.5"),
                                    ("erase_probability: 0.5, erase_area: [0.4, 0.2]", "transform_param.erase_area: must be [low, high], fractions of the image with 0 < low ≤ high < 1"),
                                    ("erase_probability: 0.5, erase_area: [0.1, 1]", "transform_param.erase_area: must be [low, high]"),
                                    ("erase_probability: 0.5, erase_area: [0.1]", "transform_param.erase_area: must be [low, high]"),
                                    ("erase_probability: 0.5, erase_aspect: 0.5", "transform_param.erase_aspect: must be at least 1"),
                                    ("erase_probability: 0.5, erase_value: 1e300", "transform_param.erase_value: must be a finite number within Float's range"),
                                    ("erase_area: [0.1, 0.2]", "transform_param.erase_area: applies only when erase_probability is above 0")] {
            let m = message(setting) ?? "accepted"
            #expect(m.contains(expected), "\(m)")
        }
        #expect(message("elastic_alpha: 34, elastic_sigma: 0")?.contains("elastic_sigma: must be positive with elastic_alpha") == true)
        #expect(message("mirorr: true")?.contains("unknown key 'mirorr'") == true)
    }
}

/// `normalize`: TRAIN layers divide out their own data's statistics, TEST layers the training
/// data's (never the test data's).
@Suite struct DataLayerNormalizationTests {
    static let dir: String = {
        let dir = NSTemporaryDirectory() + "dendrite-normalize-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        // Training data around 100, test data around 200: statistics from the test data would show.
        try? IDXFile(dims: [6, 1, 2, 2], bytes: (0..<24).map { UInt8(90 + $0) }).write(to: dir + "/train", gzip: false)
        try? IDXFile(dims: [4, 1, 2, 2], bytes: (0..<16).map { UInt8(190 + $0) }).write(to: dir + "/test", gzip: false)
        try? IDXFile(dims: [6], bytes: [UInt8](repeating: 0, count: 6)).write(to: dir + "/train-labels", gzip: false)
        try? IDXFile(dims: [4], bytes: [UInt8](repeating: 0, count: 4)).write(to: dir + "/test-labels", gzip: false)
        return dir
    }()

    func net(_ transform: String, trainLayer: Bool = true) throws -> String {
        var text = "name: n\nlayer:\n"
        if trainLayer {
            text += "  - {name: data, type: IDXData, top: [data, label], include: {phase: TRAIN}, transform_param: {\(transform)}, idx_data_param: {images: train, labels: train-labels, batch_size: 2}}\n"
        }
        text += "  - {name: data, type: IDXData, top: [data, label], include: {phase: TEST}, transform_param: {\(transform)}, idx_data_param: {images: test, labels: test-labels, batch_size: 2}}\n"
        let path = Self.dir + "/net-\(abs(text.hashValue)).yaml"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func testLayer(_ file: String) throws -> IDXDataLayer {
        let spec = try NetSpec.load(file)
        let layer = try #require(spec.layers.first { $0.isIncluded(in: .test) })
        return try #require(try LayerRegistry.make(layer, BuildContext(phase: .test, netFile: file, seed: 1)) as? IDXDataLayer)
    }

    @Test func testLayersUseTheTrainingStatistics() throws {
        let layer = try testLayer(try net("normalize: per_channel"))
        let n = try #require(layer.normalization)
        #expect(n.mode == .perChannel && n.mean == [101.5])  // 90…113, the training data
        #expect(abs(n.std[0] - Float((0..<24).map { pow(Double($0) - 11.5, 2) }.reduce(0, +) / 24).squareRoot()) < 1e-5)
        let pixel = try #require(try testLayer(try net("normalize: per_pixel")).normalization)
        #expect(pixel.mean == [100, 101, 102, 103])  // sample k holds 90 + 4k + p: pixel p's mean is 90 + 4 · 2.5 + p
    }

    /// A TRAIN layer with `range` takes its statistics from those samples only (the rest are
    /// the validation split), and so does the TEST layer that divides them out.
    @Test func aRangeIsAllTheStatisticsSee() throws {
        // A file of its own: net(_:)'s is shared with the tests running beside this one.
        let file = Self.dir + "/net-range.yaml"
        let text = try String(contentsOfFile: try net("normalize: per_channel"), encoding: .utf8)
            .replacingOccurrences(of: "labels: train-labels, batch_size: 2}", with: "labels: train-labels, batch_size: 2, range: [1, 3]}")
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let n = try #require(try testLayer(file).normalization)
        #expect(n.mean == [97.5])  // samples 1 and 2 hold 94…101
    }

    @Test func normalizeErrors() throws {
        func message(_ file: String) -> String {
            do { _ = try testLayer(file); return "accepted" } catch let e as ConfigError { return e.headline } catch { return "\(error)" }
        }
        #expect(message(try net("normalize: per_channel, scale: 0.1")).contains("transform_param.scale: normalize divides out the training data's statistics; it replaces scale, mean_value and mean_file"))
        #expect(message(try net("normalize: per_pixel, crop_size: 1")).contains("transform_param.normalize: per_pixel statistics are per pixel of the whole image, which crop_size moves"))
        #expect(message(try net("normalize: per_channel, zca_epsilon: 0.1")).contains("transform_param.zca_epsilon: applies to normalize: zca only"))
        #expect(message(try net("normalize: whiten")).contains("transform_param.normalize"))
        #expect(message(try net("normalize: zca", trainLayer: false)).contains("normalize takes its statistics from the training data, and this net has no TRAIN-phase data layer with top 'data'"))
    }
}
