import HeraldWire

extension IPAddress {
    /// The address as an unsigned integer, for range arithmetic.
    public var numeric: UInt128 {
        switch self {
        case .v4(let address): UInt128(address.rawValue)
        case .v6(let address): UInt128(address.high) << 64 | UInt128(address.low)
        }
    }

    public init(sameFamilyAs other: IPAddress, numeric: UInt128) {
        switch other {
        case .v4: self = .v4(IPv4Address(rawValue: UInt32(truncatingIfNeeded: numeric)))
        case .v6: self = .v6(IPv6Address(high: UInt64(truncatingIfNeeded: numeric >> 64), low: UInt64(truncatingIfNeeded: numeric)))
        }
    }

    public var bitWidth: Int { isIPv4 ? 32 : 128 }
}

/// A network prefix such as `192.168.2.0/24`: an interface's subnet or a pool's CIDR.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init(address: IPAddress, length: Int) {
        self.address = address
        self.length = length
    }

    var mask: UInt128 {
        let width = address.bitWidth
        guard length > 0 else { return 0 }
        let ones = UInt128.max << UInt128(width - length)
        return width == 32 ? ones & 0xFFFF_FFFF : ones
    }

    public var network: IPAddress { IPAddress(sameFamilyAs: address, numeric: address.numeric & mask) }

    /// The highest address of the prefix: IPv4's broadcast address.
    public var last: IPAddress {
        let width: UInt128 = address.isIPv4 ? 0xFFFF_FFFF : .max
        return IPAddress(sameFamilyAs: address, numeric: (address.numeric & mask) | (~mask & width))
    }

    public func contains(_ other: IPAddress) -> Bool {
        other.isIPv4 == address.isIPv4 && other.numeric & mask == address.numeric & mask
    }

    public var description: String { "\(address)/\(length)" }
}

/// An inclusive range of addresses of one family, written in config as `a-b`, `net/len`
/// or a single address.
public struct IPRange: Hashable, Sendable, CustomStringConvertible {
    public let first: IPAddress
    public let last: IPAddress

    public init?(first: IPAddress, last: IPAddress) {
        guard first.isIPv4 == last.isIPv4, first <= last else { return nil }
        self.first = first
        self.last = last
    }

    /// Parses config text; the error string says what is wrong in the user's terms.
    public static func parse(_ text: String) -> Result<IPRange, RangeError> {
        let trimmed = text.trimmingSpaces
        if let dash = trimmed.firstIndex(of: "-") {
            let lowText = trimmed[..<dash].trimmingSpaces
            let highText = trimmed[trimmed.index(after: dash)...].trimmingSpaces
            guard let low = IPAddress(lowText) else { return .failure(RangeError("'\(lowText)' is not an IP address")) }
            guard let high = IPAddress(highText) else { return .failure(RangeError("'\(highText)' is not an IP address")) }
            guard low.isIPv4 == high.isIPv4 else { return .failure(RangeError("range '\(trimmed)' mixes IPv4 and IPv6")) }
            guard let range = IPRange(first: low, last: high) else {
                return .failure(RangeError("range '\(trimmed)' ends before it starts"))
            }
            return .success(range)
        }
        if let slash = trimmed.firstIndex(of: "/") {
            let addressText = trimmed[..<slash]
            let lengthText = trimmed[trimmed.index(after: slash)...]
            guard let address = IPAddress(addressText) else { return .failure(RangeError("'\(addressText)' is not an IP address")) }
            guard let length = Int(lengthText), (0...address.bitWidth).contains(length) else {
                return .failure(RangeError("'/\(lengthText)' is not a prefix length for \(address.isIPv4 ? "IPv4 (0-32)" : "IPv6 (0-128)")"))
            }
            let prefix = IPPrefix(address: address, length: length)
            guard prefix.network == address else {
                return .failure(RangeError("'\(trimmed)' has host bits set; the network is \(prefix.network)/\(length)"))
            }
            let last = IPAddress(sameFamilyAs: address, numeric: address.numeric | (~prefix.mask & (address.isIPv4 ? 0xFFFF_FFFF : UInt128.max)))
            return .success(IPRange(first: address, last: last)!)
        }
        guard let single = IPAddress(trimmed) else {
            return .failure(RangeError("'\(trimmed)' is not an address, range (a-b) or CIDR (net/len)"))
        }
        return .success(IPRange(first: single, last: single)!)
    }

    public struct RangeError: Error, Equatable, Sendable {
        public let message: String
        init(_ message: String) { self.message = message }
    }

    public var isIPv4: Bool { first.isIPv4 }

    /// How many addresses; a full IPv6 /0 saturates at `UInt128.max`.
    public var count: UInt128 {
        let span = last.numeric - first.numeric
        return span == UInt128.max ? span : span + 1
    }

    public func contains(_ address: IPAddress) -> Bool {
        address.isIPv4 == isIPv4 && first <= address && address <= last
    }

    public func overlaps(_ other: IPRange) -> Bool {
        other.isIPv4 == isIPv4 && first <= other.last && other.first <= last
    }

    public var description: String { first == last ? "\(first)" : "\(first)-\(last)" }
}

extension StringProtocol {
    var trimmingSpaces: String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}
