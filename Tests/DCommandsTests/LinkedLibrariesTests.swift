import Foundation
import Testing

/// dtrain, dtest and dzoo link FoundationEssentials, not all of Foundation with its ICU-based
/// internationalisation: about 6 MB of every run's resident memory (docs/DEVELOPING.md). One
/// `import Foundation` in a library module, or a dependency's trait that imports it, brings it back.
@Suite struct LinkedLibrariesTests {
    @Test(arguments: ["dtrain", "dtest", "dzoo"])
    func noFoundationBeyondItsEssentials(_ tool: String) throws {
        let bin = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let r = try run("/usr/bin/ldd", [bin.appendingPathComponent(tool).path])
        #expect(r.status == 0, "\(r.err)")
        let foundation = r.out.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.contains("Foundation") }
        #expect(foundation.map { String($0.prefix { $0 != " " }) } == ["libFoundationEssentials.so"], "\(r.out)")
    }
}
