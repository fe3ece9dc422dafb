import DCommands
import DZoo

/// The server-rendered pages: plain HTML and one small script (the upload form's), everything
/// served by dserve itself.
enum Pages {
    static func escape(_ s: String) -> String { LearningCurves.escape(s) }

    static let style = """
        body{font-family:system-ui,sans-serif;margin:2em;max-width:60em;color:#222}
        table{border-collapse:collapse}td,th{padding:.25em .8em;text-align:left;border-bottom:1px solid #ddd}
        .bar{background:#1f77b4;height:1em}.bars td{border:none}#preview{image-rendering:pixelated;width:112px;border:1px solid #ccc}
        code{background:#f4f4f4;padding:0 .2em}
        """

    static func page(_ title: String, _ body: String, refresh: Int? = nil) -> String {
        """
        <!doctype html>
        <html><head><meta charset="utf-8"><title>\(escape(title)) · dserve</title>\(refresh.map { "<meta http-equiv=\"refresh\" content=\"\($0)\">" } ?? "")
        <style>\(style)</style></head>
        <body><nav><a href="/">models</a> · <a href="/runs">runs</a></nav>
        \(body)
        </body></html>

        """
    }

    static func metric(_ card: ModelCard) -> String {
        card.metrics?.headline.map { "\($0.name) \(Format.value($0.value))" } ?? "-"
    }

    static func index(_ entries: [Zoo.Entry]) -> String {
        var rows = ""
        for e in entries {
            rows += "<tr><td><a href=\"/models/\(escape(e.name))\">\(escape(e.name))</a></td><td>\(escape(e.card.datasetName.isEmpty ? "-" : e.card.datasetName))</td>"
                + "<td>\(escape(metric(e.card)))</td><td>\(Format.bytes(e.card.totalBytes))</td><td>\(escape(String(e.card.provenance.date.prefix(10))))</td><td>\(e.place.rawValue)</td></tr>\n"
        }
        return page("models", """
            <h1>Models</h1>
            <table><tr><th>name</th><th>dataset</th><th>metric</th><th>size</th><th>date</th><th>zoo</th></tr>
            \(rows)</table>
            """)
    }

    static func model(_ e: Zoo.Entry, hasCurves: Bool, takesImages: Bool, hasFilters: Bool) -> String {
        let c = e.card
        var facts: [(String, String)] = [
            ("description", c.description), ("dataset", c.datasetName), ("metric", metric(c)),
            ("input", c.inputShape.map(String.init).joined(separator: "×") + " \(c.inputType.rawValue), (x − mean) × \(Format.value(c.scale))"),
            ("classes", c.classNames.isEmpty ? "-" : c.classNames.joined(separator: ", ")),
            ("trained", "\(c.provenance.date) by \(c.provenance.command)"), ("size", Format.bytes(c.totalBytes)),
        ]
        if c.provenance.trainingSeconds > 0 { facts.append(("training time", "\(Format.value(c.provenance.trainingSeconds)) s")) }
        let table = facts.map { "<tr><th>\(escape($0.0))</th><td>\(escape($0.1))</td></tr>" }.joined(separator: "\n")
        let name = escape(e.name)
        let curves = hasCurves ? "<h2>Learning curves</h2>\n<img src=\"/models/\(name)/curves.svg\" alt=\"learning curves of \(name)\">" : ""
        let upload = takesImages ? """
            <h2>Classify an image</h2>
            <form id="upload"><input type="file" id="file" name="file" accept="image/png,image/jpeg,image/x-portable-graymap,image/x-portable-pixmap,.pgm,.ppm">
            <button type="submit">Classify</button></form>
            <p><img id="preview" alt="" hidden></p>
            <p id="status"></p>
            <table class="bars" id="top"></table>
            <script>
            // Posts the file's bytes to the JSON API and draws the top 5 as bars.
            const form = document.getElementById('upload'), file = document.getElementById('file');
            form.addEventListener('submit', async (event) => {
              event.preventDefault();
              const f = file.files[0]; if (!f) return;
              const preview = document.getElementById('preview'); preview.src = URL.createObjectURL(f); preview.hidden = false;
              const status = document.getElementById('status'), top = document.getElementById('top');
              status.textContent = 'classifying…'; top.replaceChildren();
              const r = await fetch('/api/models/\(name)/predict', {method: 'POST', body: f});
              const answer = await r.json();
              if (!r.ok) { status.textContent = 'error ' + r.status + ': ' + (answer.error ? answer.error.message : ''); return; }
              status.textContent = 'top ' + answer.top.length + ':';
              for (const t of answer.top) {
                const row = top.insertRow(), name = row.insertCell(), bar = row.insertCell(), p = row.insertCell();
                name.textContent = t.name; name.className = 'class';
                const b = document.createElement('div'); b.className = 'bar'; b.style.width = (t.p * 20) + 'em'; bar.appendChild(b);
                p.textContent = t.p.toFixed(4);
              }
            });
            </script>
            """ : "<p>This model does not classify images.</p>"
        return page(e.name, """
            <h1>\(name)</h1>
            <table>\(table)</table>
            \(upload)
            \(curves)
            \(hasFilters ? "<h2>First-layer filters</h2>\n<img src=\"/models/\(name)/filters.png\" alt=\"the first layer's filters of \(name)\">" : "")
            <h2>Test set</h2>
            <p><a href="/models/\(name)/confusion">The confusion matrix on the test set</a> (measured on the first visit, as <code>dtest zoo:\(name)</code> measures it).</p>
            <p>API: POST the image file to <code>/api/models/\(name)/predict</code>, e.g. <code>curl --data-binary @image.png</code> to it (docs/SERVING.md).</p>
            """)
    }

