import ArgumentParser
import DCommands
import DCore
import DNet
import DZoo
import Hummingbird
import Logging
import ServiceLifecycle

public struct ServeCommand: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dserve",
        abstract: "Serve the zoo over HTTP: model pages, an upload-and-classify page, live training curves and a JSON API.",
        discussion: """
            Pages: / (every model), /models/NAME (its card, an upload form that shows the \
            top 5 classes, learning curves, first-layer filters and a link to the test set's \
            confusion matrix), /runs (runs in progress, reloading every 5 s). \
            API: GET /api/models, GET /api/models/NAME, POST /api/models/NAME/predict with the \
            image file as the body (PNG, JPEG, binary PGM/PPM), giving {"model": …, "top": \
            [{"class": 9, "name": "Ankle boot", "p": 0.9996}, …]}, the numbers of dtest \
            --predict. Concurrent predictions of one model are batched into one forward pass. \
            Status codes: 404 unknown model, 400 unreadable image, 413 too large (body or \
            pixels), 422 a model that cannot classify images, 503 queue full. Ctrl-C stops \
            the server after the requests in progress (docs/SERVING.md).
            """)

    @Option(help: "The user zoo to serve beside the repository's ModelZoo (default: $DENDRITE_ZOO, else ~/.dendrite/zoo).")
    var zoo: String?
    @Option(help: "The address to listen on (127.0.0.1: this machine only).")
    var host = "127.0.0.1"
    @Option(help: "The port (0: any free port; the URL printed says which).")
    var port = 8080
    // The defaults are ServeOptions' own.
    @Option(help: "Predictions of one model run together in one forward pass, up to this many (1: no batching).")
    var maxBatch = ServeOptions().maxBatch
    @Option(help: "How long the first prediction of a batch waits for others, in milliseconds.")
    var batchWindow = ServeOptions().batchWindowMilliseconds
    @Option(help: "Predictions that may wait for one model; more are answered 503.")
    var queue = ServeOptions().queueCapacity
    @Option(help: "The largest upload, in bytes (413 beyond).")
    var maxUpload = ServeOptions().maxUploadBytes
    @Option(help: "The largest image, in pixels by its header (413 beyond).")
    var maxPixels = ServeOptions().maxPixels
    @Option(name: .customLong("cache-mib"), help: "Memory for loaded models, in MiB; the least recently used are unloaded beyond it.")
    var cacheMiB = ServeOptions().cacheBytes >> 20
    @Option(help: "Threads of each forward pass.")
    var threads = ServeOptions().threads
    @Option(help: "Seconds a connection may stay idle, or stall in the middle of a request, before it is closed.")
    var idleTimeout = ServeOptions().idleTimeoutSeconds

    public init() {}

    public mutating func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be between 0 and 65535, found \(port)") }
        guard maxBatch >= 1, batchWindow >= 0, queue >= 1, maxUpload >= 1, maxPixels >= 1, cacheMiB >= 1, idleTimeout >= 1, (1...256).contains(threads) else {
            throw ValidationError("--max-batch, --queue, --max-upload, --max-pixels, --cache-mib, --idle-timeout and --threads must be at least 1 (threads at most 256), --batch-window at least 0")
        }
    }

    public func run() async throws {
        let console = Console()
        BLAS.setThreads(1)
        var options = ServeOptions()
        (options.threads, options.maxBatch, options.batchWindowMilliseconds, options.queueCapacity) = (threads, maxBatch, batchWindow, queue)
        (options.maxUploadBytes, options.maxPixels, options.cacheBytes, options.idleTimeoutSeconds) = (maxUpload, maxPixels, cacheMiB << 20, idleTimeout)
        let environment = Zoo.fromEnvironment()
        let served = zoo.map { Zoo(userRoot: FileSystem.absolute($0), repositoryRoot: environment.repositoryRoot) } ?? environment
        let server = Server(zoo: served, options: options)
        var logger = Logger(label: "dserve")
        logger.logLevel = .warning
        let host = self.host, port = self.port, batch = options.maxBatch
        let app = Application(
            router: server.router(),
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(options.idleTimeoutSeconds)))),
            configuration: .init(address: .hostname(host, port: port), serverName: "dserve"),
            onServerRunning: { channel in
                let shown = host.contains(":") ? "[\(host)]" : host
                console.out("dserve url=http://\(shown):\(channel.localAddress?.port ?? port)/ zoo=\(served.userRoot) max_batch=\(batch)")
            },
            logger: logger)
        var group = ServiceGroupConfiguration(services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        group.maximumGracefulShutdownDuration = .seconds(10)
        do {
            try await ServiceGroup(configuration: group).run()
        } catch {
            throw ExitCode(console.report(RunError(message: "dserve: \(error)", hint: "is the port in use? --port 0 picks a free one")))
        }
        console.out("dserve stopped")
    }
}
