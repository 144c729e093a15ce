/// The fixed IPv6 header (RFC 8200 §3).
public struct IPv6Header: Hashable, Sendable {
    public static let length = 40

    public var payloadLength: Int
    public var nextHeader: UInt8
    public var hopLimit: UInt8
    public var source: IPv6Address
    public var destination: IPv6Address
}

/// A neighbor solicitation (RFC 4861 §4.3): "who has `target`?", or a DAD probe when the
/// IPv6 source is `::`, or a reachability check (NUD) when sent unicast.
public struct NeighborSolicitation: Hashable, Sendable {
    public var target: IPv6Address
    public var sourceLinkLayer: MACAddress?

    public init(target: IPv6Address, sourceLinkLayer: MACAddress?) {
        self.target = target
        self.sourceLinkLayer = sourceLinkLayer
    }
}

/// A neighbor advertisement (RFC 4861 §4.4): "`target` is at `targetLinkLayer`".
public struct NeighborAdvertisement: Hashable, Sendable {
    public var router: Bool
    public var solicited: Bool
    public var override: Bool
    public var target: IPv6Address
    public var targetLinkLayer: MACAddress?

    public init(router: Bool = false, solicited: Bool, override: Bool, target: IPv6Address, targetLinkLayer: MACAddress?) {
        self.router = router
        self.solicited = solicited
        self.override = override
        self.target = target
        self.targetLinkLayer = targetLinkLayer
    }
}

/// An NDP neighbor message with the IPv6 header it arrived in.
public struct NDPPacket: Hashable, Sendable {
    public enum Message: Hashable, Sendable {
        case solicitation(NeighborSolicitation)
        case advertisement(NeighborAdvertisement)
    }

    public var header: IPv6Header
    public var message: Message

    static let icmpv6: UInt8 = 58
    static let typeSolicitation: UInt8 = 135
    static let typeAdvertisement: UInt8 = 136
    static let optionSourceLinkLayer: UInt8 = 1
    static let optionTargetLinkLayer: UInt8 = 2
    static let maxExtensionHeaders = 8

    /// Decodes an IPv6 packet (the bytes after the Ethernet header). Returns `nil` for
    /// well-formed IPv6 that is not a neighbor solicitation or advertisement; throws for
    /// malformed input and for NDP messages that RFC 4861 §7.1 says to discard silently.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> NDPPacket? {
        var reader = ByteReader(bytes)
        try reader.require(IPv6Header.length)
        let versionWord = try reader.u32()
        guard versionWord >> 28 == 6 else { throw .notIPv6(version: UInt8(versionWord >> 28)) }
        let payloadLength = Int(try reader.u16())
        var nextHeader = try reader.u8()
        let hopLimit = try reader.u8()
        let source = try reader.ipv6()
        let destination = try reader.ipv6()
        guard payloadLength <= reader.remaining else {
            throw .badIPv6PayloadLength(declared: payloadLength, available: reader.remaining)
        }
        let end = IPv6Header.length + payloadLength

        var extensions = 0
        while nextHeader != icmpv6 {
            switch nextHeader {
            case 0, 43, 60:  // hop-by-hop, routing, destination options: skip them
                extensions += 1
                guard extensions <= maxExtensionHeaders else { throw .tooManyExtensionHeaders }
                let following = try reader.u8()
                let length = (Int(try reader.u8()) + 1) * 8
                try reader.skip(length - 2)
                guard reader.offset <= end else { throw .badIPv6PayloadLength(declared: payloadLength, available: reader.offset - IPv6Header.length) }
                nextHeader = following
            case 44:  // a fragmented neighbor message is invalid (RFC 6980)
                throw .unsupportedExtensionHeader(nextHeader)
            default:
                return nil
            }
        }

        let icmpStart = reader.offset
        let icmpLength = end - icmpStart
        guard icmpLength >= 4 else { throw .truncated(needed: icmpStart + 4, available: end) }
        let type = try reader.u8()
        guard type == typeSolicitation || type == typeAdvertisement else { return nil }
        let code = try reader.u8()
        guard icmpLength >= 24 else { throw .truncated(needed: icmpStart + 24, available: end) }
        guard hopLimit == 255 else { throw .badNDPHopLimit(hopLimit) }
        guard code == 0 else { throw .badNDPCode(code) }
        let icmp = UnsafeRawBufferPointer(rebasing: bytes[icmpStart..<end])
        guard internetChecksum(pseudoHeaderSum(source: source, destination: destination, length: icmpLength), icmp) == 0 else {
            throw .badICMPv6Checksum
        }
        try reader.skip(2)  // checksum, verified above
        let flags = try reader.u32()
        let target = try reader.ipv6()
        guard !target.isMulticast else { throw .badNDPTarget }