    static func confusion(_ e: Zoo.Entry, _ r: TestSetReport) -> String {
        let classes = r.counts.count
        func name(_ k: Int) -> String { escape(k < r.classNames.count ? r.classNames[k] : String(k)) }
        var rows = "<tr><th>true \\ predicted</th>" + (0..<classes).map { "<th>\(name($0))</th>" }.joined() + "<th>recall</th></tr>\n"
        for t in 0..<classes {
            let total = r.counts[t].reduce(0, +)
            rows += "<tr><th>\(name(t))</th>" + r.counts[t].enumerated().map { p, n in p == t ? "<td><b>\(n)</b></td>" : "<td>\(n)</td>" }.joined()
                + "<td>\(total == 0 ? "-" : Format.value(Double(r.counts[t][t]) / Double(total)))</td></tr>\n"
        }
        let outputs = r.outputs.map { "\(escape($0.name)) \(Format.value($0.value))" }.joined(separator: ", ")
        return page("\(e.name): confusion matrix", """
            <h1><a href="/models/\(escape(e.name))">\(escape(e.name))</a>: the test set</h1>
            <p>\(r.samples) samples: \(outputs)</p>
            <table>\(rows)</table>
            """)
    }

    static func runs(_ runs: [Run]) -> String {
        let list = runs.isEmpty ? "<p>No run in progress: a run shows here while its metrics file has no <code>done</code> line.</p>"
            : runs.map { r in
                "<h2>\(escape(r.name))</h2><p>iteration \(r.iteration.map(String.init) ?? "-"), updated \(r.secondsAgo) s ago</p>\n"
                    + "<img src=\"/runs/\(escape(r.name))/curves.svg\" alt=\"learning curves of \(escape(r.name))\">"
            }.joined(separator: "\n")
        return page("runs", "<h1>Training runs in progress</h1>\n<p>This page reloads every 5 seconds.</p>\n\(list)", refresh: 5)
    }

    static func error(_ status: Int, _ message: String) -> String {
        page("error \(status)", "<h1>\(status)</h1><p>\(escape(message))</p>")
    }
}

/// A run in the user zoo: an entry directory whose metrics file has not ended with `done`.
struct Run {
    var name: String
    var metricsPath: String
    var iteration: Int?
    var secondsAgo: Int
}
