import HeraldWire

/// The addresses of one pool: several ranges, possibly of both families. Iterates lazily
/// in range order (a /64 is never materialised), counts without iterating, and can skip
/// the `.0` and `.255` addresses some clients mishandle (`avoid_buggy_ips`).
public struct AddressSet: Sequence, Sendable, Equatable {
    public let ranges: [IPRange]
    public let avoidBuggyIPs: Bool

    public init(_ ranges: [IPRange], avoidBuggyIPs: Bool = false) {
        self.ranges = ranges
        self.avoidBuggyIPs = avoidBuggyIPs
    }

    public func contains(_ address: IPAddress) -> Bool {
        !(avoidBuggyIPs && Self.isBuggy(address)) && ranges.contains { $0.contains(address) }
    }

    /// How many addresses the set holds (saturating at `UInt128.max`).
    public var count: UInt128 {
        ranges.reduce(UInt128(0)) { total, range in
            let usable = avoidBuggyIPs && range.isIPv4 ? range.count - Self.buggyCount(in: range) : range.count
            let (sum, overflow) = total.addingReportingOverflow(usable)
            return overflow ? .max : sum
        }
    }

    static func isBuggy(_ address: IPAddress) -> Bool {
        guard case .v4(let v4) = address else { return false }
        let last = v4.rawValue & 0xFF
        return last == 0 || last == 255
    }

    /// The `.0` and `.255` addresses in an IPv4 range, counted without iterating.
    static func buggyCount(in range: IPRange) -> UInt128 {
        let first = range.first.numeric, last = range.last.numeric
        func atOrBelow(_ value: UInt128, ending suffix: UInt128) -> UInt128 {
            value < suffix ? 0 : (value - suffix) / 256 + 1
        }
        var count: UInt128 = 0
        for suffix: UInt128 in [0, 255] {
            count += atOrBelow(last, ending: suffix) - (first == 0 ? 0 : atOrBelow(first - 1, ending: suffix))
        }
        return count
    }

    public struct Iterator: IteratorProtocol {
        let set: AddressSet
        var rangeIndex = 0
        /// The next candidate in `ranges[rangeIndex]`; `nil` at the start of that range.
        var cursor: UInt128?

        public mutating func next() -> IPAddress? {
            while rangeIndex < set.ranges.count {
                let range = set.ranges[rangeIndex]
                let candidate = cursor ?? range.first.numeric
                if candidate == range.last.numeric {
                    rangeIndex += 1
                    cursor = nil
                } else {
                    cursor = candidate + 1
                }
                let address = IPAddress(sameFamilyAs: range.first, numeric: candidate)
                if !(set.avoidBuggyIPs && AddressSet.isBuggy(address)) { return address }
            }
            return nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(set: self) }
}

extension PoolConfig {
    public var addressSet: AddressSet { AddressSet(addresses, avoidBuggyIPs: avoidBuggyIPs) }
}
