import HeraldMembership
import HeraldWire
import Testing

@Suite struct MembershipSimulationTests {
    @Test(arguments: [3, 10, 100, 500])
    func crashedMemberIsDeclaredDeadEverywhere(size: Int) {
        var sim = Simulation(size: size, seed: UInt64(size))
        let joined = sim.runUntil(.seconds(60)) { $0.converged }
        #expect(joined != nil, "\(size) members did not converge")
        let victim = sim.names[size / 2]
        sim.crash(victim)
        let detected = sim.runUntil(.seconds(30)) { sim in
            sim.running.allSatisfy { sim.status(of: victim, at: $0) == .dead }
        }
        #expect(detected != nil, "\(victim) not declared dead everywhere")
        #expect(sim.converged)
        // Only the victim died, in anyone's view.
        #expect(sim.changes.filter { $0.3 == .dead }.allSatisfy { $0.2 == victim })
        if size <= 10 { #expect(detected! < .seconds(1), "detection took \(detected!)") }
    }

    @Test func suspectedMemberRefutesAndStaysAlive() {
        var sim = Simulation(size: 5, seed: 11)
        #expect(sim.runUntil(.seconds(10)) { $0.converged } != nil)
        let target = "node-3"
        let before = sim.nodes[target]!.instance.incarnation
        // A false accusation, as after lost probes: node-1 tells everyone node-3 is suspect.
        for name in sim.names where name != "node-1" {
            sim.push(sim.now, .deliver(GossipPayload.encode([.suspect(name: target, incarnation: before, from: "node-1")]),
                                       from: sim.address("node-1"), to: name))
        }
        sim.run(for: .seconds(5))
        #expect(sim.nodes[target]!.instance.incarnation > before)
        #expect(sim.names.filter { $0 != target }.allSatisfy { sim.status(of: target, at: $0) == .alive })
        #expect(!sim.changes.contains { $0.2 == target && $0.3 == .dead })
    }

    /// Three members is the hard case: one indirect helper per probe, and one confirming
    /// suspicion is enough to cut the timeout to its floor.
    @Test(arguments: [3, 10])
    func tenPercentLossCausesNoFalseDeath(size: Int) {
        var sim = Simulation(size: size, seed: 7)
        #expect(sim.runUntil(.seconds(10)) { $0.converged } != nil)
        sim.loss = 0.10
        sim.run(for: .seconds(300))
        #expect(!sim.changes.contains { $0.3 == .dead }, "false deaths: \(sim.changes.filter { $0.3 == .dead })")
        #expect(sim.converged)
    }

    @Test func partitionHealsIntoOneView() {
        var sim = Simulation(size: 10, seed: 3)
        #expect(sim.runUntil(.seconds(10)) { $0.converged } != nil)
        for name in sim.names.suffix(4) { sim.group[name] = 1 }
        sim.run(for: .seconds(10))
        // Each side holds the other dead.
        #expect(sim.status(of: "node-9", at: "node-0") == .dead)
        #expect(sim.status(of: "node-0", at: "node-9") == .dead)
        sim.group = [:]
        let healed = sim.runUntil(.seconds(60)) { $0.converged }
        #expect(healed != nil, "partition did not heal")
    }

    @Test func gracefulLeaveIsSeenAtOnce() {
        var sim = Simulation(size: 5, seed: 5)
        #expect(sim.runUntil(.seconds(10)) { $0.converged } != nil)
        sim.leave("node-2")
        let seen = sim.runUntil(.seconds(1), step: .milliseconds(1)) { sim in
            sim.running.allSatisfy { sim.status(of: "node-2", at: $0) == .left }
        }
        #expect(seen != nil && seen! <= .milliseconds(5))
    }

    @Test func lateJoinerAndRestartedMemberAreAccepted() {
        var sim = Simulation(size: 6, seed: 9)
        sim.crash("node-5")
        #expect(sim.runUntil(.seconds(10)) { $0.converged } != nil)
        // A member that comes back after being declared dead restarts at incarnation 0 and
        // must outbid its old death.
        var restarted = Simulation.Node(instance: MembershipInstance(
            name: "node-5", address: sim.address("node-5"), meta: [], settings: .lan, now: sim.now))
        let actions = restarted.instance.onJoin(seeds: [sim.address("node-0")], now: sim.now)
        sim.nodes["node-5"] = restarted
        sim.execute(actions, by: "node-5")
        #expect(sim.runUntil(.seconds(10)) { $0.converged } != nil)
    }

    @Test func messagesPerMemberStayFlatAsTheClusterGrows() {
        func rate(_ size: Int) -> Double {
            var sim = Simulation(size: size, seed: 42)
            _ = sim.runUntil(.seconds(60)) { $0.converged }
            let before = sim.names.map { sim.nodes[$0]!.sent }.reduce(0, +)
            sim.run(for: .seconds(10))
            let after = sim.names.map { sim.nodes[$0]!.sent }.reduce(0, +)
            return Double(after - before) / Double(size) / 10
        }
        let small = rate(10), large = rate(200)
        #expect(large < small * 1.5, "packets per member per second: \(small) at 10, \(large) at 200")
        #expect(small > 10)
    }

    @Test func deterministicForASeed() {
        var first = Simulation(size: 10, seed: 99)
        var second = Simulation(size: 10, seed: 99)
        first.loss = 0.05
        second.loss = 0.05
        first.run(for: .seconds(5))
        second.run(for: .seconds(5))
        #expect(first.changes.map { "\($0.0) \($0.1) \($0.2) \($0.3)" } == second.changes.map { "\($0.0) \($0.1) \($0.2) \($0.3)" })
    }
}
