@testable import DCommands
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// The elements of an SVG, read with Foundation's XML parser (which also proves the text is
/// well-formed XML).
final class SVGElements: NSObject, XMLParserDelegate {
    var elements: [(name: String, attributes: [String: String])] = []
    var texts: [String] = []
    private var text = ""

    static func parse(_ svg: String) throws -> SVGElements {
        let parser = XMLParser(data: Data(svg.utf8))
        let elements = SVGElements()
        parser.delegate = elements
        guard parser.parse() else { throw parser.parserError ?? CocoaError(.fileReadCorruptFile) }
        return elements
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append((name, attributes))
        text = ""
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text" || name == "title" { texts.append(text) }
        text = ""
    }

    /// The points of the polyline of each series, by series name.
    var polylines: [String: [(x: Double, y: Double)]] {
        var lines: [String: [(x: Double, y: Double)]] = [:]
        for e in elements where e.name == "polyline" {
            let points = (e.attributes["points"] ?? "").split(separator: " ").map { pair -> (x: Double, y: Double) in
                let xy = pair.split(separator: ",").map { Double($0) ?? .nan }
                return (xy.first ?? .nan, xy.count == 2 ? xy[1] : .nan)
            }
            lines[e.attributes["data-series"] ?? "?"] = points
        }
        return lines
    }
}

func point(_ i: Int, _ v: Double) -> Curves.Point { Curves.Point(iteration: i, value: v) }

