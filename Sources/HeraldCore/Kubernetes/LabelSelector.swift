/// A Kubernetes label selector in kubectl's text form, as pools use it for nodes, Services
/// and namespaces: requirements separated by commas, all of which must hold —
/// `key=value` (or `==`), `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key` (the
/// label exists), `!key` (it does not). It expresses what a MetalLB `matchLabels` and
/// `matchExpressions` (In, NotIn, Exists, DoesNotExist) can, in one string.
public struct LabelSelector: Hashable, Sendable, CustomStringConvertible {
    public enum Requirement: Hashable, Sendable {
        case equals(String, String)
        case notEquals(String, String)
        case isIn(String, [String])
        case notIn(String, [String])
        case exists(String)
        case doesNotExist(String)
    }

    public let requirements: [Requirement]

    public init(requirements: [Requirement]) { self.requirements = requirements }

    /// Parses `text`; the error says what is wrong, for `FILE:LINE: key: message`.
    public static func parse(_ text: String) -> Result<LabelSelector, SelectorError> {
        guard !text.trimmingWhitespace.isEmpty else {
            return .failure(SelectorError("an empty selector selects everything; leave it out"))
        }
        var requirements: [Requirement] = []
        for part in split(text) {
            let item = part.trimmingWhitespace
            guard !item.isEmpty else { return .failure(SelectorError("empty requirement in \"\(text)\"")) }
            switch requirement(item) {
            case .success(let requirement): requirements.append(requirement)
            case .failure(let error): return .failure(error)
            }
        }
        return .success(LabelSelector(requirements: requirements))
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { requirement in
            switch requirement {
            case .equals(let key, let value): labels[key] == value
            case .notEquals(let key, let value): labels[key] != value
            case .isIn(let key, let values): labels[key].map(values.contains) ?? false
            case .notIn(let key, let values): !(labels[key].map(values.contains) ?? false)
            case .exists(let key): labels[key] != nil
            case .doesNotExist(let key): labels[key] == nil
            }
        }
    }

    public var description: String {
        requirements.map { requirement in
            switch requirement {
            case .equals(let key, let value): "\(key)=\(value)"
            case .notEquals(let key, let value): "\(key)!=\(value)"
            case .isIn(let key, let values): "\(key) in (\(values.joined(separator: ",")))"
            case .notIn(let key, let values): "\(key) notin (\(values.joined(separator: ",")))"
            case .exists(let key): key
            case .doesNotExist(let key): "!\(key)"
            }
        }.joined(separator: ", ")
    }

    // MARK: Parsing

    /// Splits at commas outside parentheses.
    private static func split(_ text: String) -> [String] {
        var parts: [String] = []
        var current = ""
        var depth = 0
        for character in text {
            switch character {
            case "(": depth += 1
            case ")": depth -= 1
            case "," where depth == 0:
                parts.append(current)
                current = ""
                continue
            default: break
            }
            current.append(character)
        }
        parts.append(current)
        return parts
    }

    private static func requirement(_ item: String) -> Result<Requirement, SelectorError> {
        if item.hasPrefix("!"), !item.contains("=") {
            let key = String(item.dropFirst()).trimmingWhitespace
            return checkedKey(key).map { .doesNotExist($0) }
        }
        if let equals = item.firstIndex(of: "=") {
            let negated = equals > item.startIndex && item[item.index(before: equals)] == "!"
            let keyEnd = negated ? item.index(before: equals) : equals
            var valueStart = item.index(after: equals)
            if !negated, valueStart < item.endIndex, item[valueStart] == "=" { valueStart = item.index(after: valueStart) }
            let key = String(item[..<keyEnd]).trimmingWhitespace
            let value = String(item[valueStart...]).trimmingWhitespace
            return checkedKey(key).flatMap { key in
                checkedValue(value).map { negated ? .notEquals(key, $0) : .equals(key, $0) }
            }
        }
        let words = item.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true).map(String.init)
        if words.count == 1 { return checkedKey(words[0]).map { .exists($0) } }
        guard words.count == 3, words[1] == "in" || words[1] == "notin" else {
            return .failure(SelectorError("cannot read \"\(item)\": use key=value, key!=value, key in (a,b), key notin (a,b), key or !key"))
        }
        let list = words[2].trimmingWhitespace
        guard list.hasPrefix("("), list.hasSuffix(")") else {
            return .failure(SelectorError("\"\(item)\": the values of \(words[1]) go in parentheses: \(words[0]) \(words[1]) (a,b)"))
        }
        var values: [String] = []
        for value in list.dropFirst().dropLast().split(separator: ",", omittingEmptySubsequences: false) {
            switch checkedValue(String(value).trimmingWhitespace) {
            case .success(let value): values.append(value)
            case .failure(let error): return .failure(error)
            }
        }
        return checkedKey(words[0]).map { words[1] == "in" ? .isIn($0, values) : .notIn($0, values) }
    }

    /// A label key: an optional DNS prefix and `/`, then 1 to 63 of `[A-Za-z0-9_.-]`.
    private static func checkedKey(_ key: String) -> Result<String, SelectorError> {
        let name = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false).last.map(String.init) ?? ""
        guard !name.isEmpty, name.utf8.count <= 63, key.utf8.count <= 316,
              key.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_./".contains($0)) }) else {
            return .failure(SelectorError("\"\(key)\" is not a label key"))
        }
        return .success(key)
    }

    /// A label value: up to 63 of `[A-Za-z0-9_.-]`, possibly empty.
    private static func checkedValue(_ value: String) -> Result<String, SelectorError> {
        guard value.utf8.count <= 63, value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) else {
            return .failure(SelectorError("\"\(value)\" is not a label value"))
        }
        return .success(value)
    }
}

public struct SelectorError: Error, Equatable, Sendable, CustomStringConvertible {
    public var message: String

    init(_ message: String) { self.message = message }

    public var description: String { message }
}
