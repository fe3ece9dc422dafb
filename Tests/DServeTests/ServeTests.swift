import CSTBImage
import DCommands
@testable import DServe
import DZoo
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

let repositoryZoo = FileManager.default.currentDirectoryPath + "/ModelZoo"

/// The first `count` Fashion-MNIST test images as 28×28 PNGs (stb_image_write), and the
/// pixels each holds.
func testImages(_ count: Int) throws -> [(png: [UInt8], pixels: [UInt8])] {
    let file = try Data(contentsOf: URL(fileURLWithPath: "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"))
    let idx = try #require(gunzip(Array(file)))
    return (0..<count).map { i in
        let pixels = Array(idx[(16 + i * 784)..<(16 + (i + 1) * 784)])
        var png: [UInt8] = []
        withUnsafeMutablePointer(to: &png) { out in
            _ = pixels.withUnsafeBufferPointer { p in
                stbi_write_png_to_func({ context, data, size in
                    let out = context!.assumingMemoryBound(to: [UInt8].self)
                    out.pointee += UnsafeBufferPointer(start: data!.assumingMemoryBound(to: UInt8.self), count: Int(size))
                }, out, 28, 28, 1, p.baseAddress, 28)
            }
        }
        return (png, pixels)
    }
}

/// gzip through the system's gzip (the tests have no zlib binding of their own).
func gunzip(_ bytes: [UInt8]) -> [UInt8]? {
    let p = Process(), input = Pipe(), output = Pipe()
    p.executableURL = URL(fileURLWithPath: "/bin/gzip")
    p.arguments = ["-dc"]
    (p.standardInput, p.standardOutput) = (input, output)
    guard (try? p.run()) != nil else { return nil }
    let writer = Thread { input.fileHandleForWriting.write(Data(bytes)); try? input.fileHandleForWriting.close() }
    writer.start()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return p.terminationStatus == 0 ? Array(data) : nil
}

func server(_ configure: (inout ServeOptions) -> Void = { _ in }) -> Server {
    var options = ServeOptions()
    configure(&options)
    let user = NSTemporaryDirectory() + "dserve-tests-\(getpid())"
    return Server(zoo: Zoo(userRoot: user, repositoryRoot: repositoryZoo), options: options)
}

func application(_ s: Server) -> some ApplicationProtocol { Application(router: s.router()) }

func object(_ body: ByteBuffer) throws -> [String: Any] {
    try #require(JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any])
}

