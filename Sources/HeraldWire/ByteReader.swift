/// A cursor over untrusted bytes. Every read checks the remaining length first and throws
/// `WireError.truncated`, so no decoder can read past the end of a frame.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset: Int

    init(_ bytes: UnsafeRawBufferPointer, offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    var remaining: Int { bytes.count - offset }

    mutating func require(_ count: Int) throws(WireError) {
        guard count >= 0, remaining >= count else {
            throw .truncated(needed: offset + count, available: bytes.count)
        }
    }

    mutating func skip(_ count: Int) throws(WireError) {
        try require(count)
        offset += count
    }

    /// Advances over bytes already checked with `require`.
    mutating func skip(unchecked count: Int) { offset += count }

    mutating func u8() throws(WireError) -> UInt8 {
        try require(1)
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u16() throws(WireError) -> UInt16 {
        try require(2)
        defer { offset += 2 }
        return UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1])
    }

    mutating func u32() throws(WireError) -> UInt32 {
        try require(4)
        defer { offset += 4 }
        return (0..<4).reduce(0) { $0 << 8 | UInt32(bytes[offset + $1]) }
    }

    mutating func u64() throws(WireError) -> UInt64 {
        try require(8)
        defer { offset += 8 }
        return (0..<8).reduce(0) { $0 << 8 | UInt64(bytes[offset + $1]) }
    }

    mutating func mac() throws(WireError) -> MACAddress {
        try require(6)
        defer { offset += 6 }
        return MACAddress(rawValue: (0..<6).reduce(0) { $0 << 8 | UInt64(bytes[offset + $1]) })
    }

    mutating func ipv4() throws(WireError) -> IPv4Address { IPv4Address(rawValue: try u32()) }

    mutating func ipv6() throws(WireError) -> IPv6Address {
        let high = try u64()
        return IPv6Address(high: high, low: try u64())
    }
}

/// The encoding side: appends big-endian fields to a byte array.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    mutating func u8(_ value: UInt8) { bytes.append(value) }
    mutating func u16(_ value: UInt16) { bytes.append(UInt8(value >> 8)); bytes.append(UInt8(truncatingIfNeeded: value)) }
    mutating func u32(_ value: UInt32) { for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt32(shift))) } }
    mutating func mac(_ value: MACAddress) { bytes.append(contentsOf: value.octets) }
    mutating func ipv4(_ value: IPv4Address) { u32(value.rawValue) }
    mutating func ipv6(_ value: IPv6Address) { bytes.append(contentsOf: value.bytes) }
}
