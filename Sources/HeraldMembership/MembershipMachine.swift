import HeraldWire

/// SWIM membership with the Lifeguard extensions, as a pure state machine: inputs are
/// `on…` methods that take `now` (time since any fixed origin) and a random number
/// generator, outputs are `MembershipAction`s. No clock, no socket, no timer: the shell
/// calls `onTick` at `nextDeadline`, so a whole cluster runs in virtual time in a test.
///
/// Protocol: every probe interval ping the next member of a shuffled round robin; no ack
/// within the probe timeout → ask `indirectChecks` others to ping it (they answer with an
/// ack or a nack); nothing by the end of the interval → suspect it. A suspected member
/// refutes with a higher incarnation; otherwise it is declared dead when the suspicion
/// times out — sooner the more members independently suspect it (Lifeguard). Failed
/// probes and being suspected raise the local health multiplier, which slows this node's
/// own probing so a struggling node does not accuse healthy ones. Updates ride on pings
/// and acks; a full-state push-pull with a random member (and now and then a dead one)
/// repairs what gossip missed and heals partitions.
public struct MembershipMachine: Sendable {
    public let settings: MembershipSettings
    public let name: String
    public let address: GossipAddress
    public private(set) var incarnation: UInt64 = 0
    public private(set) var meta: [UInt8]
    /// Every other member this node knows, alive or not.
    public private(set) var members: [String: Member] = [:] {
        didSet { upCount = nil }
    }
    /// Cached count of the members that are up (excluding this node); nil after any change.
    private var upCount: Int?
    /// Lifeguard's local health multiplier: 0 is healthy.
    public private(set) var awareness = 0
    /// Whether this node acks pings, relays them and refutes claims about itself: the
    /// daemon sets it false while the work gossip stands for (deciding, answering on the
    /// links) falls behind, so peers fail a starved node over instead of seeing it alive
    /// while it answers nothing.
    public var responsive = true
    public private(set) var hasLeft = false

    struct Probe: Sendable {
        var target: String
        var seq: UInt32
        var sentAt: Duration
        var directDeadline: Duration
        var end: Duration
        var indirect = false
        var expectedNacks = 0
        var nacks = 0
    }

    struct Relay: Sendable {
        var requester: GossipAddress
        var seq: UInt32
        var deadline: Duration
    }

    struct Suspicion: Sendable {
        var incarnation: UInt64
        var start: Duration
        var minimum: Duration
        var maximum: Duration
        var needed: Int
        /// The accuser and every member that confirmed since. The accuser starts the
        /// suspicion; only the others count as independent confirmations.
        var accusers: Set<String>

        var confirmations: Int { max(0, accusers.count - 1) }

        /// Lifeguard: from `maximum` down to `minimum` as confirmations arrive, on a log scale.
        var deadline: Duration {
            guard needed > 0 else { return start + minimum }
            let fraction = log(Double(confirmations + 1)) / log(Double(needed + 1))
            let span = Double((maximum - minimum) / .milliseconds(1)) * min(fraction, 1)
            return start + max(minimum, maximum - .milliseconds(Int64(span)))
        }
    }

    var probe: Probe?
    var nextProbeAt: Duration
    var probeOrder: [String] = []
    var probeIndex = 0
    var sequence: UInt32 = 0
    var relays: [UInt32: Relay] = [:]
    var suspicions: [String: Suspicion] = [:]
    var broadcasts = BroadcastQueue()
    /// When each address last answered a ping of ours: a full state goes only to an
    /// address that did so within `verificationLifetime`, so neither a datagram with a
    /// forged source nor a member record with a victim's address can make this node send
    /// kilobytes to an address that did not ask.
    var verified: [GossipAddress: Duration] = [:]
    /// Pings sent to check an address before a full state goes there, by sequence number:
    /// its ack verifies the address and releases the full state (`isReply`: the answer to
    /// a request; otherwise a request of ours).
    var challenges: [UInt32: (address: GossipAddress, deadline: Duration, isReply: Bool)] = [:]
    /// Members that left or died, in the order they did (`statusSince` never goes back), so
    /// the oldest makes room in constant time; entries whose member came back or was
    /// forgotten are skipped when met.
    var departures: [(name: String, since: Duration)] = []
    var departuresStart = 0
    /// Claims about members ignored for raising an incarnation implausibly far.
    public private(set) var implausibleClaims: UInt64 = 0
    /// Members refused because `settings.maxMembers` were known already.
    public private(set) var refusedMembers: UInt64 = 0
    var seeds: [GossipAddress] = []
    var nextJoinAt: Duration
    private let startedAt: Duration
    private var nextAloneReport: Duration
    var nextPushPullAt: Duration
    var nextReconnectAt: Duration
    var reconnectTurn = 0

