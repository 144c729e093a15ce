/// Frames captured with tcpdump in a namespace lab (kernel 6.x, arping 2.23, ndisc6 1.0):
/// h1 is 02:00:00:00:00:11 / 198.51.100.11 / 2001:db8:100::11, the client
/// 02:00:00:00:00:12 / 198.51.100.2 / fe80::ff:fe00:12.
enum Fixtures {
    /// arping's request for 198.51.100.11, padded to 58 bytes.
    static let arpingRequest = hex("ffffffffffff02000000001208060001080006040001020000000012c6336402000000000000c633640b00000000000000000000000000000000")
    /// The kernel's reply from h1.
    static let kernelARPReply = hex("02000000001202000000001108060001080006040002020000000011c633640b020000000012c6336402")
    /// ndisc6's solicitation for 2001:db8:100::11, to its solicited-node group.
    static let ndisc6Solicitation = hex("3333ff00001102000000001286dd6003c48e00203afffe80000000000000000000fffe000012ff0200000000000000000001ff00001187004b1f0000000020010db80100000000000000000000110101020000000012")
    /// The kernel's solicited advertisement from h1 (S=1, O=1).
    static let kernelAdvertisement = hex("02000000001202000000001186dd6000000000203aff20010db8010000000000000000000011fe80000000000000000000fffe0000128800b86b6000000020010db80100000000000000000000110201020000000011")
    /// The kernel's duplicate address detection probe for 2001:db8:100::99, with a nonce
    /// option (RFC 7527) that decoders must skip.
    static let kernelDADProbe = hex("3333ff00009902000000001186dd6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff0000998700c59e0000000020010db80100000000000000000000990e017376c6623d3c")
    /// A router solicitation: valid ICMPv6, not a neighbor message.
    static let routerSolicitation = hex("33330000000202000000001286dd6000000000103afffe80000000000000000000fffe000012ff02000000000000000000000000000285007b0a000000000101020000000012")

    static func hex(_ text: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let next = text.index(index, offsetBy: 2)
            bytes.append(UInt8(text[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
