import HeraldCore
import HeraldWire
import Testing

@Suite struct ConflictGuardTests {
    let vip = IPAddress("198.51.100.50")!
    let vip6 = IPAddress("2001:db8:100::50")!
    let member = MACAddress("02:00:00:00:00:0c")!
    let foreign = MACAddress("02:00:00:00:00:99")!

    func ms(_ value: Int) -> Duration { .milliseconds(value) }

    /// Round timings for readable tests (the shipped ones are in `Settings.standard`).
    let settings = ConflictGuard.Settings(probes: [.zero, .milliseconds(100), .milliseconds(200)], probeWait: .milliseconds(100),
                                          retryInterval: .seconds(10), reportInterval: .seconds(10), defendInterval: .seconds(10))

    /// Runs the guard on every 10 ms from `from` to `to`, collecting its actions.
    func run(_ guardState: inout ConflictGuard, from: Int, to: Int) -> [ConflictGuard.Action] {
        stride(from: from, through: to, by: 10).flatMap { guardState.onTick(now: ms($0)) }
    }

    @Test func probesThreeTimesThenServes() {
        var state = ConflictGuard(settings: settings)
        state.onCluster(ClusterMACs())
        state.onServable([vip], now: .zero)
        #expect(state.withheld == [vip])
        let actions = run(&state, from: 0, to: 290)
        #expect(actions == [.probe(vip), .probe(vip), .probe(vip)])
        #expect(state.withheld == [vip])
        #expect(state.isProbing)
        #expect(state.onTick(now: ms(300)) == [.cleared(vip)], "the probe result, for the journal")
        #expect(state.withheld.isEmpty)
        #expect(!state.isProbing)
        #expect(state.nextDeadline == nil)
    }

    @Test func aForeignAnswerWithholdsTheAddressAndRetriesUntilItIsGone() {
        var state = ConflictGuard(settings: settings)
        state.onCluster(ClusterMACs([member: []]))
        state.onServable([vip, vip6], now: .zero)
        _ = state.onTick(now: .zero)
        #expect(state.onClaim(vip, by: foreign, announcing: false, now: ms(5)) == [.claimed(vip, foreign)])
        let decided = state.onTick(now: ms(300))
        #expect(decided.contains(.report(vip, foreign, inUse: false)))
        #expect(state.withheld == [vip])
        #expect(state.conflicts == [vip: foreign])
        // Retried after 10 s; the foreign host still answers, and is reported again.
        #expect(state.nextDeadline == ms(10_300))
        #expect(state.onTick(now: ms(10_300)) == [.probe(vip)])
        _ = state.onClaim(vip, by: foreign, announcing: false, now: ms(10_310))
        _ = run(&state, from: 10_310, to: 10_600)
        #expect(state.conflicts == [vip: foreign])
        // Still claimed at the retry: the next waits twice as long.
        #expect(state.nextDeadline == ms(30_600))
        // Next retry: nobody answers, so the address is served and the conflict is over.
        var actions = run(&state, from: 30_600, to: 31_000)
        #expect(actions.contains(.resolved(vip)))
        #expect(state.withheld.isEmpty)
        actions = run(&state, from: 31_000, to: 60_000)
        #expect(actions.isEmpty)
    }

    @Test func aMemberAnsweringIsNotAConflictEvenIfItsMACBecomesKnownLate() {
        var state = ConflictGuard(settings: settings)
        state.onServable([vip], now: .zero)
        _ = state.onTick(now: .zero)
        // Still joining: the answer is recorded, not judged, and not counted.
        #expect(state.onClaim(vip, by: member, announcing: false, now: ms(5)) == [])
        #expect(run(&state, from: 10, to: 1000).allSatisfy { $0 == .probe(vip) })
        #expect(state.withheld == [vip])
        state.onCluster(ClusterMACs([member: []]))
        #expect(state.onTick(now: ms(1010)) == [.cleared(vip)], "a member's answer is no conflict: the probe clears")
        #expect(state.withheld.isEmpty)
        #expect(state.onClaim(vip, by: member, announcing: true, now: ms(2000)) == [])
    }

