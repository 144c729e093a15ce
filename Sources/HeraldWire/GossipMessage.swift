/// A peer's gossip endpoint: an IP address and UDP port.
public struct GossipAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var ip: IPAddress
    public var port: UInt16

    public init(ip: IPAddress, port: UInt16) {
        self.ip = ip
        self.port = port
    }

    public var description: String { ip.isIPv4 ? "\(ip):\(port)" : "[\(ip)]:\(port)" }

    public static func < (lhs: GossipAddress, rhs: GossipAddress) -> Bool { (lhs.ip, lhs.port) < (rhs.ip, rhs.port) }
}

/// What one member knows about another, as exchanged in full-state (push-pull) sync.
public struct MemberRecord: Equatable, Sendable {
    public enum Status: UInt8, Sendable {
        case alive = 0
        case suspect = 1
        case dead = 2
        /// Left gracefully: dead, but nobody needs to wait for a timeout.
        case left = 3
    }

    public var name: String
    public var address: GossipAddress
    public var incarnation: UInt64
    public var status: Status
    public var meta: [UInt8]

    public init(name: String, address: GossipAddress, incarnation: UInt64, status: Status, meta: [UInt8]) {
        self.name = name
        self.address = address
        self.incarnation = incarnation
        self.status = status
        self.meta = meta
    }
}

/// The SWIM protocol's messages. One UDP packet carries several: the primary message
/// (a ping, an ack…) followed by piggybacked membership updates.
public enum GossipMessage: Equatable, Sendable {
    /// Are you alive? `target` names the member meant, so a ping that reaches a new
    /// occupant of an old address is not answered.
    case ping(seq: UInt32, target: String, source: String)
    /// Please ping `target` for me (SWIM indirect probe).
    case pingRequest(seq: UInt32, target: String, targetAddress: GossipAddress, source: String)
    case ack(seq: UInt32, source: String)
    /// An indirect probe got no answer: the relay is alive, the target may not be (Lifeguard).
    case nack(seq: UInt32, source: String)
    case alive(name: String, address: GossipAddress, incarnation: UInt64, meta: [UInt8])
    case suspect(name: String, incarnation: UInt64, from: String)
    /// `from == name` means the member left gracefully.
    case dead(name: String, incarnation: UInt64, from: String)
    /// Full state, for joining and anti-entropy; a request is answered with a reply.
    case pushPull(isReply: Bool, members: [MemberRecord])
    /// Prove you are running now: answered with `response(nonce)`, sealed with the
    /// sender's current run (`ReplayGuard`).
    case challenge(nonce: UInt64)
    case response(nonce: UInt64)

    public static let maxNameLength = 253
    public static let maxMetaLength = 1024
    /// Records in one push-pull message, at most (a full state larger than this, or than
    /// a datagram, goes as several messages).
    public static let maxMembers = 4096
    /// The highest incarnation a message may carry. A member's incarnation grows by one
    /// per refutation or metadata change, so a real one never comes near; a larger one is
    /// malformed, and bounding it means outbidding a claim (`+ 1`) can never overflow.
    public static let maxIncarnation: UInt64 = 1 << 48
    /// The most a claim about another member may raise its incarnation over what the
    /// receiver knows (`MembershipMachine`): a member's own changes add one at a time, so
    /// pushing it to `maxIncarnation` takes 2^32 claims.
    public static let maxIncarnationStep: UInt64 = 1 << 16

    enum Kind: UInt8 {
        case ping = 1, pingRequest, ack, nack, alive, suspect, dead, pushPull, challenge, response
    }

    /// The member this message is about, for replacing older news about the same member.
    public var subject: String? {
        switch self {
        case .alive(let name, _, _, _), .suspect(let name, _, _), .dead(let name, _, _): name
        default: nil
        }
    }

    public func encode(into bytes: inout [UInt8]) {
        var writer = ByteWriter(capacity: 64)
        switch self {
        case .ping(let seq, let target, let source):
            writer.u8(Kind.ping.rawValue); writer.u32(seq); writer.name(target); writer.name(source)
        case .pingRequest(let seq, let target, let address, let source):
            writer.u8(Kind.pingRequest.rawValue); writer.u32(seq); writer.name(target); writer.gossipAddress(address); writer.name(source)
        case .ack(let seq, let source):
            writer.u8(Kind.ack.rawValue); writer.u32(seq); writer.name(source)
        case .nack(let seq, let source):
            writer.u8(Kind.nack.rawValue); writer.u32(seq); writer.name(source)
        case .alive(let name, let address, let incarnation, let meta):
            writer.u8(Kind.alive.rawValue); writer.name(name); writer.gossipAddress(address); writer.u64(incarnation); writer.meta(meta)
        case .suspect(let name, let incarnation, let from):
            writer.u8(Kind.suspect.rawValue); writer.name(name); writer.u64(incarnation); writer.name(from)
        case .dead(let name, let incarnation, let from):
            writer.u8(Kind.dead.rawValue); writer.name(name); writer.u64(incarnation); writer.name(from)
        case .pushPull(let isReply, let members):
            let members = members.prefix(Self.maxMembers)
            writer.u8(Kind.pushPull.rawValue); writer.u8(isReply ? 1 : 0); writer.u16(UInt16(members.count))
            for member in members {
                writer.name(member.name); writer.gossipAddress(member.address); writer.u64(member.incarnation)
                writer.u8(member.status.rawValue); writer.meta(member.meta)
            }
        case .challenge(let nonce):
            writer.u8(Kind.challenge.rawValue); writer.u64(nonce)
        case .response(let nonce):
            writer.u8(Kind.response.rawValue); writer.u64(nonce)
        }
        bytes += writer.bytes
    }