    public init(name: String, address: GossipAddress, meta: [UInt8], settings: MembershipSettings, now: Duration) {
        self.name = name
        self.address = address
        self.meta = meta
        self.settings = settings
        nextProbeAt = now + settings.probeInterval
        nextJoinAt = now
        startedAt = now
        nextAloneReport = now + .seconds(3)
        nextPushPullAt = now + settings.pushPullInterval
        nextReconnectAt = now + settings.reconnectInterval
    }

    // MARK: Views

    /// This node as the others should see it.
    public var selfMember: Member {
        Member(name: name, address: address, incarnation: incarnation, status: hasLeft ? .left : .alive, meta: meta,
               statusSince: .zero, roundTrip: nil)
    }

    /// The members that are up, this node included: the cluster size the timeouts scale with.
    var aliveCount: Int {
        mutating get {
            if let upCount { return upCount + 1 }
            let count = members.values.filter(\.isUp).count
            upCount = count
            return count + 1
        }
    }

    var retransmitLimit: Int {
        mutating get {
        settings.retransmitMultiplier * Int(log10(Double(aliveCount + 1)).rounded(.up))
        }
    }

    var scale: Int64 { Int64(awareness + 1) }

    /// When `onTick` has work next.
    public var nextDeadline: Duration {
        mutating get {
        var deadline = min(nextProbeAt, nextPushPullAt, nextReconnectAt)
        if let probe { deadline = min(deadline, probe.indirect ? probe.end : probe.directDeadline) }
        if let earliest = suspicions.values.map(\.deadline).min() { deadline = min(deadline, earliest) }
        if let earliest = relays.values.map(\.deadline).min() { deadline = min(deadline, earliest) }
        if !seeds.isEmpty && aliveCount == 1 { deadline = min(deadline, nextJoinAt) }
        return deadline
        }
    }

    // MARK: Inputs

    /// Contacts the configured peers with a full-state sync; retried while alone.
    public mutating func onJoin(seeds: [GossipAddress], now: Duration) -> [MembershipAction] {
        self.seeds = seeds.filter { $0 != address }
        nextJoinAt = now + settings.joinRetryInterval
        return self.seeds.map(joinRequest)
    }

    /// Asks for a member's full state with this node's own record only: nothing in bulk goes
    /// to an address before it answered a ping of ours (the seed pings back, then answers).
    func joinRequest(to seed: GossipAddress) -> MembershipAction {
        .send([.pushPull(isReply: false, members: [selfMember.record])], to: seed)
    }

    /// Merges with every member this node knows at once (after a cut-off, say), instead of
    /// on the next push-pull tick: each gets a full state, at once where its address
    /// answered lately and after it answers a ping otherwise.
    public mutating func onMergeNow(now: Duration) -> [MembershipAction] {
        guard !hasLeft else { return [] }
        return members.values.sorted { $0.name < $1.name }.flatMap { member in
            fullStateIfFresh(to: member.address, name: member.name, now: now)
        }
    }

    /// Announces new metadata (this node's eligibility) with a higher incarnation: gossiped
    /// as usual, and sent straight to (up to 16) alive members, since eligibility decides
    /// who answers for a VIP and piggybacking alone takes a probe interval or more.
    public mutating func onMetaChanged(_ newMeta: [UInt8]) -> [MembershipAction] {
        guard newMeta != meta, !hasLeft else { return [] }
        meta = newMeta
        incarnation = Self.outbid(incarnation)
        broadcasts.enqueue(aliveMessage)
        return directAlive()
    }

