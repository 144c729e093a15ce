import HeraldCore
import HeraldMembership
import HeraldTestKit
import HeraldWire
import Testing

/// What the namespace tests check with sleeps, for whole nodes in virtual time: who answers
/// a VIP through crashes, cut links, stalls, joins, reloads, flapping checks, partitions
/// and adjacent-mode re-targeting.
@Suite struct NodeSimulationTests {
    static let web = IPAddress("198.51.100.50")!

    static let config = """
        [node]
        interfaces = ["eth0"]
        [[vip]]
        name = "web"
        address = "198.51.100.50"
        """

    /// `web` with a health check (its results come from the test).
    static func checked(rise: Int, fall: Int) -> String {
        config + "\ncheck = { tcp = \"127.0.0.1:445\", rise = \(rise), fall = \(fall) }\n"
    }

    /// The longest a small cluster may take to see a silent member as dead and move its VIP:
    /// the first probe and its timeout, the longest suspicion (nobody else confirms it in
    /// a small cluster), and two probe rounds to spread the news.
    static func failoverBound(_ profile: MembershipSettings) -> Duration {
        profile.probeInterval * 3 + profile.probeTimeout + profile.suspicionFloor * profile.suspicionMaxMultiplier
    }

    /// A cluster that has settled, with exactly one node answering `web`.
    static func settled(size: Int, seed: UInt64, profile: MembershipSettings = .lan, toml: String = config) -> NodeSimulation {
        var sim = NodeSimulation(size: size, seed: seed, profile: profile, toml: toml)
        let settled = sim.runUntil(.seconds(30)) { $0.answerer(web) != nil && $0.cluster.converged }
        precondition(settled != nil, "\(size) nodes did not settle")
        // Past the first seconds after a cold start (the links' probes, the first rounds).
        sim.run(for: .seconds(1))
        return sim
    }

    /// Runs for `duration`; the most nodes that answered `address` at once at any step,
    /// and the longest stretch (in steps) during which more than one did.
    static func watch(_ sim: inout NodeSimulation, _ address: IPAddress, for duration: Duration)
        -> (most: Int, longestOverlap: Duration, unanswered: Duration) {
        var most = 0
        var overlap = Duration.zero, longestOverlap = Duration.zero, unanswered = Duration.zero
        let end = sim.now + duration
        while sim.now < end {
            sim.run(for: sim.step)
            let count = sim.answerers(address).count
            most = max(most, count)
            overlap = count > 1 ? overlap + sim.step : .zero
            longestOverlap = max(longestOverlap, overlap)
            if count == 0 { unanswered += sim.step }
        }
        return (most, longestOverlap, unanswered)
    }

    /// What heraldctl shows is what the machine decided: the owner is the first eligible
    /// member of the ranking it kept, and the roles follow from it.
    @Test func reportsReadTheDecisionTheMachineMade() {
        let sim = Self.settled(size: 3, seed: 5)
        let owner = sim.answerer(Self.web)!
        for name in sim.names {
            let machine = sim.machines[name]!
            #expect(machine.owners[Self.web] == owner)
            #expect(machine.vipRankings[Self.web]?.first { $0.ineligibility == nil }?.name == owner)
            #expect(machine.role(of: Self.web) == (name == owner ? .announcing : .standby))
        }
    }

