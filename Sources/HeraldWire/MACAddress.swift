/// A 48-bit Ethernet address, stored in the low 48 bits of an integer so it is cheap to
/// compare, hash and copy on the packet path.
public struct MACAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let rawValue: UInt64

    public init(rawValue: UInt64) {
        self.rawValue = rawValue & 0xFFFF_FFFF_FFFF
    }

    public init(_ b0: UInt8, _ b1: UInt8, _ b2: UInt8, _ b3: UInt8, _ b4: UInt8, _ b5: UInt8) {
        self.init(rawValue: [b0, b1, b2, b3, b4, b5].reduce(0) { $0 << 8 | UInt64($1) })
    }

    /// Parses `aa:bb:cc:dd:ee:ff` (also with `-` separators), as printed by `ip link`.
    public init?(_ text: some StringProtocol) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let fields = parts.count == 6 ? parts : text.split(separator: "-", omittingEmptySubsequences: false)
        guard fields.count == 6 else { return nil }
        var value: UInt64 = 0
        for field in fields {
            guard (1...2).contains(field.count), let octet = UInt8(field, radix: 16) else { return nil }
            value = value << 8 | UInt64(octet)
        }
        self.init(rawValue: value)
    }

    public static let broadcast = MACAddress(rawValue: 0xFFFF_FFFF_FFFF)
    public static let zero = MACAddress(rawValue: 0)

    /// The Ethernet multicast address an IPv6 multicast address maps to (RFC 2464 §7).
    public static func ipv6Multicast(_ address: IPv6Address) -> MACAddress {
        MACAddress(rawValue: 0x3333_0000_0000 | (address.low & 0xFFFF_FFFF))
    }

    public var isBroadcast: Bool { rawValue == 0xFFFF_FFFF_FFFF }
    /// The group bit: set for broadcast and multicast, never valid as a sender.
    public var isMulticast: Bool { rawValue & 0x0100_0000_0000 != 0 }
    public var isZero: Bool { rawValue == 0 }

    public var octets: [UInt8] {
        (0..<6).map { UInt8(truncatingIfNeeded: rawValue >> (40 - 8 * UInt64($0))) }
    }

    public var description: String {
        octets.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    public static func < (lhs: MACAddress, rhs: MACAddress) -> Bool { lhs.rawValue < rhs.rawValue }
}
