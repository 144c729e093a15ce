/// An ARP packet for IPv4 over Ethernet (RFC 826). Other hardware or protocol types are
/// rejected by the decoder: Herald never answers them.
public struct ARPPacket: Hashable, Sendable {
    public static let length = 28

    public enum Operation: UInt16, Sendable {
        case request = 1
        case reply = 2
    }

    public var operation: Operation
    public var senderMAC: MACAddress
    public var senderIP: IPv4Address
    public var targetMAC: MACAddress
    public var targetIP: IPv4Address

    public init(operation: Operation, senderMAC: MACAddress, senderIP: IPv4Address,
                targetMAC: MACAddress, targetIP: IPv4Address) {
        self.operation = operation
        self.senderMAC = senderMAC
        self.senderIP = senderIP
        self.targetMAC = targetMAC
        self.targetIP = targetIP
    }

    /// Gratuitous: the sender announces its own address (RFC 5227 "announcement").
    public var isGratuitous: Bool { senderIP == targetIP }
    /// Probe: a host checking whether an address is free before using it (RFC 5227 §2.1.1).
    public var isProbe: Bool { operation == .request && senderIP == .any }

    /// Decodes the ARP payload that follows the Ethernet header. Trailing padding is ignored.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> ARPPacket {
        var reader = ByteReader(bytes)
        try reader.require(length)
        let hardwareType = try reader.u16()
        let protocolType = try reader.u16()
        let hardwareLength = try reader.u8()
        let protocolLength = try reader.u8()
        guard hardwareType == 1, protocolType == EtherType.ipv4, hardwareLength == 6, protocolLength == 4 else {
            throw .unsupportedARPHardware(hardwareType: hardwareType, protocolType: protocolType,
                                          hardwareLength: hardwareLength, protocolLength: protocolLength)
        }
        let rawOperation = try reader.u16()
        guard let operation = Operation(rawValue: rawOperation) else { throw .unsupportedARPOperation(rawOperation) }
        return ARPPacket(operation: operation, senderMAC: try reader.mac(), senderIP: try reader.ipv4(),
                         targetMAC: try reader.mac(), targetIP: try reader.ipv4())
    }

    /// A complete Ethernet frame carrying this packet (42 bytes; the NIC pads short frames).
    public func frame(ethernetDestination: MACAddress, ethernetSource: MACAddress) -> [UInt8] {
        var writer = ByteWriter(capacity: EthernetHeader.length + Self.length)
        EthernetHeader(destination: ethernetDestination, source: ethernetSource, etherType: EtherType.arp)
            .encode(into: &writer)
        writer.u16(1)
        writer.u16(EtherType.ipv4)
        writer.u8(6)
        writer.u8(4)
        writer.u16(operation.rawValue)
        writer.mac(senderMAC)
        writer.ipv4(senderIP)
        writer.mac(targetMAC)
        writer.ipv4(targetIP)
        return writer.bytes
    }
}