    /// A node whose links are ready before it hears any peer (it started first, or alone)
    /// must tell the others it serves in the very decision that makes it serve: otherwise
    /// it elects itself while they still pass it over, and both answer (t_cluster saw it).
    @Test func theTurnThatMakesANodeServeGossipsThatItDoes() {
        var machine = NodeMachine(loaded: NodeSimulation.loaded(Self.config, node: "node-0", index: 0),
                                  settings: NodeMachine.Settings(gossip: .lan, hasJoinPeers: true), now: .zero)
        _ = machine.onLinkReady("eth0", now: .milliseconds(200))
        #expect(machine.phase == .joining)
        let peer = Member(name: "node-1", address: GossipAddress(ip: IPAddress("198.51.100.11")!, port: 7946), incarnation: 1,
                          status: .alive, meta: [], statusSince: .zero, roundTrip: nil)
        // A new member: the view must settle before this node serves.
        #expect(machine.onView([peer], now: .milliseconds(300)).isEmpty == false)
        #expect(machine.phase == .startingUp)
        let settled = Duration.milliseconds(300) + machine.settings.viewSettle
        #expect(machine.nextDeadline == settled)
        let actions = machine.onTick(now: settled)
        #expect(machine.phase == .serving)
        let published = actions.compactMap { if case .meta(let meta) = $0 { meta } else { nil } }.last
        #expect(published?.startingUp == false, "gossiped: \(String(describing: published))")
    }

    @Test(arguments: [(MembershipSettings.lan, 3), (.lan, 5), (.fast, 3), (.conservative, 3)])
    func aCrashedOwnersVIPMovesWithinTheProfilesBound(profile: MembershipSettings, size: Int) async {
        let (took, after) = await offPool { () -> (Duration?, (Int, Duration, Duration)) in
            var sim = Self.settled(size: size, seed: UInt64(size), profile: profile)
            let owner = sim.answerer(Self.web)!
            sim.crash(owner)
            let took = sim.runUntil(Self.failoverBound(profile)) { sim in sim.answerer(Self.web).map { $0 != owner } ?? false }
            return (took, Self.watch(&sim, Self.web, for: .seconds(10)))
        }
        #expect(took != nil, "no other node answered within \(Self.failoverBound(profile))")
        #expect(after.0 == 1 && after.2 == .zero, "after the failover: \(after.0) answering at most, unanswered for \(after.2)")
    }

