import HeraldWire

/// Address conflict detection for one link, in the spirit of RFC 5227 (IPv4) and DAD
/// (RFC 4862 §5.4) for IPv6. Pure: time is an input, frames are returned, not sent.
///
/// - Every VIP this link could serve is **probed** once when it first appears (daemon
///   start, or a reload that adds it), whether this node owns it now or not, so a later
///   takeover never waits for a probe. A probe asks "who has this address?" with an
///   unspecified sender, which updates nobody's cache.
/// - A claim by a MAC that is not one of the cluster's own (another member answering
///   during a handover is not a conflict) puts the address **in conflict**: it is not
///   answered or announced by this node, and is probed again after `retryInterval`,
///   doubling each time someone still answers (up to `maxRetryInterval`), until nobody
///   answers; then it is served as usual. A member's MAC claiming one of that member's own
///   addresses (its kernel answering for a VIP that is its host address) is foreign too.
/// - A foreign claim on an address this node is already announcing is **reported** and
///   the address is defended with one announcement. Claimed again within
///   `defendInterval` of that defence, it is given up (RFC 5227 §2.4(b)): withheld and
///   probed again as above, so a router or a host that really uses the address keeps it.
///
/// Conflicts are only judged once the cluster's MACs are known (`cluster`), so a node
/// that is still joining does not mistake a peer's answer for a foreign host.
public struct ConflictGuard: Sendable {
    public struct Settings: Equatable, Sendable {
        /// Offsets of the probes after an address appears; the decision falls `probeWait`
        /// after the last one.
        public var probes: [Duration]
        public var probeWait: Duration
        public var retryInterval: Duration
        /// The longest wait between probes of an address someone else keeps answering.
        public var maxRetryInterval: Duration
        /// At most one report (log line) per address per interval.
        public var reportInterval: Duration
        public var defendInterval: Duration

        public init(probes: [Duration], probeWait: Duration, retryInterval: Duration, maxRetryInterval: Duration? = nil,
                    reportInterval: Duration, defendInterval: Duration) {
            precondition(!probes.isEmpty, "at least one probe")
            self.probes = probes
            self.probeWait = probeWait
            self.retryInterval = retryInterval
            self.maxRetryInterval = maxRetryInterval ?? retryInterval * 30
            self.reportInterval = reportInterval
            self.defendInterval = defendInterval
        }

        /// Three probes 50 ms apart, decided 50 ms after the last: 150 ms from a VIP's
        /// first appearance to its first announcement (a LAN host answers an ARP probe in
        /// well under a millisecond; three chances cover a lost frame). RFC 5227's own
        /// timers (1–2 s spacing) are for hosts picking an address; a configured VIP or an
        /// allocated pool address is expected free, and a Service should answer within
        /// half a second of `kubectl apply`.
        public static let standard = Settings(
            probes: [.zero, .milliseconds(50), .milliseconds(100)], probeWait: .milliseconds(50),
            retryInterval: .seconds(10), reportInterval: .seconds(10), defendInterval: .seconds(10))
    }

    public enum Phase: Equatable, Sendable {
        /// Probes under way; `next` indexes `Settings.probes`.
        case probing(startedAt: Duration, next: Int)
        /// Nobody else answered: free to announce.
        case clear
        /// A foreign MAC answered a probe; probed again at `retryAt`.
        case conflict(MACAddress, retryAt: Duration)
    }

    /// What the link should do or say, in the order it happened.
    public enum Action: Equatable, Sendable {
        case probe(IPAddress)
        /// One frame from a foreign MAC claimed the address: count it (not rate-limited).
        case claimed(IPAddress, MACAddress)
        /// A foreign MAC claims the address: log it, count it, show it. `inUse` when this
        /// node was announcing it (kept and defended) rather than probing it (withheld).
        case report(IPAddress, MACAddress, inUse: Bool)
        /// Claimed again right after a defence: given up, probed again at `retryAt`.
        case yielded(IPAddress, MACAddress, retryAt: Duration)
        /// Announce the address once now, to defend it.
        case defend(IPAddress)
        /// A conflicted address was probed again and nobody answered.
        case resolved(IPAddress)
        /// The first probe of an address found nobody else answering it.
        case cleared(IPAddress)
    }

