/// Why a frame could not be decoded. Every case is a bounded label (`reason`) so the
/// daemon can count malformed input by kind without unbounded metric labels.
public enum WireError: Error, Hashable, Sendable, CustomStringConvertible {
    case truncated(needed: Int, available: Int)
    case unsupportedARPHardware(hardwareType: UInt16, protocolType: UInt16, hardwareLength: UInt8, protocolLength: UInt8)
    case unsupportedARPOperation(UInt16)
    case notIPv6(version: UInt8)
    case badIPv6PayloadLength(declared: Int, available: Int)
    case unsupportedExtensionHeader(UInt8)
    case tooManyExtensionHeaders
    case badICMPv6Checksum
    case badNDPCode(UInt8)
    case badNDPOption(type: UInt8, length: Int)
    case badNDPHopLimit(UInt8)
    /// The target is a multicast address.
    case badNDPTarget
    /// Addressing RFC 4861 §7.1 forbids: a DAD probe not sent to the target's
    /// solicited-node group or carrying a source link-layer option, or a solicited
    /// advertisement sent to a multicast group.
    case badNDPAddressing
    case badGossipMagic
    case unsupportedGossipVersion(UInt8)
    case unknownGossipMessage(UInt8)
    case gossipFieldTooLong
    case gossipTrailingBytes(Int)
    /// An incarnation above `GossipMessage.maxIncarnation`.
    case gossipIncarnationOutOfRange
    /// No key of the keyring opens the packet (wrong key, other cluster, or tampering).
    case gossipAuthenticationFailed
    /// A plaintext (insecure) packet from another cluster.
    case gossipClusterMismatch
    /// A packet seen before, or from a run of its sender that is not its current one (`ReplayGuard`).
    case gossipReplayed
    /// A packet addressed to another node (a capture replayed to this one).
    case gossipWrongDestination
    /// Larger than any packet a node sends (`GossipSeal.maxPacket`), refused unopened.
    case gossipPacketTooLarge
    /// More packets from one address than any peer sends, dropped unopened.
    case gossipRateLimited
    /// The peer sends plaintext while we require encryption, or the other way round.
    case gossipEncryptionMismatch(peerEncrypted: Bool)

    /// The same kind of error with the frame's own values zeroed: what counters are keyed
    /// by, so a flood of frames with ever different fields adds to one counter per kind
    /// instead of one entry per frame.
    public var kind: WireError {
        switch self {
        case .truncated: .truncated(needed: 0, available: 0)
        case .unsupportedARPHardware: .unsupportedARPHardware(hardwareType: 0, protocolType: 0, hardwareLength: 0, protocolLength: 0)
        case .unsupportedARPOperation: .unsupportedARPOperation(0)
        case .notIPv6: .notIPv6(version: 0)
        case .badIPv6PayloadLength: .badIPv6PayloadLength(declared: 0, available: 0)
        case .unsupportedExtensionHeader: .unsupportedExtensionHeader(0)
        case .badNDPCode: .badNDPCode(0)
        case .badNDPOption: .badNDPOption(type: 0, length: 0)
        case .badNDPHopLimit: .badNDPHopLimit(0)
        case .unsupportedGossipVersion: .unsupportedGossipVersion(0)
        case .unknownGossipMessage: .unknownGossipMessage(0)
        case .gossipTrailingBytes: .gossipTrailingBytes(0)
        case .gossipEncryptionMismatch: .gossipEncryptionMismatch(peerEncrypted: false)
        case .tooManyExtensionHeaders, .badICMPv6Checksum, .badNDPTarget, .badNDPAddressing, .badGossipMagic, .gossipFieldTooLong,
             .gossipIncarnationOutOfRange, .gossipAuthenticationFailed, .gossipClusterMismatch, .gossipReplayed,
             .gossipWrongDestination, .gossipPacketTooLarge, .gossipRateLimited: self
        }
    }