@Suite struct ServeAPITests {
    @Test func listsAndDescribesTheModels() async throws {
        try await application(server()).test(.router) { client in
            try await client.execute(uri: "/api/models", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "application/json")
                let list = try #require(JSONSerialization.jsonObject(with: Data(r.body.readableBytesView)) as? [[String: Any]])
                #expect(Set(list.compactMap { $0["name"] as? String }).isSuperset(of: ["xor", "fashion-lenet", "fashion-mlp", "char-lstm"]))
            }
            try await client.execute(uri: "/api/models/fashion-lenet", method: .get) { r in
                let card = try object(r.body)
                #expect(card["name"] as? String == "fashion-lenet" && (card["class_names"] as? [String])?.last == "Ankle boot")
                #expect(((card["metrics"] as? [String: Any])?["accuracy"] as? Double ?? 0) > 0.89)
            }
        }
    }

    /// Twenty test images, posted at once (batched as they arrive), give dtest --predict's
    /// classes and probabilities: ImageClassifier one image at a time is its code. Batched
    /// GEMMs may sum in another order: within 1e-5.
    @Test func predictionsAgreeWithDtestPredict() async throws {
        let images = try testImages(20)
        let entry = try Zoo(userRoot: "/nonexistent", repositoryRoot: repositoryZoo).entry("fashion-lenet")
        let reference = try ImageClassifier(entry: entry, threads: 1)
        let expected = try images.map { try reference.probabilities([$0.pixels])[0] }
        let s = server { $0.batchWindowMilliseconds = 50 }
        try await application(s).test(.router) { client in
            let bodies = try await withThrowingTaskGroup(of: (Int, ByteBuffer).self) { group in
                for (i, image) in images.enumerated() {
                    group.addTask {
                        try await client.execute(uri: "/api/models/fashion-lenet/predict", method: .post, body: ByteBuffer(bytes: image.png)) { r in
                            #expect(r.status == .ok, "\(String(buffer: r.body))")
                            return (i, r.body)
                        }
                    }
                }
                var all: [(Int, ByteBuffer)] = []
                for try await a in group { all.append(a) }
                return all.sorted { $0.0 < $1.0 }.map(\.1)
            }
            let answers = try bodies.map(object)
            for (answer, p) in zip(answers, expected) {
                let top = try #require(answer["top"] as? [[String: Any]])
                #expect(answer["model"] as? String == "fashion-lenet" && top.count == 5)
                let ranked = ImageClassifier.ranked(p, top: 5)
                #expect(top.compactMap { $0["class"] as? Int } == ranked)
                for (t, k) in zip(top, ranked) { #expect(abs((t["p"] as? Double ?? -1) - Double(p[k])) <= 1e-5) }
                #expect(top.first?["name"] as? String == entry.card.classNames[ranked[0]])
            }
        }
        let batches = await s.statistics("fashion-lenet")
        #expect(batches.images == 20, "\(batches)")
    }

    /// What a hostile or careless client sends gets its status, and the server answers the
    /// next request as before.
    @Test func badRequestsGetTheirStatus() async throws {
        let png = try testImages(1)[0].png
        var hugeHeader = png, widest = png  // the IHDR's width and height (big-endian at 16…23) claim 100 000 × 100 000, or 2³²−1 each
        hugeHeader.replaceSubrange(16..<24, with: [0, 1, 0x86, 0xA0, 0, 1, 0x86, 0xA0])
        widest.replaceSubrange(16..<24, with: [UInt8](repeating: 0xFF, count: 8))
        let cases: [(uri: String, body: [UInt8]?, status: Int, says: String)] = [
            ("/api/models/no-such-model", nil, 404, "no model is named 'no-such-model'"),
            ("/api/models/..%2F..%2Fetc%2Fpasswd/predict", png, 404, "no model is named"),
            ("/api/models/.hidden", nil, 404, "no model is named"),
            ("/models/..", nil, 404, "no model is named '..'"),
            ("/api/models/fashion-lenet/predict", Array(png.prefix(60)), 400, "cannot read the image"),
            ("/api/models/fashion-lenet/predict", Array("not an image".utf8), 400, "not an image that can be read"),
            ("/api/models/fashion-lenet/predict", [], 400, "not an image"),
            ("/api/models/fashion-lenet/predict", hugeHeader, 413, "100000×100000 pixels"),
            ("/api/models/fashion-lenet/predict", widest, 413, "4294967295×4294967295 pixels"),
            ("/api/models/fashion-lenet/predict", try Array(Data(contentsOf: URL(fileURLWithPath: "Tests/BadInputs/image/huge.png"))), 413, "2147483647×2147483647 pixels"),
            ("/api/models/fashion-lenet/predict", [UInt8](repeating: 0x50, count: 100 << 20), 413, ""),
            ("/api/models/char-lstm/predict", png, 422, "dserve takes images"),
        ]
        try await application(server()).test(.router) { client in
            for c in cases {
                try await client.execute(uri: c.uri, method: c.body == nil ? .get : .post, body: c.body.map { ByteBuffer(bytes: $0) }) { r in
                    #expect(r.status.code == c.status, "\(c.uri): \(r.status) \(String(buffer: r.body).prefix(300))")
                    #expect(c.says.isEmpty || String(buffer: r.body).contains(c.says), "\(c.uri): \(String(buffer: r.body).prefix(300))")
                }
                try await client.execute(uri: "/api/models/fashion-lenet/predict", method: .post, body: ByteBuffer(bytes: png)) { r in
                    #expect(r.status == .ok)
                }
            }
        }
    }

    /// A batch runs as soon as max_batch predictions wait; past the queue's capacity a
    /// prediction is 503 with Retry-After, never unbounded memory. The window is long, so that
    /// only the counts decide, however loaded the machine is.
    @Test func batchesFillAndAFullQueueIs503() async throws {
        let images = try testImages(4).map(\.pixels)
        let entry = try Zoo(userRoot: "/nonexistent", repositoryRoot: repositoryZoo).entry("fashion-lenet")
        var options = ServeOptions()
        (options.maxBatch, options.queueCapacity, options.batchWindowMilliseconds) = (4, 6, 60_000)
        let batcher = try Batcher(entry: entry, options: options)
        // Four at once: one forward pass when the fourth arrives.
        let answers = try await withThrowingTaskGroup(of: [Float].self) { group in
            for image in images { group.addTask { try await batcher.classify(image) } }
            return try await group.reduce(into: [[Float]]()) { $0.append($1) }
        }
        #expect(answers.count == 4)
        var statistics = await batcher.statistics
        #expect(statistics.batches == 1 && statistics.images == 4, "\(statistics)")
        // Six waiting (fewer than a batch, and the window holds them), then a seventh.
        (options.maxBatch, options.queueCapacity) = (64, 6)
        let held = try Batcher(entry: entry, options: options)
        let waiting = Task {
            try await withThrowingTaskGroup(of: [Float].self) { group in
                for i in 0..<6 { group.addTask { try await held.classify(images[i % 4]) } }
                return try await group.reduce(into: 0) { n, _ in n += 1 }
            }
        }
        while await held.queue.count < 6 { try await Task.sleep(for: .milliseconds(5)) }
        do {
            _ = try await held.classify(images[0])
            Issue.record("a seventh prediction was queued")
        } catch let error as HTTPError {
            #expect(error.status == .serviceUnavailable && error.headers[.retryAfter] == "1")
        }
        await held.flush()
        #expect(try await waiting.value == 6)
        statistics = await held.statistics
        #expect(statistics.batches == 1 && statistics.images == 6, "\(statistics)")
    }

    @Test func pagesShowTheModelsAndTheUploadForm() async throws {
        try await application(server()).test(.router) { client in
            try await client.execute(uri: "/", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "text/html; charset=utf-8")
                #expect(String(buffer: r.body).contains("<a href=\"/models/fashion-lenet\">fashion-lenet</a>"))
            }
            try await client.execute(uri: "/models/fashion-lenet", method: .get) { r in
                let page = String(buffer: r.body)
                #expect(page.contains("<img src=\"/models/fashion-lenet/curves.svg\"") && page.contains("<form id=\"upload\">"))
                #expect(page.contains("<img src=\"/models/fashion-lenet/filters.png\"") && page.contains("<a href=\"/models/fashion-lenet/confusion\">"))
                #expect(page.contains("fetch('/api/models/fashion-lenet/predict'"))
                #expect(!page.contains("http://") && !page.contains("https://"), "everything is served locally")
            }
            try await client.execute(uri: "/models/fashion-lenet/curves.svg", method: .get) { r in
                #expect(r.status == .ok && r.headers[.contentType] == "image/svg+xml")
                #expect(String(buffer: r.body).hasPrefix("<svg") || String(buffer: r.body).hasPrefix("<?xml"))
            }
            try await client.execute(uri: "/models/fashion-lenet/filters.png", method: .get) { r in
                // conv1's 20 filters, 5×5 enlarged 4 times, 5 to a row, with 1-pixel gaps around.
                #expect(r.status == .ok && r.headers[.contentType] == "image/png")
                let size = try #require(ImageFile.size(of: Array(r.body.readableBytesView)))
                #expect(size.width == 5 * 20 + 6 && size.height == 4 * 20 + 5, "\(size)")
            }
            try await client.execute(uri: "/models/char-lstm", method: .get) { r in
                #expect(String(buffer: r.body).contains("This model does not classify images.") && !String(buffer: r.body).contains("filters.png"))
            }
            // dtest's numbers: the test set's size, accuracy and per-class counts.
            try await client.execute(uri: "/models/fashion-lenet/confusion", method: .get) { r in
                let page = String(buffer: r.body)
                #expect(r.status == .ok && page.contains("<p>10000 samples: accuracy 0.9026"), "\(page.prefix(600))")
                #expect(page.contains("<th>Ankle boot</th>"))
            }
            try await client.execute(uri: "/runs", method: .get) { r in
                #expect(r.status == .ok && String(buffer: r.body).contains("<meta http-equiv=\"refresh\" content=\"5\">"))
            }
        }
    }

    /// A run in progress (its metrics file has no `done` line yet) shows on /runs with its
    /// curves; once done, it leaves.
    @Test func runsInProgressShowWithTheirCurves() async throws {
        let user = NSTemporaryDirectory() + "dserve-runs-\(getpid())"
        try? FileManager.default.removeItem(atPath: user)
        try FileManager.default.createDirectory(atPath: user + "/lenet-run", withIntermediateDirectories: true)
        let lines = try String(contentsOfFile: repositoryZoo + "/fashion-lenet/fashion-lenet_metrics.jsonl", encoding: .utf8).split(separator: "\n")
        let metrics = user + "/lenet-run/lenet-run_metrics.jsonl"
        try (lines.prefix(40).joined(separator: "\n") + "\n").write(toFile: metrics, atomically: true, encoding: .utf8)
        let app = Application(router: Server(zoo: Zoo(userRoot: user, repositoryRoot: repositoryZoo), options: ServeOptions()).router())
        try await app.test(.router) { client in
            try await client.execute(uri: "/runs", method: .get) { r in
                let page = String(buffer: r.body)
                #expect(page.contains("<h2>lenet-run</h2>") && page.contains("<img src=\"/runs/lenet-run/curves.svg\""), "\(page)")
            }
            try await client.execute(uri: "/runs/lenet-run/curves.svg", method: .get) { r in
                #expect(r.status == .ok && String(buffer: r.body).contains("lenet-run"))
            }
            try (lines.joined(separator: "\n") + "\n").write(toFile: metrics, atomically: true, encoding: .utf8)
            try await client.execute(uri: "/runs", method: .get) { r in
                #expect(!String(buffer: r.body).contains("lenet-run"))
            }
            try await client.execute(uri: "/runs/lenet-run/curves.svg", method: .get) { r in #expect(r.status == .notFound) }
        }
    }
}

