import DCommands
import DZoo
import Hummingbird

/// One loaded model and the predictions waiting for it. Concurrent requests are gathered for
/// up to the batch window after the first, or until a batch is full, and run as one forward
/// pass: the GEMMs of a batch of 32 cost far less than 32 of one.
actor Batcher {
    nonisolated let entry: Zoo.Entry
    /// One image's input: channels × height × width bytes.
    nonisolated let channels: Int, height: Int, width: Int
    /// Parameters and activations, for the pool's memory bound.
    nonisolated let memoryBytes: Int
    let classifier: ImageClassifier
    let maxBatch: Int, capacity: Int, window: Duration

    struct Job {
        let pixels: [UInt8]
        let done: CheckedContinuation<[Float], any Error>
    }
    var queue: [Job] = []
    var timerArmed = false
    /// Forward passes run and images classified, for the server's statistics.
    private(set) var batches = 0, images = 0

    init(entry: Zoo.Entry, options: ServeOptions) throws {
        let classifier = try ImageClassifier(entry: entry, threads: options.threads, batch: max(1, options.maxBatch), command: "dserve")
        self.entry = entry
        (channels, height, width) = (classifier.channels, classifier.height, classifier.width)
        memoryBytes = classifier.memoryBytes
        self.classifier = classifier
        (maxBatch, capacity, window) = (max(1, options.maxBatch), options.queueCapacity, .milliseconds(options.batchWindowMilliseconds))
    }

    /// The class probabilities of one decoded image; 503 when the queue is full.
    func classify(_ pixels: [UInt8]) async throws -> [Float] {
        guard queue.count < capacity else {
            throw HTTPError(.serviceUnavailable, headers: [.retryAfter: "1"], message: "'\(entry.name)' has \(capacity) predictions waiting; try again")
        }
        return try await withCheckedThrowingContinuation { done in
            queue.append(Job(pixels: pixels, done: done))
            if queue.count >= maxBatch {
                runBatch()
            } else if !timerArmed {
                timerArmed = true
                let window = window
                Task { try? await Task.sleep(for: window); self.flush() }
            }
        }
    }

    func flush() {
        timerArmed = false
        while !queue.isEmpty { runBatch() }
    }

    /// One forward pass over the first `maxBatch` waiting jobs; each is answered once.
    func runBatch() {
        let jobs = Array(queue.prefix(maxBatch))
        queue.removeFirst(jobs.count)
        do {
            let p = try classifier.probabilities(jobs.map(\.pixels))
            for (job, probabilities) in zip(jobs, p) { job.done.resume(returning: probabilities) }
            batches += 1
            images += jobs.count
        } catch {
            for job in jobs { job.done.resume(throwing: error) }
        }
    }

    var statistics: (batches: Int, images: Int) { (batches, images) }

    /// The first layer's filters as a PNG, drawn once; nil when none can be drawn.
    private var filtersPNG: [UInt8]??
    func filters() -> [UInt8]? {
        if let drawn = filtersPNG { return drawn }
        let drawn = try? classifier.firstLayerFilters()
        filtersPNG = .some(drawn ?? nil)
        return drawn ?? nil
    }
}

/// Each model's test-set report (the confusion matrix), measured once per card: in a task of
/// its own, so that the model's predictions go on meanwhile.
actor Reports {
    let threads: Int
    var reports: [String: (card: ModelCard, task: Task<TestSetReport?, any Error>)] = [:]

    init(threads: Int) { self.threads = threads }

    func report(_ entry: Zoo.Entry) async throws -> TestSetReport? {
        if let r = reports[entry.name], r.card == entry.card { return try await r.task.value }
        let threads = threads
        let task = Task.detached { try TestCommand.testSetReport(entry, threads: threads) }
        reports[entry.name] = (entry.card, task)
        return try await task.value
    }
}

/// The loaded models by name, least recently used evicted once their memory passes the bound.
/// A model whose card changed (retrained, reinstalled) is loaded again.
actor ModelPool {
    let options: ServeOptions
    var loaded: [String: Batcher] = [:]
    /// Names, least recently used first.
    var order: [String] = []

    init(options: ServeOptions) { self.options = options }

    func batcher(for entry: Zoo.Entry) throws -> Batcher {
        let b: Batcher
        if let cached = loaded[entry.name], cached.entry.directory == entry.directory, cached.entry.card == entry.card {
            b = cached
        } else {
            b = try Batcher(entry: entry, options: options)
            loaded[entry.name] = b
        }
        order.removeAll { $0 == entry.name }
        order.append(entry.name)
        // Past the bound, the least recently used go (not the one just used). Jobs already
        // queued on an evicted batcher still finish: their handlers hold it.
        while order.count > 1, loaded.values.reduce(0, { $0 + $1.memoryBytes }) > options.cacheBytes {
            loaded[order.removeFirst()] = nil
        }
        return b
    }

    var loadedNames: [String] { order }
}
