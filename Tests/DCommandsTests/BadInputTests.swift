import Foundation
import Testing

/// One line of Tests/BadInputs/cases.tsv: a malformed input, the command that reads it, and
/// what the command must answer. See the comment at the top of that file for the columns.
struct BadInputCase: CustomTestStringConvertible, Sendable {
    var name: String
    var status: Int32
    var stderr: String
    var environment: [String: String]
    var tool: String
    var arguments: [String]
    var line: Int

    var testDescription: String { name }

    /// The top-level directories of Tests/BadInputs the case needs.
    var directories: Set<String> {
        var parts: Set<String> = ["common", "idx"]
        for word in arguments + Array(environment.values) {
            var rest = Substring(word)
            while let r = rest.range(of: "$BAD/") {
                rest = rest[r.upperBound...]
                parts.insert(String(rest.prefix { $0 != "/" }))
            }
        }
        return parts
    }

    /// The directory holding the malformed files, next to this test's directory.
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("BadInputs").path
    /// The checkout, where the shipped ModelZoo/ is.
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    static let all: [BadInputCase] = {
        guard let text = try? String(contentsOfFile: directory + "/cases.tsv", encoding: .utf8) else { return [] }
        var cases: [BadInputCase] = []
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if raw.hasPrefix("#") || raw.allSatisfy(\.isWhitespace) { continue }
            let fields = raw.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            precondition(fields.count == 4, "cases.tsv:\(i + 1): expected 4 tab-separated fields, found \(fields.count)")
            var words = fields[3].split(separator: " ").map(String.init)
            var environment: [String: String] = [:]
            while let first = words.first, let eq = first.firstIndex(of: "="), first[..<eq].allSatisfy({ $0.isUppercase || $0 == "_" }) {
                environment[String(first[..<eq])] = String(first[first.index(after: eq)...])
                words.removeFirst()
            }
            cases.append(BadInputCase(name: fields[0], status: Int32(fields[1])!, stderr: fields[2], environment: environment,
                                      tool: words[0], arguments: Array(words.dropFirst()), line: i + 1))
        }
        return cases
    }()
}

/// Every file under `root`, relative, with its bytes (directories as nil), to see that a
/// command changed nothing.
func snapshot(_ root: String) -> [String: Data?] {
    var files: [String: Data?] = [:]
    guard let walker = FileManager.default.enumerator(atPath: root) else { return files }
    while let relative = walker.nextObject() as? String {
        let path = root + "/" + relative
        var isDirectory: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        files[relative] = isDirectory.boolValue ? nil : (FileManager.default.contents(atPath: path) ?? Data())
    }
    return files
}

/// Tests/BadInputs: each malformed file, read by the command that takes it, gives exit status
/// 1 (or as listed), the listed first line of stderr, no crash, and writes nothing: the output
/// directory (the working directory) and the user zoo stay empty and the inputs unchanged.
/// Each case runs on its own copy of (the parts it needs of) Tests/BadInputs ($BAD), in a fresh $OUT and a fresh zoo ($ZOO).
@Suite struct BadInputTests {
    @Test func theManifestHasEnoughCases() {
        #expect(BadInputCase.all.count >= 50)
        #expect(Set(BadInputCase.all.map(\.name)).count == BadInputCase.all.count, "case names must be unique")
    }

    @Test(arguments: BadInputCase.all)
    func badInput(_ c: BadInputCase) throws {
        let id = c.name.map { $0.isLetter || $0.isNumber ? $0 : "-" }
        let root = temporaryDirectory("bad-" + String(id))
        let bad = root + "/bad", out = root + "/out", zoo = root + "/zoo"
        // Only the format directories the case names (and common/ and idx/, which bad nets and
        // solvers point into) are copied, to keep the suite fast.
        try FileManager.default.createDirectory(atPath: bad, withIntermediateDirectories: true)
        for part in c.directories {
            try FileManager.default.copyItem(atPath: BadInputCase.directory + "/" + part, toPath: bad + "/" + part)
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: zoo, withIntermediateDirectories: true)
        func fill(_ s: String) -> String {
            s.replacingOccurrences(of: "$BAD", with: bad).replacingOccurrences(of: "$OUT", with: out).replacingOccurrences(of: "$ZOO", with: zoo)
                .replacingOccurrences(of: "$REPO", with: BadInputCase.repository)
        }
        let before = snapshot(bad)
        let r = try run(c.tool, c.arguments.map(fill), zoo: zoo, environment: c.environment.mapValues(fill), directory: out)
        let first = r.err.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? ""
        #expect(r.status == c.status, "cases.tsv:\(c.line) \(c.name): exit status; stderr: \(r.err)")
        #expect(first == fill(c.stderr), "cases.tsv:\(c.line) \(c.name): first line of stderr")
        #expect(snapshot(out).isEmpty, "cases.tsv:\(c.line) \(c.name): wrote into the output directory")
        #expect(snapshot(zoo).isEmpty, "cases.tsv:\(c.line) \(c.name): wrote into the zoo")
        #expect(snapshot(bad) == before, "cases.tsv:\(c.line) \(c.name): changed the inputs")
        try? FileManager.default.removeItem(atPath: root)
    }
}