    /// Leaves gracefully: tells every alive member directly, so they move VIPs at once
    /// instead of after a suspicion timeout.
    public mutating func onLeave() -> [MembershipAction] {
        guard !hasLeft else { return [] }
        hasLeft = true
        let message = GossipMessage.dead(name: name, incarnation: incarnation, from: name)
        return members.values.filter(\.isUp).map { .send([message], to: $0.address) }
    }

    public mutating func onTick(now: Duration, using rng: inout some RandomNumberGenerator) -> [MembershipAction] {
        guard !hasLeft else { return [] }
        var actions: [MembershipAction] = []

        if var current = probe {
            if !current.indirect && now >= current.directDeadline {
                current.indirect = true
                let helpers = members.values.filter { $0.status == .alive && $0.name != current.target }
                    .map(\.name).sorted().shuffled(using: &rng).prefix(settings.indirectChecks)
                if let target = members[current.target] {
                    for helper in helpers {
                        actions.append(send([.pingRequest(seq: current.seq, target: target.name, targetAddress: target.address,
                                                          source: name)], to: members[helper]!.address))
                    }
                }
                current.expectedNacks = helpers.count
                probe = current
            }
            if now >= current.end {
                probe = nil
                // Lifeguard: a failed probe says as much about us as about the target, and so
                // do missing nacks — but only when none came: one helper's nack shows our
                // path works, and the others may have died with the target (two hosts lost
                // at once would otherwise slow every survivor's probing while it matters most).
                adjustAwareness(1 + (current.nacks == 0 ? current.expectedNacks : 0))
                if let target = members[current.target], target.isUp {
                    actions += suspect(target.name, incarnation: target.incarnation, from: name, now: now)
                    // Buddy system, at once: if the target is alive it learns of the suspicion
                    // now and refutes before anyone can confirm it.
                    sequence &+= 1
                    actions.append(send([.ping(seq: sequence, target: target.name, source: name),
                                         .suspect(name: target.name, incarnation: target.incarnation, from: name)],
                                        to: target.address))
                }
            }
        }

        for (suspectName, suspicion) in suspicions where now >= suspicion.deadline {
            actions += declareDead(suspectName, incarnation: suspicion.incarnation, from: name, now: now)
        }

        for (seq, relay) in relays where now >= relay.deadline {
            relays[seq] = nil
            actions.append(send([.nack(seq: relay.seq, source: name)], to: relay.requester))
        }

        if probe == nil && now >= nextProbeAt {
            nextProbeAt = now + settings.probeInterval * scale
            if let target = nextProbeTarget(using: &rng) {
                sequence &+= 1
                probe = Probe(target: target.name, seq: sequence, sentAt: now,
                              directDeadline: now + settings.probeTimeout * scale, end: nextProbeAt)
                var messages: [GossipMessage] = [.ping(seq: sequence, target: target.name, source: name)]
                // Buddy system: tell a suspect it is suspected, so it can refute at once.
                if target.status == .suspect {
                    messages.append(.suspect(name: target.name, incarnation: target.incarnation, from: name))
                }
                actions.append(send(messages, to: target.address))
            }
        }

        if now >= nextPushPullAt {
            nextPushPullAt = now + settings.pushPullInterval
            if let peer = members.values.filter({ $0.status == .alive }).map(\.name).sorted().randomElement(using: &rng) {
                actions += fullStateIfFresh(to: members[peer]!.address, name: peer, now: now)
            }
        }
        if now >= nextReconnectAt {
            nextReconnectAt = now + settings.reconnectInterval
            // The dead in turn, one per interval: a ping, and to one that answers (the end of
            // a partition) a full state at once, so views merge within an interval or so.
            let dead = members.values.filter { $0.status == .dead }.map(\.name).sorted()
            if !dead.isEmpty {
                reconnectTurn = (reconnectTurn + 1) % dead.count
                let peer = dead[reconnectTurn]
                actions += challenge(members[peer]!.address, name: peer, isReply: false, sizeLimit: nil, now: now)
            }
        }
        if !seeds.isEmpty && aliveCount == 1 && now >= nextJoinAt {
            nextJoinAt = now + settings.joinRetryInterval
            actions += seeds.map(joinRequest)
            if now >= nextAloneReport {
                nextAloneReport = now + .seconds(30)
                actions.append(.alone(seeds: seeds, since: now - startedAt))
            }
        }
        for (seq, challenge) in challenges where now >= challenge.deadline { challenges[seq] = nil }

        for (memberName, member) in members where !member.isUp && now - member.statusSince > settings.deadRetention {
            members[memberName] = nil
        }
        // Departures of members that came back or were forgotten are dropped now and then.
        if departures.count - departuresStart > 2 * settings.maxMembers {
            departures = departures[departuresStart...].filter { entry in
                members[entry.name].map { !$0.isUp && $0.statusSince == entry.since } ?? false
            }
            departuresStart = 0
        }
        // Only recent answers stay verified.
        if verified.count > members.count { verified = verified.filter { now - $0.value <= settings.verificationLifetime } }
        return actions
    }

