/// dserve's limits and batching, from its command line.
public struct ServeOptions: Sendable {
    /// Threads of each forward pass.
    public var threads = 1
    /// Dynamic batching: up to `maxBatch` predictions of one model in one forward pass, gathered
    /// for up to `batchWindowMilliseconds` after the first arrives. A batch of 1 turns it off.
    public var maxBatch = 32
    public var batchWindowMilliseconds = 2
    /// Predictions that may wait for one model; more get 503.
    public var queueCapacity = 256
    /// The largest upload body (413 beyond), and the largest image by its header's pixels.
    public var maxUploadBytes = 10 << 20
    public var maxPixels = 1 << 24
    /// The loaded models' parameters and activations, least recently used evicted beyond.
    public var cacheBytes = 1 << 30
    /// Seconds a connection may be idle, or stall within a request, before it is closed.
    public var idleTimeoutSeconds = 30

    public init() {}
}