/// The executable, over real sockets.
@Suite struct ServeProcessTests {
    /// A running dserve on a free port, its URL, and its output so far.
    struct Running {
        let process: Process, output: FileHandle, url: String, port: UInt16
        var text: String

        init(_ arguments: [String] = []) throws {
            let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().path
            process = Process()
            let out = Pipe()
            process.executableURL = URL(fileURLWithPath: bin + "/dserve")
            process.arguments = ["--port", "0", "--zoo", NSTemporaryDirectory() + "dserve-process-\(getpid())"] + arguments
            process.environment = ["DENDRITE_MODELZOO": repositoryZoo, "PATH": "/usr/bin:/bin"]
            process.standardOutput = out
            try process.run()
            output = out.fileHandleForReading
            var text = ""
            while !text.contains("\n"), case let data = output.availableData, !data.isEmpty { text += String(decoding: data, as: UTF8.self) }
            self.text = text
            url = try #require(text.split(separator: " ").first { $0.hasPrefix("url=") }.map { String($0.dropFirst(4)) }, "\(text)")
            port = try #require(UInt16(url.split(separator: ":").last?.prefix { $0.isNumber } ?? ""))
        }

        /// A connected TCP socket to the server.
        func connect() throws -> Int32 {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_port = port.bigEndian
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            let status = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            try #require(status == 0)
            return fd
        }

