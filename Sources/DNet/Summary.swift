import DCore

/// One row of the layer table `dtrain` prints at start.
public struct LayerSummary: Sendable {
    public var name: String
    public var type: String
    public var bottoms: [String]
    public var tops: [String]
    public var topShapes: [Shape]
    public var parameterCount: Int
    /// Names of parameters that are not learned (lr_mult 0).
    public var frozen: Bool
}

extension Net {
    public var summary: [LayerSummary] {
        nodes.map { n in
            LayerSummary(name: n.name, type: n.type, bottoms: n.bottoms.map { blobs[$0].name },
                         tops: n.tops.map { blobs[$0].name }, topShapes: n.tops.map { blobs[$0].shape },
                         parameterCount: n.parameters.reduce(0) { $0 + $1.shape.count },
                         frozen: !n.parameters.isEmpty && n.parameters.allSatisfy { !$0.isLearned })
        }
    }

    /// Distinct parameters of this net (shared ones once).
    public var parameterCount: Int {
        var seen = Set<ObjectIdentifier>(), total = 0
        for n in nodes {
            for p in n.parameters where seen.insert(ObjectIdentifier(p)).inserted { total += p.shape.count }
        }
        return total
    }

    /// The scalar outputs, by blob name: what training and tests report.
    public var scalarOutputs: [(name: String, blob: Int)] {
        outputs.filter { blobs[$0].shape.count == 1 }.map { (blobs[$0].name, $0) }
    }
}
