import HeraldCore
import HeraldMembership
import HeraldTestKit
import HeraldWire
import Testing

/// What a client on the LAN sees, from the frames that reach it on the simulated segment:
/// each node runs its real link, so held requests, probes before claiming, gratuitous
/// announcements and the lease are all in play. These replace namespace tests that timed
/// the same things with arping and sleeps (t_rolling, t_handover, t_loss).
@Suite struct WhatTheClientSeesTests {
    static let web = NodeSimulationTests.web

    /// The client asks for `address` every `every` for `duration`. A request is answered if
    /// a reply reaches the client within `within` (a held request is answered when the
    /// takeover comes); `double` counts the requests whose window heard two MACs reply.
    struct Asking: CustomStringConvertible {
        var asked = 0, unanswered = 0, double = 0
        var macs: Set<MACAddress> = []
        var description: String { "asked \(asked), unanswered \(unanswered), two MACs \(double), MACs \(macs.sorted())" }
    }

    static func ask(_ sim: inout NodeSimulation, _ address: IPAddress, every: Duration = .milliseconds(10), for duration: Duration,
                    within: Duration = .milliseconds(500)) -> Asking {
        var asked: [Duration] = []
        let start = sim.now
        while sim.now - start < duration {
            asked.append(sim.now)
            sim.ask(address)
            sim.run(for: every)
        }
        sim.run(for: within)
        var result = Asking(asked: asked.count)
        let replies = sim.heard.filter { $0.at >= start }.compactMap { heard -> (Duration, MACAddress)? in
            guard case .arp(_, let packet) = heard.frame, packet.operation == .reply, .v4(packet.senderIP) == address,
                  packet.targetIP == NodeSimulation.clientIP else { return nil }
            return (heard.at, packet.senderMAC)
        }
        for at in asked {
            let window = replies.filter { $0.0 >= at && $0.0 < at + within }
            if window.isEmpty { result.unanswered += 1 }
            if Set(replies.filter { $0.0 >= at && $0.0 < at + every }.map(\.1)).count > 1 { result.double += 1 }
            result.macs.formUnion(window.map(\.1))
        }
        return result
    }

    @Test func aRollingRestartLeavesNoRequestUnanswered() async {
        // Each node in turn: SIGTERM, 200 ms, a new process that joins and probes, 4 s
        // for it to settle; twice over, with a request every 10 ms throughout.
        let asking = await offPool { () -> Asking in
            var sim = NodeSimulationTests.settled(size: 3, seed: 31)
            var total = Asking()
            func add(_ part: Asking) {
                total.asked += part.asked
                total.unanswered += part.unanswered
                total.double += part.double
                total.macs.formUnion(part.macs)
            }
            for _ in 0..<2 {
                for name in sim.names {
                    sim.terminate(name)
                    add(Self.ask(&sim, Self.web, for: .milliseconds(200)))
                    sim.start(name)
                    add(Self.ask(&sim, Self.web, for: .seconds(4)))
                }
            }
            return total
        }
        #expect(asking.asked >= 2300 && asking.unanswered == 0, "\(asking)")
        #expect(asking.macs.count >= 2, "the VIP never moved: \(asking)")
    }

    @Test func onSIGTERMTheNextOwnerAnnouncesAndAnswersAtOnce() async {
        struct Outcome { var owner: String; var next: String?; var answeredAfter: Duration?; var announced: [MACAddress]; var after: Asking }
        let outcome = await offPool { () -> Outcome in
            var sim = NodeSimulationTests.settled(size: 3, seed: 32)
            let owner = sim.answerer(Self.web)!
            let start = sim.now
            sim.terminate(owner)
            let answered = sim.runUntil(.seconds(3)) { $0.answerer(Self.web).map { $0 != owner } ?? false }
            let next = sim.answerer(Self.web)
            let after = Self.ask(&sim, Self.web, for: .seconds(1))
            return Outcome(owner: owner, next: next, answeredAfter: answered, announced: sim.announcements(of: Self.web, after: start),
                           after: after)
        }
        let nextMAC = outcome.next.map(NodeSimulation.mac(of:))
        #expect(outcome.answeredAfter.map { $0 <= .milliseconds(100) } ?? false, "handed over after \(String(describing: outcome.answeredAfter))")
        #expect(nextMAC != nil && outcome.announced.contains(nextMAC!), "the new owner did not announce: \(outcome.announced)")
        #expect(!outcome.announced.contains(NodeSimulation.mac(of: outcome.owner)), "the node that left announced")
        #expect(outcome.after.unanswered == 0 && outcome.after.macs == [nextMAC!], "\(outcome.after)")
    }

