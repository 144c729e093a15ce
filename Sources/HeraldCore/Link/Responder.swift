import HeraldWire

/// Why a captured frame got no answer. Counted per reason; the set is closed so the
/// metric labels stay bounded.
public enum DropReason: Hashable, Sendable, CustomStringConvertible {
    case malformed(WireError)
    /// An ARP reply, or a neighbor advertisement, that claims none of our addresses.
    case notRequest
    /// The target is not an address this node owns.
    case notOurs
    /// The target is ours, but not on this interface (or the config excludes the interface).
    case wrongInterface
    /// A gratuitous request: someone announcing, not asking.
    case gratuitous
    /// Our own frame, looped back.
    case fromSelf
    /// Sender MAC is broadcast, multicast or zero: nobody to answer to.
    case badSender
    /// Addressed to another host's MAC, or to an IPv6 destination that is neither the
    /// target nor its solicited-node group.
    case notForUs
    /// Ours, but the ownership lease lapsed: the gossip loop has not confirmed the view
    /// recently (the daemon was stopped or starved). Counted by the daemon, not decided here.
    case leaseExpired

    /// Without the frame's values (`WireError.kind`): the key of the drop counter.
    public var kind: DropReason {
        if case .malformed(let error) = self { return .malformed(error.kind) }
        return self
    }

    /// The label used in logs and the `reason` label of the drop counter.
    public var label: String {
        switch self {
        case .malformed(let error): "malformed_" + error.reason
        case .notRequest: "not_request"
        case .notOurs: "not_ours"
        case .wrongInterface: "wrong_interface"
        case .gratuitous: "gratuitous"
        case .fromSelf: "from_self"
        case .badSender: "bad_sender"
        case .notForUs: "not_for_us"
        case .leaseExpired: "lease_expired"
        }
    }

    public var description: String { label }
}

/// What a link knows about itself when deciding: its MAC, the addresses it answers for,
/// the addresses this node owns on other links (to tell `notOurs` from `wrongInterface`),
/// and the addresses it watches for claims by others (every VIP it could serve).
/// In adjacent mode also the MAC to answer with for each address (the target node's),
/// and the node addresses whose answers the target tracker wants to see.
public struct ResponderContext: Sendable {
    public var mac: MACAddress
    public var answering: Set<IPAddress>
    public var ownedElsewhere: Set<IPAddress>
    public var guarded: Set<IPAddress>
    /// Adjacent mode: the target node's MAC for each answered address. The Ethernet
    /// source of the reply stays `mac`; only the ARP sender / NDP target link-layer
    /// address carries the target's.
    public var answerMACs: [IPAddress: MACAddress]
    /// Adjacent mode: node addresses being resolved or probed.
    public var neighbors: Set<IPAddress>

    public init(mac: MACAddress, answering: Set<IPAddress>, ownedElsewhere: Set<IPAddress> = [],
                guarded: Set<IPAddress> = [], answerMACs: [IPAddress: MACAddress] = [:], neighbors: Set<IPAddress> = []) {
        self.mac = mac
        self.answering = answering
        self.ownedElsewhere = ownedElsewhere
        self.guarded = guarded
        self.answerMACs = answerMACs
        self.neighbors = neighbors
    }

    /// The hardware address an answer for `address` carries.
    public func answerMAC(for address: IPAddress) -> MACAddress { answerMACs[address] ?? mac }

    func claims(_ address: IPAddress) -> Bool { answering.contains(address) || guarded.contains(address) }
}

/// The responder's decision for one frame.
public enum ResponderOutcome: Equatable, Sendable {
    /// Send `frame`: the answer to a request for `address`.
    case reply(frame: [UInt8], address: IPAddress)
    /// Another host claims an address we answer for or watch: a reply or announcement from `mac`.
    case conflict(address: IPAddress, mac: MACAddress)
    /// A watched node address answered (or spoke) from `mac`: for the target tracker.
    case neighbor(address: IPAddress, mac: MACAddress)
    /// A request for an address this link could serve but does not answer now (another
    /// node owns it): not answered (counted as `notOurs`), but kept a moment in case this
    /// node takes the address over (`HeldRequests`).
    case held(address: IPAddress)
    case drop(DropReason)
}

/// The whole decision from captured bytes to a reply, with no I/O: the link loop calls
/// it for every frame and executes the outcome. Follows RFC 826 and RFC 4861 §7.2.
public enum Responder {
    public static func decide(_ bytes: UnsafeRawBufferPointer, context: ResponderContext) -> ResponderOutcome {
        let frame: Frame?
        do {
            frame = try Frame.decode(bytes)
        } catch {
            return .drop(.malformed(error))
        }
        switch frame {
        case .arp(let ethernet, let arp): return decideARP(ethernet, arp, context)
        case .ndp(let ethernet, let ndp): return decideNDP(ethernet, ndp, context)
        case nil: return .drop(.notRequest)
        }
    }

