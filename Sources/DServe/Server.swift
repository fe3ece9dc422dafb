#if canImport(Glibc)
import Glibc
#endif
import DCommands
import DNet
import DZoo
import Hummingbird
import Synchronization

/// dserve's routes over a zoo: the pages, the JSON API and the predictions. A model name from
/// a URL only ever goes through `Zoo.entry`, which takes nothing but a plain name; nothing else
/// in a URL touches the file system, and no directory is listed.
public struct Server: Sendable {
    public let zoo: Zoo
    public let options: ServeOptions
    let pool: ModelPool
    let entries: EntryCache
    let reports: Reports

    public init(zoo: Zoo, options: ServeOptions) {
        self.zoo = zoo
        self.options = options
        pool = ModelPool(options: options)
        entries = EntryCache(zoo: zoo)
        reports = Reports(threads: options.threads)
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router()
        router.get("/") { _, _ in html(Pages.index(zoo.entries().entries)) }
        router.get("/models/:name") { _, context in
            let e = try entry(context)
            // Loaded now: the upload is what the page is for, and the filters come from the net.
            let batcher = e.card.inputShape.count == 3 && e.card.inputType == .bytes ? try? await pool.batcher(for: e) : nil
            let filters = await batcher?.filters() != nil
            return html(Pages.model(e, hasCurves: metricsFile(e) != nil, takesImages: batcher != nil, hasFilters: filters))
        }
        router.get("/models/:name/filters.png") { _, context in
            let e = try entry(context)
            guard let png = await (try? await pool.batcher(for: e))?.filters() else {
                throw HTTPError(.notFound, message: "'\(e.name)' has no first layer that can be drawn")
            }
            return Response(status: .ok, headers: [.contentType: "image/png"], body: .init(byteBuffer: ByteBuffer(bytes: png)))
        }
        router.get("/models/:name/confusion") { _, context in
            let e = try entry(context)
            let report: TestSetReport?
            do { report = try await reports.report(e) } catch { throw HTTPError(.unprocessableContent, message: Self.describe(error)) }
            guard let report else { throw HTTPError(.notFound, message: "'\(e.name)' has no class scores to count") }
            return html(Pages.confusion(e, report))
        }
        router.get("/models/:name/curves.svg") { _, context in
            let e = try entry(context)
            guard let path = metricsFile(e) else { throw HTTPError(.notFound, message: "'\(e.name)' has no metrics file") }
            return try curves(path, title: e.name)
        }
        router.get("/runs") { _, _ in html(Pages.runs(runs())) }
        router.get("/runs/:name/curves.svg") { _, context in
            let name = try context.parameters.require("name")
            guard let run = runs(named: name).first else { throw HTTPError(.notFound, message: "no run in progress is named '\(name)'") }
            return try curves(run.metricsPath, title: run.name)
        }
        router.get("/api/models") { _, _ in
            json(JSONText.array(zoo.entries().entries.map(modelJSON)))
        }
        router.get("/api/models/:name") { _, context in json(modelJSON(try entry(context))) }
        router.post("/api/models/:name/predict") { request, context in
            let e = try entry(context)
            // 413 beyond the limit: Hummingbird answers NIOTooManyBytesError so.
            let body = try await request.body.collect(upTo: options.maxUploadBytes)
            let bytes = Array(body.readableBytesView)
            let top = min(max(request.uri.queryParameters.get("top", as: Int.self) ?? 5, 1), 1000)
            let batcher = try await load(e)
            guard let size = ImageFile.size(of: bytes) else {
                throw HTTPError(.badRequest, message: "the body is not an image that can be read (PNG, JPEG, binary PGM/PPM, BMP, GIF)")
            }
            let pixels = size.width.multipliedReportingOverflow(by: size.height)
            guard !pixels.overflow, pixels.partialValue <= options.maxPixels else {
                throw HTTPError(.contentTooLarge, message: "the image is \(size.width)×\(size.height) pixels, more than the \(options.maxPixels) dserve reads")
            }
            let image: [UInt8]
            do {
                image = try ImageFile.decode(bytes, name: "the upload", channels: batcher.channels, height: batcher.height, width: batcher.width)
            } catch {
                throw HTTPError(.badRequest, message: Self.describe(error))
            }
            let p = try await batcher.classify(image)
            let names = e.card.classNames
            let ranked = ImageClassifier.ranked(p, top: top).map { k in
                JSONText.object([("class", String(k)), ("name", JSONText.string(k < names.count ? names[k] : String(k))), ("p", JSONText.number(Double(p[k])))])
            }
            return json(JSONText.object([("model", JSONText.string(e.name)), ("top", JSONText.array(ranked))]))
        }
        return router
    }

    /// Forward passes and images of a loaded model (zeros when it is not loaded).
    public func statistics(_ name: String) async -> (batches: Int, images: Int) {
        guard let b = await pool.loaded[name] else { return (0, 0) }
        return await b.statistics
    }

    /// The entry the URL names: 404 for a name that is not a model (or not a name at all).
    func entry(_ context: BasicRequestContext) throws -> Zoo.Entry {
        let name = try context.parameters.require("name")
        do { return try entries.entry(name) } catch { throw HTTPError(.notFound, message: "no model is named '\(name)'") }
    }

