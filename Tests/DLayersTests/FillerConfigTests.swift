import DCore
@testable import DLayers
import Testing

/// Filler blocks as layers read them: every type, only the keys of that type.
@Suite struct FillerConfigTests {
    static func weightFiller(_ block: String) throws -> Filler {
        let layer = try makeLayer("{name: ip, type: InnerProduct, bottom: x, top: y, inner_product_param: {num_output: 2, weight_filler: \(block)}}")
        return layer.parameters(for: [Shape([1, 3])])[0].filler
    }

    @Test func everyType() throws {
        #expect(try Self.weightFiller("{type: gaussian, std: 0.1, sparse: 3}") == .sparseGaussian(mean: 0, std: 0.1, sparse: 3))
        #expect(try Self.weightFiller("{type: gaussian, sparse: 0}") == .sparseGaussian(mean: 0, std: 1, sparse: 0))
        #expect(try Self.weightFiller("{type: gaussian, sparse: -1}") == .gaussian(mean: 0, std: 1))  // Caffe's "off"
        #expect(try Self.weightFiller("{type: positive_unitball}") == .positiveUnitball)
        #expect(try Self.weightFiller("{type: bilinear}") == .bilinear)
        #expect(try Self.weightFiller("{type: msra, variance_norm: AVERAGE}") == .msra(.average))
    }

    @Test func configErrors() {
        func error(_ block: String) -> String? {
            layerError("{name: ip, type: InnerProduct, inner_product_param: {num_output: 2, weight_filler: \(block)}}")
        }
        #expect(error("{type: gaussian, sparse: -2}")
                == "layer 'ip' (InnerProduct): inner_product_param.weight_filler.sparse: must be at least -1, found -2")
        #expect(error("{type: xavier, sparse: 3}")
                == "layer 'ip' (InnerProduct): unknown key 'sparse' in inner_product_param.weight_filler")
        #expect(error("{type: bilinear, value: 1}")
                == "layer 'ip' (InnerProduct): unknown key 'value' in inner_product_param.weight_filler")
        #expect(error("{type: positive_unitball, min: 0}")
                == "layer 'ip' (InnerProduct): unknown key 'min' in inner_product_param.weight_filler")
        #expect(error("{type: bilinar}")
                == "layer 'ip' (InnerProduct): inner_product_param.weight_filler.type: expected one of constant, uniform, gaussian, positive_unitball, xavier, msra, bilinear, found 'bilinar'")
    }
}