        var sourceLinkLayer: MACAddress?
        var targetLinkLayer: MACAddress?
        var options = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[..<end]), offset: reader.offset)
        while options.remaining > 0 {
            let optionType = try options.u8()
            let units = Int(try options.u8())
            guard units > 0 else { throw .badNDPOption(type: optionType, length: 0) }
            if units == 1 && optionType == optionSourceLinkLayer {
                sourceLinkLayer = try options.mac()
            } else if units == 1 && optionType == optionTargetLinkLayer {
                targetLinkLayer = try options.mac()
            } else {
                try options.skip(units * 8 - 2)
            }
        }

        // No IPv6 packet comes from a multicast address (RFC 4291 §2.7): nothing to answer.
        guard !source.isMulticast else { throw .badNDPAddressing }
        let header = IPv6Header(payloadLength: payloadLength, nextHeader: nextHeader, hopLimit: hopLimit,
                                source: source, destination: destination)
        if type == typeSolicitation {
            if source.isUnspecified {
                // DAD probe: must go to the solicited-node group and carry no source address.
                guard destination == target.solicitedNodeMulticast, sourceLinkLayer == nil else {
                    throw .badNDPAddressing
                }
            }
            return NDPPacket(header: header, message: .solicitation(
                NeighborSolicitation(target: target, sourceLinkLayer: sourceLinkLayer)))
        }
        let solicited = flags & 0x4000_0000 != 0
        guard !(solicited && destination.isMulticast) else { throw .badNDPAddressing }
        return NDPPacket(header: header, message: .advertisement(NeighborAdvertisement(
            router: flags & 0x8000_0000 != 0, solicited: solicited, override: flags & 0x2000_0000 != 0,
            target: target, targetLinkLayer: targetLinkLayer)))
    }

    /// A complete Ethernet frame carrying this packet, with hop limit 255 and the ICMPv6
    /// checksum computed over the pseudo-header.
    public static func frame(_ message: Message, source: IPv6Address, destination: IPv6Address,
                             ethernetDestination: MACAddress, ethernetSource: MACAddress) -> [UInt8] {
        var icmp = ByteWriter(capacity: 32)
        switch message {
        case .solicitation(let solicitation):
            icmp.u8(typeSolicitation)
            icmp.u8(0)
            icmp.u16(0)
            icmp.u32(0)
            icmp.ipv6(solicitation.target)
            if let mac = solicitation.sourceLinkLayer {
                icmp.u8(optionSourceLinkLayer)
                icmp.u8(1)
                icmp.mac(mac)
            }
        case .advertisement(let advertisement):
            icmp.u8(typeAdvertisement)
            icmp.u8(0)
            icmp.u16(0)
            var flags: UInt32 = 0
            if advertisement.router { flags |= 0x8000_0000 }
            if advertisement.solicited { flags |= 0x4000_0000 }
            if advertisement.override { flags |= 0x2000_0000 }
            icmp.u32(flags)
            icmp.ipv6(advertisement.target)
            if let mac = advertisement.targetLinkLayer {
                icmp.u8(optionTargetLinkLayer)
                icmp.u8(1)
                icmp.mac(mac)
            }
        }
        let checksum = icmp.bytes.withUnsafeBytes {
            internetChecksum(pseudoHeaderSum(source: source, destination: destination, length: $0.count), $0)
        }
        icmp.bytes[2] = UInt8(checksum >> 8)
        icmp.bytes[3] = UInt8(truncatingIfNeeded: checksum)

        var writer = ByteWriter(capacity: EthernetHeader.length + IPv6Header.length + icmp.bytes.count)
        EthernetHeader(destination: ethernetDestination, source: ethernetSource, etherType: EtherType.ipv6)
            .encode(into: &writer)
        writer.u32(0x6000_0000)
        writer.u16(UInt16(icmp.bytes.count))
        writer.u8(icmpv6)
        writer.u8(255)
        writer.ipv6(source)
        writer.ipv6(destination)
        writer.bytes.append(contentsOf: icmp.bytes)
        return writer.bytes
    }
}

/// The one's-complement sum of the IPv6 pseudo-header for ICMPv6 (RFC 8200 §8.1).
func pseudoHeaderSum(source: IPv6Address, destination: IPv6Address, length: Int) -> UInt32 {
    var sum: UInt32 = 0
    for half in [source.high, source.low, destination.high, destination.low] {
        for shift in stride(from: 48, through: 0, by: -16) {
            sum += UInt32(truncatingIfNeeded: (half >> UInt64(shift)) & 0xFFFF)
        }
    }
    sum += UInt32(truncatingIfNeeded: length >> 16) + UInt32(truncatingIfNeeded: length & 0xFFFF)
    sum += UInt32(NDPPacket.icmpv6)
    return sum
}

/// RFC 1071 checksum of `bytes` on top of `initial`. Over data that carries a correct
/// checksum the result is 0.
func internetChecksum(_ initial: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt16 {
    var sum = UInt64(initial)
    var index = 0
    while index + 1 < bytes.count {
        sum += UInt64(bytes[index]) << 8 | UInt64(bytes[index + 1])
        index += 2
    }
    if index < bytes.count { sum += UInt64(bytes[index]) << 8 }
    while sum >> 16 != 0 { sum = (sum & 0xFFFF) + (sum >> 16) }
    return ~UInt16(sum)
}