    /// The loaded model; a model that cannot classify images (or whose files are damaged) is 422.
    func load(_ e: Zoo.Entry) async throws -> Batcher {
        do { return try await pool.batcher(for: e) } catch {
            throw HTTPError(.unprocessableContent, message: Self.describe(error))
        }
    }

    static func describe(_ error: any Error) -> String {
        switch error {
        case let e as FileError: return "\(e.path): \(e.message)"
        case let e as RunError: return e.message
        default: return "\(error)"
        }
    }

    func metricsFile(_ e: Zoo.Entry) -> String? {
        e.card.files.map(\.path).first { $0.hasSuffix("_metrics.jsonl") }.map(e.path)
    }

    func curves(_ path: String, title: String) throws -> Response {
        let text: [UInt8]
        do { text = try AtomicFile.read(path) } catch { throw HTTPError(.notFound, message: "cannot read the metrics of '\(title)'") }
        return Response(status: .ok, headers: [.contentType: "image/svg+xml", .cacheControl: "no-cache"],
                        body: .init(byteBuffer: ByteBuffer(string: LearningCurves.svg(metrics: String(decoding: text, as: UTF8.self), title: title))))
    }

    /// The user zoo's runs in progress (only `name`'s, when given): a directory whose
    /// `*_metrics.jsonl` has no `done` line at its end yet.
    func runs(named only: String? = nil) -> [Run] {
        var found: [Run] = []
        let now = Int(time(nil))
        for name in only.map({ [$0] }) ?? FileSystem.list(zoo.userRoot).sorted() where Zoo.isValidName(name) {
            let directory = "\(zoo.userRoot)/\(name)"
            for file in FileSystem.list(directory).sorted() where file.hasSuffix("_metrics.jsonl") {
                let path = "\(directory)/\(file)"
                guard let signature = FileSystem.signature(path), let bytes = try? AtomicFile.read(path) else { continue }
                let lines = String(decoding: bytes, as: UTF8.self).split(separator: "\n")
                guard !(lines.last ?? "").contains("\"event\":\"done\"") else { continue }
                let iteration = lines.reversed().lazy.compactMap { Self.iteration(in: $0) }.first
                found.append(Run(name: name, metricsPath: path, iteration: iteration, secondsAgo: max(0, now - signature.modified / 1_000_000_000)))
            }
        }
        return found
    }

    static func iteration(in line: Substring) -> Int? {
        guard let r = line.range(of: "\"iteration\":") else { return nil }
        return Int(line[r.upperBound...].prefix { $0.isNumber })
    }

    func modelJSON(_ e: Zoo.Entry) -> String {
        let c = e.card
        var fields: [(String, String)] = [
            ("name", JSONText.string(e.name)), ("zoo", JSONText.string(e.place.rawValue)), ("dataset", JSONText.string(c.datasetName)),
            ("description", JSONText.string(c.description)), ("date", JSONText.string(c.provenance.date)),
            ("size", String(c.totalBytes)),
            ("class_names", JSONText.array(c.classNames.map(JSONText.string))),
            ("input", JSONText.object([("shape", JSONText.array(c.inputShape.map(String.init))), ("data_type", JSONText.string(c.inputType.rawValue)),
                                       ("scale", JSONText.number(c.scale)), ("mean_value", JSONText.array(c.meanValues.map(JSONText.number)))])),
        ]
        if let m = c.metrics {
            fields.append(("metrics", JSONText.object([("iteration", String(m.iteration)), ("net", JSONText.string(m.net)), ("samples", String(m.samples))]
                                                       + m.values.map { ($0.name, JSONText.number($0.value)) })))
        }
        return JSONText.object(fields)
    }
}

/// Zoo entries by name, read again only when the card that the name resolves to changes:
/// reading and parsing a card for every request would cost more than LeNet's forward pass.
final class EntryCache: Sendable {
    let zoo: Zoo
    let cards = Mutex<[String: (card: String, signature: [Int], entry: Zoo.Entry)]>([:])

    init(zoo: Zoo) { self.zoo = zoo }

    func entry(_ name: String) throws(FileError) -> Zoo.Entry {
        // The card the name resolves to now (the user zoo's first), and its size and time.
        let card = Zoo.isValidName(name)
            ? [zoo.userRoot, zoo.repositoryRoot].compactMap { $0 }.map { "\($0)/\(name)/\(ModelCard.fileName)" }.first(where: FileSystem.isRegularFile) : nil
        guard let card, let s = FileSystem.signature(card) else { return try zoo.entry(name) }
        if let cached = cards.withLock({ $0[name] }), cached.card == card, cached.signature == [s.size, s.modified] { return cached.entry }
        let entry = try zoo.entry(name)
        cards.withLock { $0[name] = (card, [s.size, s.modified], entry) }
        return entry
    }
}

func html(_ text: String) -> Response {
    Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8"], body: .init(byteBuffer: ByteBuffer(string: text)))
}

func json(_ text: String) -> Response {
    Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
}