    public mutating func onPacket(_ messages: [GossipMessage], from sender: GossipAddress, now: Duration) -> [MembershipAction] {
        guard !hasLeft else { return [] }
        var actions: [MembershipAction] = []
        let requestSize = messages.reduce(1) { $0 + $1.encodedSize }
        // Updates first: a ping that carries a suspicion of us is answered with an ack that
        // already carries our refutation.
        let updates = messages.filter { $0.subject != nil }
        for message in updates + messages.filter({ $0.subject == nil }) {
            switch message {
            case .ping(let seq, let target, _):
                if target == name && responsive { actions.append(send([.ack(seq: seq, source: name)], to: sender)) }
            case .pingRequest(let seq, let target, let targetAddress, _):
                // Bounded: each relay waits a probe timeout at most.
                guard relays.count < 256, responsive else { continue }
                sequence &+= 1
                // Half a probe timeout: the nack must reach the requester before its probe
                // interval ends (it asked after a full timeout of its own).
                relays[sequence] = Relay(requester: sender, seq: seq, deadline: now + settings.probeTimeout / 2 * scale)
                actions.append(send([.ping(seq: sequence, target: target, source: name)], to: targetAddress))
            case .ack(let seq, let source):
                if let current = probe, current.seq == seq, current.target == source {
                    probe = nil
                    adjustAwareness(-1)
                    if !current.indirect, let member = members[source] {
                        if member.address == sender { verified[sender] = now }
                        members[source]?.roundTrip = now - current.sentAt
                        actions.append(.measured(member: source, roundTrip: now - current.sentAt))
                    }
                } else if let challenge = challenges[seq], challenge.address == sender {
                    challenges[seq] = nil
                    verified[sender] = now
                    actions += fullState(to: sender, isReply: challenge.isReply)
                } else if let relay = relays.removeValue(forKey: seq) {
                    actions.append(send([.ack(seq: relay.seq, source: source)], to: relay.requester))
                }
            case .nack(let seq, _):
                if probe?.seq == seq { probe?.nacks += 1 }
            case .alive(let memberName, let memberAddress, let memberIncarnation, let memberMeta):
                actions += alive(memberName, address: memberAddress, incarnation: memberIncarnation, meta: memberMeta, now: now)
            case .suspect(let memberName, let memberIncarnation, let from):
                actions += suspect(memberName, incarnation: memberIncarnation, from: from, now: now)
            case .dead(let memberName, let memberIncarnation, let from):
                actions += declareDead(memberName, incarnation: memberIncarnation, from: from, now: now)
            case .pushPull(let isReply, let records):
                for record in records { actions += merge(record, now: now) }
                if !isReply { actions += answerPushPull(from: sender, records: records, requestSize: requestSize, now: now) }
            case .challenge, .response:
                // Answered and checked by the replay guard before packets get here.
                break
            }
        }
        return actions
    }

    // MARK: Rules

    var aliveMessage: GossipMessage { .alive(name: name, address: address, incarnation: incarnation, meta: meta) }

    var fullState: [MemberRecord] { [selfMember.record] + members.values.map(\.record).sorted { $0.name < $1.name } }

