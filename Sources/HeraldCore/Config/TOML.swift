/// A TOML 1.0 reader that remembers the line of every key and value, so config errors can
/// point at `file:line`. It reads everything Herald's config uses — tables, arrays of
/// tables, dotted and quoted keys, strings, integers, floats, booleans, arrays and inline
/// tables — and refuses the rest (dates, multi-line strings) with a clear error instead of
/// guessing.
///
/// Input is hostile until proven otherwise: parsing is linear in the input (keys are
/// found through an index, and tables and arrays are grown in place, never copied), and
/// nesting is bounded (`maximumDepth` levels of arrays and inline tables, `maximumKeyParts`
/// parts in a dotted key), so no file can exhaust the stack or the CPU.
public struct TOMLValue: Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case string(String)
        case integer(Int64)
        case float(Double)
        case boolean(Bool)
        case array([TOMLValue])
        case table(TOMLTable)
    }

    public var kind: Kind
    public var line: Int

    public var typeName: String {
        switch kind {
        case .string: "string"
        case .integer: "integer"
        case .float: "float"
        case .boolean: "boolean"
        case .array: "array"
        case .table: "table"
        }
    }
}

/// A table in source order; each entry keeps the line its key was written on.
public struct TOMLTable: Sendable, Equatable {
    public struct Entry: Sendable, Equatable {
        public var key: String
        public var value: TOMLValue
        public var line: Int
    }

    public private(set) var entries: [Entry] = []
    /// Where each key is in `entries`.
    private var positions: [String: Int] = [:]
    /// The line of the header that opened this table (0 for the root).
    public var line: Int
    /// Defined by a `[header]` or as an inline table: may not be opened again.
    var isSealed = false
    /// Created as an element of `[[array]]`.
    var isArrayElement = false

    public init(line: Int) { self.line = line }

    public subscript(key: String) -> Entry? { positions[key].map { entries[$0] } }

    fileprivate func index(of key: String) -> Int? { positions[key] }

    fileprivate mutating func append(_ key: String, _ value: TOMLValue, line: Int) {
        positions[key] = entries.count
        entries.append(Entry(key: key, value: value, line: line))
    }

    public static func == (lhs: TOMLTable, rhs: TOMLTable) -> Bool {
        lhs.entries == rhs.entries && lhs.line == rhs.line && lhs.isSealed == rhs.isSealed
            && lhs.isArrayElement == rhs.isArrayElement
    }

    fileprivate mutating func withValue<R>(at index: Int, _ body: (inout TOMLValue) throws(TOMLError) -> R) throws(TOMLError) -> R {
        try body(&entries[index].value)
    }
}

extension TOMLValue.Kind {
    /// Stands in for a table or array taken out of its parent to be changed in place.
    static let placeholder = TOMLValue.Kind.boolean(false)

    var isArrayElementTable: Bool {
        if case .table(let table) = self { table.isArrayElement } else { false }
    }

    /// The table this is, moved out (leaving `placeholder`), so that changing it and
    /// putting it back copies nothing; `nil` (and unchanged) if this is not a table.
    mutating func takeTable() -> TOMLTable? {
        guard case .table(let table) = self else { return nil }
        self = .placeholder
        return table
    }

    /// The array this is, moved out like `takeTable`.
    mutating func takeArray() -> [TOMLValue]? {
        guard case .array(let elements) = self else { return nil }
        self = .placeholder
        return elements
    }
}

public struct TOMLError: Error, Equatable, Sendable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var message: String

    public var description: String { "\(line):\(column): \(message)" }
}

public enum TOMLParser {
    /// Levels of arrays and inline tables inside one another, at most.
    public static let maximumDepth = 32
    /// Parts of one dotted key (or table header), at most.
    public static let maximumKeyParts = 32

