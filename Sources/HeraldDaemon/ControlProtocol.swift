/// What `heraldctl` asks over the control socket: one command per connection, one line
/// of text; the answer is one JSON document, then the daemon closes the connection.
///
/// The daemon writes JSON with `JSONWriter` rather than Foundation's encoder, so heraldd
/// does not load Foundation (2 MB of resident memory for one encoder); `heraldctl`
/// decodes the same types with Foundation's `JSONDecoder`. A unit test holds the two to
/// the same keys.
public enum ControlRequest: Equatable, Sendable {
    case status
    case members
    case explain(String)

    public init?(line: String) {
        let words = line.split(separator: " ").map(String.init)
        switch (words.first, words.count) {
        case ("status", 1): self = .status
        case ("members", 1): self = .members
        case ("explain", 2): self = .explain(words[1])
        default: return nil
        }
    }

    public var line: String {
        switch self {
        case .status: "status"
        case .members: "members"
        case .explain(let address): "explain \(address)"
        }
    }

    static let usage = "status | members | explain ADDRESS"
}

public struct StatusReport: Codable, Equatable, Sendable {
    public var node: String
    public var version: String
    public var pid: Int32
    public var uptimeSeconds: Int
    public var configFiles: [String]
    public var links: [LinkReport]
    public var vips: [VIPReport]
    /// Absent without `[gossip]`.
    public var gossip: GossipReport?

    var json: JSONWriter.Value {
        var fields: [String: JSONWriter.Value] = [
            "node": .string(node), "version": .string(version), "pid": .number(UInt64(max(pid, 0))),
            "uptimeSeconds": .number(UInt64(max(uptimeSeconds, 0))), "configFiles": .array(configFiles.map { .string($0) }),
            "links": .array(links.map(\.json)), "vips": .array(vips.map(\.json))]
        if let gossip { fields["gossip"] = gossip.json }
        return .object(fields)
    }
}

public struct GossipReport: Codable, Equatable, Sendable {
    public var address: String
    public var profile: String
    public var encrypted: Bool
    public var alive: Int
    public var suspect: Int
    public var dead: Int
    public var awareness: Int
    public var holdingDown: Bool
    public var settled: Bool
    /// VIPs this node took over since start (including its first ones).
    public var takeovers: Int
    /// Gossip packets dropped, by reason.
    public var rejected: [String: UInt64]

    var json: JSONWriter.Value {
        .object(["address": .string(address), "profile": .string(profile), "encrypted": .bool(encrypted),
                 "alive": .number(UInt64(alive)), "suspect": .number(UInt64(suspect)), "dead": .number(UInt64(dead)),
                 "awareness": .number(UInt64(awareness)), "holdingDown": .bool(holdingDown), "settled": .bool(settled),
                 "takeovers": .number(UInt64(takeovers)), "rejected": .object(rejected.mapValues { .number($0) })])
    }
}

public struct MemberReport: Codable, Equatable, Sendable {
    public var name: String
    public var address: String
    public var status: String
    public var incarnation: UInt64
    /// This node's last direct probe round trip, in microseconds.
    public var roundTripMicroseconds: UInt64?
    public var holdingDown: Bool
    public var interfaces: [String]
    public var isSelf: Bool

    var json: JSONWriter.Value {
        var fields: [String: JSONWriter.Value] = [
            "name": .string(name), "address": .string(address), "status": .string(status), "incarnation": .number(incarnation),
            "holdingDown": .bool(holdingDown), "interfaces": .array(interfaces.map { .string($0) }), "isSelf": .bool(isSelf)]
        if let roundTripMicroseconds { fields["roundTripMicroseconds"] = .number(roundTripMicroseconds) }
        return .object(fields)
    }
}

public struct MembersReport: Codable, Equatable, Sendable {
    public var members: [MemberReport]

    var json: JSONWriter.Value { .object(["members": .array(members.map(\.json))]) }
}

public struct ExplainReport: Codable, Equatable, Sendable {
    public struct Candidate: Codable, Equatable, Sendable {
        public var name: String
        public var eligible: Bool
        /// Why not, when not eligible.
        public var reason: String?
        public var interfaces: [String]

        var json: JSONWriter.Value {
            var fields: [String: JSONWriter.Value] = ["name": .string(name), "eligible": .bool(eligible),
                                                      "interfaces": .array(interfaces.map { .string($0) })]
            if let reason { fields["reason"] = .string(reason) }
            return .object(fields)
        }
    }

    public var vip: String
    public var address: String
    public var owner: String?
    /// Every known member in election order: the first eligible one owns the VIP.
    public var candidates: [Candidate]
    /// Adjacent mode: the node that takes the traffic, its MAC once resolved, and every
    /// node in target order (`interfaces` holds the node address that is resolved).
    public var target: String?
    public var targetMAC: String?
    public var targets: [Candidate]?

