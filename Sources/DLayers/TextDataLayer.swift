import DConfig
import DCore
import DData

/// Dendrite's `TextData`: characters of a UTF-8 text file for a recurrent net, time-major as
/// Caffe's LRCN and char-rnn batch them. `text_data_param`: `source` (the file, or a list of
/// files joined in order, relative to the net file), `batch_size` N (streams), `seq_length` T (steps per batch), `test_fraction` (the
/// last ⌊fraction · length⌋ characters are the TEST split, the rest the TRAIN split; without it
/// both phases read the whole file) and `shuffle` (TRAIN only). Tops, each [T, N]: data (the
/// vocabulary index of each character, as floats), label (the index of the character after
/// it) and cont (0 where a sequence starts, else 1).
///
/// The split's M characters give M − 1 (character, next character) pairs, cut into N streams
/// of S = ⌊(M − 1)/N⌋ consecutive pairs (stream j holds pairs j·S ..< (j + 1)·S). Each forward
/// advances every stream by T steps: global step g reads each stream's pair at offset
/// (r_e + g mod S) mod S, where e = ⌊g / S⌋ is the epoch and r_e its shift (0 without
/// `shuffle`; with it, drawn from the solver seed and e). cont is 0 where that offset is 0
/// (a stream starts again: the recurrent state is reset at the stream's boundary) and at the
/// first step of every epoch, else 1, so the hidden state carries from batch to batch.
///
/// One sample is one character position: an epoch is N·S samples, a batch T·N; a TEST pass
/// over the split (`test_iter: all`) is ⌊S/T⌋ batches from the first step.
public final class TextDataLayer: Layer {
    public let name: String
    public let corpus: TextCorpus
    /// The phase's split: vocabulary indices.
    public let text: ArraySlice<Int32>
    public let batchSize: Int
    public let seqLength: Int
    /// Pairs per stream, S.
    public let streamLength: Int
    public let shuffle: Bool
    public let seed: UInt64
    /// Steps served since the first (what a solver state records, as epoch and position).
    public var step = 0

    public var bottomCount: ClosedRange<Int> { 0...0 }
    public var topCount: ClosedRange<Int> { 1...3 }

    init(_ spec: LayerSpec, _ context: BuildContext) throws(ConfigError) {
        let p = try spec.block("text_data_param")
        let sources = try p.strings("source").map { ConfigFile.resolve($0, relativeTo: context.netFile) }
        guard !sources.isEmpty else { throw p.missing("source", hint: "the UTF-8 text file to train on, or a list of files to join") }
        guard p.has("batch_size") else { throw p.missing("batch_size", hint: "the number of parallel streams N, e.g. batch_size: 50") }
        guard p.has("seq_length") else { throw p.missing("seq_length", hint: "the steps T of each batch, e.g. seq_length: 50") }
        let n = try p.int("batch_size", default: 1, min: 1)
        let t = try p.int("seq_length", default: 1, min: 1)
        let fraction = try p.double("test_fraction")
        if let fraction, !(fraction > 0 && fraction < 1) {
            throw p.error("test_fraction", "must be between 0 and 1 (both excluded), found \(fraction)",
                          hint: "e.g. test_fraction: 0.1 keeps the last tenth of the file for TEST")
        }
        let shuffle = try p.bool("shuffle", default: false)
        try p.finish()
        let corpus: TextCorpus
        do {
            corpus = try context.datasets.textCorpus(sources)
        } catch {
            throw p.error("source", "\(error.file): \(error.message)", hint: error.hint)
        }
        let all = corpus.indices[...]
        let testCount = fraction.map { Int(Double(all.count) * $0) } ?? 0
        let split = fraction == nil ? all : context.phase == .test ? all.suffix(testCount) : all.dropLast(testCount)
        let streamLength = split.count <= 1 ? 0 : (split.count - 1) / n
        guard streamLength >= t else {
            let what = sources.count == 1 ? sources[0] : "the \(sources.count) files of source"
            let which = fraction == nil ? "the text" : "its \(context.phase == .test ? "TEST" : "TRAIN") split"
            throw p.error("seq_length", "\(what): \(which) has \(split.count) characters, too few for \(n) streams of at least seq_length \(t) (it needs \(n * t + 1))",
                          hint: "lower batch_size or seq_length\(fraction == nil ? "" : ", or change test_fraction"), or use a longer text")
        }
        name = spec.name
        self.corpus = corpus
        text = split
        batchSize = n
        seqLength = t
        self.streamLength = streamLength
        self.shuffle = shuffle && context.phase == .train
        seed = context.seed
    }

    /// The vocabulary, one scalar per entry in index order (what the zoo entry records).
    public var vocabulary: [String] { corpus.vocabularyStrings }
    /// Samples (character positions) in one epoch: N·S.
    public var samplesPerEpoch: Int { batchSize * streamLength }
    /// Samples in one batch: T·N.
    public var samplesPerBatch: Int { batchSize * seqLength }
    /// Full batches in one pass over the split from the first step: ⌊S/T⌋.
    public var batchesPerPass: Int { streamLength / seqLength }

    /// The position as (epoch, step within it), for a solver state.
    public var cursor: (epoch: Int, position: Int) {
        get { (step / streamLength, step % streamLength) }
        set { step = newValue.epoch * streamLength + newValue.position }
    }

    /// Back to the first step of the first epoch.
    public func rewind() { step = 0 }

    /// Epoch `e`'s shift of every stream's starting offset.
    public func shift(epoch e: Int) -> Int {
        guard shuffle else { return 0 }
        var rng = RandomStream(seed: seed, purpose: "text-data-shift", e)
        return Int(rng.next() % UInt64(streamLength))
    }

    public func topShapes(for bottoms: [Shape]) throws(LayerError) -> [Shape] {
        Array(repeating: Shape([seqLength, batchSize]), count: 3)
    }

    public func forward(_ io: LayerIO, _ step: StepContext) throws(LayerError) {
        let n = batchSize, s = streamLength, base = text.startIndex
        var epoch = -1, r = 0
        for t in 0..<seqLength {
            let g = self.step + t
            if g / s != epoch { epoch = g / s; r = shift(epoch: epoch) }
            let u = g % s, offset = (r + u) % s
            for j in 0..<n {
                let at = base + j * s + offset, k = t * n + j
                io.tops[0].base[k] = Float(text[at])
                if io.tops.count > 1 { io.tops[1].base[k] = Float(text[at + 1]) }
                if io.tops.count > 2 { io.tops[2].base[k] = offset == 0 || u == 0 ? 0 : 1 }
            }
        }
        self.step += seqLength
    }

    public func backward(_ io: LayerIO, _ step: StepContext) {}
}
