import DConfig

/// Kernel, stride and pad as Caffe writes them for 2-D windows: `kernel_size: 5` or
/// `kernel_size: [5, 3]` (h, w), or `kernel_h`/`kernel_w`; the same for `stride` and `pad`.
public struct WindowParams: Equatable, Sendable {
    public var kernelH, kernelW, strideH, strideW, padH, padW: Int

    /// `kernelRequired` is false for global pooling, whose window is the whole image.
    static func decode(_ p: ConfigMap, kernelRequired: Bool) throws(ConfigError) -> WindowParams {
        func pair(_ key: String, _ hKey: String, _ wKey: String, default value: Int?, min lower: Int)
            throws(ConfigError) -> (Int, Int) {
            let list = try p.ints(key)
            let h = try p.int(hKey), w = try p.int(wKey)
            var result: (Int, Int)
            switch (list.count, h, w) {
            case (0, let h?, let w?): result = (h, w)
            case (0, nil, nil):
                guard let value else { throw p.missing(key, hint: "e.g. \(key): 5, or \(hKey) and \(wKey)") }
                result = (value, value)
            case (1, nil, nil): result = (list[0], list[0])
            case (2, nil, nil): result = (list[0], list[1])
            case (0, _, _): throw p.error(h == nil ? hKey : wKey, "\(hKey) and \(wKey) go together; give both")
            case (1...2, _, _): throw p.error(key, "give either \(key) or \(hKey)/\(wKey), not both")
            default: throw p.error(key, "expected one value, or two (height, width), found \(list.count)")
            }
            if result.0 < lower || result.1 < lower {
                throw p.error(list.isEmpty ? hKey : key, "must be at least \(lower), found \(min(result.0, result.1))")
            }
            // Far beyond any image, and small enough that size arithmetic cannot overflow.
            if result.0 > 1 << 20 || result.1 > 1 << 20 {
                throw p.error(list.isEmpty ? hKey : key, "must be at most \(1 << 20), found \(max(result.0, result.1))")
            }
            return result
        }
        let k = try pair("kernel_size", "kernel_h", "kernel_w", default: kernelRequired ? nil : 1, min: 1)
        let s = try pair("stride", "stride_h", "stride_w", default: 1, min: 1)
        let pad = try pair("pad", "pad_h", "pad_w", default: 0, min: 0)
        return WindowParams(kernelH: k.0, kernelW: k.1, strideH: s.0, strideW: s.1, padH: pad.0, padW: pad.1)
    }
}