    /// This node's full state for `destination`, as push-pull messages of at most
    /// `settings.fullStateBytes` each (this node's own record first); only the first of a
    /// request asks for an answer.
    func fullState(to destination: GossipAddress, isReply: Bool) -> [MembershipAction] {
        let overhead = GossipMessage.pushPull(isReply: false, members: []).encodedSize + 1
        var chunks: [[MemberRecord]] = [[]]
        var size = overhead
        for record in fullState {
            let recordSize = GossipMessage.pushPull(isReply: false, members: [record]).encodedSize - overhead + 1
            if !chunks[chunks.count - 1].isEmpty
                && (size + recordSize > settings.fullStateBytes || chunks[chunks.count - 1].count == GossipMessage.maxMembers) {
                chunks.append([])
                size = overhead
            }
            chunks[chunks.count - 1].append(record)
            size += recordSize
        }
        return chunks.enumerated().map { index, records in
            .send([.pushPull(isReply: isReply || index > 0, members: records)], to: destination)
        }
    }

    /// The answer to a push-pull request. A verified sender gets the full state at once;
    /// any other first gets a ping no larger than its request, and the full state once it
    /// acknowledges from that address (so a forged source address gets nothing bigger
    /// than what was sent).
    mutating func answerPushPull(from sender: GossipAddress, records: [MemberRecord], requestSize: Int,
                                 now: Duration) -> [MembershipAction] {
        if isFresh(sender, now: now) { return fullState(to: sender, isReply: true) }
        guard let requester = records.first, requester.name != name else { return [] }
        return challenge(sender, name: requester.name, isReply: true, sizeLimit: requestSize, now: now)
    }

    /// Whether `address` answered a ping of ours recently enough to be sent a full state.
    func isFresh(_ address: GossipAddress, now: Duration) -> Bool {
        verified[address].map { now - $0 <= settings.verificationLifetime } ?? false
    }

    /// A full state for `address` (a member named `name`), at once if the address answered
    /// a ping lately, or else after it answers the ping sent now.
    mutating func fullStateIfFresh(to address: GossipAddress, name memberName: String, now: Duration) -> [MembershipAction] {
        isFresh(address, now: now) ? fullState(to: address, isReply: false)
            : challenge(address, name: memberName, isReply: false, sizeLimit: nil, now: now)
    }

    /// Pings `address` (meant for member `name`); its ack releases a full state. With
    /// `sizeLimit`, only if the ping is no larger (a reply never outweighs its request).
    mutating func challenge(_ address: GossipAddress, name memberName: String, isReply: Bool, sizeLimit: Int?,
                            now: Duration) -> [MembershipAction] {
        guard challenges.count < 64, !challenges.values.contains(where: { $0.address == address && $0.isReply == isReply }) else {
            return []
        }
        sequence &+= 1
        let ping = GossipMessage.ping(seq: sequence, target: memberName, source: name)
        if let sizeLimit, ping.encodedSize + 1 > sizeLimit { return [] }
        challenges[sequence] = (address, now + settings.probeInterval * 4, isReply)
        return [.send([ping], to: address)]
    }

    /// One more than `incarnation`, never past `GossipMessage.maxIncarnation` (which no
    /// message may exceed, so this never traps).
    static func outbid(_ incarnation: UInt64) -> UInt64 {
        min(incarnation, GossipMessage.maxIncarnation - 1) + 1
    }

    /// Outbids a claim about this node. The new `alive` is gossiped as usual and also sent
    /// straight to (up to 16) alive members: a suspicion confirmed by others may time out
    /// in a few probe intervals, and piggybacking alone could miss that.
    mutating func refute(above claimed: UInt64, status: MemberRecord.Status) -> [MembershipAction] {
        guard responsive else { return [] }
        incarnation = Self.outbid(max(incarnation, claimed))
        broadcasts.enqueue(aliveMessage)
        adjustAwareness(1)
        return [.refuted(claimed: status)] + directAlive()
    }

    /// This node's `alive`, sent straight to up to 16 alive members.
    func directAlive() -> [MembershipAction] {
        members.values.filter(\.isUp).map(\.address).sorted().prefix(16).map { .send([aliveMessage], to: $0) }
    }