    public static func parse(_ text: String) throws(TOMLError) -> TOMLTable {
        var scanner = Scanner(Array(text.utf8))
        var root = TOMLTable(line: 0)
        var current: [String] = []

        while true {
            scanner.skipBlankAndComments()
            guard let byte = scanner.peek() else { break }
            if byte == UInt8(ascii: "[") {
                let line = scanner.line
                scanner.advance()
                let isArray = scanner.peek() == UInt8(ascii: "[")
                if isArray { scanner.advance() }
                scanner.skipSpaces()
                let path = try scanner.key()
                scanner.skipSpaces()
                try scanner.expect("]")
                if isArray { try scanner.expect("]") }
                try scanner.endOfLine()
                if isArray {
                    try appendArrayTable(&root, path: path, line: line, scanner: scanner)
                } else {
                    try defineTable(&root, path: path, line: line, scanner: scanner)
                }
                current = path
            } else {
                let line = scanner.line
                let path = try scanner.key()
                scanner.skipSpaces()
                try scanner.expect("=")
                scanner.skipSpaces()
                let value = try scanner.value()
                try scanner.endOfLine()
                try assign(&root, tablePath: current, keyPath: path, value: value, line: line, scanner: scanner)
            }
        }
        return root
    }

    // MARK: Building the tree

    /// Walks `path` from `table`, creating implicit tables, and runs `body` on the last one.
    /// Arrays of tables resolve to their last element, as TOML specifies.
    private static func walk<R>(_ table: inout TOMLTable, _ path: ArraySlice<String>, line: Int, scanner: Scanner,
                                viaDottedKey: Bool = false,
                                _ body: (inout TOMLTable) throws(TOMLError) -> R) throws(TOMLError) -> R {
        guard let head = path.first else { return try body(&table) }
        let rest = path.dropFirst()
        if table.index(of: head) == nil {
            table.append(head, TOMLValue(kind: .table(TOMLTable(line: line)), line: line), line: line)
        }
        let index = table.index(of: head)!
        return try table.withValue(at: index) { (value) throws(TOMLError) -> R in
            // The table (or array) is taken out of its parent while it changes, and put
            // back after: with the parent no longer holding it, the change happens in place.
            // (Matching on `value.kind` directly would keep a second reference alive for the
            // whole match, and every change would copy: reading a file was quadratic.)
            if var child = value.kind.takeTable() {
                defer { value.kind = .table(child) }
                if viaDottedKey && child.isSealed && child.line != line {
                    throw scanner.error("cannot add to table '\(head)' defined on line \(child.line)", line: line)
                }
                return try walk(&child, rest, line: line, scanner: scanner, viaDottedKey: viaDottedKey, body)
            }
            if var elements = value.kind.takeArray() {
                defer { value.kind = .array(elements) }
                guard !viaDottedKey, let last = elements.indices.last, elements[last].kind.isArrayElementTable,
                      var child = elements[last].kind.takeTable() else {
                    throw scanner.error("key '\(head)' is already a value, not a table", line: line)
                }
                defer { elements[last].kind = .table(child) }
                return try walk(&child, rest, line: line, scanner: scanner, body)
            }
            throw scanner.error("key '\(head)' is already a \(value.typeName), not a table", line: line)
        }
    }


    private static func defineTable(_ root: inout TOMLTable, path: [String], line: Int, scanner: Scanner) throws(TOMLError) {
        try walk(&root, path.dropLast(), line: line, scanner: scanner) { (parent) throws(TOMLError) in
            let name = path.last!
            if let index = parent.index(of: name) {
                try parent.withValue(at: index) { (value) throws(TOMLError) in
                    guard case .table(var existing) = value.kind else {
                        throw scanner.error("table [\(path.joined(separator: "."))] redefines a key set on line \(value.line)", line: line)
                    }
                    guard !existing.isSealed else {
                        throw scanner.error("table [\(path.joined(separator: "."))] is already defined on line \(existing.line)", line: line)
                    }
                    existing.isSealed = true
                    existing.line = line
                    value.kind = .table(existing)
                }
            } else {
                var table = TOMLTable(line: line)
                table.isSealed = true
                parent.append(name, TOMLValue(kind: .table(table), line: line), line: line)
            }
        }
    }