@Suite struct CurvesSVGTests {
    /// Every drawn point lies in one of the plot rectangles.
    func expectInsidePlots(_ svg: SVGElements, sourceLocation: SourceLocation = #_sourceLocation) {
        let plots = svg.elements.filter { $0.name == "rect" && $0.attributes["fill"] == "none" }.map { r in
            (x: Double(r.attributes["x"] ?? "") ?? .nan, y: Double(r.attributes["y"] ?? "") ?? .nan,
             w: Double(r.attributes["width"] ?? "") ?? .nan, h: Double(r.attributes["height"] ?? "") ?? .nan)
        }
        #expect(!plots.isEmpty, sourceLocation: sourceLocation)
        for (name, points) in svg.polylines {
            for p in points {
                #expect(p.x.isFinite && p.y.isFinite, "\(name): \(p)", sourceLocation: sourceLocation)
                #expect(plots.contains { p.x >= $0.x && p.x <= $0.x + $0.w && p.y >= $0.y && p.y <= $0.y + $0.h },
                        "\(name): \(p) outside every plot", sourceLocation: sourceLocation)
            }
        }
    }

    @Test func drawsEverySeriesWithItsPointsInsideThePlots() throws {
        var c = Curves()
        c.started()
        for i in stride(from: 10, through: 100, by: 10) { c.train(iteration: i, loss: 2.3 / Double(i), learningRate: i <= 50 ? 0.1 : 0.01) }
        for i in [0, 50, 100] {
            c.test(iteration: i, net: "val", outputs: [("accuracy", 0.5 + Double(i) / 400), ("loss", 2.5 - Double(i) / 100)])
            c.test(iteration: i, net: "train-eval", outputs: [("loss", 2 - Double(i) / 100)])
        }
        let text = CurvesSVG.render(c, title: "tiny: training curves")
        #expect(!text.contains("<script") && !text.contains("href"))
        let svg = try SVGElements.parse(text)
        let lines = svg.polylines
        #expect(lines["train loss (smoothed)"]?.count == 10)
        #expect(lines["learning rate"]?.count == 10)
        #expect(lines["test loss: val"]?.count == 3)
        #expect(lines["test loss: train-eval"]?.count == 3)
        #expect(lines["accuracy: val"]?.count == 3)
        #expect(lines["accuracy: train-eval"] == nil)
        expectInsidePlots(svg)
        // The legend names each series; the loss (2.3/10 … 2.5, over a factor of 10) is on a
        // log axis, the rate (0.1 and 0.01) too.
        for name in ["train loss (smoothed)", "test loss: val", "test loss: train-eval", "accuracy: val", "learning rate"] {
            #expect(svg.texts.contains(name), "legend lacks \(name)")
        }
        #expect(svg.texts.contains("loss (log scale)") && svg.texts.contains("learning rate (log scale)") && svg.texts.contains("test accuracy"))
        // An accuracy from chance (0.08) to 0.9 spans a factor of 10 but stays linear.
        #expect(CurvesSVG.scale([0.08, 0.9]) == .log && CurvesSVG.scale([0.08, 0.9], bounded01: true) == .linear)
        #expect(svg.texts.contains("iteration") && svg.texts.contains("100"))
        // Later iterations are further right; a falling train loss goes down the picture (up in y).
        let train = try #require(lines["train loss (smoothed)"])
        #expect(zip(train, train.dropFirst()).allSatisfy { $0.x < $1.x && $0.y < $1.y })
    }

    @Test func escapesNamesAndKeepsTheTitleWellFormed() throws {
        var c = Curves()
        c.test(iteration: 0, net: "a<b>&\"c'", outputs: [("loss", 1), ("top1_accuracy", 0.3)])
        let text = CurvesSVG.render(c, title: "<net> & co")
        #expect(!text.contains("a<b>"))
        let svg = try SVGElements.parse(text)
        #expect(svg.texts.contains("test loss: a<b>&\"c'"))
        #expect(svg.texts.contains("<net> & co"))
        #expect(svg.polylines["accuracy: a<b>&\"c'"]?.count == 1)
    }

    @Test func aSinglePointOrAConstantSeriesIsDrawnInsideThePlot() throws {
        var one = Curves()
        one.train(iteration: 0, loss: 0.7, learningRate: 0.01)
        let svg = try SVGElements.parse(CurvesSVG.render(one, title: "one"))
        #expect(svg.polylines["train loss (smoothed)"]?.count == 1)
        expectInsidePlots(svg)

        var flat = Curves()
        for i in 0..<5 { flat.train(iteration: i * 10, loss: 0, learningRate: 0.05) }
        flat.test(iteration: 40, net: "t", outputs: [("loss", 0), ("accuracy", 1)])
        let svg2 = try SVGElements.parse(CurvesSVG.render(flat, title: "flat"))
        #expect(svg2.polylines["train loss (smoothed)"]?.count == 5)
        #expect(svg2.polylines["learning rate"]?.count == 5)
        expectInsidePlots(svg2)

        // Nothing at all yet: the panels say so.
        let empty = try SVGElements.parse(CurvesSVG.render(Curves(), title: "empty"))
        #expect(empty.polylines.isEmpty && empty.texts.contains("no values yet"))
    }

    @Test func nonFiniteValuesAreNotDrawn() throws {
        var c = Curves()
        c.train(iteration: 10, loss: 1, learningRate: 0.1)
        c.train(iteration: 20, loss: .nan, learningRate: 0.1)
        c.train(iteration: 30, loss: .infinity, learningRate: 0.1)
        c.train(iteration: 40, loss: 0.5, learningRate: 0.1)
        c.test(iteration: 40, net: "t", outputs: [("loss", -.infinity)])
        let text = CurvesSVG.render(c, title: "x")
        #expect(!text.contains("nan") && !text.contains("inf"))
        let svg = try SVGElements.parse(text)
        #expect(svg.polylines["train loss (smoothed)"]?.count == 2)
        #expect(svg.polylines["test loss: t"] == nil)
        #expect(svg.texts.contains("test loss: t"))
        expectInsidePlots(svg)
    }

    @Test func longSeriesAreThinnedKeepingTheLastPoint() throws {
        var c = Curves()
        for i in 1...5000 { c.train(iteration: i, loss: 1 / Double(i), learningRate: 0.1) }
        let svg = try SVGElements.parse(CurvesSVG.render(c, title: "long"))
        let line = try #require(svg.polylines["train loss (smoothed)"])
        #expect(line.count <= CurvesSVG.maxPoints && line.count > CurvesSVG.maxPoints / 2)
        #expect(line.last?.x == CurvesSVG.left + CurvesSVG.plotWidth)
    }

    /// The metrics file's lines, as MetricsLog writes them, rebuild the same series; a fresh
    /// run starts over, a resumed one continues and drops what came after its snapshot.
    @Test func readsBackAMetricsFile() {
        let lines = """
            {"v":1,"event":"start","time":0,"random_seed":1,"max_iter":100}
            {"v":1,"event":"train","time":0.1,"iteration":10,"epoch":0.5,"lr":0.1,"loss":9,"images_per_s":5,"outputs":{}}
            {"v":1,"event":"start","time":0,"random_seed":1,"max_iter":100}
            {"v":1,"event":"test","time":0.1,"iteration":0,"epoch":0,"net":"t \\"1\\"","outputs":{"accuracy":0.5,"loss":2.5}}
            {"v":1,"event":"train","time":0.1,"iteration":10,"epoch":0.5,"lr":0.1,"loss":2,"images_per_s":5,"outputs":{}}
            {"v":1,"event":"train","time":0.2,"iteration":20,"epoch":1,"lr":0.1,"loss":null,"images_per_s":5,"outputs":{}}
            {"v":1,"event":"test","time":0.1,"iteration":20,"epoch":1,"net":"t \\"1\\"","outputs":{"accuracy":0.75,"loss":1.5}}
            {"v":1,"event":"train","time":0.3,"iteration":30,"epoch":1.5,"lr":0.05,"loss":1,"images_per_s":5,"outputs":{}}
            {"v":1,"event":"resume","time":0,"path":"p_iter_20.solverstate","iteration":20}
            {"v":1,"event":"start","time":0,"random_seed":1,"max_iter":100}
            {"v":1,"event":"test","time":0.1,"iteration":20,"epoch":1,"net":"t \\"1\\"","outputs":{"accuracy":0.8,"loss":1.4}}
            {"v":1,"event":"train","time":0.3,"iteration":30,"epoch":1.5,"lr":0.0
            {"v":2,"event":"train","iteration":40,"loss":1}
            """
        var c = Curves()
        for line in lines.split(separator: "\n") { c.read(metricsLine: line) }
        #expect(c.trainLoss.map(\.iteration) == [10, 20])
        #expect(c.trainLoss.first?.value == 2 && c.trainLoss.last?.value.isNaN == true)
        #expect(c.learningRate.map(\.value) == [0.1, 0.1])
        #expect(c.testLoss.map(\.name) == ["t \"1\""])
        #expect(c.testLoss.first?.points == [point(0, 2.5), point(20, 1.4)])
        #expect(c.testAccuracy.first?.points == [point(0, 0.5), point(20, 0.8)])
    }

    @Test func picksTheLossAndAccuracyOutputsByName() {
        #expect(Curves.pick([("accuracy_top5", 0.9), ("accuracy", 0.6)], "accuracy") == 0.6)
        #expect(Curves.pick([("top1_Accuracy", 0.6)], "accuracy") == 0.6)
        #expect(Curves.pick([("prob", 0.6)], "accuracy") == nil)
        #expect(Curves.pick([("aux_loss", 0.1), ("loss", 0.6)], "loss") == 0.6)
    }
}