    mutating func alive(_ memberName: String, address memberAddress: GossipAddress, incarnation memberIncarnation: UInt64,
                        meta memberMeta: [UInt8], now: Duration) -> [MembershipAction] {
        if memberName == name {
            // Someone carries a newer incarnation of us than we have (we restarted): outbid it.
            return memberIncarnation > incarnation ? refute(above: memberIncarnation, status: .alive) : []
        }
        if let known = members[memberName], memberIncarnation <= known.incarnation { return [] }
        if !isPlausible(memberName, memberIncarnation) { return [] }
        let previous = members[memberName]
        guard previous != nil || makeRoom() else { return [] }
        var member = Member(name: memberName, address: memberAddress, incarnation: memberIncarnation, status: .alive,
                            meta: memberMeta, statusSince: now, roundTrip: previous?.roundTrip)
        if previous?.status == .alive { member.statusSince = previous!.statusSince }
        members[memberName] = member
        suspicions[memberName] = nil
        if previous == nil {
            probeOrder.append(memberName)
            // Names of members since forgotten are skipped, and dropped here if they pile up.
            if probeOrder.count > 2 * settings.maxMembers {
                probeOrder = probeOrder[probeIndex...].filter { members[$0] != nil }
                probeIndex = 0
            }
        }
        broadcasts.enqueue(.alive(name: memberName, address: memberAddress, incarnation: memberIncarnation, meta: memberMeta))
        return [.changed(member)]
    }

    mutating func suspect(_ memberName: String, incarnation memberIncarnation: UInt64, from: String,
                          now: Duration) -> [MembershipAction] {
        if memberName == name { return refute(above: memberIncarnation, status: .suspect) }
        guard var member = members[memberName], member.isUp, memberIncarnation >= member.incarnation,
              isPlausible(memberName, memberIncarnation) else { return [] }
        if member.status == .suspect, var suspicion = suspicions[memberName], memberIncarnation == suspicion.incarnation {
            if !from.isEmpty, suspicion.accusers.insert(from).inserted {
                suspicions[memberName] = suspicion
                broadcasts.enqueue(.suspect(name: memberName, incarnation: memberIncarnation, from: from))
            }
            return []
        }
        member.incarnation = memberIncarnation
        member.status = .suspect
        member.statusSince = now
        members[memberName] = member
        let minimum = settings.suspicionFloor * max(1, log10(Double(aliveCount)))
        suspicions[memberName] = Suspicion(
            incarnation: memberIncarnation, start: now, minimum: minimum, maximum: minimum * settings.suspicionMaxMultiplier,
            needed: min(settings.suspicionConfirmations, max(0, aliveCount - 2)),
            accusers: from.isEmpty ? [] : [from])
        broadcasts.enqueue(.suspect(name: memberName, incarnation: memberIncarnation, from: from))
        return [.changed(member)]
    }

    mutating func declareDead(_ memberName: String, incarnation memberIncarnation: UInt64, from: String,
                              now: Duration) -> [MembershipAction] {
        if memberName == name { return refute(above: memberIncarnation, status: .dead) }
        guard var member = members[memberName], member.isUp, memberIncarnation >= member.incarnation,
              isPlausible(memberName, memberIncarnation) else { return [] }
        member.incarnation = memberIncarnation
        member.status = from == memberName ? .left : .dead
        member.statusSince = now
        members[memberName] = member
        departures.append((memberName, now))
        suspicions[memberName] = nil
        if probe?.target == memberName { probe = nil }
        broadcasts.enqueue(.dead(name: memberName, incarnation: memberIncarnation, from: from))
        return [.changed(member)]
    }

    /// One record of a full-state sync, applied as the update it stands for. A remote
    /// "dead" only raises suspicion here (as memberlist does): after a partition each side
    /// holds the other dead, and that stale verdict must not kill members that can refute.
    mutating func merge(_ record: MemberRecord, now: Duration) -> [MembershipAction] {
        if record.name == name {
            return record.status == .alive ? alive(name, address: address, incarnation: record.incarnation, meta: meta, now: now)
                : refute(above: record.incarnation, status: record.status)
        }
        switch record.status {
        case .alive:
            return alive(record.name, address: record.address, incarnation: record.incarnation, meta: record.meta, now: now)
        case .suspect, .dead:
            guard let known = members[record.name] else {
                // Learn of it, but as gone: it announces nothing until it says it is alive.
                guard makeRoom() else { return [] }
                members[record.name] = Member(name: record.name, address: record.address, incarnation: record.incarnation,
                                              status: .dead, meta: record.meta, statusSince: now, roundTrip: nil)
                departures.append((record.name, now))
                return []
            }
            guard known.isUp else { return [] }
            return suspect(record.name, incarnation: record.incarnation, from: "", now: now)
        case .left:
            if members[record.name] == nil {
                guard makeRoom() else { return [] }
                members[record.name] = Member(name: record.name, address: record.address, incarnation: record.incarnation,
                                              status: .left, meta: record.meta, statusSince: now, roundTrip: nil)
                departures.append((record.name, now))
                return []
            }
            return declareDead(record.name, incarnation: record.incarnation, from: record.name, now: now)
        }
    }