    private static func appendArrayTable(_ root: inout TOMLTable, path: [String], line: Int, scanner: Scanner) throws(TOMLError) {
        try walk(&root, path.dropLast(), line: line, scanner: scanner) { (parent) throws(TOMLError) in
            let name = path.last!
            var element = TOMLTable(line: line)
            element.isArrayElement = true
            element.isSealed = true
            let elementValue = TOMLValue(kind: .table(element), line: line)
            if let index = parent.index(of: name) {
                try parent.withValue(at: index) { (value) throws(TOMLError) in
                    // Every element of an array of tables is a table: checking the last is enough.
                    guard var elements = value.kind.takeArray() else {
                        throw scanner.error("[[\(path.joined(separator: "."))]] conflicts with '\(name)' on line \(value.line)", line: line)
                    }
                    defer { value.kind = .array(elements) }
                    guard elements.last?.kind.isArrayElementTable == true else {
                        throw scanner.error("[[\(path.joined(separator: "."))]] conflicts with '\(name)' on line \(value.line)", line: line)
                    }
                    elements.append(elementValue)
                }
            } else {
                parent.append(name, TOMLValue(kind: .array([elementValue]), line: line), line: line)
            }
        }
    }

    private static func assign(_ root: inout TOMLTable, tablePath: [String], keyPath: [String], value: TOMLValue,
                               line: Int, scanner: Scanner) throws(TOMLError) {
        try walk(&root, tablePath[...], line: line, scanner: scanner) { (table) throws(TOMLError) in
            try walk(&table, keyPath.dropLast(), line: line, scanner: scanner, viaDottedKey: true) { (target) throws(TOMLError) in
                let name = keyPath.last!
                if let existing = target[name] {
                    throw scanner.error("duplicate key '\(keyPath.joined(separator: "."))' (first set on line \(existing.line))", line: line)
                }
                target.append(name, value, line: line)
            }
        }
    }

    // MARK: Lexing

    struct Scanner {
        let bytes: [UInt8]
        var position = 0
        var line = 1
        var lineStart = 0
        /// Arrays and inline tables open around the current position.
        var depth = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        func peek(_ offset: Int = 0) -> UInt8? {
            position + offset < bytes.count ? bytes[position + offset] : nil
        }

        mutating func advance() {
            if bytes[position] == UInt8(ascii: "\n") {
                line += 1
                lineStart = position + 1
            }
            position += 1
        }

        func error(_ message: String, line: Int? = nil) -> TOMLError {
            TOMLError(line: line ?? self.line, column: line == nil ? position - lineStart + 1 : 1, message: message)
        }

        mutating func skipSpaces() {
            while let byte = peek(), byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") { advance() }
        }

        mutating func skipComment() {
            if peek() == UInt8(ascii: "#") {
                while let byte = peek(), byte != UInt8(ascii: "\n") { advance() }
            }
        }

        mutating func skipBlankAndComments() {
            while true {
                skipSpaces()
                skipComment()
                if peek() == UInt8(ascii: "\n") {
                    advance()
                } else if peek() == UInt8(ascii: "\r"), peek(1) == UInt8(ascii: "\n") {
                    advance()
                    advance()
                } else {
                    return
                }
            }
        }

        mutating func expect(_ character: Unicode.Scalar) throws(TOMLError) {
            guard peek() == UInt8(ascii: character) else {
                throw error("expected '\(character)' but found \(describeNext())")
            }
            advance()
        }

        func describeNext() -> String {
            guard let byte = peek() else { return "end of file" }
            if byte == UInt8(ascii: "\n") { return "end of line" }
            return "'\(Character(Unicode.Scalar(byte)))'"
        }

        mutating func endOfLine() throws(TOMLError) {
            skipSpaces()
            skipComment()
            if peek() == UInt8(ascii: "\r") { advance() }
            guard peek() == nil || peek() == UInt8(ascii: "\n") else {
                throw error("expected end of line but found \(describeNext())")
            }
        }

        static func isBareKey(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }

        /// A possibly dotted, possibly quoted key.
        mutating func key() throws(TOMLError) -> [String] {
            var parts: [String] = []
            while true {
                skipSpaces()
                if peek() == UInt8(ascii: "\"") {
                    parts.append(try basicString())
                } else if peek() == UInt8(ascii: "'") {
                    parts.append(try literalString())
                } else {
                    let start = position
                    while let byte = peek(), Self.isBareKey(byte) { advance() }
                    guard position > start else { throw error("expected a key but found \(describeNext())") }
                    parts.append(String(decoding: bytes[start..<position], as: UTF8.self))
                }
                skipSpaces()
                guard peek() == UInt8(ascii: ".") else { return parts }
                guard parts.count < TOMLParser.maximumKeyParts else {
                    throw error("a key with more than \(TOMLParser.maximumKeyParts) dotted parts")
                }
                advance()
            }
        }

