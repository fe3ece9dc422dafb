@testable import DConfig
import Testing

@Suite struct YAMLTests {
    @Test func keepsLineAndColumnOfEveryNode() throws {
        let root = try YAML.parse("name: x\nlayer:\n  - name: a\n    type: ReLU\n", file: "n.yaml")
        guard case .mapping(let pairs) = root.value, case .sequence(let items) = pairs[1].value.value,
              case .mapping(let layer) = items[0].value else { Issue.record("unexpected structure"); return }
        #expect(pairs[1].key.location == ConfigLocation(file: "n.yaml", line: 2, column: 1))
        #expect(layer[1].value.location == ConfigLocation(file: "n.yaml", line: 4, column: 11))
        #expect(layer[1].value.scalar == "ReLU")
    }

    @Test func malformedYAMLIsLocated() {
        #expect(throws: ConfigError.self) { try YAML.parse("a: [1, 2\nb: 3\n", file: "bad.yaml") }
        do {
            _ = try YAML.parse("a: b: c\n", file: "bad.yaml")
            Issue.record("parsed malformed YAML")
        } catch {
            #expect(error.headline == "bad.yaml:1:5: error: invalid YAML: mapping values are not allowed in this context")
            #expect(error.hint == "check the indentation and that every ':' in a value is quoted")
        }
    }

    @Test func duplicateKeyIsAnError() {
        do {
            _ = try YAML.parse("stride: 1\npad: 0\nstride: 2\n", file: "d.yaml")
            Issue.record("accepted a duplicate key")
        } catch {
            #expect(error.headline == "d.yaml:3:1: error: duplicate key 'stride' (first at line 1)")
            #expect(error.hint == "a repeated Caffe field is a YAML list: stride: [a, b]")
        }
    }

    /// A scalar key given twice is not a list in disguise: the hint says where both are.
    @Test func duplicateScalarKeySaysWhereBothAre() {
        do {
            _ = try YAML.parse("net: n.yaml\nbase_lr: 0.1\nmax_iter: 5\nbase_lr: 0.01\n", file: "s.yaml")
            Issue.record("accepted a duplicate key")
        } catch {
            #expect(error.headline == "s.yaml:4:1: error: duplicate key 'base_lr' (first at line 2)")
            #expect(error.hint == "'base_lr' is given twice, at lines 2 and 4: keep one")
        }
        do {
            _ = try YAML.parse("a: {gamma: 1, gamma: 2}\n", file: "s.yaml")
            Issue.record("accepted a duplicate key")
        } catch {
            #expect(error.hint == "'gamma' is given twice, on line 1 at columns 5 and 15: keep one")
        }
    }

    @Test func selfReferentialAliasIsRefused() {
        #expect(throws: ConfigError.self) { try YAML.parse("a: &x [*x]\n", file: "a.yaml") }
    }

    /// What parse refuses, as "file:line:column: error: message".
    static func refusal(_ text: String) -> String {
        do { _ = try YAML.parse(text, file: "y.yaml"); return "accepted" } catch { return error.headline }
    }

    @Test func aliasesStandForTheirAnchorsNodes() throws {
        let root = try YAML.parse("f: &x {type: gaussian, std: 0.01}\ng: *x\nh: &s 5\ni: [*s, *s]\n", file: "a.yaml")
        #expect(root.child("g")?.child("std")?.scalar == "0.01" && root.child("g")?.child("type")?.scalar == "gaussian")
        guard case .sequence(let items) = root.child("i")?.value else { Issue.record("not a list"); return }
        #expect(items.map(\.scalar) == ["5", "5"])
        #expect(Self.refusal("a: *nowhere\n") == "y.yaml:1:4: error: the alias *nowhere names no anchor before it")
    }

