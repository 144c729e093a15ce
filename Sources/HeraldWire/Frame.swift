/// A captured frame Herald has an opinion about: ARP, or an NDP neighbor message.
public enum Frame: Hashable, Sendable {
    case arp(EthernetHeader, ARPPacket)
    case ndp(EthernetHeader, NDPPacket)

    /// Decodes a whole Ethernet frame. Returns `nil` for frames of other kinds (the capture
    /// filter should not let them through, but the decoder does not rely on it), throws
    /// `WireError` for malformed ARP or NDP.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Frame? {
        let ethernet = try EthernetHeader.decode(bytes)
        let payload = UnsafeRawBufferPointer(rebasing: bytes[EthernetHeader.length...])
        switch ethernet.etherType {
        case EtherType.arp:
            return .arp(ethernet, try ARPPacket.decode(payload))
        case EtherType.ipv6:
            guard let packet = try NDPPacket.decode(payload) else { return nil }
            return .ndp(ethernet, packet)
        default:
            return nil
        }
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> Frame? {
        try bytes.withUnsafeBytes { raw in Result { () throws(WireError) in try decode(raw) } }.get()
    }
}