    public static func decide(_ bytes: [UInt8], context: ResponderContext) -> ResponderOutcome {
        bytes.withUnsafeBytes { decide($0, context: context) }
    }

    static func decideARP(_ ethernet: EthernetHeader, _ arp: ARPPacket, _ context: ResponderContext) -> ResponderOutcome {
        if ethernet.source == context.mac || arp.senderMAC == context.mac { return .drop(.fromSelf) }
        let sender = IPAddress.v4(arp.senderIP)
        // Adjacent mode: only a reply to our own probe (sent to our MAC) tells a node's
        // MAC; anyone can send requests or gratuitous replies from a node's address.
        if context.neighbors.contains(sender), arp.operation == .reply, arp.targetMAC == context.mac,
           ethernet.destination == context.mac, !arp.senderMAC.isMulticast, !arp.senderMAC.isZero {
            return .neighbor(address: sender, mac: arp.senderMAC)
        }
        // Anyone else sending from one of our addresses (reply, announcement or request)
        // is claiming it.
        if arp.senderIP != .any, context.claims(sender) {
            return .conflict(address: sender, mac: arp.senderMAC)
        }
        guard arp.operation == .request else { return .drop(.notRequest) }
        if arp.isGratuitous { return .drop(.gratuitous) }
        let target = IPAddress.v4(arp.targetIP)
        guard context.answering.contains(target) else { return notAnswered(target, context) }
        guard ethernet.destination.isBroadcast || ethernet.destination == context.mac else { return .drop(.notForUs) }
        guard !arp.senderMAC.isMulticast, !arp.senderMAC.isZero, !ethernet.source.isMulticast else {
            return .drop(.badSender)
        }
        // A probe (sender 0.0.0.0) is answered too, so a host about to take our VIP sees
        // that it is in use (RFC 5227 §2.1.1).
        let reply = ARPPacket(operation: .reply, senderMAC: context.answerMAC(for: target), senderIP: arp.targetIP,
                              targetMAC: arp.senderMAC, targetIP: arp.senderIP)
        return .reply(frame: reply.frame(ethernetDestination: arp.senderMAC, ethernetSource: context.mac), address: target)
    }

    static func notAnswered(_ target: IPAddress, _ context: ResponderContext) -> ResponderOutcome {
        if context.ownedElsewhere.contains(target) { return .drop(.wrongInterface) }
        return context.guarded.contains(target) ? .held(address: target) : .drop(.notOurs)
    }

    static func decideNDP(_ ethernet: EthernetHeader, _ ndp: NDPPacket, _ context: ResponderContext) -> ResponderOutcome {
        if ethernet.source == context.mac { return .drop(.fromSelf) }
        switch ndp.message {
        case .advertisement(let advertisement):
            let target = IPAddress.v6(advertisement.target)
            if context.neighbors.contains(target) {
                let mac = advertisement.targetLinkLayer ?? ethernet.source
                return mac.isMulticast || mac.isZero ? .drop(.badSender) : .neighbor(address: target, mac: mac)
            }
            if context.claims(target), advertisement.targetLinkLayer != context.answerMAC(for: target) {
                return .conflict(address: target, mac: advertisement.targetLinkLayer ?? ethernet.source)
            }
            return .drop(.notRequest)
        case .solicitation(let solicitation):
            let target = IPAddress.v6(solicitation.target)
            guard context.answering.contains(target) else { return notAnswered(target, context) }
            if solicitation.sourceLinkLayer == context.mac { return .drop(.fromSelf) }
            let destination = ndp.header.destination
            let toGroup = destination == solicitation.target.solicitedNodeMulticast
            guard toGroup || destination == solicitation.target else { return .drop(.notForUs) }
            guard ethernet.destination == context.mac || ethernet.destination == .ipv6Multicast(destination) else {
                return .drop(.notForUs)
            }
            guard !ethernet.source.isMulticast, !(solicitation.sourceLinkLayer?.isMulticast ?? false) else {
                return .drop(.badSender)
            }
            let isDAD = ndp.header.source.isUnspecified
            let advertisement = NeighborAdvertisement(solicited: !isDAD, override: true, target: solicitation.target,
                                                      targetLinkLayer: context.answerMAC(for: target))
            let replyDestination = isDAD ? IPv6Address.allNodes : ndp.header.source
            let ethernetDestination = isDAD ? MACAddress.ipv6Multicast(.allNodes)
                : solicitation.sourceLinkLayer ?? ethernet.source
            let frame = NDPPacket.frame(.advertisement(advertisement), source: solicitation.target,
                                        destination: replyDestination, ethernetDestination: ethernetDestination,
                                        ethernetSource: context.mac)
            return .reply(frame: frame, address: target)
        }
    }
}