    /// Nesting is refused when the 65th level opens, not after libyaml has built the rest.
    @Test func deepNestingIsRefusedAtTheLevelThatIsTooDeep() {
        #expect(Self.refusal(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)) == "accepted")
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(Self.refusal(deep) == "y.yaml:1:65: error: the YAML is nested more than 64 levels deep")
        #expect(Self.refusal("a:\n" + (1...70).map { String(repeating: " ", count: 2 * $0) + "k\($0):\n" }.joined())
            .hasPrefix("y.yaml:65:"))
    }

    /// The billion laughs: nine levels of ten aliases each would be 10⁹ nodes.
    @Test func aliasBombsAreRefusedByTheirExpandedSize() {
        var bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for (level, name) in "bcdefghij".enumerated() {
            let previous = level == 0 ? "a" : String(Array("bcdefghij")[level - 1])
            bomb += "\(name): &\(name) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        // 11 nodes for a, 111 for b, …: e has 111,111 and passes; f, at 1,111,111, goes over.
        #expect(Self.refusal(bomb).hasPrefix("y.yaml:6:"), "\(Self.refusal(bomb))")
        #expect(Self.refusal(bomb).contains("error: the YAML expands to more than 1000000 nodes"))
    }

    @Test func aSecondDocumentIsAnError() {
        #expect(Self.refusal("base_lr: 0.1\n---\nbase_lr: 0.2\n") == "y.yaml:2:1: error: a second YAML document; a config file holds one")
        #expect(Self.refusal("---\nbase_lr: 0.1\n...\n") == "accepted")
    }

    @Test func emptyDocumentIsAnEmptyMapping() throws {
        guard case .mapping(let pairs) = try YAML.parse("", file: "e.yaml").value else { Issue.record("not a mapping"); return }
        #expect(pairs.isEmpty)
    }

    /// A scalar node's text and `plain` flag.
    struct Scalar: Equatable {
        var text: String
        var plain: Bool
    }

    /// nil for a missing node, a list or a mapping.
    static func scalar(_ node: YAMLNode?) -> Scalar? {
        guard let node, case .scalar(let text, let plain) = node.value else { return nil }
        return Scalar(text: text, plain: plain)
    }

    /// The keys and values of a mapping node; nil for a scalar or a list.
    static func pairs(_ node: YAMLNode) -> [(key: YAMLNode, value: YAMLNode)]? {
        guard case .mapping(let pairs) = node.value else { return nil }
        return pairs
    }

    @Test func quotedScalarsAreNotPlain() throws {
        let root = try YAML.parse("a: '5'\nb: 5\n", file: "q.yaml")
        let pairs = try #require(Self.pairs(root), "not a mapping: \(root.kindDescription)")
        try #require(pairs.count == 2)
        #expect(pairs[0].key.scalar == "a")
        #expect(pairs[1].key.scalar == "b")
        let quoted = try #require(Self.scalar(pairs[0].value)), bare = try #require(Self.scalar(pairs[1].value))
        #expect(quoted == Scalar(text: "5", plain: false))
        #expect(bare == Scalar(text: "5", plain: true))
    }

    @Test func blockTextReadsBackAsTheSameTree() throws {
        let text = """
            name: "a: net"
            layer:
              - {name: data, type: Input, top: data, input_param: {shape: {dim: [1, 2]}}}
              - name: conv
                type: Convolution
                bottom: data
                top: conv
                convolution_param: {num_output: 20, kernel_size: 5, weight_filler: {type: xavier}, bias_filler: {type: constant, value: 0.5}}
                note: '5'
              - []
            empty: {}
            """
        let node = try YAML.parse(text, file: "n.yaml")
        let block = YAMLText.block(node)
        // Flow style where a line fits, block style where it does not; quoted scalars stay strings.
        #expect(block.hasPrefix("name: \"a: net\"\nlayer:\n  - {name: data, type: Input, top: data, input_param: {shape: {dim: [1, 2]}}}\n  - name: conv\n    type: Convolution\n"))
        #expect(block.contains("\n    convolution_param:\n      num_output: 20\n"))
        #expect(block.contains("\n    note: \"5\"\n"))
        #expect(block.hasSuffix("  - []\nempty: {}\n"))
        #expect(YAMLText.flow(try YAML.parse(block, file: "copy.yaml")) == YAMLText.flow(node))
    }

    @Test func replacingScalarsByLocation() throws {
        let node = try YAML.parse("a: {images: x.gz, labels: y.gz}\nb: x.gz\n", file: "n.yaml")
        let replaced = node.replacing([ConfigLocation(file: "n.yaml", line: 1, column: 13): "/data/x.gz"])
        #expect(YAMLText.flow(replaced) == "{a: {images: \"/data/x.gz\", labels: y.gz}, b: x.gz}")
    }
}