    @Test func aNodeCutOffByAPartitionTakesNothingWhileItsWitnessIsSilent() async {
        // node-X alone on one side, the others and the gateway on the other. It loses both
        // members at once (more than it still reaches), asks the witness, hears nothing:
        // cut off, it takes nothing of theirs. The others lost one of two: they take its VIPs.
        struct Outcome { var cutOffAnswered: Bool; var states: [String]; var after: (Int, Duration, Duration) }
        let outcome = await offPool { () -> Outcome in
            var sim = Self.settled(size: 3, seed: 11)
            let owner = sim.answerer(Self.web)!
            let alone = sim.names.first { $0 != owner }!
            // The others keep group 0, the gateway's.
            sim.partition([sim.names.filter { $0 != alone }, [alone]])
            var cutOffAnswered = false
            for _ in 0..<500 {
                sim.run(for: sim.step)
                cutOffAnswered = cutOffAnswered || sim.answerers(Self.web).contains(alone)
            }
            let states = sim.isolationTrace.filter { $0.contains(" \(alone) ") }
            sim.heal()
            _ = sim.runUntil(.seconds(10)) { $0.cluster.converged }
            return Outcome(cutOffAnswered: cutOffAnswered, states: states, after: Self.watch(&sim, Self.web, for: .seconds(5)))
        }
        #expect(!outcome.cutOffAnswered, "the cut-off node took the VIP of the members it lost")
        #expect(outcome.states.count == 2 && outcome.states[0].contains("asking") && outcome.states[1].contains("cutOff"),
                "isolation: \(outcome.states)")
        #expect(outcome.after.0 == 1 && outcome.after.2 == .zero, "after the heal: \(outcome.after)")
    }

    @Test func aSurvivorOfTwoOfThreeKilledAtOnceAsksTheWitnessAndTakesOver() async {
        let (took, states) = await offPool { () -> (Duration?, [String]) in
            var sim = Self.settled(size: 3, seed: 12)
            let owner = sim.answerer(Self.web)!
            let survivor = sim.names.first { $0 != owner }!
            for name in sim.names where name != survivor { sim.crash(name) }
            let took = sim.runUntil(Self.failoverBound(.lan) + .milliseconds(100)) { $0.answerer(Self.web) == survivor }
            return (took, sim.isolationTrace)
        }
        #expect(took != nil, "the survivor did not take the VIP over")
        #expect(states.count == 2 && states[0].contains("asking") && states[1].hasSuffix("none"), "isolation: \(states)")
    }

    @Test func aNodeThatLostItsCarrierMergesAtOnceWhenItComesBack() async {
        // Back from a cut, it pushes and pulls with every member at once: the cluster
        // agrees again well before the next anti-entropy round (10 s on the lan profile).
        let merged = await offPool { () -> Duration? in
            var sim = Self.settled(size: 3, seed: 13)
            let owner = sim.answerer(Self.web)!
            sim.cut(owner)
            sim.run(for: .seconds(3))
            sim.uncut(owner)
            return sim.runUntil(.seconds(10)) { $0.cluster.converged }
        }
        #expect(merged != nil && merged! < .seconds(1), "converged after \(String(describing: merged))")
    }

    @Test func twoOfFiveKilledAtOnceFailOverAsFastAsOne() async {
        // The survivors' probes to the dead run through helpers that may be dead too: their
        // missing nacks must not slow the survivors down (they did: 0.7 s at the median).
        let times = await offPool { () -> [Duration] in
            (1...8).map { seed in
                var sim = Self.settled(size: 5, seed: UInt64(seed))
                let owner = sim.answerer(Self.web)!
                sim.crash(owner)
                sim.crash(sim.names.first { $0 != owner }!)
                return sim.runUntil(.seconds(5)) { $0.answerer(Self.web).map { $0 != owner } ?? false } ?? .seconds(5)
            }.sorted()
        }
        #expect(times[times.count / 2] <= .milliseconds(500) && times.last! <= .milliseconds(800), "failover times: \(times)")
    }

    @Test func twoMACsAnswerOnlyMomentsAfterAPartitionHeals() async {
        // One node split from the others but not from the gateway: its witness answers, so it
        // takes every VIP, and the others take its own. After the heal both answer until the
        // views merge: one dead member is pinged per 250 ms, so that is soon (it was the next
        // full-state round with a random dead member, 2 s apart).
        let overlaps = await offPool { () -> [Duration] in
            (1...4).map { seed in
                var sim = Self.settled(size: 5, seed: UInt64(seed))
                let alone = sim.names[seed % 5]
                sim.partition([sim.names.filter { $0 != alone }, [alone]])
                sim.gatewayGroup = 1
                sim.run(for: .seconds(3))
                sim.heal()
                return Self.watch(&sim, Self.web, for: .seconds(5)).longestOverlap
            }
        }
        #expect(overlaps.allSatisfy { $0 <= .milliseconds(500) }, "two answering after the heal for \(overlaps)")
    }

    @Test func theSameSeedGivesTheSameRun() async {
        let traces = await offPool { () -> [[String]] in
            (0..<2).map { _ in
                var sim = Self.settled(size: 4, seed: 42)
                sim.crash(sim.answerer(Self.web)!)
                sim.run(for: .seconds(5))
                return sim.trace
            }
        }
        #expect(traces[0] == traces[1])
        #expect(traces[0].count >= 2, "the run should hold an election and a failover: \(traces[0])")
    }

    @Test func aCutLinkMovesTheVIPAndTheNodeHoldsDownWhenItComesBack() async {
        struct Outcome { var took: Duration?; var answeredWhileCut: Bool; var cutNodeDuringHoldDown: Bool; var holdDown: (Int, Duration, Duration); var after: String? }
        let outcome = await offPool { () -> Outcome in
            var sim = Self.settled(size: 3, seed: 7)
            let owner = sim.answerer(Self.web)!
            sim.cut(owner)
            let took = sim.runUntil(Self.failoverBound(.lan)) { sim in sim.answerer(Self.web).map { $0 != owner } ?? false }
            // Cut off, the node is alone in its view and elects itself, but its link is down.
            var answeredWhileCut = false
            for _ in 0..<200 {
                sim.run(for: sim.step)
                answeredWhileCut = answeredWhileCut || sim.answerers(Self.web).contains(owner)
            }
            sim.uncut(owner)
            var cutNodeDuringHoldDown = false
            var most = 0, unanswered = Duration.zero
            let holdDownEnds = sim.now + sim.settings.holdDown
            while sim.now < holdDownEnds - sim.step {
                sim.run(for: sim.step)
                let answering = sim.answerers(Self.web)
                cutNodeDuringHoldDown = cutNodeDuringHoldDown || answering.contains(owner)
                most = max(most, answering.count)
                if answering.isEmpty { unanswered += sim.step }
            }
            _ = sim.runUntil(.seconds(10)) { $0.cluster.converged }
            sim.run(for: .seconds(2))
            return Outcome(took: took, answeredWhileCut: answeredWhileCut, cutNodeDuringHoldDown: cutNodeDuringHoldDown,
                           holdDown: (most, .zero, unanswered), after: sim.answerer(Self.web))
        }
        #expect(outcome.took != nil, "nobody took the VIP over within \(Self.failoverBound(.lan))")
        #expect(!outcome.answeredWhileCut)
        #expect(!outcome.cutNodeDuringHoldDown, "the node that came back answered during its hold-down")
        #expect(outcome.holdDown.0 == 1 && outcome.holdDown.2 == .zero,
                "during the hold-down: \(outcome.holdDown.0) answering at most, unanswered for \(outcome.holdDown.2)")
        #expect(outcome.after != nil, "not exactly one node answers once the cluster is whole again")
    }

    @Test func aStalledNodeHoldsDownInsteadOfAnsweringFromItsOldView() async {
        struct Outcome { var took: Duration?; var stalledAnswered: Bool; var most: Int; var unanswered: Duration; var holdingDown: Bool; var after: String? }
        let outcome = await offPool { () -> Outcome in
            var sim = Self.settled(size: 3, seed: 11)
            let owner = sim.answerer(Self.web)!
            sim.stop(owner)
            let took = sim.runUntil(Self.failoverBound(.lan)) { sim in sim.answerer(Self.web) != nil }
            sim.run(for: .seconds(3))
            sim.resume(owner)
            var stalledAnswered = false
            var most = 0, unanswered = Duration.zero
            let holdDownEnds = sim.now + sim.settings.holdDown
            var holdingDown = false
            while sim.now < holdDownEnds - sim.step {
                sim.run(for: sim.step)
                let answering = sim.answerers(Self.web)
                stalledAnswered = stalledAnswered || answering.contains(owner)
                most = max(most, answering.count)
                if answering.isEmpty { unanswered += sim.step }
                holdingDown = holdingDown || sim.machines[owner]!.holdingDownUntil != nil
            }
            sim.run(for: .seconds(5))
            return Outcome(took: took, stalledAnswered: stalledAnswered, most: most, unanswered: unanswered,
                           holdingDown: holdingDown, after: sim.answerer(Self.web))
        }
        #expect(outcome.took != nil)
        #expect(outcome.holdingDown, "the stall was not noticed")
        #expect(!outcome.stalledAnswered, "the stalled node answered from its old view")
        #expect(outcome.most == 1 && outcome.unanswered == .zero, "after SIGCONT: \(outcome.most) answering at most, unanswered \(outcome.unanswered)")
        #expect(outcome.after != nil)
    }

    @Test func aJoiningNodeTakesNothingUntilItHasHeardThePeersOrTheGraceHasPassed() async {
        let (early, late) = await offPool { () -> (Bool, String?) in
            // node-1 is gone when node-0 restarts: node-0, joining through it, waits for the grace.
            var sim = Self.settled(size: 2, seed: 3)
            sim.crash("node-1")
            sim.run(for: .seconds(5))
            sim.restart("node-0")
            let joinGraceEnds = sim.now + sim.settings.joinGrace
            var early = false
            while sim.now < joinGraceEnds - sim.step {
                sim.run(for: sim.step)
                early = early || !sim.answerers(Self.web).isEmpty
            }
            sim.run(for: .seconds(1))
            return (early, sim.answerer(Self.web))
        }
        #expect(!early, "answered before the join grace passed")
        #expect(late == "node-0", "alone after the grace, it should answer")
    }

    @Test func aRestartedNodeRejoinsWithoutAGapOrADoubleAnswer() async {
        let (most, unanswered) = await offPool { () -> (Int, Duration) in
            var sim = Self.settled(size: 3, seed: 5)
            var most = 0
            var unanswered = Duration.zero
            for name in sim.names {
                sim.restart(name)
                let watched = Self.watch(&sim, Self.web, for: .seconds(4))
                most = max(most, watched.most)
                unanswered += watched.unanswered
            }
            return (most, unanswered)
        }
        #expect(unanswered == .zero, "the VIP went unanswered for \(unanswered) during the rolling restart")
        #expect(most <= 2, "more than two nodes answered at once")
    }

    @Test func aReloadAddsAndRemovesVIPs() async {
        let other = IPAddress("198.51.100.51")!
        let (added, removed) = await offPool { () -> (Int, Int) in
            var sim = Self.settled(size: 3, seed: 9)
            let both = Self.config + "\n[[vip]]\nname = \"db\"\naddress = \"198.51.100.51\"\n"
            for name in sim.names { sim.reload(name, toml: both) }
            sim.run(for: .milliseconds(500))
            let added = sim.answerers(other).count
            let onlyDB = "[node]\ninterfaces = [\"eth0\"]\n[[vip]]\nname = \"db\"\naddress = \"198.51.100.51\"\n"
            for name in sim.names { sim.reload(name, toml: onlyDB) }
            sim.run(for: .milliseconds(500))
            return (added, sim.answerers(Self.web).count)
        }
        #expect(added == 1, "\(added) nodes answer the added VIP")
        #expect(removed == 0, "\(removed) nodes still answer the removed VIP")
    }

    @Test func aFlappingCheckMovesTheVIPOnlyAfterFallAndBackAfterRise() async {
        struct Steps {
            var beforePass: [String]
            var first, afterTwoFails, afterThree, afterOnePass, afterTwo: String?
        }
        let steps = await offPool { () -> Steps in
            var sim = NodeSimulation(size: 3, seed: 13, toml: Self.checked(rise: 2, fall: 3))
            sim.run(for: .seconds(3))
            var steps = Steps(beforePass: sim.answerers(Self.web))
            func round(_ sim: inout NodeSimulation, _ results: [String: Bool]) {
                for (name, passed) in results.sorted(by: { $0.key < $1.key }) { sim.check(name, vip: "web", passed: passed) }
                sim.run(for: .milliseconds(500))
            }
            let everyone = Dictionary(uniqueKeysWithValues: sim.names.map { ($0, true) })
            round(&sim, everyone)
            round(&sim, everyone)
            steps.first = sim.answerer(Self.web)
            guard let owner = steps.first else { return steps }
            var failing = everyone
            failing[owner] = false
            round(&sim, failing)
            round(&sim, failing)
            steps.afterTwoFails = sim.answerer(Self.web)
            round(&sim, failing)
            steps.afterThree = sim.answerer(Self.web)
            round(&sim, everyone)
            steps.afterOnePass = sim.answerer(Self.web)
            round(&sim, everyone)
            steps.afterTwo = sim.answerer(Self.web)
            return steps
        }
        #expect(steps.beforePass.isEmpty, "a check that has not passed yet gates the VIP")
        #expect(steps.first != nil, "nobody answered once every check passed")
        let owner = steps.first
        #expect(steps.afterTwoFails == owner, "two failures of three moved the VIP")
        #expect(steps.afterThree != nil && steps.afterThree != owner, "the third failure did not move the VIP")
        #expect(steps.afterOnePass == steps.afterThree, "one pass of two brought it back")
        #expect(steps.afterTwo == owner, "two passes did not bring it back")
    }

    @Test func withoutGossipAFailingCheckIsNotAnsweredAndComesBackAfterRise() async {
        let seen = await offPool { () -> [Int] in
            var sim = NodeSimulation(size: 1, seed: 1, toml: Self.checked(rise: 2, fall: 2), gossip: false)
            sim.run(for: .seconds(1))
            var seen = [sim.answerers(Self.web).count]
            for passed in [true, true, false, false, true, true] {
                sim.check("node-0", vip: "web", passed: passed)
                sim.run(for: .seconds(1))
                seen.append(sim.answerers(Self.web).count)
            }
            return seen
        }
        // Failing at start; answered after two passes; silent after two failures; back after two passes.
        #expect(seen == [0, 0, 1, 1, 0, 0, 1])
    }

    @Test func aPartitionHealsToOneOwner() async {
        struct Outcome { var sides: [String?]; var healed: Duration?; var after: (Int, Duration, Duration) }
        let outcome = await offPool { () -> Outcome in
            // No witness: each side takes the VIP (with one, only the gateway's side would).
            var sim = Self.settled(size: 4, seed: 17, toml: Self.config.replacingOccurrences(
                "interfaces = [\"eth0\"]", with: "interfaces = [\"eth0\"]\nwitness = \"none\""))
            let sides = [["node-0", "node-1"], ["node-2", "node-3"]]
            sim.partition(sides)
            sim.run(for: .seconds(5))
            let owners = sides.map { side in
                let answering = sim.answerers(Self.web).filter(side.contains)
                return answering.count == 1 ? answering[0] : nil
            }
            sim.heal()
            let healed = sim.runUntil(.seconds(30)) { $0.answerer(Self.web) != nil && $0.cluster.converged }
            return Outcome(sides: owners, healed: healed, after: Self.watch(&sim, Self.web, for: .seconds(5)))
        }
        #expect(outcome.sides.allSatisfy { $0 != nil }, "each side should elect one owner: \(outcome.sides)")
        #expect(outcome.healed != nil, "not one owner within 30 s of the heal")
        #expect(outcome.after.0 == 1 && outcome.after.2 == .zero)
    }
}