    @Test func aClaimSeenBeforeTheMACsWereKnownIsCountedOnceWhenJudged() {
        var state = ConflictGuard(settings: settings)
        state.onServable([vip], now: .zero)
        _ = state.onClaim(vip, by: foreign, announcing: false, now: ms(5))
        state.onCluster(ClusterMACs([member: []]))
        let actions = state.onTick(now: ms(400))
        #expect(actions.filter { if case .claimed = $0 { true } else { false } }.count == 1)
        #expect(actions.contains(.report(vip, foreign, inUse: false)))
    }

    @Test func aClaimOnAnAnnouncedAddressIsDefendedOnceThenGivenUpAndRetriedWithBackoff() {
        var state = ConflictGuard(settings: settings)
        state.onCluster(ClusterMACs([member: []]))
        state.onServable([vip], now: .zero)
        _ = run(&state, from: 0, to: 300)
        #expect(state.onClaim(vip, by: foreign, announcing: true, now: ms(1000))
                == [.claimed(vip, foreign), .report(vip, foreign, inUse: true), .defend(vip)])
        #expect(state.withheld.isEmpty, "one claim is defended, the address kept")
        // RFC 5227 §2.4(b): claimed again within the defend interval: given up.
        #expect(state.onClaim(vip, by: foreign, announcing: true, now: ms(2000))
                == [.claimed(vip, foreign), .yielded(vip, foreign, retryAt: ms(12_000))])
        #expect(state.withheld == [vip])
        #expect(state.conflicts == [vip: foreign])
        // Still answered at each retry: 10 s, then 20 s, then 40 s.
        #expect(state.onTick(now: ms(12_000)) == [.probe(vip)])
        _ = state.onClaim(vip, by: foreign, announcing: false, now: ms(12_010))
        _ = run(&state, from: 12_010, to: 12_300)
        #expect(state.nextDeadline == ms(32_300))
        #expect(state.onTick(now: ms(32_300)) == [.probe(vip)])
        _ = state.onClaim(vip, by: foreign, announcing: false, now: ms(32_310))
        _ = run(&state, from: 32_310, to: 32_600)
        #expect(state.nextDeadline == ms(72_600))
        // The other host went away: the next probe finds nobody, and the address is back.
        #expect(run(&state, from: 72_600, to: 73_000).contains(.resolved(vip)))
        #expect(state.withheld.isEmpty)
    }

    @Test func claimsSpacedBeyondTheDefendIntervalAreEachDefended() {
        var state = ConflictGuard(settings: settings)
        state.onCluster(ClusterMACs([member: []]))
        state.onServable([vip], now: .zero)
        _ = run(&state, from: 0, to: 300)
        #expect(state.onClaim(vip, by: foreign, announcing: true, now: ms(1000)).contains(.defend(vip)))
        #expect(state.onClaim(vip, by: foreign, announcing: true, now: ms(11_000)).contains(.defend(vip)))
        #expect(state.withheld.isEmpty)
    }

    @Test func aMembersMACClaimingItsOwnAddressIsAConflict() {
        // A VIP that is a member's own host address: its kernel answers with the member's
        // MAC. A handover by the same MAC for any other address is no conflict.
        var state = ConflictGuard(settings: settings)
        state.onCluster(ClusterMACs([member: [vip]]))
        state.onServable([vip, vip6], now: .zero)
        _ = state.onTick(now: .zero)
        _ = state.onClaim(vip, by: member, announcing: false, now: ms(5))
        _ = state.onClaim(vip6, by: member, announcing: false, now: ms(5))
        let decided = run(&state, from: 10, to: 300)
        #expect(decided.contains(.report(vip, member, inUse: false)))
        #expect(decided.contains(.cleared(vip6)))
        #expect(state.conflicts == [vip: member])
    }

    @Test func onlyNewCandidatesAreProbedAndRemovedOnesForgotten() {
        var state = ConflictGuard(settings: settings)
        state.onCluster(ClusterMACs())
        state.onServable([vip], now: .zero)
        _ = run(&state, from: 0, to: 300)
        state.onServable([vip, vip6], now: ms(5000))
        #expect(state.withheld == [vip6])
        #expect(state.onTick(now: ms(5000)) == [.probe(vip6)])
        state.onServable([vip6], now: ms(5010))
        #expect(state.phases[vip] == nil)
        // A late loop turn sends one catch-up probe, not one per missed offset.
        #expect(state.onTick(now: ms(6000)).filter { $0 == .probe(vip6) }.count == 1)
    }

    @Test func probeFramesAskWithoutClaiming() throws {
        let mac = MACAddress("02:00:00:00:00:0b")!
        let arp = AddressProbe.frames(for: vip, mac: mac)
        #expect(arp.count == 1)
        guard case .arp(let ethernet, let packet) = try arp[0].withUnsafeBytes({ try Frame.decode($0) }) else {
            Issue.record("not ARP")
            return
        }
        #expect(ethernet.destination == .broadcast)
        #expect(packet.operation == .request && packet.senderIP == .any && packet.targetIP == IPv4Address("198.51.100.50")!)
        let ns = AddressProbe.frames(for: vip6, mac: mac)
        guard case .ndp(_, let ndp) = try ns[0].withUnsafeBytes({ try Frame.decode($0) }),
              case .solicitation(let solicitation) = ndp.message else {
            Issue.record("not a solicitation")
            return
        }
        #expect(ndp.header.source.isUnspecified)
        #expect(solicitation.sourceLinkLayer == nil)
        #expect(ndp.header.destination == IPv6Address("2001:db8:100::50")!.solicitedNodeMulticast)
    }

    @Test func theResponderReportsClaimsOnGuardedAddressesItDoesNotAnswer() {
        let mac = MACAddress("02:00:00:00:00:0b")!
        let reply = ARPPacket(operation: .reply, senderMAC: foreign, senderIP: IPv4Address("198.51.100.50")!,
                              targetMAC: mac, targetIP: .any).frame(ethernetDestination: mac, ethernetSource: foreign)
        let unguarded = ResponderContext(mac: mac, answering: [])
        #expect(Responder.decide(reply, context: unguarded) == .drop(.notRequest))
        let guarded = ResponderContext(mac: mac, answering: [], guarded: [vip])
        #expect(Responder.decide(reply, context: guarded) == .conflict(address: vip, mac: foreign))
    }
}

