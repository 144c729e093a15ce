import FoundationEssentials

/// What `heraldctl` asks over the control socket: one command per connection, one line
/// of text; the answer is one JSON document, then the daemon closes the connection.
public enum ControlCommand: String, CaseIterable, Sendable {
    case status
}

public struct StatusReport: Codable, Equatable, Sendable {
    public var node: String
    public var version: String
    public var pid: Int32
    public var uptimeSeconds: Int
    public var configFiles: [String]
    public var links: [LinkReport]
    public var vips: [VIPReport]
}

public struct LinkReport: Codable, Equatable, Sendable {
    public var name: String
    public var mac: String
    public var answering: [String]
    public var counters: LinkCounters
}

public struct VIPReport: Codable, Equatable, Sendable {
    public enum Role: String, Codable, Sendable {
        /// This node answers for the VIP.
        case announcing
        /// The VIP's `nodes` list does not include this node.
        case notEligible = "not-eligible"
    }

    public var name: String
    public var address: String
    public var role: Role
    public var interfaces: [String]
}

public struct ControlErrorReply: Codable, Sendable {
    public var error: String
}

enum ControlJSON {
    static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return Array((try? encoder.encode(value)) ?? Data("{\"error\":\"encoding failed\"}".utf8))
    }
}