    public init(vip: String, address: String, owner: String?, candidates: [Candidate], target: String? = nil,
                targetMAC: String? = nil, targets: [Candidate]? = nil) {
        self.vip = vip
        self.address = address
        self.owner = owner
        self.candidates = candidates
        self.target = target
        self.targetMAC = targetMAC
        self.targets = targets
    }

    var json: JSONWriter.Value {
        var fields: [String: JSONWriter.Value] = ["vip": .string(vip), "address": .string(address),
                                                  "candidates": .array(candidates.map(\.json))]
        if let owner { fields["owner"] = .string(owner) }
        if let target { fields["target"] = .string(target) }
        if let targetMAC { fields["targetMAC"] = .string(targetMAC) }
        if let targets { fields["targets"] = .array(targets.map(\.json)) }
        return .object(fields)
    }
}

public struct LinkReport: Codable, Equatable, Sendable {
    public var name: String
    public var mac: String
    public var answering: [String]
    public var counters: LinkCounters

    var json: JSONWriter.Value {
        .object(["name": .string(name), "mac": .string(mac), "answering": .array(answering.map { .string($0) }),
                 "counters": counters.json])
    }
}

public struct VIPReport: Codable, Equatable, Sendable {
    public enum Role: String, Codable, Sendable {
        /// This node answers for the VIP.
        case announcing
        /// Another node owns it; this one would take over if it failed.
        case standby
        /// This node cannot announce it (nodes list, interfaces, health check).
        case notEligible = "not-eligible"
        /// Nobody can announce it right now.
        case unowned
        /// Another host (`foreignMAC`) answers for it; this node withholds it.
        case conflict
    }

    public var name: String
    public var address: String
    public var role: Role
    public var owner: String?
    public var interfaces: [String]
    public var foreignMAC: String?
    /// Adjacent mode: the node that takes the traffic, and the MAC answers carry.
    public var targetNode: String?
    public var targetMAC: String?

    public init(name: String, address: String, role: Role, owner: String?, interfaces: [String], foreignMAC: String? = nil,
                targetNode: String? = nil, targetMAC: String? = nil) {
        self.name = name
        self.address = address
        self.role = role
        self.owner = owner
        self.interfaces = interfaces
        self.foreignMAC = foreignMAC
        self.targetNode = targetNode
        self.targetMAC = targetMAC
    }

    var json: JSONWriter.Value {
        var fields: [String: JSONWriter.Value] = ["name": .string(name), "address": .string(address), "role": .string(role.rawValue),
                                                  "interfaces": .array(interfaces.map { .string($0) })]
        if let owner { fields["owner"] = .string(owner) }
        if let foreignMAC { fields["foreignMAC"] = .string(foreignMAC) }
        if let targetNode { fields["targetNode"] = .string(targetNode) }
        if let targetMAC { fields["targetMAC"] = .string(targetMAC) }
        return .object(fields)
    }
}

public struct ControlErrorReply: Codable, Sendable {
    public var error: String

    var json: JSONWriter.Value { .object(["error": .string(error)]) }
}

extension LinkCounters {
    var json: JSONWriter.Value {
        func table(_ values: [String: UInt64]) -> JSONWriter.Value { .object(values.mapValues { .number($0) }) }
        return .object(["requestsReceived": table(requestsReceived), "responsesSent": table(responsesSent),
                        "gratuitousSent": table(gratuitousSent), "dropped": table(dropped), "conflicts": table(conflicts),
                        "probesSent": .number(probesSent), "targetProbesSent": .number(targetProbesSent),
                        "retargets": table(retargets), "injectFailures": .number(injectFailures), "kernelDrops": .number(kernelDrops)])
    }
}

/// Just enough JSON output for the control socket: objects (keys sorted, so answers
/// compare and diff well), arrays, strings and unsigned integers.
enum JSONWriter {
    indirect enum Value {
        case object([String: Value])
        case array([Value])
        case string(String)
        case number(UInt64)
        case bool(Bool)
    }

    static func encode(_ value: Value) -> [UInt8] {
        var output = ""
        write(value, into: &output)
        return Array(output.utf8)
    }

    private static func write(_ value: Value, into output: inout String) {
        switch value {
        case .object(let members):
            output += "{"
            for (index, key) in members.keys.sorted().enumerated() {
                if index > 0 { output += "," }
                writeString(key, into: &output)
                output += ":"
                write(members[key]!, into: &output)
            }
            output += "}"
        case .array(let elements):
            output += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { output += "," }
                write(element, into: &output)
            }
            output += "]"
        case .string(let text):
            writeString(text, into: &output)
        case .number(let number):
            output += String(number)
        case .bool(let value):
            output += value ? "true" : "false"
        }
    }

    private static func writeString(_ text: String, into output: inout String) {
        output += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": output += "\\\""
            case "\\": output += "\\\\"
            case "\n": output += "\\n"
            case "\r": output += "\\r"
            case "\t": output += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                output += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default:
                output.unicodeScalars.append(scalar)
            }
        }
        output += "\""
    }
}