@Suite struct ConfigChangeTests {
    @Test func vipsAndPoolsApplyInPlaceButIdentityAndTransportNeedARestart() throws {
        let before = try decode("""
            [node]
            name = "h1"
            [gossip]
            bind = "198.51.100.11:7946"
            insecure = true
            [[vip]]
            name = "web"
            address = "198.51.100.50"
            [[vip]]
            name = "dns"
            address = "198.51.100.53"
            """).get()
        let moved = try decode("""
            [node]
            name = "h1"

            [gossip]
            bind = "198.51.100.11:7946"
            insecure = true
            [[vip]]
            name = "dns"
            address = "198.51.100.54"
            [[vip]]
            name = "nas"
            address = "198.51.100.55"
            """).get()
        let change = ConfigChange(from: before, to: moved)
        #expect(change.addedVIPs == ["nas"] && change.removedVIPs == ["web"] && change.changedVIPs == ["dns"])
        #expect(change.summary == "vips +1 -1 ~1, pools +0 -0 ~0")
        #expect(ConfigChange.restartRequired(from: before, nodeName: "h1", to: moved, nodeName: "h1", file: "x").isEmpty)
        // Moving a line (a different location) is not a change.
        #expect(ConfigChange(from: moved, to: moved).isEmpty)

        var rebound = moved
        rebound.gossip?.bind = HostPort.parse("198.51.100.12:7946")!
        let errors = ConfigChange.restartRequired(from: before, nodeName: "h1", to: rebound, nodeName: "h2", file: "x")
        #expect(errors.map(\.keyPath) == ["node.name", "gossip.bind"])
        #expect(errors[1].location == SourceLocation(file: "/etc/herald/herald.toml", line: 4))
        #expect(errors[1].description.contains("takes a restart"))
    }
}
