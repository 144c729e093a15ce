import HeraldMembership
import HeraldTestKit
import HeraldWire
import Testing

/// The simulations are CPU-bound for seconds to minutes: each runs on a thread of its own
/// (`offPool`) and returns what the expectations then check on the test's task.
@Suite struct MembershipSimulationTests {
    struct CrashOutcome: Sendable {
        var joined: Bool
        var detected: Duration?
        var convergedAfter: Bool
        var onlyVictimDied: Bool
    }

    @Test(arguments: [3, 10, 100, 500])
    func crashedMemberIsDeclaredDeadEverywhere(size: Int) async {
        let outcome = await offPool { () -> CrashOutcome in
            var sim = Simulation(size: size, seed: UInt64(size))
            let joined = sim.runUntil(.seconds(60)) { $0.converged } != nil
            let victim = sim.names[size / 2]
            sim.crash(victim)
            let detected = sim.runUntil(.seconds(30)) { sim in
                sim.running.allSatisfy { sim.status(of: victim, at: $0) == .dead }
            }
            return CrashOutcome(joined: joined, detected: detected, convergedAfter: sim.converged,
                                onlyVictimDied: sim.changes.filter { $0.3 == .dead }.allSatisfy { $0.2 == victim })
        }
        #expect(outcome.joined, "\(size) members did not converge")
        #expect(outcome.detected != nil, "crashed member not declared dead everywhere")
        #expect(outcome.convergedAfter)
        #expect(outcome.onlyVictimDied)
        if size <= 10, let detected = outcome.detected { #expect(detected < .seconds(1), "detection took \(detected)") }
    }

    @Test func suspectedMemberRefutesAndStaysAlive() async {
        let (raised, aliveEverywhere, died) = await offPool { () -> (Bool, Bool, Bool) in
            var sim = Simulation(size: 5, seed: 11)
            _ = sim.runUntil(.seconds(10)) { $0.converged }
            let target = "node-3"
            let before = sim.nodes[target]!.instance.incarnation
            // A false accusation, as after lost probes: node-1 tells everyone node-3 is suspect.
            for name in sim.names where name != "node-1" {
                sim.push(sim.now, .deliver(GossipPayload.encode([.suspect(name: target, incarnation: before, from: "node-1")]),
                                           from: sim.address("node-1"), to: name))
            }
            sim.run(for: .seconds(5))
            return (sim.nodes[target]!.instance.incarnation > before,
                    sim.names.filter { $0 != target }.allSatisfy { sim.status(of: target, at: $0) == .alive },
                    sim.changes.contains { $0.2 == target && $0.3 == .dead })
        }
        #expect(raised)
        #expect(aliveEverywhere)
        #expect(!died)
    }

    /// Three members is the hard case: one indirect helper per probe, and one confirming
    /// suspicion is enough to cut the timeout to its floor.
    @Test(arguments: [3, 10])
    func tenPercentLossCausesNoFalseDeath(size: Int) async {
        let (deaths, converged) = await offPool { () -> ([String], Bool) in
            var sim = Simulation(size: size, seed: 7)
            _ = sim.runUntil(.seconds(10)) { $0.converged }
            sim.loss = 0.10
            sim.run(for: .seconds(300))
            return (sim.changes.filter { $0.3 == .dead }.map { "\($0.0): \($0.1) saw \($0.2) dead" }, sim.converged)
        }
        #expect(deaths.isEmpty, "false deaths: \(deaths)")
        #expect(converged)
    }

    @Test func partitionHealsIntoOneView() async {
        let (splitSeen, healed) = await offPool { () -> (Bool, Bool) in
            var sim = Simulation(size: 10, seed: 3)
            _ = sim.runUntil(.seconds(10)) { $0.converged }
            for name in sim.names.suffix(4) { sim.group[name] = 1 }
            sim.run(for: .seconds(10))
            // Each side holds the other dead.
            let split = sim.status(of: "node-9", at: "node-0") == .dead && sim.status(of: "node-0", at: "node-9") == .dead
            sim.group = [:]
            return (split, sim.runUntil(.seconds(60)) { $0.converged } != nil)
        }
        #expect(splitSeen)
        #expect(healed, "partition did not heal")
    }

    @Test func gracefulLeaveIsSeenAtOnce() async {
        let seen = await offPool { () -> Duration? in
            var sim = Simulation(size: 5, seed: 5)
            _ = sim.runUntil(.seconds(10)) { $0.converged }
            sim.leave("node-2")
            return sim.runUntil(.seconds(1), step: .milliseconds(1)) { sim in
                sim.running.allSatisfy { sim.status(of: "node-2", at: $0) == .left }
            }
        }
        #expect(seen != nil && seen! <= .milliseconds(5))
    }

    @Test func lateJoinerAndRestartedMemberAreAccepted() async {
        let (first, again) = await offPool { () -> (Bool, Bool) in
            var sim = Simulation(size: 6, seed: 9)
            sim.crash("node-5")
            let first = sim.runUntil(.seconds(10)) { $0.converged } != nil
            // A member that comes back after being declared dead restarts at incarnation 0
            // and must outbid its old death.
            var restarted = Simulation.Node(instance: MembershipMachine(
                name: "node-5", address: sim.address("node-5"), meta: [], settings: .lan, now: sim.now))
            let actions = restarted.instance.onJoin(seeds: [sim.address("node-0")], now: sim.now)
            sim.nodes["node-5"] = restarted
            sim.execute(actions, by: "node-5")
            return (first, sim.runUntil(.seconds(10)) { $0.converged } != nil)
        }
        #expect(first && again)
    }

    @Test func messagesPerMemberStayFlatAsTheClusterGrows() async {
        @Sendable func rate(_ size: Int) -> Double {
            var sim = Simulation(size: size, seed: 42)
            _ = sim.runUntil(.seconds(60)) { $0.converged }
            let before = sim.names.map { sim.nodes[$0]!.sent }.reduce(0, +)
            sim.run(for: .seconds(10))
            let after = sim.names.map { sim.nodes[$0]!.sent }.reduce(0, +)
            return Double(after - before) / Double(size) / 10
        }
        let (small, large) = await offPool { (rate(10), rate(200)) }
        #expect(large < small * 1.5, "packets per member per second: \(small) at 10, \(large) at 200")
        #expect(small > 10)
    }

    @Test func deterministicForASeed() async {
        let (first, second) = await offPool { () -> ([String], [String]) in
            func run() -> [String] {
                var sim = Simulation(size: 10, seed: 99)
                sim.loss = 0.05
                sim.run(for: .seconds(5))
                return sim.changes.map { "\($0.0) \($0.1) \($0.2) \($0.3)" }
            }
            return (run(), run())
        }
        #expect(first == second)
        #expect(!first.isEmpty)
    }

    @Test func aNodeNobodyAnswersSaysSoAfter3sThenEvery30s() {
        var machine = MembershipMachine(name: "alone", address: GossipAddress(ip: IPAddress("198.51.100.9")!, port: 7946), meta: [],
                                        settings: .lan, now: .zero)
        let seed = GossipAddress(ip: IPAddress("198.51.100.10")!, port: 7946)
        _ = machine.onJoin(seeds: [seed], now: .zero)
        var rng = SplitMix64(state: 1)
        var reports: [Duration] = []
        var now = Duration.zero
        while now < .seconds(70) {
            for case .alone(let seeds, let since) in machine.onTick(now: now, using: &rng) {
                #expect(seeds == [seed])
                reports.append(since)
            }
            now = max(machine.nextDeadline, now + .milliseconds(1))
        }
        #expect(reports == [.seconds(3), .seconds(33), .seconds(63)])
    }
}
