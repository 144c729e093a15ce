import HeraldWire

/// The kernel-side filter of a link's capture: which frames may wake the link thread at
/// all. A flood of ARP requests for addresses nobody here serves costs the kernel a few
/// comparisons per frame instead of a wake-up, a copy and a decision in heraldd.
///
/// Passed: ARP whose target or sender address is one of `watched` (requests for what the
/// link could serve, claims by other hosts, answers from watched nodes and the witness),
/// and ICMPv6 neighbor solicitations and advertisements whose target is one of them
/// (without IPv6 extension headers, which real neighbor discovery never carries). With
/// more addresses than a classic BPF program holds, the broad filter: all ARP and all
/// neighbor solicitations and advertisements.
public enum CaptureFilter {
    typealias Instruction = BPFProgram.Instruction

    /// The longest program built, below the kernel's limit.
    public static let maxInstructions = 4000

    /// The program for a link watching `watched`, or nil when they are too many for one
    /// (then the broad filter applies).
    public static func program(watching watched: Set<IPAddress>) -> BPFProgram? {
        let v4 = watched.compactMap { if case .v4(let address) = $0 { address.rawValue } else { nil } }.sorted()
        let v6 = watched.compactMap { if case .v6(let address) = $0 { address } else { nil } }.sorted()
        var arp: [Instruction] = []
        for offset: UInt32 in [38, 28] {  // target, then sender protocol address (14 + 24, 14 + 14)
            arp.append(.loadWord(at: offset))
            for address in v4 { arp += [.ifEqual(address, else: 1), .accept] }
        }
        arp.append(.drop)
        var ndp: [Instruction] = [
            .loadByte(at: 20), .ifEqual(58, else: 4),                   // IPv6 next header: ICMPv6, else drop
            .loadByte(at: 54), .ifEqual(135, skip: 1, else: 0),         // ICMPv6 type: solicitation
            .ifEqual(136, else: 1), .skip(1),                           // or advertisement, else drop
            .drop,
        ]
        for address in v6 {
            // The target at 14 + 40 + 8, word by word; a mismatch skips to the next address.
            let words = [UInt32(truncatingIfNeeded: address.high >> 32), UInt32(truncatingIfNeeded: address.high),
                         UInt32(truncatingIfNeeded: address.low >> 32), UInt32(truncatingIfNeeded: address.low)]
            for (index, word) in words.enumerated() {
                ndp += [.loadWord(at: 62 + UInt32(index) * 4), .ifEqual(word, else: UInt8(7 - 2 * index))]
            }
            ndp.append(.accept)
        }
        ndp.append(.drop)
        // EtherType: ARP, IPv6 or nothing. Not ARP: a long jump over the ARP block (a
        // conditional jump reaches only 255 ahead), to the IPv6 test with the EtherType still
        // loaded.
        let program: [Instruction] = [.loadHalf(at: 12), .ifEqual(0x0806, skip: 1, else: 0), .skip(UInt32(arp.count))]
            + arp + [.ifEqual(0x86DD, skip: 1, else: 0), .drop] + ndp
        return program.count <= maxInstructions ? BPFProgram(program) : nil
    }
}