    @Test func aPartitionIsSeenOnBothSidesAndHealsToOneMAC() async {
        struct Outcome { var reported: Bool; var during: Asking; var after: Asking }
        let outcome = await offPool { () -> Outcome in
            var sim = NodeSimulationTests.settled(size: 3, seed: 33)
            let alone = sim.names.first { $0 != sim.answerer(Self.web) }!
            let others = sim.names.filter { $0 != alone }
            // `alone`'s switch port moves to another segment, away from the gateway and the client.
            sim.partition([others, [alone]])
            let during = Self.ask(&sim, Self.web, every: .milliseconds(50), for: .seconds(5))
            let reported = others.allSatisfy { sim.cluster.status(of: alone, at: $0) == .dead }
                && others.allSatisfy { sim.cluster.status(of: $0, at: alone) == .dead }
            sim.heal()
            sim.run(for: NodeMachine.Settings(gossip: .lan, hasJoinPeers: true).holdDown + .milliseconds(500))
            return Outcome(reported: reported, during: during, after: Self.ask(&sim, Self.web, for: .seconds(2)))
        }
        #expect(outcome.reported, "the partition is not reported on both sides")
        #expect(outcome.during.unanswered == 0 && outcome.during.macs.count == 1, "during: \(outcome.during)")
        #expect(outcome.after.unanswered == 0 && outcome.after.macs.count == 1 && outcome.after.double == 0, "after: \(outcome.after)")
    }

    @Test func tenPercentLossForThirtySecondsMovesNothing() async {
        // Gossip datagrams lost at 10 % each way (frames on the segment are not).
        struct Outcome { var deaths: Int; var suspicions: Int; var ownerChanges: Int; var asking: Asking }
        let outcome = await offPool { () -> Outcome in
            var sim = NodeSimulationTests.settled(size: 3, seed: 34)
            let traced = sim.trace.count
            let changed = sim.cluster.changes.count
            sim.cluster.loss = 0.1
            let asking = Self.ask(&sim, Self.web, every: .milliseconds(100), for: .seconds(30))
            let changes = sim.cluster.changes.dropFirst(changed)
            return Outcome(deaths: changes.filter { $0.3 == .dead }.count, suspicions: changes.filter { $0.3 == .suspect }.count,
                           ownerChanges: sim.trace.count - traced, asking: asking)
        }
        #expect(outcome.suspicions > 0, "the loss never tested the protocol")
        #expect(outcome.deaths == 0 && outcome.ownerChanges == 0, "deaths \(outcome.deaths), owner changes \(outcome.ownerChanges)")
        #expect(outcome.asking.unanswered == 0 && outcome.asking.macs.count == 1, "\(outcome.asking)")
    }

    @Test(arguments: [3, 5])
    func aColdStartOfEveryNodeAtOnceNeverAnswersWithTwoMACs(size: Int) async {
        // A power cut: every node starts at the same moment and first sees only part of the
        // cluster. Found by the simulation with real links (three MACs for 10 ms at 0.15 s).
        let runs = await offPool { () -> [(Int, Duration)] in
            (1...6).map { seed in
                var sim = NodeSimulation(size: size, seed: UInt64(seed), toml: NodeSimulationTests.config)
                let watched = NodeSimulationTests.watch(&sim, Self.web, for: .seconds(3))
                return (watched.most, watched.unanswered)
            }
        }
        #expect(runs.allSatisfy { $0.0 == 1 }, "most nodes answering at once, per seed: \(runs.map(\.0))")
        #expect(runs.allSatisfy { $0.1 < .seconds(1) }, "unanswered after the start: \(runs.map(\.1))")
    }

