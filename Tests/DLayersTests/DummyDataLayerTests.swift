import DCore
@testable import DLayers
import Testing

@Suite struct DummyDataLayerTests {
    @Test func shapesAndFillers() throws {
        let yaml = "{name: d, type: DummyData, top: [x, y], dummy_data_param: {shape: [{dim: [2, 3]}, {dim: [4]}], data_filler: [{type: constant, value: 7}, {type: uniform, min: -1, max: 1}]}}"
        let rig = try LayerRig(try makeLayer(yaml), bottoms: [])
        #expect(rig.tops.map(\.shape) == [Shape([2, 3]), Shape([4])])
        let first = try rig.forward()
        #expect(first[0] == Array(repeating: 7, count: 6))
        #expect(first[1].allSatisfy { $0 >= -1 && $0 <= 1 } && Set(first[1]).count == 4)
        #expect(try rig.forward()[1] == first[1])  // the same iteration draws the same
        rig.iteration = 1
        #expect(try rig.forward()[1] != first[1])  // a random filler fills anew each iteration
        // Caffe's older fields, one value for every top; no filler means zeros.
        let legacy = try LayerRig(try makeLayer("{name: d, type: DummyData, top: [a, b], dummy_data_param: {num: 2, channels: [1, 3], height: 4, width: 5}}"), bottoms: [])
        #expect(legacy.tops.map(\.shape) == [Shape([2, 1, 4, 5]), Shape([2, 3, 4, 5])])
        #expect(try legacy.forward()[1].allSatisfy { $0 == 0 })
    }

    @Test func configErrors() {
        #expect(layerError("{name: d, type: DummyData, top: x}")?.contains("dummy_data_param.shape") == true)
        #expect(layerError("{name: d, type: DummyData, top: [x, y, z], dummy_data_param: {shape: [{dim: [1]}, {dim: [2]}]}}")?.contains("gives 2 values for 3 tops") == true)
        #expect(layerError("{name: d, type: DummyData, top: x, dummy_data_param: {shape: {dim: [0, 2]}}}")?.contains("dimensions must be positive") == true)
        #expect(layerError("{name: d, type: DummyData, top: x, dummy_data_param: {shape: {dim: [2]}, num: 3}}")?.contains("not both") == true)
    }
}
