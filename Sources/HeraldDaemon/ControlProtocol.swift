/// What `heraldctl` asks over the control socket: one command per connection, one line
/// of text; the answer is one JSON document, then the daemon closes the connection.
///
/// The daemon writes JSON with `JSONWriter` rather than Foundation's encoder, so heraldd
/// does not load Foundation (2 MB of resident memory for one encoder); `heraldctl`
/// decodes the same types with Foundation's `JSONDecoder`. A unit test holds the two to
/// the same keys.
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

    var json: JSONWriter.Value {
        .object(["node": .string(node), "version": .string(version), "pid": .number(UInt64(max(pid, 0))),
                 "uptimeSeconds": .number(UInt64(max(uptimeSeconds, 0))), "configFiles": .array(configFiles.map { .string($0) }),
                 "links": .array(links.map(\.json)), "vips": .array(vips.map(\.json))])
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
        /// The VIP's `nodes` list does not include this node.
        case notEligible = "not-eligible"
    }

    public var name: String
    public var address: String
    public var role: Role
    public var interfaces: [String]

    var json: JSONWriter.Value {
        .object(["name": .string(name), "address": .string(address), "role": .string(role.rawValue),
                 "interfaces": .array(interfaces.map { .string($0) })])
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
                        "injectFailures": .number(injectFailures), "kernelDrops": .number(kernelDrops)])
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