    public let settings: Settings
    /// Addresses whose probe found nobody else: answered and announced as any other.
    private var clear: Set<IPAddress> = []
    /// The others, being probed or in conflict: few at a time however many addresses a
    /// link serves, so a turn looks only at these.
    private var unsettled: [IPAddress: Phase] = [:]
    /// Every address's phase (for reports and tests).
    public var phases: [IPAddress: Phase] {
        unsettled.merging(clear.map { ($0, Phase.clear) }, uniquingKeysWith: { phase, _ in phase })
    }
    /// This cluster's members' MACs; `nil` until known.
    public private(set) var cluster: ClusterMACs?
    private var lastReport: [IPAddress: Duration] = [:]
    private var lastDefence: [IPAddress: Duration] = [:]
    /// Claims seen while probing, judged once the probe window closes.
    private var claimants: [IPAddress: MACAddress] = [:]
    /// Claimants recorded before the cluster's MACs were known, so not yet counted.
    private var uncounted: Set<IPAddress> = []
    /// Conflicted addresses being probed again; announced as resolved if nobody answers.
    private var retrying: Set<IPAddress> = []
    /// Probes in a row that found the address still claimed: the retry interval doubles
    /// with each.
    private var stillClaimed: [IPAddress: Int] = [:]

    public init(settings: Settings = .standard) { self.settings = settings }

    /// Addresses that must not be answered or announced now: being probed, or in conflict.
    public var withheld: Set<IPAddress> { Set(unsettled.keys) }

    /// Addresses whose first probe has not been decided yet.
    public var isProbing: Bool {
        unsettled.values.contains { if case .probing = $0 { true } else { false } }
    }

    /// The addresses in conflict, with the MAC that claims each.
    public var conflicts: [IPAddress: MACAddress] {
        unsettled.reduce(into: [:]) { result, entry in
            if case .conflict(let mac, _) = entry.value { result[entry.key] = mac }
        }
    }

    /// Sets the addresses this link could ever serve: new ones start probing, ones that
    /// left the config are forgotten.
    public mutating func onServable(_ addresses: Set<IPAddress>, now: Duration) {
        clear.formIntersection(addresses)
        unsettled = unsettled.filter { addresses.contains($0.key) }
        claimants = claimants.filter { addresses.contains($0.key) }
        retrying.formIntersection(addresses)
        uncounted.formIntersection(addresses)
        stillClaimed = stillClaimed.filter { addresses.contains($0.key) }
        for address in addresses where !clear.contains(address) && unsettled[address] == nil {
            unsettled[address] = .probing(startedAt: now, next: 0)
        }
    }

    /// The MACs of every cluster member (this node's own included); a claim from one of
    /// them is a handover, not a conflict, unless the address is that member's own. Earlier
    /// conflicts with such a claim are dropped.
    public mutating func onCluster(_ macs: ClusterMACs) {
        cluster = macs
        for (address, phase) in unsettled {
            if case .conflict(let mac, _) = phase, macs.exempts(mac, claiming: address) { set(address, .clear) }
        }
        claimants = claimants.filter { !macs.exempts($0.value, claiming: $0.key) }
    }

    private func isExempt(_ mac: MACAddress, claiming address: IPAddress) -> Bool {
        cluster?.exempts(mac, claiming: address) ?? false
    }

    /// Another MAC sent a frame claiming `address` (a reply to our probe, an announcement,
    /// a request from that address). `announcing`: whether this node answers for it now.
    public mutating func onClaim(_ address: IPAddress, by mac: MACAddress, announcing: Bool, now: Duration) -> [Action] {
        guard let phase = unsettled[address] ?? (clear.contains(address) ? .clear : nil),
              !isExempt(mac, claiming: address) else { return [] }
        let counted: [Action] = cluster == nil ? [] : [.claimed(address, mac)]
        switch phase {
        case .probing:
            claimants[address] = mac
            if cluster == nil { uncounted.insert(address) }
            return counted
        case .conflict(_, let retryAt):
            unsettled[address] = .conflict(mac, retryAt: retryAt)
            return counted + report(address, mac, inUse: false, now: now)
        case .clear:
            guard cluster != nil, announcing else { return [] }
            if let defended = lastDefence[address], now - defended < settings.defendInterval {
                // RFC 5227 §2.4(b): defended a moment ago and claimed again: give it up.
                lastDefence[address] = nil
                let retryAt = now + retryDelay(address)
                set(address, .conflict(mac, retryAt: retryAt))
                lastReport[address] = now
                return counted + [.yielded(address, mac, retryAt: retryAt)]
            }
            lastDefence[address] = now
            return counted + report(address, mac, inUse: true, now: now) + [.defend(address)]
        }
    }

    private mutating func set(_ address: IPAddress, _ phase: Phase) {
        if phase == .clear {
            unsettled[address] = nil
            clear.insert(address)
        } else {
            clear.remove(address)
            unsettled[address] = phase
        }
    }

