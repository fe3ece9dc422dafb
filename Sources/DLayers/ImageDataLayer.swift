import DConfig
import DCore
import DData

/// Caffe's `ImageData`: a text file of `path label` lines, each image decoded once at start-up
/// (by stb_image) into a byte cache that is served like IDX data. Tops: data [N, C, H, W]
/// (C = 3 with `is_color`, else 1) and optionally label [N].
extension IDXDataLayer {
    static func imageData(_ spec: LayerSpec, _ context: BuildContext) throws(ConfigError) -> IDXDataLayer {
        let p = try spec.block("image_data_param")
        let source = ConfigFile.resolve(try p.requiredString("source"), relativeTo: context.netFile)
        let root = try p.string("root_folder").map { ConfigFile.resolve($0, relativeTo: context.netFile) } ?? ""
        let batchSize = try p.int("batch_size", default: 0, min: 1)
        let shuffle = try p.bool("shuffle", default: false)
        let height = try p.int("new_height", default: 0, min: 0), width = try p.int("new_width", default: 0, min: 0)
        let color = try p.bool("is_color", default: true)
        if (height == 0) != (width == 0) {
            throw p.error(height == 0 ? "new_width" : "new_height", "give new_height and new_width together",
                          hint: "both resize every image to one size; leave both out to keep the files' size")
        }
        try p.finish()
        let dataset: IDXDataset
        do {
            dataset = try context.datasets.imageList(source, ImageList.Options(root: root, height: height, width: width, color: color),
                                                     threads: context.threads)
        } catch {
            throw p.error("source", "\(error.file): \(error.message)", hint: error.hint)
        }
        return IDXDataLayer(name: spec.name, dataset: dataset, batchSize: batchSize, transform: try transform(spec, dataset: dataset, context: context),
                            shuffle: shuffle, seed: context.seed, prefetch: context.phase == .train)
    }
}
