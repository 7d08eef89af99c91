// Typed scalars of the scenario format: sizes (`8MiB`), durations (`1.5s`),
// resource quantities (`0.5` -> 500 milli-units), comparisons (`">= 1"`) and
// references (`"step[i-1]"`). Numbers are parsed as exact decimals into
// Int64 with overflow checks, so `99999999999GiB` is an error, not a trap.

import RayCore

extension ScenarioValue {
    /// Bytes per size unit, longest suffix first so that `B` does not shadow `KiB`.
    static let sizeUnits: [(suffix: String, bytes: Int64)] = [("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30), ("B", 1)]
    /// Microseconds per duration unit, longest suffix first so that `s` does not shadow `ms`.
    static let durationUnits: [(suffix: String, micros: Int64)] = [("us", 1), ("ms", 1_000), ("s", 1_000_000)]
    /// Largest offset in `name[i+K]`; keeps `index + offset` far from overflow.
    static let relativeOffsetMax = 1_000_000_000

    /// A size like `8MiB`, `100KiB`, `8B` or a plain integer of bytes.
    func sizeBytes() throws(ScenarioError) -> Int64 {
        let text = try scalarText(expected: "a size like 8MiB").trimmingWhitespace()
        let (numberText, unitText) = ScenarioValue.splitUnit(text)
        let unitBytes: Int64
        if unitText.isEmpty {
            unitBytes = 1
        } else if let unit = ScenarioValue.sizeUnits.first(where: { $0.suffix == unitText }) {
            unitBytes = unit.bytes
        } else {
            throw error("expected a size like 8MiB (units B, KiB, MiB, GiB), got '\(text)'")
        }
        guard let number = ScenarioDecimal(numberText), unitText.isEmpty ? number.scale == 0 : true else {
            throw error("expected a size like 8MiB (units B, KiB, MiB, GiB), got '\(text)'")
        }
        if number.isNegative && number.mantissa != 0 { throw error("negative size \(text)") }
        guard let bytes = number.scaled(by: unitBytes) else {
            throw error("size \(text) is not a whole number of bytes or is too large")
        }
        return bytes
    }

    /// A duration like `200us`, `5ms`, `1.5s` (or a bare `0`), in microseconds.
    func durationMicros() throws(ScenarioError) -> Int64 {
        let text = try scalarText(expected: "a duration like 5ms").trimmingWhitespace()
        if text == "0" { return 0 }
        let (numberText, unitText) = ScenarioValue.splitUnit(text)
        guard let unit = ScenarioValue.durationUnits.first(where: { $0.suffix == unitText }),
              let number = ScenarioDecimal(numberText) else {
            throw error("expected a duration like 5ms (units us, ms, s), got '\(text)'")
        }
        if number.isNegative && number.mantissa != 0 { throw error("negative duration \(text)") }
        guard let micros = number.scaled(by: unit.micros) else {
            throw error("duration \(text) is not a whole number of microseconds or is too large")
        }
        return micros
    }

    /// A mapping of resource names to non-negative quantities with at most three decimals.
    func resources() throws(ScenarioError) -> ResourceSet {
        var milli: [String: Int64] = [:]
        for (name, quantity) in try anyMapping().entries {
            guard !name.isEmpty, name.count <= ScenarioValue.nameLengthMax else {
                throw quantity.error("expected a resource name")
            }
            milli[name] = try quantity.resourceMilli()
        }
        return ResourceSet(milli)
    }

    /// One resource quantity (`2`, `0.5`) in milli-units.
    func resourceMilli() throws(ScenarioError) -> Int64 {
        let text = try scalarText(expected: "a resource quantity like 2 or 0.5").trimmingWhitespace()
        guard let number = ScenarioDecimal(text) else {
            throw error("expected a resource quantity like 2 or 0.5, got '\(text)'")
        }
        if number.isNegative && number.mantissa != 0 { throw error("negative resource quantity \(text)") }
        guard number.scale <= 3 else { throw error("resource quantity \(text) has more than 3 decimals") }
        guard let milli = number.scaled(by: 1000) else { throw error("resource quantity \(text) is too large") }
        return milli
    }

    /// `">= 1"`, `"== 0"`, `"<= 8"`, `"> 0"`, `"< 5"`, or a bare integer (meaning `==`).
    func comparison() throws(ScenarioError) -> Comparison {
        let text = try scalarText(expected: "a comparison like \">= 1\"").trimmingWhitespace()
        var op = Comparison.Operator.equal
        var rest = Substring(text)
        for candidate in [Comparison.Operator.atLeast, .atMost, .equal, .greater, .less]
        where rest.hasPrefix(candidate.rawValue) {
            op = candidate
            rest = rest.dropFirst(candidate.rawValue.count)
            break
        }
        guard let value = Int64(String(rest).trimmingWhitespace()), value >= 0 else {
            throw error("expected a comparison like \">= 1\" (==, >=, <=, >, < and a non-negative integer), got '\(text)'")
        }
        return Comparison(op: op, value: value)
    }

    /// A reference: `name`, `name[3]`, `name[*]`, `name[i]`, `name[i-1]`, `name[i+2]`.
    /// Whether a relative form is allowed here is checked by the caller.
    func reference() throws(ScenarioError) -> RefPattern {
        let text = try scalarText(expected: "a reference like \"load[3]\"").trimmingWhitespace()
        let expected = "expected a reference like \"weights\", \"load[3]\", \"load[*]\" or \"step[i-1]\", got '\(text)'"
        guard let open = text.firstIndex(of: "[") else {
            guard ScenarioValue.isValidName(text) else { throw error(expected) }
            return .bare(name: text)
        }
        let name = String(text[..<open])
        guard ScenarioValue.isValidName(name), text.hasSuffix("]") else { throw error(expected) }
        let inner = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
            .filter { $0 != " " }
        if inner == "*" { return .all(name: name) }
        if let index = Int(inner), inner.first != "+", inner.first != "-" {
            return .instance(name: name, index: index)
        }
        guard inner.first == "i" else { throw error(expected) }
        let offsetText = inner.dropFirst()
        if offsetText.isEmpty { return .relative(name: name, offset: 0) }
        guard offsetText.first == "+" || offsetText.first == "-",
              offsetText.dropFirst().allSatisfy({ $0 >= "0" && $0 <= "9" }),
              let offset = Int(offsetText), abs(offset) <= ScenarioValue.relativeOffsetMax else {
            throw error(expected)
        }
        return .relative(name: name, offset: offset)
    }

    /// Splits `"8MiB"` into `("8", "MiB")` at the first letter.
    static func splitUnit(_ text: String) -> (number: String, unit: String) {
        guard let unitStart = text.firstIndex(where: { $0.isLetter }) else { return (text, "") }
        return (String(text[..<unitStart]).trimmingWhitespace(), String(text[unitStart...]))
    }
}

/// An exact decimal `mantissa / 10^scale` as written in the file (`1.5` is 15 / 10).
struct ScenarioDecimal {
    /// True when written with a leading `-`.
    var isNegative: Bool
    /// The digits without the point; never negative.
    var mantissa: Int64
    /// Digits after the point.
    var scale: Int

    /// Most digits after the point that are kept exact.
    static let scaleMax = 9

    /// Parses `[+-]digits[.digits]`; nil for anything else or on overflow.
    init?(_ text: String) {
        var characters = Substring(text)
        isNegative = characters.first == "-"
        if characters.first == "-" || characters.first == "+" { characters = characters.dropFirst() }
        guard !characters.isEmpty else { return nil }
        var mantissa: Int64 = 0
        var scale = 0
        var seenPoint = false
        var digitCount = 0
        for character in characters {
            if character == "." {
                guard !seenPoint else { return nil }
                seenPoint = true
                continue
            }
            guard let digit = character.wholeNumberValue, character.isASCII else { return nil }
            let (times, overflow) = mantissa.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times.addingReportingOverflow(Int64(digit))
            guard !overflow, !overflow2 else { return nil }
            mantissa = sum
            digitCount += 1
            if seenPoint { scale += 1 }
        }
        guard digitCount > 0, scale <= ScenarioDecimal.scaleMax else { return nil }
        self.mantissa = mantissa
        self.scale = scale
    }

    /// `mantissa * unit / 10^scale` when it is a whole number that fits in Int64; nil otherwise.
    func scaled(by unit: Int64) -> Int64? {
        let (product, overflow) = mantissa.multipliedReportingOverflow(by: unit)
        guard !overflow else { return nil }
        var divisor: Int64 = 1
        for _ in 0..<scale { divisor *= 10 }
        guard product % divisor == 0 else { return nil }
        return product / divisor
    }
}