        mutating func value() throws(TOMLError) -> TOMLValue {
            let line = self.line
            guard let byte = peek() else { throw error("expected a value but found end of file") }
            switch byte {
            case UInt8(ascii: "\""):
                if peek(1) == UInt8(ascii: "\""), peek(2) == UInt8(ascii: "\"") {
                    throw error("multi-line strings are not supported in Herald's config")
                }
                return TOMLValue(kind: .string(try basicString()), line: line)
            case UInt8(ascii: "'"):
                if peek(1) == UInt8(ascii: "'"), peek(2) == UInt8(ascii: "'") {
                    throw error("multi-line strings are not supported in Herald's config")
                }
                return TOMLValue(kind: .string(try literalString()), line: line)
            case UInt8(ascii: "["):
                return TOMLValue(kind: .array(try array()), line: line)
            case UInt8(ascii: "{"):
                return TOMLValue(kind: .table(try inlineTable()), line: line)
            default:
                return TOMLValue(kind: try scalar(), line: line)
            }
        }

        mutating func enter() throws(TOMLError) {
            depth += 1
            guard depth <= TOMLParser.maximumDepth else {
                throw error("arrays and inline tables nested more than \(TOMLParser.maximumDepth) deep")
            }
        }

        mutating func array() throws(TOMLError) -> [TOMLValue] {
            try enter()
            defer { depth -= 1 }
            advance()
            var elements: [TOMLValue] = []
            while true {
                skipBlankAndComments()
                if peek() == UInt8(ascii: "]") {
                    advance()
                    return elements
                }
                elements.append(try value())
                skipBlankAndComments()
                if peek() == UInt8(ascii: ",") {
                    advance()
                } else if peek() == UInt8(ascii: "]") {
                    advance()
                    return elements
                } else {
                    throw error("expected ',' or ']' in array but found \(describeNext())")
                }
            }
        }

        mutating func inlineTable() throws(TOMLError) -> TOMLTable {
            try enter()
            defer { depth -= 1 }
            let line = self.line
            advance()
            var table = TOMLTable(line: line)
            table.isSealed = true
            skipSpaces()
            if peek() == UInt8(ascii: "}") {
                advance()
                return table
            }
            while true {
                skipSpaces()
                let keyLine = self.line
                let path = try key()
                try expect("=")
                skipSpaces()
                let element = try value()
                let scanner = self
                try TOMLParser.walk(&table, path.dropLast(), line: keyLine, scanner: scanner, viaDottedKey: true) { (target) throws(TOMLError) in
                    if target[path.last!] != nil {
                        throw scanner.error("duplicate key '\(path.joined(separator: "."))' in inline table", line: keyLine)
                    }
                    target.append(path.last!, element, line: keyLine)
                }
                skipSpaces()
                if peek() == UInt8(ascii: ",") {
                    advance()
                } else if peek() == UInt8(ascii: "}") {
                    advance()
                    return table
                } else {
                    throw error("expected ',' or '}' in inline table but found \(describeNext())")
                }
            }
        }

