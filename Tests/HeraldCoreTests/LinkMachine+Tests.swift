import HeraldCore
import HeraldWire
import Testing

/// The link's decisions without a link: frames in, frames and events out, in virtual time.
@Suite struct LinkMachineTests {
    let ours = MACAddress("02:00:00:00:00:11")!
    let client = MACAddress("02:00:00:00:00:12")!
    let foreign = MACAddress("02:00:00:00:00:99")!
    let vip = IPv4Address("198.51.100.50")!
    let ms = Duration.milliseconds(1)

    func machine(lease: Bool = false) -> LinkMachine {
        LinkMachine(mac: ours, settings: .init(targets: .init(interval: .milliseconds(100)), usesLease: lease))
    }

    func request(_ address: IPv4Address, from mac: MACAddress? = nil) -> [UInt8] {
        let sender = mac ?? client
        return ARPPacket(operation: .request, senderMAC: sender, senderIP: IPv4Address("198.51.100.2")!, targetMAC: .zero,
                         targetIP: address).frame(ethernetDestination: .broadcast, ethernetSource: sender)
    }

    /// A reply to one of our probes (what a host that holds `address` sends).
    func reply(_ address: IPv4Address, from mac: MACAddress) -> [UInt8] {
        ARPPacket(operation: .reply, senderMAC: mac, senderIP: address, targetMAC: ours, targetIP: .any)
            .frame(ethernetDestination: ours, ethernetSource: mac)
    }

    /// Ticks every 10 ms from `from` to `to`, collecting the outputs.
    func run(_ machine: inout LinkMachine, from: Duration, to: Duration) -> [LinkAction] {
        var outputs: [LinkAction] = []
        var now = from
        while now <= to {
            outputs += machine.onTick(now: now)
            now += ms * 10
        }
        return outputs
    }

    /// Found by the node simulation once it ran real links: the answer that first resolves
    /// the witness was judged on the state before it, so a node asking "am I cut off?"
    /// never heard "no" and took nothing over.
    @Test func theWitnessesFirstAnswerAndItsReturnAreReported() {
        var link = machine(lease: true)
        let gateway = IPv4Address("198.51.100.1")!, router = MACAddress("02:00:00:00:00:01")!
        _ = link.onAssignment(LinkAssignment(witness: .v4(gateway)), now: .zero)
        #expect(link.onTick(now: ms).contains { if case .send(_, .targetProbe) = $0 { true } else { false } })
        #expect(link.onFrame(reply(gateway, from: router), now: ms * 2) == [.event(.witness(.v4(gateway), answers: true))])
        // Silent for three probes, then back: reported each way.
        var outputs: [LinkAction] = []
        for step in 1...4 { outputs += link.onTick(now: ms * 100 * Int64(step) + ms) }
        #expect(outputs.contains(.event(.witness(.v4(gateway), answers: false))))
        #expect(link.onFrame(reply(gateway, from: router), now: ms * 402) == [.event(.witness(.v4(gateway), answers: true))])
    }

    func replies(_ outputs: [LinkAction]) -> [IPAddress] {
        outputs.compactMap { if case .send(_, .reply(let address)) = $0 { address } else { nil } }
    }

    func events(_ outputs: [LinkAction]) -> [LinkEvent] {
        outputs.compactMap { if case .event(let event) = $0 { event } else { nil } }
    }