@Suite struct ConfigMapTests {
    func map(_ text: String) throws(ConfigError) -> ConfigMap {
        try ConfigMap(try YAML.parse(text, file: "m.yaml"), context: "layer 'conv1' (Convolution)")
    }

    @Test func unknownKeyGetsDidYouMean() throws {
        let m = try map("kernel_size: 5\nkernal_size: 3\n")
        _ = try m.int("kernel_size")
        _ = try m.int("stride")
        #expect(throws: ConfigError(at: ConfigLocation(file: "m.yaml", line: 2, column: 1),
                                    "layer 'conv1' (Convolution): unknown key 'kernal_size'",
                                    hint: "did you mean 'kernel_size'?")) { try m.finish() }
    }

    @Test func unknownKeyWithoutCloseMatchListsKnownKeys() throws {
        let m = try map("zzz: 1\n")
        _ = try m.int("stride")
        _ = try m.int("pad")
        do { try m.finish(); Issue.record("accepted an unknown key") } catch {
            #expect(error.hint == "known keys: stride, pad")
        }
    }

    @Test func wrongTypeIsLocatedAtTheValue() throws {
        let m = try ConfigMap(try YAML.parse("inner_product_param:\n  num_output: five hundred\n", file: "m.yaml"),
                              context: "layer 'ip1' (InnerProduct)")
        let p = try #require(try m.map("inner_product_param"))
        #expect(throws: ConfigError(at: ConfigLocation(file: "m.yaml", line: 2, column: 15),
                                    "layer 'ip1' (InnerProduct): inner_product_param.num_output: expected an integer, found 'five hundred'")) {
            try p.int("num_output")
        }
    }

    @Test func numbersAndBooleans() throws {
        let m = try map("a: 1e4\nb: 0.5\nc: true\nd: no\ne: 3\n")
        #expect(try m.int("a") == 10000)
        #expect(try m.double("b") == 0.5)
        #expect(try m.bool("c", default: false))
        #expect(try !m.bool("d", default: true))
        #expect(try m.double("e") == 3)
        #expect(throws: ConfigError.self) { try m.int("b") }
        #expect(throws: ConfigError.self) { try m.bool("e", default: false) }
    }

    @Test func lowerBoundsAreChecked() throws {
        let m = try map("batch_size: 0\n")
        #expect(throws: ConfigError(at: ConfigLocation(file: "m.yaml", line: 1, column: 13),
                                    "layer 'conv1' (Convolution): batch_size: must be at least 1, found 0")) {
            try m.int("batch_size", default: 1, min: 1)
        }
    }

    @Test func choiceSuggestsTheClosestValue() throws {
        enum Pool: String, CaseIterable { case max = "MAX", ave = "AVE" }
        let m = try map("pool: MAXX\n")
        do { _ = try m.choice("pool", default: Pool.max); Issue.record("accepted MAXX") } catch {
            #expect(error.message == "layer 'conv1' (Convolution): pool: expected one of MAX, AVE, found 'MAXX'")
            #expect(error.hint == "did you mean 'MAX'?")
        }
    }

    @Test func scalarOrListForRepeatedFields() throws {
        let m = try map("top: a\nbottom: [b, c]\n")
        #expect(try m.strings("top") == ["a"])
        #expect(try m.strings("bottom") == ["b", "c"])
        #expect(try m.strings("absent") == [])
    }

    @Test func nullValueIsReported() throws {
        let m = try map("num_output:\n")
        #expect(throws: ConfigError(at: ConfigLocation(file: "m.yaml", line: 1, column: 12),
                                    "layer 'conv1' (Convolution): num_output: expected an integer, found nothing")) {
            try m.int("num_output")
        }
    }

    @Test func missingRequiredKey() throws {
        let m = try map("type: x\n")
        #expect(throws: ConfigError(at: ConfigLocation(file: "m.yaml", line: 1, column: 1),
                                    "layer 'conv1' (Convolution): missing required key 'name'")) {
            try m.requiredString("name")
        }
    }

    @Test func suggestionDistance() {
        #expect(Suggestion.closest(to: "momentun", in: ["momentum", "max_iter"]) == "momentum")
        #expect(Suggestion.closest(to: "xyz", in: ["momentum"]) == nil)
        #expect(Suggestion.closest(to: "convolution", in: ["Convolution", "Pooling"]) == "Convolution")
    }
}