/// A routed pool (`routed_via`): its addresses are answered by no link, and belong to
/// whoever owns the gateway VIP, through a failover too.
@Suite struct NodeSimulationRoutedTests {
    static let routed = IPAddress("10.5.0.1")!

    @Test func aRoutedAddressFollowsItsGatewayVIPAndIsNeverAnswered() async {
        struct Outcome { var before: Set<String?>; var gateway: String?; var after: Set<String?>; var newGateway: String?; var answered: [String] }
        let outcome = await offPool { () -> Outcome in
            var sim = NodeSimulation(size: 3, seed: 51, toml: NodeSimulationTests.config + """

                [kubernetes]
                kubeconfig = "/etc/herald/kubeconfig"
                [[pool]]
                name = "lab-dev"
                addresses = ["10.5.0.0/24"]
                routed_via = "web"
                """)
            let facts = KubernetesFacts(services: [ServiceFacts(key: "default/app", addresses: [Self.routed])],
                                        nodes: Dictionary(uniqueKeysWithValues: sim.names.map { ($0, KubeNodeFacts(internalIPs: [])) }))
            for name in sim.names {
                sim.kubernetes(name, facts)
                sim.listed(name)
            }
            _ = sim.runUntil(.seconds(10)) { $0.answerer(NodeSimulationTests.web) != nil && $0.cluster.converged }
            sim.run(for: .seconds(1))
            func owners(_ sim: NodeSimulation) -> Set<String?> { Set(sim.names.filter(sim.isRunning).map { sim.machines[$0]!.owners[Self.routed] }) }
            let gateway = sim.answerer(NodeSimulationTests.web)
            let before = owners(sim)
            sim.crash(gateway!)
            _ = sim.runUntil(.seconds(10)) { $0.answerer(NodeSimulationTests.web).map { $0 != gateway } ?? false }
            sim.run(for: .seconds(1))
            return Outcome(before: before, gateway: gateway, after: owners(sim), newGateway: sim.answerer(NodeSimulationTests.web),
                           answered: sim.answerers(Self.routed))
        }
        #expect(outcome.gateway != nil && outcome.before == [outcome.gateway], "\(outcome)")
        #expect(outcome.newGateway != nil && outcome.after == [outcome.newGateway], "\(outcome)")
        #expect(outcome.answered.isEmpty, "a routed address was answered by \(outcome.answered)")
    }
}