        /// GET `path`, blocking this thread (an await could wait for a free thread of the
        /// test pool, which the suite's long tests hold): the whole answer, head and body.
        func get(_ path: String) throws -> String {
            let fd = try connect()
            defer { close(fd) }
            let request = Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".utf8)
            _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
            var answer: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 65536)
            while case let n = recv(fd, &buffer, buffer.count, 0), n > 0 { answer += buffer.prefix(n) }
            return String(decoding: answer, as: UTF8.self)
        }

        /// SIGINT, then the exit status and the rest of the output.
        mutating func interrupt() -> Int32 {
            kill(process.processIdentifier, SIGINT)
            process.waitUntilExit()
            text += String(decoding: output.readDataToEndOfFile(), as: UTF8.self)
            return process.terminationStatus
        }
    }

    @Test func startsServesAndStopsOnSIGINT() throws {
        var server = try Running()
        #expect(server.url.hasPrefix("http://127.0.0.1:"))
        let answer = try server.get("/api/models/xor")
        #expect(answer.hasPrefix("HTTP/1.1 200 OK\r\n") && answer.contains("\"name\":\"xor\""), "\(answer)")
        #expect(server.interrupt() == 0)
        #expect(server.text.hasSuffix("dserve stopped\n"), "\(server.text)")
    }

    /// Slow clients (a request that stops halfway, a connection that says nothing) neither
    /// hold up other clients nor stay open past the idle timeout.
    @Test func slowClientsAreClosedAndDoNotHoldOthersUp() throws {
        var server = try Running(["--idle-timeout", "3"])
        let halfway = Array("POST /api/models/fashion-lenet/predict HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n\u{89}PNG".utf8)
        var stalled: [Int32] = []
        for i in 0..<16 {
            let fd = try server.connect()
            if i % 2 == 0 { _ = halfway.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) } }
            stalled.append(fd)
        }
        let clock = ContinuousClock(), start = clock.now
        #expect(try server.get("/api/models/fashion-lenet").hasPrefix("HTTP/1.1 200 OK\r\n"))
        #expect(clock.now - start < .seconds(2), "a normal request waited behind the stalled ones")
        // Soon after the 3-second idle timeout, every stalled connection is closed.
        for fd in stalled {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            #expect(poll(&poller, 1, 10_000) == 1, "a stalled connection is still open after 10 s")
            var byte: UInt8 = 0
            #expect(recv(fd, &byte, 1, 0) <= 0, "the server sent something instead of closing")
            close(fd)
        }
        #expect(server.interrupt() == 0)
    }
}
