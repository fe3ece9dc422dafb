/// Memory for tensors: allocated once, owned by a `Net` or a parameter store.
///
/// This file and the kernels are the only places that touch raw pointers; layers receive
/// `TensorView`s and call kernels.

/// A block of zero-initialised elements, freed when the arena goes away.
///
/// `calloc` rather than allocate-and-fill: large blocks come straight from the kernel as
/// zero pages, which cost no memory until they are first written (a test net's scratch for
/// a batch size it never runs, say), so peak memory is what the run touches.
public final class Arena<Element: BitwiseCopyable>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Element>
    public let count: Int

    public init(count: Int) {
        self.count = count
        guard let raw = calloc(max(count, 1), MemoryLayout<Element>.stride) else {
            fatalError("out of memory allocating \(count) elements")
        }
        base = raw.bindMemory(to: Element.self, capacity: max(count, 1))
    }

    deinit { free(base) }

    public func view(offset: Int, shape: Shape) -> TensorView<Element> {
        precondition(offset >= 0 && offset + shape.count <= count, "view out of arena bounds")
        return TensorView(base + offset, shape: shape)
    }
}

public typealias FloatArena = Arena<Float>

/// A window on arena memory with a shape. Copying a view copies the pointer, not the data.
/// Views are `Sendable` so that `Parallel` loops can write disjoint parts of one tensor.
public struct TensorView<Element: BitwiseCopyable>: @unchecked Sendable {
    public let base: UnsafeMutablePointer<Element>
    public var shape: Shape

    public init(_ base: UnsafeMutablePointer<Element>, shape: Shape) {
        self.base = base
        self.shape = shape
    }

    public var count: Int { shape.count }

    /// Bounds-checked element access, for tests, small loops and reports.
    public subscript(i: Int) -> Element {
        get { precondition(i >= 0 && i < count, "index \(i) out of \(shape)"); return base[i] }
        nonmutating set { precondition(i >= 0 && i < count, "index \(i) out of \(shape)"); base[i] = newValue }
    }

    public var buffer: UnsafeMutableBufferPointer<Element> { .init(start: base, count: count) }

    public func toArray() -> [Element] { Array(buffer) }

    public func copy(from values: [Element]) {
        precondition(values.count == count, "copying \(values.count) values into \(shape)")
        values.withUnsafeBufferPointer { base.update(from: $0.baseAddress!, count: count) }
    }

    public func copy(from other: TensorView<Element>) {
        precondition(other.count == count, "copying \(other.shape) into \(shape)")
        base.update(from: other.base, count: count)
    }

    /// The same memory seen with another shape of the same count.
    public func reshaped(_ newShape: Shape) -> TensorView<Element> {
        precondition(newShape.count == count, "reshaping \(shape) to \(newShape)")
        return TensorView(base, shape: newShape)
    }

    /// Elements `[start, start + length)` as a flat view.
    public func slice(_ start: Int, _ length: Int) -> TensorView<Element> {
        precondition(start >= 0 && length >= 0 && start + length <= count, "slice out of \(shape)")
        return TensorView(base + start, shape: Shape([length]))
    }

    public func fill(_ value: Element) { base.update(repeating: value, count: count) }
}

public typealias FloatView = TensorView<Float>

extension TensorView where Element == Float {
    public func zero() { fill(0) }
}

/// A tensor that owns its memory: for tests, datasets of floats and small utilities.
public final class Tensor: @unchecked Sendable {
    public let arena: FloatArena
    public let view: FloatView

    public init(shape: Shape) {
        arena = FloatArena(count: shape.count)
        view = arena.view(offset: 0, shape: shape)
    }

    public convenience init(shape: Shape, values: [Float]) {
        self.init(shape: shape)
        view.copy(from: values)
    }

    public var shape: Shape { view.shape }
    public var values: [Float] { view.toArray() }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