    /// A migration from MetalLB (t_migrate): MetalLB's speaker on the node its rule elects
    /// answers the Service address while every Herald starts beside it, and that node's
    /// Kubernetes lists come last (they did, by a second, with real processes). Herald must
    /// leave the address to that node rather than answer from another for that second, and
    /// answer from the same MAC once MetalLB's speaker is gone.
    @Test(arguments: [1, 2, 3, 4])
    func aMigrationAnswersFromTheSpeakersMACWhenItsNodeStartsLast(seed: Int) async {
        struct Outcome { var heir: String; var answerers: Set<String>; var announcers: Set<String>; var asking: Asking }
        let outcome = await offPool { () -> Outcome in
            let service = IPAddress("198.51.100.100")!
            let config = NodeSimulationTests.config + """

                [kubernetes]
                kubeconfig = "/etc/herald/kubeconfig"
                [[pool]]
                name = "lab"
                addresses = ["198.51.100.100-198.51.100.110"]
                """
            var sim = NodeSimulation(size: 3, seed: UInt64(seed), toml: config)
            let facts = KubernetesFacts(
                services: [ServiceFacts(key: "default/web", addresses: [service])],
                nodes: Dictionary(uniqueKeysWithValues: sim.names.map { ($0, KubeNodeFacts(internalIPs: [])) }))
            let heir = sim.names.min { Election.key($0, service).lexicographicallyPrecedes(Election.key($1, service)) }!
            sim.neighbours[service] = NodeSimulation.mac(of: heir)
            for name in sim.names { sim.kubernetes(name, facts) }
            var answerers: Set<String> = [], announcers: Set<String> = []
            var asking = Asking()
            // 20 ms a step: the others listed at 0.06 s, the speaker's node at 1.2 s, the
            // speaker removed at 2 s.
            for step in 0..<150 {
                if step == 3 { for name in sim.names where name != heir { sim.listed(name) } }
                if step == 60 { sim.listed(heir) }
                if step == 100 { sim.neighbours[service] = nil }
                let part = Self.ask(&sim, service, for: .milliseconds(10), within: .milliseconds(10))
                asking.asked += part.asked
                asking.unanswered += part.unanswered
                asking.double += part.double
                asking.macs.formUnion(part.macs)
                answerers.formUnion(sim.answerers(service))
                // Whom each node would name in the Service's nodeAssigned Event.
                announcers.formUnion(sim.names.compactMap { sim.machines[$0]!.announcements.owners[service] })
            }
            return Outcome(heir: heir, answerers: answerers, announcers: announcers, asking: asking)
        }
        #expect(outcome.answerers == [outcome.heir], "Herald answered from \(outcome.answerers.sorted()), MetalLB from \(outcome.heir)")
        #expect(outcome.announcers == [outcome.heir], "the Service's announcer was \(outcome.announcers.sorted())")
        #expect(outcome.asking.unanswered == 0 && outcome.asking.double == 0
                && outcome.asking.macs == [NodeSimulation.mac(of: outcome.heir)], "\(outcome.asking)")
    }

    /// The other side of that wait: a node that never gets its lists (its API server
    /// unreachable) holds the addresses it would win for no longer than `startupWait`.
    @Test func anAddressWaitsForAStartingNodeOnlySoLong() async {
        let outcome = await offPool { () -> (heir: String, answerer: String?, at: Duration?, whileWaiting: [String: String]) in
            var sim = NodeSimulation(size: 3, seed: 5, toml: NodeSimulationTests.config + "\n[kubernetes]\n")
            let heir = sim.names.min { Election.key($0, Self.web).lexicographicallyPrecedes(Election.key($1, Self.web)) }!
            for name in sim.names where name != heir { sim.listed(name) }
            let start = sim.now
            // What the other nodes say meanwhile (heraldctl vips): waiting, and for whom.
            _ = sim.runUntil(.seconds(5)) { sim in sim.names.allSatisfy { $0 == heir || sim.machines[$0]?.waits[Self.web] != nil } }
            var whileWaiting: [String: String] = [:]
            for name in sim.names where name != heir {
                let machine = sim.machines[name]!
                whileWaiting[name] = "\(machine.role(of: Self.web)) \(machine.waits[Self.web]?.heir ?? "-")"
            }
            let at = sim.runUntil(.seconds(5)) { $0.answerer(Self.web) != nil }.map { _ in sim.now - start }
            return (heir, sim.answerer(Self.web), at, whileWaiting)
        }
        let wait = NodeMachine.Settings(gossip: .lan, hasJoinPeers: true).startupWait
        #expect(outcome.whileWaiting.count == 2 && outcome.whileWaiting.values.allSatisfy { $0 == "waiting \(outcome.heir)" },
                "\(outcome.whileWaiting)")
        #expect(outcome.answerer != nil && outcome.answerer != outcome.heir, "\(outcome)")
        #expect(outcome.at.map { $0 > wait && $0 < wait + .seconds(1) } ?? false, "answered after \(String(describing: outcome.at))")
    }

    /// The two nodes ranked above the owner start at once (they were down; an upgrade on
    /// both), and the first of them gets its Kubernetes lists a second after the other:
    /// the address stays with its owner meanwhile, neither unanswered nor handed to the
    /// second for that second, and then moves once, to the first.
    @Test(arguments: [41, 42, 43])
    func twoNodesRankedAboveTheOwnerStartingAtOnceMoveTheAddressOnce(seed: Int) async {
        struct Outcome { var ranked: [String]; var asking: Asking; var moves: [String] }
        let outcome = await offPool { () -> Outcome in
            var sim = NodeSimulation(size: 4, seed: UInt64(seed), toml: NodeSimulationTests.config + "\n[kubernetes]\n")
            let ranked = sim.names.sorted { Election.key($0, Self.web).lexicographicallyPrecedes(Election.key($1, Self.web)) }
            for name in sim.names { sim.listed(name) }
            _ = sim.runUntil(.seconds(30)) { $0.answerer(Self.web) != nil && $0.cluster.converged }
            sim.terminate(ranked[0])
            sim.terminate(ranked[1])
            _ = sim.runUntil(.seconds(10)) { $0.answerer(Self.web) == ranked[2] && $0.cluster.converged }
            sim.run(for: .seconds(1))
            let traced = sim.trace.count
            sim.start(ranked[0])
            sim.start(ranked[1])
            sim.listed(ranked[1])
            var asking = Self.ask(&sim, Self.web, for: .milliseconds(1200))
            sim.listed(ranked[0])
            let after = Self.ask(&sim, Self.web, for: .seconds(2))
            asking.asked += after.asked
            asking.unanswered += after.unanswered
            asking.double += after.double
            asking.macs.formUnion(after.macs)
            // What the owner decided about the address ("<time> seconds <node> <address> <from>→<to>").
            return Outcome(ranked: ranked, asking: asking, moves: sim.trace.dropFirst(traced).filter {
                $0.split(separator: " ").dropFirst(2).first.map(String.init) == ranked[2] && $0.contains(" \(Self.web) ")
            })
        }
        let (first, owner) = (NodeSimulation.mac(of: outcome.ranked[0]), NodeSimulation.mac(of: outcome.ranked[2]))
        // One request may hear both at the handover: the first answers as it becomes eligible,
        // the owner until gossip tells it so (a step of the simulation here), and the first's
        // gratuitous announcement follows at once. Without the wait: a second move through
        // the second node, three MACs and two such requests.
        #expect(outcome.asking.unanswered == 0 && outcome.asking.double <= 1 && outcome.asking.macs == [first, owner],
                "\(outcome.asking)\n\(outcome.moves.joined(separator: "\n"))")
        #expect(outcome.moves.allSatisfy { $0.hasSuffix("\(outcome.ranked[2])→\(outcome.ranked[0])") }, "\(outcome.moves.joined(separator: "\n"))")
    }
}
