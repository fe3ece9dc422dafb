import DCore
@testable import DLayers
import Testing

@Suite struct TileLayerTests {
    @Test func forwardByHand() throws {
        // x [2, 2, 1]: sample 0 is 1 2, sample 1 is 3 4; 3 tiles on axis 1 repeat each sample's block: [2, 6, 1].
        let rig = try LayerRig(try makeLayer("{name: t, type: Tile, bottom: x, top: y, tile_param: {tiles: 3}}"),
                               bottoms: [(Shape([2, 2, 1]), [1, 2, 3, 4])])
        #expect(rig.tops[0].shape == Shape([2, 6, 1]))
        #expect(try rig.forward()[0] == [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4])
        // dx sums the three copies: 1 + 3 + 5 = 9, 2 + 4 + 6 = 12; 7 + 9 + 11 = 27, 8 + 10 + 12 = 30.
        rig.backward(topGrad: [(1...12).map(Float.init)])
        #expect(rig.bottomGrads[0].values == [9, 12, 27, 30])
        // Axis −1 (the last) of [2, 2] repeats single values' rows: 1 2 1 2 / 3 4 3 4.
        let last = try LayerRig(try makeLayer("{name: t, type: Tile, bottom: x, top: y, tile_param: {axis: -1, tiles: 2}}"),
                                bottoms: [(Shape([2, 2]), [1, 2, 3, 4])])
        #expect(try last.forward()[0] == [1, 2, 1, 2, 3, 4, 3, 4])
    }

    @Test func gradients() throws {
        let rig = try LayerRig(try makeLayer("{name: t, type: Tile, bottom: x, top: y, tile_param: {axis: 2, tiles: 3}}"),
                               bottoms: [(Shape([2, 2, 2, 3]), randomValues(24))])
        #expect(rig.tops[0].shape == Shape([2, 2, 6, 3]))
        #expect(try checkGradients(rig) == 24)
        try checkAccumulation(rig)
    }

    @Test func configErrors() {
        #expect(layerError("{name: t, type: Tile, tile_param: {axis: 1}}") == "layer 't' (Tile): missing required key 'tile_param.tiles'")
        #expect(layerError("{name: t, type: Tile}") == "layer 't' (Tile): missing required key 'tile_param.tiles'")
        #expect(layerError("{name: t, type: Tile, tile_param: {tiles: 0}}") == "layer 't' (Tile): tile_param.tiles: must be at least 1, found 0")
    }

    @Test func shapeErrors() throws {
        let e = #expect(throws: LayerError.self) { try makeLayer("{name: t, type: Tile, tile_param: {tiles: 2, axis: 3}}").topShapes(for: [Shape([2, 3])]) }
        #expect(e?.message == "axis 3 is out of range for bottom shape 2×3")
    }
}