        mutating func basicString() throws(TOMLError) -> String {
            advance()
            var scalars = String.UnicodeScalarView()
            var utf8: [UInt8] = []
            func flush() {
                scalars.append(contentsOf: String(decoding: utf8, as: UTF8.self).unicodeScalars)
                utf8.removeAll()
            }
            while true {
                guard let byte = peek(), byte != UInt8(ascii: "\n") else { throw error("unterminated string") }
                advance()
                if byte == UInt8(ascii: "\"") { break }
                guard byte == UInt8(ascii: "\\") else {
                    guard byte >= 0x20 || byte == 0x09, byte != 0x7F else { throw error("control character in string") }
                    utf8.append(byte)
                    continue
                }
                guard let escape = peek() else { throw error("unterminated string") }
                advance()
                switch escape {
                case UInt8(ascii: "b"): utf8.append(0x08)
                case UInt8(ascii: "t"): utf8.append(0x09)
                case UInt8(ascii: "n"): utf8.append(0x0A)
                case UInt8(ascii: "f"): utf8.append(0x0C)
                case UInt8(ascii: "r"): utf8.append(0x0D)
                case UInt8(ascii: "\""): utf8.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): utf8.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "u"), UInt8(ascii: "U"):
                    let digits = escape == UInt8(ascii: "u") ? 4 : 8
                    guard position + digits <= bytes.count,
                          let code = UInt32(String(decoding: bytes[position..<position + digits], as: UTF8.self), radix: 16),
                          let scalar = Unicode.Scalar(code) else {
                        throw error("invalid unicode escape")
                    }
                    for _ in 0..<digits { advance() }
                    flush()
                    scalars.append(scalar)
                default:
                    throw error("invalid escape '\\\(Character(Unicode.Scalar(escape)))'")
                }
            }
            flush()
            return String(scalars)
        }

        mutating func literalString() throws(TOMLError) -> String {
            advance()
            let start = position
            while true {
                guard let byte = peek(), byte != UInt8(ascii: "\n") else { throw error("unterminated string") }
                if byte == UInt8(ascii: "'") { break }
                advance()
            }
            defer { advance() }
            return String(decoding: bytes[start..<position], as: UTF8.self)
        }

        mutating func scalar() throws(TOMLError) -> TOMLValue.Kind {
            let start = position
            let startColumn = position - lineStart + 1
            while let byte = peek(), ![UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}"), UInt8(ascii: "#"),
                                       UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r")].contains(byte) {
                advance()
            }
            let text = String(decoding: bytes[start..<position], as: UTF8.self)
            let fail = TOMLError(line: line, column: startColumn, message: "invalid value '\(text)'")
            switch text {
            case "": throw TOMLError(line: line, column: startColumn, message: "expected a value but found \(describeNext())")
            case "true": return .boolean(true)
            case "false": return .boolean(false)
            case "inf", "+inf": return .float(.infinity)
            case "-inf": return .float(-.infinity)
            case "nan", "+nan", "-nan": return .float(.nan)
            default: break
            }
            if text.count >= 10, text.dropFirst(4).first == "-", text.prefix(4).allSatisfy(\.isNumber) {
                throw TOMLError(line: line, column: startColumn, message: "dates and times are not used in Herald's config: '\(text)'")
            }
            if text.contains(":") {
                throw TOMLError(line: line, column: startColumn, message: "invalid value '\(text)' (strings need quotes)")
            }
            guard !text.hasPrefix("_"), !text.hasSuffix("_"), !text.contains("__") else { throw fail }
            let plain = String(text.filter { $0 != "_" })
            for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where plain.hasPrefix(prefix) {
                guard let value = Int64(plain.dropFirst(2), radix: radix) else { throw fail }
                return .integer(value)
            }
            let unsigned = plain.first == "+" || plain.first == "-" ? plain.dropFirst() : plain[...]
            if unsigned.allSatisfy(\.isASCIIDigitValue), !unsigned.isEmpty {
                guard unsigned.count == 1 || unsigned.first != "0" else {
                    throw TOMLError(line: line, column: startColumn, message: "leading zeros are not allowed: '\(text)'")
                }
                guard let value = Int64(plain) else {
                    throw TOMLError(line: line, column: startColumn, message: "integer out of range: '\(text)'")
                }
                return .integer(value)
            }
            if unsigned.allSatisfy({ $0.isASCIIDigitValue || "eE.+-".contains($0) }), let value = Double(plain),
               unsigned.first?.isASCIIDigitValue == true, unsigned.last?.isASCIIDigitValue == true {
                return .float(value)
            }
            throw TOMLError(line: line, column: startColumn,
                            message: "invalid value '\(text)' (strings need quotes; booleans are true or false)")
        }
    }
}

extension Character {
    var isASCIIDigitValue: Bool { ("0"..."9").contains(self) }
}
