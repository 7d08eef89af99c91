// A YAML node paired with its key path, so that every problem the scenario
// loader finds names the file, the key path (`workload.tasks[2].args[0]`) and
// what was expected. The accessors here check shape (mapping, sequence,
// scalar), reject unknown and duplicate keys, and never trap: integers are
// parsed with overflow checks and every failure is a `ScenarioError`.

import Yams

/// A YAML node and where it sits in the scenario file.
struct ScenarioValue {
    /// The composed YAML node.
    let node: Node
    /// Dotted key path from the root, e.g. `cluster.nodes[1].resources.CPU`; empty for the root.
    let keyPath: String
    /// The file name used in error messages.
    let file: String

    /// An error located at this value.
    func error(_ problem: String) -> ScenarioError {
        ScenarioError(file: file, keyPath: keyPath, problem: problem)
    }

    /// The value under `key` in a mapping.
    func child(key: String, node: Node) -> ScenarioValue {
        ScenarioValue(node: node, keyPath: keyPath.isEmpty ? key : "\(keyPath).\(key)", file: file)
    }

    /// The value at `index` in a sequence.
    func child(index: Int, node: Node) -> ScenarioValue {
        ScenarioValue(node: node, keyPath: "\(keyPath)[\(index)]", file: file)
    }

    /// True for an empty or `null` plain scalar (`key:` with nothing after it).
    var isNull: Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain else { return false }
        return ["", "~", "null", "Null", "NULL"].contains(scalar.string)
    }

    /// How this value looks, for "expected X, got Y" messages.
    var shapeDescription: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .alias: return "an alias"
        case .scalar(let scalar):
            if isNull { return "nothing" }
            let text = scalar.string.count > 40 ? String(scalar.string.prefix(40)) + "..." : scalar.string
            return "'\(text)'"
        }
    }

    /// The entries of a mapping whose keys must all be in `allowedKeys`.
    /// A null value counts as an empty mapping (`restart_gcs:` is `restart_gcs: {}`).
    func mapping(allowedKeys: [String]) throws(ScenarioError) -> ScenarioMapping {
        let result = try anyMapping()
        for (key, value) in result.entries where !allowedKeys.contains(key) {
            var problem = "unknown key '\(key)'; expected one of: \(allowedKeys.joined(separator: ", "))"
            if let suggestion = ScenarioValue.closest(to: key, among: allowedKeys) {
                problem += " (did you mean '\(suggestion)'?)"
            }
            throw value.error(problem)
        }
        return result
    }

    /// The entries of a mapping with any string keys (resources, expected results).
    func anyMapping() throws(ScenarioError) -> ScenarioMapping {
        if isNull { return ScenarioMapping(value: self, entries: []) }
        guard case .mapping(let mapping) = node else {
            throw error("expected a mapping, got \(shapeDescription)")
        }
        var entries: [(key: String, value: ScenarioValue)] = []
        for (keyNode, valueNode) in mapping {
            guard case .scalar(let keyScalar) = keyNode else {
                throw error("expected a string key, got \(ScenarioValue(node: keyNode, keyPath: keyPath, file: file).shapeDescription)")
            }
            let key = keyScalar.string
            let value = child(key: key, node: valueNode)
            if entries.contains(where: { $0.key == key }) {
                throw value.error("duplicate key '\(key)'")
            }
            entries.append((key: key, value: value))
        }
        return ScenarioMapping(value: self, entries: entries)
    }

    /// The items of a sequence, each with its indexed key path. A null value is an empty sequence.
    func sequence() throws(ScenarioError) -> [ScenarioValue] {
        if isNull { return [] }
        guard case .sequence(let sequence) = node else {
            throw error("expected a sequence, got \(shapeDescription)")
        }
        var items: [ScenarioValue] = []
        for (index, item) in sequence.enumerated() {
            items.append(child(index: index, node: item))
        }
        return items
    }

    /// The text of a scalar; `expected` names what was wanted, for the message.
    func scalarText(expected: String) throws(ScenarioError) -> String {
        guard case .scalar(let scalar) = node, !isNull else {
            throw error("expected \(expected), got \(shapeDescription)")
        }
        return scalar.string
    }

    /// A non-empty string.
    func string() throws(ScenarioError) -> String {
        let text = try scalarText(expected: "a string").trimmingWhitespace()
        guard !text.isEmpty else { throw error("expected a non-empty string") }
        return text
    }

    /// A name for a node, task, put, actor or placement group: letters, digits, `-`, `_`, `.`.
    func name() throws(ScenarioError) -> String {
        let text = try scalarText(expected: "a name")
        guard ScenarioValue.isValidName(text) else {
            throw error("expected a name made of letters, digits, '-', '_' or '.' (at most \(ScenarioValue.nameLengthMax) characters), got '\(text)'")
        }
        return text
    }

    /// An integer within `range`.
    func integer(in range: ClosedRange<Int64>) throws(ScenarioError) -> Int64 {
        let text = try scalarText(expected: "an integer").trimmingWhitespace()
        guard let value = Int64(text) else { throw error("expected an integer, got '\(text)'") }
        guard range.contains(value) else {
            throw error("expected an integer in \(range.lowerBound)...\(range.upperBound), got \(value)")
        }
        return value
    }

    /// An integer within `range`, as `Int` (the range keeps it representable).
    func int(in range: ClosedRange<Int>) throws(ScenarioError) -> Int {
        Int(try integer(in: Int64(range.lowerBound)...Int64(range.upperBound)))
    }

    /// `true` or `false` (YAML's `yes`/`no`/`on`/`off` are accepted too).
    func bool() throws(ScenarioError) -> Bool {
        let text = try scalarText(expected: "true or false").trimmingWhitespace()
        switch text.lowercased() {
        case "true", "yes", "on": return true
        case "false", "no", "off": return false
        default: throw error("expected true or false, got '\(text)'")
        }
    }

    /// Longest accepted name.
    static let nameLengthMax = 100

    /// Whether `text` is a valid scenario name.
    static func isValidName(_ text: String) -> Bool {
        guard !text.isEmpty, text.count <= nameLengthMax else { return false }
        return text.unicodeScalars.allSatisfy { scalar in
            (scalar >= "a" && scalar <= "z") || (scalar >= "A" && scalar <= "Z")
                || (scalar >= "0" && scalar <= "9") || scalar == "-" || scalar == "_" || scalar == "."
        }
    }

    /// The allowed key nearest to a misspelt one, if it is close enough to be a typo.
    static func closest(to key: String, among candidates: [String]) -> String? {
        var best: (candidate: String, distance: Int)?
        for candidate in candidates {
            let distance = editDistance(Array(key.lowercased()), Array(candidate))
            if distance <= 2, distance * 3 <= key.count, distance < (best?.distance ?? Int.max) { best = (candidate, distance) }
        }
        return best?.candidate
    }

    /// Levenshtein distance; keys are short, so the quadratic table is fine.
    private static func editDistance(_ left: [Character], _ right: [Character]) -> Int {
        if left.isEmpty { return right.count }
        if right.isEmpty { return left.count }
        var previous = Array(0...right.count)
        for (leftIndex, leftCharacter) in left.enumerated() {
            var current = [leftIndex + 1]
            for (rightIndex, rightCharacter) in right.enumerated() {
                let substitution = previous[rightIndex] + (leftCharacter == rightCharacter ? 0 : 1)
                current.append(min(substitution, previous[rightIndex + 1] + 1, current[rightIndex] + 1))
            }
            previous = current
        }
        return previous[right.count]
    }
}

/// The checked entries of one YAML mapping, in file order.
struct ScenarioMapping {
    /// The mapping itself (for "missing key" messages).
    let value: ScenarioValue
    /// Keys and values in file order; keys are unique.
    let entries: [(key: String, value: ScenarioValue)]

    /// The value under `key`, if present (even when null).
    func optional(_ key: String) -> ScenarioValue? {
        entries.first { $0.key == key }?.value
    }

    /// The value under `key`, or an error naming the missing key.
    func required(_ key: String) throws(ScenarioError) -> ScenarioValue {
        guard let found = optional(key) else { throw value.error("missing required key '\(key)'") }
        return found
    }

    /// The keys present among `candidates`, in file order.
    func present(among candidates: [String]) -> [String] {
        entries.map(\.key).filter { candidates.contains($0) }
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
