import CYAML

/// A YAML document as plain values, read with Debian's libyaml: enough for kubeconfig
/// files (mappings, sequences, scalars; anchors and tags are not used there). Scalars
/// stay strings: `true` is "true".
enum YAMLValue: Equatable {
    case scalar(String)
    case sequence([YAMLValue])
    case mapping([String: YAMLValue])

    subscript(key: String) -> YAMLValue? {
        if case .mapping(let map) = self { return map[key] }
        return nil
    }

    var string: String? {
        if case .scalar(let text) = self { return text }
        return nil
    }

    var list: [YAMLValue] {
        if case .sequence(let items) = self { return items }
        return []
    }

    struct ParseError: Error {
        var message: String
    }

    /// Collections nested inside one another, at most (a kubeconfig needs five): libyaml
    /// slows down with the square of the depth, so a deeper file is refused as soon as it
    /// gets there.
    static let maximumDepth = 64

    /// The first document of `text`.
    static func parse(_ text: String) throws(ParseError) -> YAMLValue {
        try parseDocuments(text, all: false).first ?? .mapping([:])
    }

    /// Every document of `text` (manifests separated by `---`); empty documents are left out.
    static func parseAll(_ text: String) throws(ParseError) -> [YAMLValue] {
        try parseDocuments(text, all: true)
    }

    private static func parseDocuments(_ text: String, all: Bool) throws(ParseError) -> [YAMLValue] {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw ParseError(message: "cannot initialize libyaml") }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        return try bytes.withUnsafeBufferPointer { buffer throws(ParseError) in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            // A stack of open collections; each mapping remembers its pending key.
            enum Open {
                case sequence([YAMLValue])
                case mapping([String: YAMLValue], key: String?)
            }
            var stack: [Open] = []
            var result: YAMLValue?
            var documents: [YAMLValue] = []
            func add(_ value: YAMLValue) throws(ParseError) {
                guard let top = stack.popLast() else {
                    result = result ?? value
                    return
                }
                switch top {
                case .sequence(var items):
                    items.append(value)
                    stack.append(.sequence(items))
                case .mapping(var map, let key):
                    if let key {
                        map[key] = value
                        stack.append(.mapping(map, key: nil))
                    } else {
                        guard case .scalar(let name) = value else { throw ParseError(message: "mapping keys must be scalars") }
                        stack.append(.mapping(map, key: name))
                    }
                }
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
                    throw ParseError(message: "line \(parser.problem_mark.line + 1): \(problem)")
                }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_SCALAR_EVENT:
                    let scalar = event.data.scalar
                    let value = String(decoding: UnsafeBufferPointer(start: scalar.value, count: scalar.length), as: UTF8.self)
                    try add(.scalar(value))
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    guard stack.count < Self.maximumDepth else {
                        throw ParseError(message: "line \(event.start_mark.line + 1): nested more than \(Self.maximumDepth) deep")
                    }
                    stack.append(event.type == YAML_SEQUENCE_START_EVENT ? .sequence([]) : .mapping([:], key: nil))
                case YAML_SEQUENCE_END_EVENT:
                    guard case .sequence(let items) = stack.popLast() else { throw ParseError(message: "unbalanced sequence") }
                    try add(.sequence(items))
                case YAML_MAPPING_END_EVENT:
                    guard case .mapping(let map, _) = stack.popLast() else { throw ParseError(message: "unbalanced mapping") }
                    try add(.mapping(map))
                case YAML_ALIAS_EVENT:
                    throw ParseError(message: "YAML aliases are not supported in a kubeconfig")
                case YAML_DOCUMENT_END_EVENT:
                    if let result { documents.append(result) }
                    result = nil
                    if !all { return documents }
                case YAML_STREAM_END_EVENT:
                    if let result { documents.append(result) }
                    return documents
                default:
                    continue
                }
            }
        }
    }
}
