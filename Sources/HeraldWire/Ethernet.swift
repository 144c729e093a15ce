/// The Ethernet II header. Herald only sees untagged frames: the capture sits on the
/// interface that carries the VIP's subnet, after the kernel has removed any VLAN tag.
public struct EthernetHeader: Hashable, Sendable {
    public static let length = 14

    public var destination: MACAddress
    public var source: MACAddress
    public var etherType: UInt16

    public init(destination: MACAddress, source: MACAddress, etherType: UInt16) {
        self.destination = destination
        self.source = source
        self.etherType = etherType
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> EthernetHeader {
        var reader = ByteReader(bytes)
        let destination = try reader.mac()
        let source = try reader.mac()
        return EthernetHeader(destination: destination, source: source, etherType: try reader.u16())
    }

    func encode(into writer: inout ByteWriter) {
        writer.mac(destination)
        writer.mac(source)
        writer.u16(etherType)
    }
}

public enum EtherType {
    public static let ipv4: UInt16 = 0x0800
    public static let arp: UInt16 = 0x0806
    public static let ipv6: UInt16 = 0x86DD
}