/// Adjacent mode: two adjacent hosts announce a Service address with a target node's MAC,
/// and move the target when one of them reports the node unreachable.
@Suite struct NodeSimulationAdjacentTests {
    static let service = IPAddress("198.51.100.100")!

    static let config = """
        [node]
        interfaces = ["eth0"]
        mode = "adjacent"
        [kubernetes]
        kubeconfig = "/etc/herald/kubeconfig"
        [[pool]]
        name = "lab"
        addresses = ["198.51.100.100-198.51.100.110"]
        """

    static let facts = KubernetesFacts(
        services: [ServiceFacts(key: "default/web", addresses: [service])],
        nodes: Dictionary(uniqueKeysWithValues: (1...3).map { ("n\($0)", KubeNodeFacts(internalIPs: [IPAddress("198.51.100.3\($0)")!])) }))

    /// The target node every running host hands its link for the service address.
    static func targets(_ sim: NodeSimulation) -> Set<IPAddress?> {
        Set(sim.names.map { sim.targets($0)?.nodeFor[service] })
    }

    @Test func aTargetThatStopsAnsweringIsReplacedEverywhereAndComesBack() async {
        struct Outcome { var owner: String?; var first: Set<IPAddress?>; var moved: Set<IPAddress?>; var back: Set<IPAddress?> }
        let outcome = await offPool { () -> Outcome in
            var sim = NodeSimulation(size: 2, seed: 21, toml: Self.config)
            // The Kubernetes nodes answer on the segment, as their kernels do.
            for index in 1...3 { sim.neighbours[IPAddress("198.51.100.3\(index)")!] = MACAddress(0x02, 0, 0, 0, 3, UInt8(index)) }
            for name in sim.names { sim.kubernetes(name, Self.facts) }
            _ = sim.runUntil(.seconds(10)) { $0.answerer(Self.service) != nil }
            let first = Self.targets(sim)
            guard let target = first.first ?? nil else {
                return Outcome(owner: nil, first: first, moved: [], back: [])
            }
            // The target node stops answering ARP: both links find it silent, the report
            // goes through gossip, and both re-target; when it answers again, it is back.
            let mac = sim.neighbours.removeValue(forKey: target)
            sim.run(for: .seconds(1))
            let moved = Self.targets(sim)
            sim.neighbours[target] = mac
            sim.run(for: .seconds(1))
            return Outcome(owner: sim.answerer(Self.service), first: first, moved: moved, back: Self.targets(sim))
        }
        #expect(outcome.owner != nil, "one adjacent host should announce the address")
        #expect(outcome.first.count == 1 && outcome.first.first! != nil, "the hosts disagree on the target: \(outcome.first)")
        #expect(outcome.moved.count == 1 && outcome.moved != outcome.first, "not re-targeted everywhere: \(outcome.moved)")
        #expect(outcome.back == outcome.first, "the target did not come back: \(outcome.back)")
    }
}
