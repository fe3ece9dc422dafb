import Foundation
import Testing

/// A character model that learns the cycle "abc": TextData → Embed → LSTM(8) → InnerProduct
/// (axis 2) → SoftmaxWithLoss (axis 2), trained with Adam into a zoo of its own.
let charNet = """
    name: chars
    layer:
      - {name: text, type: TextData, top: [data, label, cont], text_data_param: {source: text.txt, batch_size: 4, seq_length: 12}}
      - {name: embed, type: Embed, bottom: data, top: emb, embed_param: {input_dim: 3, num_output: 8}}
      - {name: lstm, type: LSTM, bottom: [emb, cont], top: h, recurrent_param: {num_output: 8, weight_filler: {type: uniform, min: -0.3, max: 0.3}}}
      - {name: scores, type: InnerProduct, bottom: h, top: scores, inner_product_param: {num_output: 3, axis: 2}}
      - {name: loss, type: SoftmaxWithLoss, bottom: [scores, label], top: loss, softmax_param: {axis: 2}}
    """

let charSolver = """
    net: net.yaml
    type: Adam
    base_lr: 0.05
    max_iter: 150
    test_iter: 2
    test_interval: 150
    display: 50
    random_seed: 1
    model_card: {description: "the cycle abc", dataset: abc, licence: MIT}
    """

/// The directory and zoo of the trained character model, trained once for the whole suite.
let charModel: Result<(dir: String, zoo: String), any Error> = Result {
    let dir = temporaryDirectory("charModel"), zoo = dir + "/zoo"
    try String(repeating: "abc", count: 300).write(toFile: dir + "/text.txt", atomically: true, encoding: .utf8)
    try charNet.write(toFile: dir + "/net.yaml", atomically: true, encoding: .utf8)
    try charSolver.write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
    let r = try run("dtrain", [dir + "/solver.yaml", "--threads", "2"], zoo: zoo)
    guard r.status == 0 else { throw GenerateTestError(message: "dtrain failed: \(r.err)") }
    return (dir, zoo)
}

struct GenerateTestError: Error { var message: String }

/// `dtest zoo:chars --generate …` with the given arguments.
func generate(_ arguments: [String]) throws -> (status: Int32, out: String, err: String) {
    let (_, zoo) = try charModel.get()
    return try run("dtest", ["zoo:chars", "--generate"] + arguments, zoo: zoo)
}

@Suite struct GenerateTests {
    @Test func aLowTemperatureContinuesTheCycle() throws {
        let r = try generate(["--prime", "ab", "--length", "30", "--temperature", "0.1"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out == "ab" + String(repeating: "cab", count: 10) + "\n")
        // The recurrent state follows the prime: after "abca" comes "b".
        let other = try generate(["--prime", "abca", "--length", "5", "--temperature", "0.1"])
        #expect(other.out == "abcabcabc\n", "\(other.err)")
    }

    @Test func theSeedDecidesTheDraws() throws {
        let arguments = ["--prime", "abc", "--length", "120", "--temperature", "5"]
        let first = try generate(arguments + ["--seed", "1"])
        let again = try generate(arguments + ["--seed", "1"])
        let other = try generate(arguments + ["--seed", "2"])
        #expect(first.status == 0 && other.status == 0, "\(first.err) \(other.err)")
        #expect(first.out.hasPrefix("abc") && first.out.hasSuffix("\n") && first.out.unicodeScalars.count == 3 + 120 + 1)
        #expect(first.out == again.out)
        #expect(first.out != other.out)
        // Without --seed it is seed 1.
        #expect(try generate(arguments).out == first.out)
    }

    @Test func modelAndWeightsTakeTheVocabularyFromTheTextFile() throws {
        let (dir, zoo) = try charModel.get()
        let arguments = ["--generate", "--prime", "ca", "--length", "50", "--temperature", "1.5", "--seed", "7"]
        let viaZoo = try run("dtest", ["zoo:chars"] + arguments, zoo: zoo)
        let viaNet = try run("dtest", ["--model", dir + "/net.yaml", "--weights", "zoo:chars"] + arguments, zoo: zoo)
        #expect(viaZoo.status == 0 && viaNet.status == 0, "\(viaZoo.err) \(viaNet.err)")
        #expect(viaZoo.out == viaNet.out)
    }

    @Test func badPrimesAndSettingsAreRefused() throws {
        let unknown = try generate(["--prime", "abxyx"])
        #expect(unknown.status == 1 && unknown.out.isEmpty)
        #expect(unknown.err.contains("error: the prime has characters that 'chars' never saw in training: 'x' (U+0078), 'y' (U+0079)"), "\(unknown.err)")
        #expect(unknown.err.contains("hint: use only the 3 characters of its vocabulary (\"abc\"), or pass --skip-unknown"))
        // --skip-unknown feeds "ab" and prints the prime as given.
        let skipped = try generate(["--prime", "abx", "--length", "3", "--temperature", "0.1", "--skip-unknown"])
        #expect(skipped.status == 0 && skipped.out == "abxcab\n", "\(skipped.err)")
        let nothing = try generate(["--prime", "xyz", "--skip-unknown"])
        #expect(nothing.status == 1 && nothing.err.contains("no character of the prime is in the vocabulary"))

        for (arguments, message) in [(["--prime", "ab", "--temperature", "0"], "--temperature must be above 0"),
                                     (["--prime", "ab", "--temperature=-1"], "--temperature must be above 0"),
                                     (["--prime", "ab", "--length", "0"], "--length must be at least 1, found 0"),
                                     (["--prime", ""], "--generate needs a non-empty --prime TEXT"),
                                     ([], "--generate needs a non-empty --prime TEXT"),
                                     (["--prime", "ab", "--json"], "--generate writes text; it does not take --json")] {
            let r = try generate(arguments)
            #expect(r.status != 0 && r.out.isEmpty && r.err.contains(message), "\(arguments): \(r.err)")
        }
        let (_, zoo) = try charModel.get()
        let stray = try run("dtest", ["zoo:chars", "--prime", "ab"], zoo: zoo)
        #expect(stray.status != 0 && stray.err.contains("--prime, --length, --temperature and --skip-unknown go with --generate"))
    }

    @Test func anImageModelIsNoCharacterModel() throws {
        let dir = temporaryDirectory(), zoo = dir + "/zoo"
        _ = try trainIntoZoo(dir, zoo: zoo)
        let r = try run("dtest", ["zoo:tiny", "--generate", "--prime", "ab"], zoo: zoo)
        #expect(r.status == 1 && r.out.isEmpty)
        #expect(r.err.contains("error: --generate needs a character model, and 'tiny' is not one (its entry has no vocabulary.json)"), "\(r.err)")
        #expect(r.err.contains("hint: "))
        let net = try run("dtest", ["--model", dir + "/net.yaml", "--weights", "zoo:tiny", "--generate", "--prime", "ab"], zoo: zoo)
        #expect(net.status == 1 && net.err.contains("net 'tiny' (\(dir)/net.yaml) has no TextData layer"), "\(net.err)")
    }

    /// Evaluating a text model prints its outputs but no confusion matrix of [T, N, V] rows.
    @Test func evaluatingATextModelSkipsTheConfusionMatrix() throws {
        let (_, zoo) = try charModel.get()
        let r = try run("dtest", ["zoo:chars"], zoo: zoo)
        #expect(r.status == 0, "\(r.err)")
        #expect(r.out.hasPrefix("test samples="))
        #expect(r.out.contains("note: no confusion matrix: the scores 'scores' have shape "))
        #expect(!r.out.contains("confusion matrix ("))
    }
}