@Suite(.serialized) struct CurvesFileTests {
    func curves(_ dir: String) throws -> SVGElements {
        try SVGElements.parse(try String(contentsOfFile: dir + "/out/tiny_curves.svg", encoding: .utf8))
    }

    /// Two test nets (the same net tested twice, "tiny" and "tiny#2"); the picture is drawn
    /// after each round of tests and at the end, and a resumed run continues it.
    @Test func dtrainWritesTheCurvesAndAResumeContinuesThem() throws {
        let dir = temporaryDirectory()
        try setUp(dir, solver: solver.replacingOccurrences(of: "test_iter: 5", with: "test_iter: [5, 2]"))
        let r = try run("dtrain", [dir + "/solver.yaml"])
        #expect(r.status == 0, "\(r.err)")
        #expect(r.err.isEmpty)
        let svg = try curves(dir)
        let lastTest = try #require(r.out.split(separator: "\n").last { $0.hasPrefix("test iter=60 ") && $0.contains(" net=tiny#2 ") })
        #expect(lastTest.contains("accuracy="))
        // Drawn after the last test: all three rounds (iterations 0, 30 and 60) are there.
        #expect(svg.polylines["test loss: tiny"]?.count == 3)
        #expect(svg.polylines["test loss: tiny#2"]?.count == 3)
        #expect(svg.polylines["accuracy: tiny"]?.count == 3)
        #expect(svg.polylines["train loss (smoothed)"]?.count == 6)
        #expect(svg.polylines["learning rate"]?.count == 6)
        #expect(svg.texts.contains("60"))
        #expect(try !FileManager.default.contentsOfDirectory(atPath: dir + "/out").contains { $0.contains(".tmp-") })

        // Resumed at 30 and stopped at 40: the first run's 50 and 60 are not this history.
        try solver.replacingOccurrences(of: "test_iter: 5", with: "test_iter: [5, 2]").replacingOccurrences(of: "max_iter: 60", with: "max_iter: 40")
            .write(toFile: dir + "/solver.yaml", atomically: true, encoding: .utf8)
        let resumed = try run("dtrain", [dir + "/solver.yaml", "--snapshot", dir + "/out/tiny_iter_30.solverstate"])
        #expect(resumed.status == 0, "\(resumed.err)")
        let after = try curves(dir)
        #expect(after.polylines["train loss (smoothed)"]?.count == 4)
        #expect(after.polylines["test loss: tiny"]?.count == 3)
        #expect(after.polylines["accuracy: tiny#2"]?.count == 3)
        #expect(after.texts.contains("40") && !after.texts.contains("60"))
    }

    /// A picture that cannot be written is a one-line warning, once, and training goes on.
    @Test func anUnwritableCurvesFileIsAWarning() throws {
        let dir = temporaryDirectory()
        try setUp(dir)
        try FileManager.default.createDirectory(atPath: dir + "/out/tiny_curves.svg", withIntermediateDirectories: true)
        let r = try run("dtrain", [dir + "/solver.yaml", "--quiet"])
        #expect(r.status == 0)
        #expect(r.out.isEmpty)
        #expect(r.err == "\(dir)/out/tiny_curves.svg: warning: cannot write the training curves: exists and is not a regular file "
                + "(a device, directory or link); refusing to replace it; training goes on\n")
        #expect(FileManager.default.fileExists(atPath: dir + "/out/tiny_iter_60.safetensors"))
    }
}