    @Test func probesFirstThenAnswersAndAnnounces() {
        var link = machine()
        #expect(events(run(&link, from: .zero, to: ms * 50)).isEmpty, "not ready before it knows what it serves")
        let assigned = link.onAssignment(LinkAssignment(answering: [.v4(vip)], servable: [.v4(vip)], cluster: ClusterMACs([ours: []])), now: ms * 60)
        #expect(replies(link.onFrame(request(vip), now: ms * 61)).isEmpty, "answered while probing")
        let probing = assigned + run(&link, from: ms * 70, to: ms * 200)
        #expect(probing.filter { if case .send(_, .probe) = $0 { true } else { false } }.count == 3)
        let settled = run(&link, from: ms * 210, to: ms * 300)
        #expect(events(probing + settled).contains(.cleared(.v4(vip))))
        #expect(events(probing + settled).contains(.ready))
        #expect(events(probing + settled).contains(.serving(started: [.v4(vip)], stopped: [])))
        #expect(replies(probing + settled) == [.v4(vip)], "the request that came while probing is answered once it serves")
        #expect(replies(link.onFrame(request(vip), now: ms * 301)) == [.v4(vip)])
        #expect(link.tally.responsesSent[.v4(vip)] == 2)
    }

    @Test func anotherHostAnsweringTheProbeWithholdsTheAddress() {
        var link = machine()
        _ = link.onAssignment(LinkAssignment(answering: [.v4(vip)], servable: [.v4(vip)], cluster: ClusterMACs([ours: []])), now: .zero)
        _ = run(&link, from: .zero, to: ms * 20)
        let claimed = link.onFrame(reply(vip, from: foreign), now: ms * 25)
        let after = claimed + run(&link, from: ms * 30, to: ms * 300)
        #expect(events(after).contains(.conflict(.v4(vip), foreign, inUse: false)))
        #expect(!events(after).contains(.serving(started: [.v4(vip)], stopped: [])))
        #expect(link.conflicts == [.v4(vip): foreign])
        #expect(replies(link.onFrame(request(vip), now: ms * 301)).isEmpty)
    }

    @Test func withALeaseAnswersHoldOnlyUntilItRunsOut() {
        var link = machine(lease: true)
        _ = link.onAssignment(LinkAssignment(answering: [.v4(vip)], servable: [.v4(vip)], cluster: ClusterMACs([ours: []])), now: .zero)
        _ = run(&link, from: .zero, to: ms * 300)
        #expect(replies(link.onFrame(request(vip), now: ms * 301)).isEmpty, "no lease yet")
        _ = link.onLease(until: ms * 1000, now: ms * 302)
        #expect(replies(link.onFrame(request(vip), now: ms * 303)) == [.v4(vip)])
        // Stopped past the lease: frames that queued meanwhile meet the lapsed lease.
        let late = link.onFrame(request(vip), now: ms * 1000)
        #expect(replies(late).isEmpty)
        #expect(link.tally.dropped[.leaseExpired] == 1)
        let lapsed = late + link.onTick(now: ms * 1000)
        #expect(events(lapsed).contains { if case .serving([], let stopped) = $0 { stopped.map(\.0) == [.v4(vip)] } else { false } })
        #expect(replies(link.onFrame(request(vip), now: ms * 1001)).isEmpty)
    }

    @Test func aRequestForACandidateIsAnsweredTheMomentItIsTaken() {
        var link = machine()
        _ = link.onAssignment(LinkAssignment(servable: [.v4(vip)], cluster: ClusterMACs([ours: []])), now: .zero)
        _ = run(&link, from: .zero, to: ms * 300)
        #expect(replies(link.onFrame(request(vip), now: ms * 310)).isEmpty)
        let taken = link.onAssignment(LinkAssignment(answering: [.v4(vip)], servable: [.v4(vip)], cluster: ClusterMACs([ours: []])), now: ms * 400)
        #expect(replies(taken) == [.v4(vip)], "the held request is answered on takeover")
    }

    @Test func losingTheCaptureUnderALeaseSilencesUntilTheNextAssignment() {
        var link = machine(lease: true)
        let assignment = LinkAssignment(answering: [.v4(vip)], servable: [.v4(vip)], cluster: ClusterMACs([ours: []]))
        _ = link.onAssignment(assignment, now: .zero)
        _ = link.onLease(until: .seconds(60), now: .zero)
        _ = run(&link, from: .zero, to: ms * 300)
        #expect(link.context.answering == [.v4(vip)])
        _ = link.onCaptureLost(now: ms * 400)
        _ = link.onCaptureBack(now: ms * 500)
        #expect(link.context.answering.isEmpty, "what it owned while cut off came from a view where it was alone")
        _ = link.onAssignment(assignment, now: ms * 600)
        #expect(link.context.answering == [.v4(vip)])
    }
}