    /// A short, stable name for logs and the `reason` label of drop counters.
    public var reason: String {
        switch self {
        case .truncated: "truncated"
        case .unsupportedARPHardware: "arp_unsupported_format"
        case .unsupportedARPOperation: "arp_unsupported_operation"
        case .notIPv6: "ipv6_bad_version"
        case .badIPv6PayloadLength: "ipv6_bad_length"
        case .unsupportedExtensionHeader: "ipv6_unsupported_extension"
        case .tooManyExtensionHeaders: "ipv6_too_many_extensions"
        case .badICMPv6Checksum: "icmpv6_bad_checksum"
        case .badNDPCode: "ndp_bad_code"
        case .badNDPOption: "ndp_bad_option"
        case .badNDPHopLimit: "ndp_bad_hop_limit"
        case .badNDPTarget: "ndp_bad_target"
        case .badNDPAddressing: "ndp_bad_addressing"
        case .badGossipMagic: "gossip_bad_magic"
        case .unsupportedGossipVersion: "gossip_unsupported_version"
        case .unknownGossipMessage: "gossip_unknown_message"
        case .gossipFieldTooLong: "gossip_field_too_long"
        case .gossipTrailingBytes: "gossip_trailing_bytes"
        case .gossipIncarnationOutOfRange: "gossip_incarnation_out_of_range"
        case .gossipAuthenticationFailed: "gossip_authentication_failed"
        case .gossipClusterMismatch: "gossip_cluster_mismatch"
        case .gossipReplayed: "gossip_replayed"
        case .gossipWrongDestination: "gossip_wrong_destination"
        case .gossipPacketTooLarge: "gossip_too_large"
        case .gossipRateLimited: "gossip_rate_limited"
        case .gossipEncryptionMismatch: "gossip_encryption_mismatch"
        }
    }

    public var description: String {
        switch self {
        case .truncated(let needed, let available): "truncated: need \(needed) bytes, have \(available)"
        case .unsupportedARPHardware(let htype, let ptype, let hlen, let plen):
            "unsupported ARP format htype=\(htype) ptype=0x\(String(ptype, radix: 16)) hlen=\(hlen) plen=\(plen)"
        case .unsupportedARPOperation(let op): "unsupported ARP operation \(op)"
        case .notIPv6(let version): "IP version \(version) in an IPv6 frame"
        case .badIPv6PayloadLength(let declared, let available): "IPv6 payload length \(declared) but \(available) bytes present"
        case .unsupportedExtensionHeader(let next): "unsupported IPv6 extension header \(next)"
        case .tooManyExtensionHeaders: "too many IPv6 extension headers"
        case .badICMPv6Checksum: "bad ICMPv6 checksum"
        case .badNDPCode(let code): "NDP message with code \(code)"
        case .badNDPOption(let type, let length): "bad NDP option type \(type) length \(length)"
        case .badNDPHopLimit(let hopLimit): "NDP message with hop limit \(hopLimit) (must be 255)"
        case .badNDPTarget: "NDP message for a multicast target"
        case .badNDPAddressing: "NDP message with addressing RFC 4861 forbids"
        case .badGossipMagic: "not a Herald gossip packet"
        case .unsupportedGossipVersion(let version):
            version == 1 || version == 2
                ? "gossip wire version \(version) (an older Herald): upgrade that host, or set gossip.wire_version = \(version) on the upgraded ones until every host is upgraded"
                : "gossip protocol version \(version) is not supported"
        case .unknownGossipMessage(let kind): "unknown gossip message or field type \(kind)"
        case .gossipFieldTooLong: "gossip field longer than allowed"
        case .gossipTrailingBytes(let count): "\(count) unexpected bytes after the gossip messages"
        case .gossipIncarnationOutOfRange: "gossip incarnation above \(GossipMessage.maxIncarnation)"
        case .gossipAuthenticationFailed: "gossip packet failed authentication: wrong key or cluster name"
        case .gossipClusterMismatch: "unencrypted gossip from another cluster (gossip.cluster differs)"
        case .gossipReplayed: "gossip packet seen before, or from a run of its sender other than its current one: a replay"
        case .gossipWrongDestination: "gossip packet addressed to another node: a replay"
        case .gossipPacketTooLarge: "gossip packet larger than any Herald sends"
        case .gossipRateLimited: "more gossip packets from one address than any peer sends"
        case .gossipEncryptionMismatch(let peerEncrypted):
            peerEncrypted ? "peer encrypts gossip but this node runs with insecure = true"
                : "peer sends unencrypted gossip (insecure = true) but this node requires encryption"
        }
    }
}
