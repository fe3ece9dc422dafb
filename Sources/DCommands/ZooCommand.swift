import ArgumentParser
import DConfig
import DCore
import DInterop
import DLayers
import DNet
import DZoo

/// `dzoo`: the models of the repository's ModelZoo/ and of the user zoo.
public struct ZooCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "dzoo",
        abstract: "List, inspect, verify, install, import, export and remove zoo models.",
        discussion: """
            Models live in the repository's ModelZoo/ (shipped) and in the user zoo: \
            $DENDRITE_ZOO, else ~/.dendrite/zoo (where dtrain writes). A name is looked up in \
            the user zoo first. Anywhere a weights path is taken, zoo:NAME (the weights the card \
            names) and zoo:NAME@ITER (a snapshot) work too.
            """,
        subcommands: [List.self, Info.self, Verify.self, FetchLocal.self, Export.self, Remove.self, ImportCaffe.self, ExportONNX.self])

    public init() {}

    /// A model name as given: `NAME`, or `zoo:NAME` as the other commands write it.
    static func modelName(_ argument: String) -> String {
        argument.hasPrefix("zoo:") ? String(argument.dropFirst(4)) : argument
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A table of every model: name, dataset, metric, latest iteration, size, where it is.")

        func run() throws {
            try Console.run { console in
                let zoo = Zoo.fromEnvironment()
                let (entries, problems) = zoo.entries()
                var rows = [["name", "dataset", "metric", "iteration", "latest", "size", "where"]]
                for e in entries {
                    let m = e.card.metrics
                    let metric = m?.headline.map { "\($0.name)=\(Format.value($0.value))" } ?? "-"
                    rows.append([e.name, e.card.datasetName.isEmpty ? "-" : Format.printable(e.card.datasetName), Format.printable(metric),
                                 m.map { String($0.iteration) } ?? "-", e.card.latestIteration.map(String.init) ?? "-",
                                 Format.bytes(e.card.totalBytes), e.place.rawValue])
                }
                Format.table(rows).forEach { console.out($0) }
                console.out("user zoo: \(zoo.userRoot)")
                console.out("repository zoo: \(zoo.repositoryRoot ?? "not found (run from a checkout, or set DENDRITE_MODELZOO)")")
                for p in problems { console.err(p.description.split(separator: "\n").first.map(String.init) ?? "") }
                if !problems.isEmpty { throw ExitCode(1) }
            }
        }
    }

    struct Info: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The model card and the layer table of a model.")
        @Argument(help: "The model's name (NAME or zoo:NAME).", transform: ZooCommand.modelName) var name: String

        func run() throws {
            try Console.run { console in
                let e = try Zoo.fromEnvironment().entry(name)
                let c = e.card
                console.out("\(e.name) (\(e.place.rawValue) zoo, \(e.directory))")
                if !c.description.isEmpty { console.out("  \(Format.printable(c.description))") }
                console.out("licence: \(c.licence.isEmpty ? "not given" : Format.printable(c.licence))")
                console.out("dataset: \(c.datasetName.isEmpty ? "not named" : Format.printable(c.datasetName))")
                for f in c.datasetFiles { console.out("  \(f.role): \(f.path) sha256=\(f.sha256)") }
                console.out("classes: \(c.classNames.isEmpty ? "not named" : c.classNames.enumerated().map { "\($0) \(Format.printable($1))" }.joined(separator: ", "))")
                console.out("input: \(c.inputShape.map(String.init).joined(separator: "×")), each \(c.inputType == .bytes ? "byte" : "float") x becomes (x - mean) × scale, scale=\(c.scale) mean=\(!c.meanFile.isEmpty ? "the image in \(c.meanFile)" : c.meanValues.isEmpty ? "0" : c.meanValues.map { "\($0)" }.joined(separator: ","))")
                console.out("weights: \(c.weights.isEmpty ? "none yet" : c.weights)  snapshots: \(c.snapshots.map(String.init).joined(separator: ", "))")
                if let m = c.metrics {
                    console.out("metrics: iteration=\(m.iteration) net=\(m.net) samples=\(m.samples) \(Format.outputs(m.values))")
                }
                console.out("trained by: \(Format.printable(c.provenance.command))")
                console.out("  Dendrite \(c.provenance.dendrite), random_seed=\(c.provenance.randomSeed), threads=\(c.provenance.threads), \(c.provenance.date)"
                            + (c.provenance.trainingSeconds > 0 ? ", trained in \(cFormat("%.1f", c.provenance.trainingSeconds)) s" : ""))
                console.out("files:")
                Format.table(c.files.map { ["  " + $0.path, Format.bytes($0.size), $0.sha256] }).forEach { console.out($0) }
                let deploy = e.path(c.deploy)
                let net = try Net(spec: try NetSpec.load(deploy), phase: .test, store: ParameterStore(seed: 0),
                                  context: BuildContext(phase: .test, netFile: deploy, seed: 0))
                console.out("deploy net (\(c.deploy)):")
                Format.layerTable(net).forEach { console.out("  " + $0) }
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Recompute every checksum and check every tensor's shape against the net.",
            discussion: "Without a name, every model of both zoos. Exits with status 1 when anything is wrong.")
        @Argument(help: "The model's name, NAME or zoo:NAME (default: all).", transform: ZooCommand.modelName) var name: String?

        func run() throws {
            try Console.run { console in
                let zoo = Zoo.fromEnvironment()
                var entries: [Zoo.Entry], failed = 0
                if let name {
                    entries = [try zoo.entry(name)]
                } else {
                    let all = zoo.entries()
                    entries = all.entries
                    for p in all.problems {
                        console.err(p.description.split(separator: "\n").first.map(String.init) ?? "")
                        failed += 1
                    }
                }
                for e in entries {
                    let problems = ZooVerifier.problems(in: e.directory, card: e.card)
                    if problems.isEmpty {
                        // Files counted as export and fetch-local count them: the card's list and the card.
                        console.out("ok \(e.name) (\(e.place.rawValue)): \(e.card.files.count + 1) files, \(Format.bytes(e.card.totalBytes))")
                    } else {
                        failed += 1
                        console.out("FAILED \(e.name) (\(e.place.rawValue)):")
                        problems.forEach { console.out("  " + $0) }
                    }
                }
                if failed > 0 {
                    console.err("error: \(failed) model\(failed == 1 ? "" : "s") failed verification")
                    throw ExitCode(1)
                }
            }
        }
    }

    struct FetchLocal: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "fetch-local",
            abstract: "Install a model into the user zoo from a local entry directory or .tar.gz.",
            discussion: """
                Every file is checked against the card's size and SHA-256, and the weights \
                against the net, before anything is moved into place; on any failure nothing is \
                installed. Archives with absolute paths, '..', links, missing or extra files are \
                refused.
                """)
        @Argument(help: "An entry directory or a .tar.gz made by `dzoo export`.") var source: String
        @Option(name: .long, help: "Install under this name (default: the card's).") var name: String?

        func run() throws {
            try Console.run { console in
                let zoo = Zoo.fromEnvironment()
                let installed = try ZooInstaller.install(source, as: name, into: zoo.userRoot)
                console.out("installed \(installed.name) into \(installed.directory) (\(installed.card.files.count + 1) files, all checksums match)")
            }
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pack a model into a .tar.gz for sharing (after verifying it).")
        @Argument(help: "The model's name (NAME or zoo:NAME).", transform: ZooCommand.modelName) var name: String
        @Argument(help: "The archive to write, e.g. NAME.tar.gz.") var out: String

        func run() throws {
            try Console.run { console in
                let e = try Zoo.fromEnvironment().entry(name)
                let count = try ZooInstaller.export(e, to: out)
                console.out("exported \(e.name) to \(out) (\(count) files)")
            }
        }
    }

    struct ImportCaffe: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-caffe",
            abstract: "Import a Caffe net (.prototxt) and its weights (.caffemodel) into the user zoo.",
            discussion: """
                The net becomes Dendrite YAML, layer for layer (legacy V1 'layers' are upgraded \
                as Caffe upgrades them); the weights become safetensors; the card records both \
                files with their SHA-256. Everything is checked before anything is written: a \
                layer type or parameter Dendrite lacks, or a blob whose shape does not fit, is \
                an error at its line in the prototxt, and no entry is made; so is a caffemodel \
                that lacks a layer's weights. Without a caffemodel, the weights come from the \
                net's fillers. docs/INTEROP.md says what is read and how it is checked.
                """)
        @Argument(help: "The net: a .prototxt (deploy, or train/test without LMDB data layers).") var net: String
        @Argument(help: "Its weights: a .caffemodel.") var weights: String?
        @Option(name: .long, help: "The entry's name in the user zoo.") var name: String
        @Flag(name: .long, help: "Check everything and print the net's layers (phase TEST), but write no entry.") var dryRun = false

        func run() throws {
            try Console.run { console in
                guard Zoo.isValidName(name) else {
                    throw FileError(path: name, "is not a model name", hint: "use letters, digits, '.', '_' and '-'")
                }
                let zoo = Zoo.fromEnvironment()
                let directory = "\(zoo.userRoot)/\(name)"
                if FileSystem.exists(directory) {
                    throw FileError(path: directory, "exists already", hint: "choose another --name, or remove it with dzoo remove \(name)")
                }
                let imported = try CaffeImport(prototxt: net, caffemodel: weights)
                let input = imported.inputShape.isEmpty ? "none (no Input layer)" : Shape(imported.inputShape).description
                if !imported.net.droppedFillerKeys.isEmpty {
                    let keys = imported.net.droppedFillerKeys
                    console.out("note: filler keys that Caffe ignores for their filler type, left out: \(keys.prefix(3).joined(separator: ", "))"
                                + (keys.count > 3 ? " and \(keys.count - 3) more" : ""))
                }
                if !imported.net.absolutePaths.isEmpty {
                    console.out("note: data paths taken from the prototxt's directory, written absolute: \(imported.net.absolutePaths.joined(separator: ", "))")
                }
                if dryRun {
                    console.out("net '\(imported.net.name)' (\(net)), phase TEST:")
                    Format.layerTable(imported.testNet).forEach { console.out("  " + $0) }
                    console.out("checked: \(imported.net.layers.count) layers, input \(input); --dry-run wrote nothing")
                    return
                }
                try AtomicFile.createDirectories(for: directory)
                let command = (["dzoo", "import-caffe"] + CommandLine.arguments.dropFirst(2)).map(shellQuoted).joined(separator: " ")
                let writer = try imported.write(to: directory, command: command)
                console.out("imported \(name) into \(writer.directory): \(imported.net.layers.count) layers, "
                            + "input \(input), weights \(writer.card.weights)")
                if !imported.initialised.isEmpty {
                    console.out("note: without a caffemodel, the weights come from the fillers (seed 1): \(imported.initialised.joined(separator: ", "))")
                }
                if !imported.ignored.isEmpty {
                    console.out("note: caffemodel layers that the net does not have, ignored: \(imported.ignored.joined(separator: ", "))")
                }
            }
        }
    }

    struct ExportONNX: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export-onnx",
            abstract: "Write a model's deploy net and weights as an ONNX model (opset 13).",
            discussion: """
                The graph's inputs are the deploy net's (the batch dimension is 'N'); its \
                outputs are the deploy net's outputs and, before a final Softmax, the scores it \
                reads. A recurrent layer's steps are unrolled, and its state, unless exposed \
                as bottoms and tops, is carried by the caller: inputs NAME/h0 (and NAME/c0 for \
                an LSTM), outputs NAME/hT (and NAME/cT). The card's class names and \
                preprocessing are metadata properties (dendrite.class_names, \
                dendrite.input.scale, dendrite.input.mean_value). Every layer that computes in \
                a deploy net is exported; data layers, losses and Accuracy are refused by name, \
                and nothing is written (docs/INTEROP.md lists the mappings).
                """)
        @Argument(help: "The model's name (NAME or zoo:NAME).", transform: ZooCommand.modelName) var name: String
        @Argument(help: "The ONNX file to write, e.g. NAME.onnx.") var out: String

        func run() throws {
            try Console.run { console in
                let e = try Zoo.fromEnvironment().entry(name)
                try Zoo.checkOutput(out, inputs: e.card.files.map { e.path($0.path) })
                let export = try ONNXExport(entry: e)
                let bytes = try export.serialized()
                try AtomicFile.write(bytes, to: out)
                console.out("exported \(e.name) to \(out): opset \(ONNXExport.opset), \(export.model.graph.node.count) nodes, "
                            + "input \(export.inputs.joined(separator: ", ")), outputs \(export.outputs.joined(separator: ", ")), \(Format.bytes(bytes.count))")
            }
        }
    }

    struct Remove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a model from the user zoo.")
        @Argument(help: "The model's name (NAME or zoo:NAME).", transform: ZooCommand.modelName) var name: String

        func run() throws {
            try Console.run { console in
                let zoo = Zoo.fromEnvironment()
                // A user-zoo directory goes even when its card is damaged or missing: those
                // are what interrupted runs and newer Dendrites leave behind.
                let directory = "\(zoo.userRoot)/\(name)"
                guard Zoo.isValidName(name), FileSystem.isDirectory(directory) else {
                    let e = try zoo.entry(name)
                    throw FileError(path: e.directory, "is shipped with the repository, not in the user zoo", hint: "remove it with git")
                }
                try ZooInstaller.remove(directory: directory)
                console.out("removed \(name) (\(directory))")
            }
        }
    }
}