/// Adjacent mode on one link: answered with the target's MAC, re-targeted when the target
/// stops answering, and the target seen again when it comes back.
@Suite struct LinkMachineAdjacentTests {
    let ours = MACAddress("02:00:00:00:00:11")!
    let service = IPv4Address("198.51.100.100")!
    let n1 = IPv4Address("198.51.100.31")!
    let n3 = IPv4Address("198.51.100.33")!
    let mac1 = MACAddress("02:00:00:00:00:1f")!
    let mac3 = MACAddress("02:00:00:00:00:21")!
    let ms = Duration.milliseconds(1)

    func reply(_ address: IPv4Address, from mac: MACAddress) -> [UInt8] {
        ARPPacket(operation: .reply, senderMAC: mac, senderIP: address, targetMAC: ours, targetIP: .any)
            .frame(ethernetDestination: ours, ethernetSource: mac)
    }

    func assignment(target: IPv4Address, suspects: Set<IPAddress> = []) -> LinkAssignment {
        LinkAssignment(answering: [.v4(service)], servable: [.v4(service)], cluster: ClusterMACs([ours: []]),
                       targets: LinkTargets(nodeFor: [.v4(service): .v4(target)], names: [.v4(n1): "n1", .v4(n3): "n3"],
                                            suspects: suspects))
    }

    /// Ticks every 10 ms; every node in `up` answers each probe for its address.
    func run(_ link: inout LinkMachine, from: Duration, to: Duration, up: [IPv4Address: MACAddress]) -> [LinkAction] {
        var outputs: [LinkAction] = []
        var now = from
        while now <= to {
            let ticked = link.onTick(now: now)
            outputs += ticked
            for case .send(_, .targetProbe(.v4(let address))) in ticked {
                if let mac = up[address] { outputs += link.onFrame(reply(address, from: mac), now: now + ms) }
            }
            now += ms * 10
        }
        return outputs
    }

    @Test func retargetsWhenTheTargetGoesSilentAndSeesItReturn() {
        var link = LinkMachine(mac: ours, settings: .init(targets: .init(interval: .milliseconds(100)), usesLease: false))
        _ = link.onAssignment(assignment(target: n1), now: .zero)
        _ = run(&link, from: .zero, to: ms * 400, up: [n1: mac1, n3: mac3])
        #expect(link.context.answerMACs == [.v4(service): mac1])

        // n1 is cut: after three missed probes it is unreachable and the address falls silent.
        _ = run(&link, from: ms * 410, to: ms * 900, up: [n3: mac3])
        #expect(link.unreachableNodes == ["n1"])
        #expect(link.context.answering.isEmpty)

        // The node machine re-targets to n3 and keeps n1 watched as a suspect.
        _ = link.onAssignment(assignment(target: n3, suspects: [.v4(n1)]), now: ms * 910)
        _ = run(&link, from: ms * 910, to: ms * 1200, up: [n3: mac3])
        #expect(link.context.answerMACs == [.v4(service): mac3])
        #expect(link.tally.retargets[.v4(service)] == 1)

        // n1 comes back: three answers in a row and it is reachable again.
        let back = run(&link, from: ms * 1210, to: ms * 1800, up: [n1: mac1, n3: mac3])
        #expect(link.unreachableNodes.isEmpty)
        #expect(back.contains { if case .event(.neighbors([.v4(n1)], let nodes)) = $0 { nodes[.v4(n1)]?.state == .reachable } else { false } },
                "the event carries the state it reports, so the shell never reads an older one")
    }
}