    /// Encoded size in bytes, for filling a packet up to its budget.
    public var encodedSize: Int {
        var bytes: [UInt8] = []
        encode(into: &bytes)
        return bytes.count
    }

    static func decode(_ reader: inout ByteReader) throws(WireError) -> GossipMessage {
        let raw = try reader.u8()
        guard let kind = Kind(rawValue: raw) else { throw .unknownGossipMessage(raw) }
        switch kind {
        case .ping:
            return .ping(seq: try reader.u32(), target: try reader.name(), source: try reader.name())
        case .pingRequest:
            return .pingRequest(seq: try reader.u32(), target: try reader.name(), targetAddress: try reader.gossipAddress(),
                                source: try reader.name())
        case .ack:
            return .ack(seq: try reader.u32(), source: try reader.name())
        case .nack:
            return .nack(seq: try reader.u32(), source: try reader.name())
        case .alive:
            return .alive(name: try reader.name(), address: try reader.gossipAddress(), incarnation: try reader.incarnation(),
                          meta: try reader.meta())
        case .suspect:
            return .suspect(name: try reader.name(), incarnation: try reader.incarnation(), from: try reader.name())
        case .dead:
            return .dead(name: try reader.name(), incarnation: try reader.incarnation(), from: try reader.name())
        case .pushPull:
            let isReply = try reader.u8() != 0
            let count = Int(try reader.u16())
            guard count <= maxMembers else { throw .gossipFieldTooLong }
            var members: [MemberRecord] = []
            members.reserveCapacity(min(count, reader.remaining / 16))
            for _ in 0..<count {
                let name = try reader.name()
                let address = try reader.gossipAddress()
                let incarnation = try reader.incarnation()
                let rawStatus = try reader.u8()
                guard let status = MemberRecord.Status(rawValue: rawStatus) else { throw .unknownGossipMessage(rawStatus) }
                members.append(MemberRecord(name: name, address: address, incarnation: incarnation, status: status,
                                            meta: try reader.meta()))
            }
            return .pushPull(isReply: isReply, members: members)
        case .challenge:
            return .challenge(nonce: try reader.u64())
        case .response:
            return .response(nonce: try reader.u64())
        }
    }
}

/// A decrypted gossip payload: a count and that many messages.
public enum GossipPayload {
    public static func encode(_ messages: [GossipMessage]) -> [UInt8] {
        var bytes: [UInt8] = [UInt8(min(messages.count, 255))]
        for message in messages.prefix(255) { message.encode(into: &bytes) }
        return bytes
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> [GossipMessage] {
        try bytes.withUnsafeBytes { raw in
            Result { () throws(WireError) -> [GossipMessage] in
                var reader = ByteReader(raw)
                let count = Int(try reader.u8())
                var messages: [GossipMessage] = []
                for _ in 0..<count { messages.append(try GossipMessage.decode(&reader)) }
                guard reader.remaining == 0 else { throw .gossipTrailingBytes(reader.remaining) }
                return messages
            }
        }.get()
    }
}

extension ByteWriter {
    mutating func u64(_ value: UInt64) { u32(UInt32(value >> 32)); u32(UInt32(truncatingIfNeeded: value)) }

    mutating func name(_ value: String) {
        let utf8 = Array(value.utf8.prefix(GossipMessage.maxNameLength))
        u8(UInt8(utf8.count))
        bytes += utf8
    }

    mutating func meta(_ value: [UInt8]) {
        let clipped = value.prefix(GossipMessage.maxMetaLength)
        u16(UInt16(clipped.count))
        bytes += clipped
    }

    mutating func gossipAddress(_ value: GossipAddress) {
        switch value.ip {
        case .v4(let ip): u8(4); ipv4(ip)
        case .v6(let ip): u8(6); ipv6(ip)
        }
        u16(value.port)
    }
}

extension ByteReader {
    mutating func bytes(_ count: Int) throws(WireError) -> [UInt8] {
        try require(count)
        defer { skip(unchecked: count) }
        return Array(bytes[offset..<offset + count])
    }

    mutating func name() throws(WireError) -> String {
        let length = Int(try u8())
        guard length <= GossipMessage.maxNameLength else { throw .gossipFieldTooLong }
        return String(decoding: try bytes(length), as: UTF8.self)
    }

    mutating func incarnation() throws(WireError) -> UInt64 {
        let value = try u64()
        guard value <= GossipMessage.maxIncarnation else { throw .gossipIncarnationOutOfRange }
        return value
    }

    mutating func meta() throws(WireError) -> [UInt8] {
        let length = Int(try u16())
        guard length <= GossipMessage.maxMetaLength else { throw .gossipFieldTooLong }
        return try bytes(length)
    }

    mutating func gossipAddress() throws(WireError) -> GossipAddress {
        let family = try u8()
        let ip: IPAddress
        switch family {
        case 4: ip = .v4(try ipv4())
        case 6: ip = .v6(try ipv6())
        default: throw .unknownGossipMessage(family)
        }
        return GossipAddress(ip: ip, port: try u16())
    }
}
