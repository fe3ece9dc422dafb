/// The dimensions of a tensor, outermost first (Caffe's N×C×H×W order).
/// A scalar (a loss) has no dimensions and a count of 1.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
    public var dims: [Int]

    public init(_ dims: [Int]) { self.dims = dims }

    public static let scalar = Shape([])

    /// The number of elements.
    public var count: Int { dims.reduce(1, *) }

    /// The product of `dims`, or nil when a dimension is negative or the product overflows
    /// (shapes read from files and configs are checked with this before anything is sized).
    public static func checkedCount(_ dims: [Int]) -> Int? {
        var n = 1
        for d in dims {
            guard d >= 0 else { return nil }
            let (product, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = product
        }
        return n
    }
    public var rank: Int { dims.count }

    public subscript(axis: Int) -> Int {
        get { dims[axis] }
        set { dims[axis] = newValue }
    }

    /// The number of elements from `axis` (inclusive) to the end.
    public func count(from axis: Int) -> Int { dims[axis...].reduce(1, *) }
    /// The number of elements in dimensions `[from, to)`.
    public func count(from: Int, to: Int) -> Int { dims[from..<to].reduce(1, *) }

    /// Maps a negative axis (Caffe and numpy's "from the end") into `0..<rank`; nil when out of range.
    public func canonicalAxis(_ axis: Int) -> Int? {
        let a = axis < 0 ? axis + rank : axis
        return (0..<rank).contains(a) ? a : nil
    }

    /// `64×20×24×24`, or `scalar`.
    public var description: String {
        dims.isEmpty ? "scalar" : dims.map(String.init).joined(separator: "×")
    }
}
