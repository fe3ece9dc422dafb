import DConfig
import DCore
import DData
import DLayers
import DNet
import DZoo
#if canImport(Glibc)
import Glibc
#endif

extension TestCommand {
    // MARK: --generate

    /// The text `--generate` prints (without the final newline): the prime as given, then the
    /// characters drawn after it.
    func generateText(_ member: Member, threads: Int) throws -> String {
        let prime = self.prime ?? ""
        let (net, vocabulary, label) = try characterModel(member, threads: threads)
        guard let inputNode = net.nodes.first(where: { $0.type == "Input" }),
              let data = inputNode.tops.first(where: { net.blobs[$0].name != "cont" }) else {
            throw RunError(message: "\(label): the deploy net has no Input layer to feed characters to")
        }
        let cont = inputNode.tops.first { net.blobs[$0].name == "cont" }
        guard let prob = net.blob(named: DeployNet.probabilities) else {
            throw RunError(message: "\(label): the deploy net has no '\(DeployNet.probabilities)' top to draw characters from",
                           hint: "--generate needs a net whose SoftmaxWithLoss scores the next character")
        }
        for blob in [data] + (cont.map { [$0] } ?? []) where net.blobs[blob].shape.count != 1 {
            throw RunError(message: "\(label): the deploy net's input '\(net.blobs[blob].name)' has shape \(net.blobs[blob].shape), not one step of one stream [1, 1]")
        }
        guard net.blobs[prob].shape.count == vocabulary.count else {
            throw RunError(message: "\(label): the deploy net's '\(DeployNet.probabilities)' has shape \(net.blobs[prob].shape), not one probability for each of the \(vocabulary.count) characters of the vocabulary",
                           hint: "the vocabulary must be the one the model was trained with")
        }

        var index: [UInt32: Int] = [:]
        for (k, s) in vocabulary.enumerated() { index[s.value] = k }
        var fed: [Int] = [], unknown: [Unicode.Scalar] = []
        for s in prime.unicodeScalars {
            if let k = index[s.value] { fed.append(k) } else if !unknown.contains(s) { unknown.append(s) }
        }
        if !unknown.isEmpty && !skipUnknown {
            let listed = unknown.map(Self.describe).joined(separator: ", ")
            throw RunError(message: "the prime has \(unknown.count == 1 ? "a character" : "characters") that \(label) never saw in training: \(listed)",
                           hint: "use only the \(vocabulary.count) characters of its vocabulary (\(Self.preview(vocabulary))), or pass --skip-unknown to leave them out")
        }
        guard !fed.isEmpty else {
            throw RunError(message: "no character of the prime is in the vocabulary of \(label), so there is nothing to start from",
                           hint: "its vocabulary: \(Self.preview(vocabulary))")
        }

        let step = StepContext(phase: .test, parallel: Parallel(threads: threads))
        var first = true
        func feed(_ k: Int) throws -> [Float] {
            net.data(data).base[0] = Float(k)
            if let cont { net.data(cont).base[0] = first ? 0 : 1 }
            first = false
            _ = try net.forward(step)
            return net.data(prob).toArray()
        }
        var p: [Float] = []
        for k in fed { p = try feed(k) }
        var rng = RandomStream(seed: seed, purpose: "generate")
        let t = temperature ?? 1
        var drawn = String.UnicodeScalarView()
        for n in 0..<(length ?? Self.defaultLength) {
            let k = Self.draw(p, temperature: t, &rng)
            drawn.append(vocabulary[k])
            if n + 1 < (length ?? Self.defaultLength) { p = try feed(k) }
        }
        return prime + String(drawn)
    }

    /// Index k with probability p_k^(1/T) / Σ_j p_j^(1/T) (= softmax(logits/T) when p is
    /// softmax(logits)), computed in logarithms so that a low temperature does not underflow.
    /// Characters whose probability is 0 (in Float) are never drawn.
    static func draw(_ p: [Float], temperature: Double, _ rng: inout RandomStream) -> Int {
        let logs = p.map { $0 > 0 ? log(Double($0)) / temperature : -Double.infinity }
        let top = logs.max() ?? 0
        let weights = logs.map { $0 == -.infinity ? 0 : exp($0 - top) }
        let total = weights.reduce(0, +)
        var u = rng.nextUnitDouble() * total
        var last = 0
        for (k, w) in weights.enumerated() where w > 0 {
            if u < w { return k }
            u -= w
            last = k
        }
        return last  // rounding left u just above the sum
    }

    /// The deploy net with the member's weights, its vocabulary and a name for messages.
    func characterModel(_ member: Member, threads: Int) throws -> (Net, [Unicode.Scalar], String) {
        if let entry = member.entry, member.net == entry.path(entry.card.net) {
            let label = "'\(entry.name)'"
            let file = entry.path("vocabulary.json")
            guard FileSystem.exists(file) else {
                throw RunError(message: "--generate needs a character model, and \(label) is not one (its entry has no vocabulary.json)",
                               hint: "train a net that reads TextData with dtrain; its zoo entry then records the vocabulary")
            }
            let vocabulary = try TextCorpus.vocabulary(jsonBytes: try AtomicFile.read(file), path: file)
            return (try build(member, file: entry.path(entry.card.deploy), threads: threads), vocabulary, label)
        }
        // --model NET.yaml --weights FILE: the deploy net made from the net's TEST layers, and
        // the vocabulary of its TextData source files.
        let file = member.net
        let spec = try NetSpec.load(file)
        let state = spec.state(.test)
        let text = spec.layers.first(where: { $0.type == "TextData" && $0.isIncluded(in: state) }) ?? spec.layers.first(where: { $0.type == "TextData" })
        let sources: [String] = switch text?.node.child("text_data_param")?.child("source")?.value {
        case .scalar(let s, _)?: [s]
        case .sequence(let items)?: items.compactMap(\.scalar)
        default: []
        }
        guard !sources.isEmpty else {
            throw RunError(message: "--generate needs a character model, and net '\(spec.name)' (\(file)) has no TextData layer with a source to take the vocabulary from",
                           hint: "give a net trained on TextData, or its zoo entry (zoo:NAME), which records the vocabulary")
        }
        let corpus = try TextCorpus(paths: sources.map { ConfigFile.resolve($0, relativeTo: file) })
        let deploy = DeployNet.text(from: spec, inputShape: [1], state: state)
        let deploySpec = try NetSpec(node: try YAML.parse(deploy, file: file), file: file)
        return (try build(member, file: file, spec: deploySpec, threads: threads), corpus.vocabulary, "net '\(spec.name)'")
    }

    /// 'x' (U+0078), with unprintable characters as '?'.
    static func describe(_ s: Unicode.Scalar) -> String {
        let hex = String(s.value, radix: 16, uppercase: true)
        return "'\(Format.printable(String(Character(s))))' (U+\(String(repeating: "0", count: max(0, 4 - hex.count)) + hex))"
    }

    /// The vocabulary as one printable string, shortened after 60 characters.
    static func preview(_ vocabulary: [Unicode.Scalar]) -> String {
        let shown = vocabulary.prefix(60).map { s -> String in
            switch s {
            case "\n": return "\\n"
            case "\t": return "\\t"
            case " ": return "␠"
            default: return Format.printable(String(Character(s)))
            }
        }.joined()
        return "\"\(shown)\"" + (vocabulary.count > 60 ? " and \(vocabulary.count - 60) more" : "")
    }
}