    /// Sends due probes and closes probe windows. Call on every loop turn.
    public mutating func onTick(now: Duration) -> [Action] {
        var actions: [Action] = []
        for (address, phase) in unsettled.sorted(by: { $0.key < $1.key }) {
            switch phase {
            case .probing(let startedAt, var next):
                // One probe per turn even if the thread was late and several fell due.
                let due = next
                while next < settings.probes.count, startedAt + settings.probes[next] <= now { next += 1 }
                if next > due { actions.append(.probe(address)) }
                let decideAt = startedAt + settings.probes[settings.probes.count - 1] + settings.probeWait
                guard next == settings.probes.count, now >= decideAt, let known = cluster else {
                    unsettled[address] = .probing(startedAt: startedAt, next: next)
                    continue
                }
                let wasCounted = uncounted.remove(address) == nil
                if let mac = claimants.removeValue(forKey: address), !known.exempts(mac, claiming: address) {
                    if retrying.contains(address) { stillClaimed[address, default: 0] += 1 }
                    unsettled[address] = .conflict(mac, retryAt: now + retryDelay(address))
                    if !wasCounted { actions.append(.claimed(address, mac)) }
                    actions += report(address, mac, inUse: false, now: now)
                } else {
                    set(address, .clear)
                    stillClaimed[address] = nil
                    actions.append(retrying.remove(address) != nil ? .resolved(address) : .cleared(address))
                }
            case .conflict(_, let retryAt) where now >= retryAt:
                retrying.insert(address)
                unsettled[address] = .probing(startedAt: now, next: 1)
                actions.append(.probe(address))
            case .conflict, .clear:
                break
            }
        }
        return actions
    }

    /// When `onTick` next has something to do.
    public var nextDeadline: Duration? {
        unsettled.values.compactMap { phase -> Duration? in
            switch phase {
            case .probing(let startedAt, let next):
                next < settings.probes.count ? startedAt + settings.probes[next]
                    : startedAt + settings.probes[settings.probes.count - 1] + settings.probeWait
            case .conflict(_, let retryAt): retryAt
            case .clear: nil
            }
        }.min()
    }

    /// How long until an address in conflict is probed again: `retryInterval`, doubled for
    /// each probe in a row that found it still claimed, up to `maxRetryInterval`.
    private func retryDelay(_ address: IPAddress) -> Duration {
        let doublings = min(stillClaimed[address] ?? 0, 16)
        return min(settings.retryInterval * (1 << doublings), settings.maxRetryInterval)
    }

    private mutating func report(_ address: IPAddress, _ mac: MACAddress, inUse: Bool, now: Duration) -> [Action] {
        if let last = lastReport[address], now - last < settings.reportInterval { return [] }
        lastReport[address] = now
        return [.report(address, mac, inUse: inUse)]
    }
}

/// The MACs of a cluster's members, and the addresses each of them holds as its own (its
/// interfaces' addresses; in adjacent mode, a target node's address): a member's MAC may
/// claim any address Herald serves during a handover, but never one of its own.
public struct ClusterMACs: Equatable, Sendable {
    public var own: [MACAddress: Set<IPAddress>]

    public init(_ own: [MACAddress: Set<IPAddress>] = [:]) { self.own = own }

    public func exempts(_ mac: MACAddress, claiming address: IPAddress) -> Bool {
        own[mac].map { !$0.contains(address) } ?? false
    }

    public func merging(_ other: ClusterMACs) -> ClusterMACs {
        ClusterMACs(own.merging(other.own) { $0.union($1) })
    }
}

/// The frames that ask whether anyone else uses `address`, without claiming it: an ARP
/// probe (sender IP 0.0.0.0, RFC 5227 §2.1.1) or a DAD neighbor solicitation (source `::`
/// to the solicited-node group, no source link-layer option, RFC 4862 §5.4.2). With
/// `unicastTo`, the frame goes to that MAC only (adjacent mode: is a known node still
/// there?); a DAD solicitation keeps its solicited-node IPv6 destination, which RFC 4861
/// §7.1.1 requires for source `::`, and is answered to all nodes.
public enum AddressProbe {
    public static func frames(for address: IPAddress, mac: MACAddress, unicastTo: MACAddress? = nil) -> [[UInt8]] {
        switch address {
        case .v4(let ip):
            let probe = ARPPacket(operation: .request, senderMAC: mac, senderIP: .any, targetMAC: .zero, targetIP: ip)
            return [probe.frame(ethernetDestination: unicastTo ?? .broadcast, ethernetSource: mac)]
        case .v6(let ip):
            let group = ip.solicitedNodeMulticast
            return [NDPPacket.frame(.solicitation(NeighborSolicitation(target: ip, sourceLinkLayer: nil)),
                                    source: .unspecified, destination: group,
                                    ethernetDestination: unicastTo ?? .ipv6Multicast(group), ethernetSource: mac)]
        }
    }
}