    // MARK: Helpers

    /// Whether one more member fits: at the cap, the member that departed longest ago
    /// makes room; with none departed, the newcomer is refused (and counted). Constant time
    /// (amortized): a full state of thousands of records costs thousands of steps, not
    /// thousands times thousands.
    mutating func makeRoom() -> Bool {
        guard members.count >= settings.maxMembers else { return true }
        while departuresStart < departures.count {
            let (departed, since) = departures[departuresStart]
            departuresStart += 1
            // Skipped: came back, forgotten, or departed again later (a newer entry follows).
            guard let member = members[departed], !member.isUp, member.statusSince == since else { continue }
            members[departed] = nil
            compactDepartures()
            return true
        }
        compactDepartures()
        refusedMembers += 1
        return false
    }

    /// Drops the part of `departures` already passed, once it is most of the array.
    mutating func compactDepartures() {
        if departuresStart > 64 && departuresStart * 2 > departures.count {
            departures.removeFirst(departuresStart)
            departuresStart = 0
        }
    }

    /// Whether a claim raises `member`'s incarnation plausibly: by at most
    /// `GossipMessage.maxIncarnationStep` over what this node knows. Only the member itself
    /// raises its incarnation, one refutation or metadata change at a time; a key holder
    /// claiming it far higher could otherwise leave it nothing to outbid with.
    mutating func isPlausible(_ memberName: String, _ claimed: UInt64) -> Bool {
        guard let known = members[memberName], claimed > known.incarnation,
              claimed - known.incarnation > GossipMessage.maxIncarnationStep else { return true }
        implausibleClaims += 1
        return false
    }

    mutating func adjustAwareness(_ delta: Int) {
        awareness = min(max(awareness + delta, 0), settings.maxAwareness - 1)
    }

    /// Appends piggybacked updates to `messages` within the packet budget.
    mutating func send(_ messages: [GossipMessage], to destination: GossipAddress) -> MembershipAction {
        let used = messages.reduce(0) { $0 + $1.encodedSize }
        let piggyback = broadcasts.take(budget: settings.piggybackBytes - used, limit: retransmitLimit)
        return .send(messages + piggyback, to: destination)
    }

    mutating func nextProbeTarget(using rng: inout some RandomNumberGenerator) -> Member? {
        for _ in 0..<2 {
            while probeIndex < probeOrder.count {
                let candidate = probeOrder[probeIndex]
                probeIndex += 1
                if let member = members[candidate], member.isUp { return member }
            }
            probeOrder = members.values.filter(\.isUp).map(\.name).sorted().shuffled(using: &rng)
            probeIndex = 0
        }
        return nil
    }
}

func log(_ value: Double) -> Double { value <= 0 ? 0 : naturalLog(value) }
func log10(_ value: Double) -> Double { log(value) / naturalLog(10) }

/// ln(x) without Foundation, by range reduction and the atanh series; exact enough for
/// timeout arithmetic (relative error < 1e-12).
func naturalLog(_ x: Double) -> Double {
    var exponent = 0.0
    var mantissa = x
    while mantissa > 2 { mantissa /= 2; exponent += 1 }
    while mantissa < 1 { mantissa *= 2; exponent -= 1 }
    let y = (mantissa - 1) / (mantissa + 1)
    var term = y
    var sum = 0.0
    var n = 1.0
    while abs(term / n) > 1e-17 {
        sum += term / n
        term *= y * y
        n += 2
    }
    return 2 * sum + exponent * 0.6931471805599453
}
