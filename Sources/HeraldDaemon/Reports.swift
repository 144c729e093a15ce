import Glibc
import HeraldControl
import HeraldCore
import HeraldMembership
import HeraldWire

/// Builds the control socket's answers (and the metrics) from the running services:
/// what the node machine decided, what each link answers, what gossip knows.
struct Reports: Sendable {
    let runtime: Runtime
    let node: NodeState
    let linkSet: LinkSet
    let gossip: GossipLoop?
    let kubernetes: KubernetesLoop?
    let checks: HealthCheckLoop
    let started = ContinuousClock.now

    var loaded: LoadedConfig { runtime.loaded }
    var links: [LinkLoop] { linkSet.all }

    func answer(_ request: ControlRequest) -> [UInt8] {
        switch request {
        case .status: controlReply(status)
        case .members: controlReply(members)
        case .explain(let text): explain(text).map(controlReply)
            ?? controlReply(ControlErrorReply(error: "\(text) is neither a configured VIP nor a Service address"))
        case .reload: controlReply(ControlErrorReply(error: "reload is answered by the reload loop"))
        }
    }

    /// The members as the node machine last decided from, this node first; with gossip,
    /// their round trips as gossip measures them now.
    var view: [Member] {
        let machine = node.current
        guard let gossip else { return machine.view }
        let roundTrips = Dictionary(gossip.stats.members.map { ($0.name, $0.roundTrip) }, uniquingKeysWith: { first, _ in first })
        return machine.view.map { member in
            var member = member
            if let roundTrip = roundTrips[member.name] { member.roundTrip = roundTrip }
            return member
        }
    }

    var status: StatusReport {
        let loaded = loaded
        let machine = node.current
        let links = links.map { ($0, $0.state) }
        let conflicts = links.reduce(into: [IPAddress: (String, String)]()) { result, link in
            for (address, mac) in link.1.conflicts { result[address] = (link.0.interface.name, mac.description) }
        }
        let answerMACs = links.reduce(into: [IPAddress: MACAddress]()) { result, link in
            result.merge(link.1.answerMACs) { first, _ in first }
        }
        let watched = links.reduce(into: [IPAddress: NodeReach]()) { result, link in
            result.merge(link.1.nodes) { first, _ in first }
        }
        let services = machine.announcements
        let gossipReport = gossip.map { gossip -> GossipReport in
            let stats = gossip.stats
            let others = stats.members.dropFirst()
            return GossipReport(address: gossip.address.description, profile: loaded.config.gossip?.profile.rawValue ?? "",
                                encrypted: gossip.seal.isEncrypted,
                                alive: others.filter { $0.status == .alive }.count + 1,
                                suspect: others.filter { $0.status == .suspect }.count,
                                dead: others.filter { $0.status == .dead || $0.status == .left }.count,
                                awareness: stats.awareness, holdingDown: machine.holdingDownUntil != nil, settled: machine.phase != .joining,
                                takeovers: machine.takeovers, rejected: stats.rejected)
        }
        return StatusReport(
            node: loaded.nodeName, version: HeraldVersion.current, pid: getpid(),
            uptimeSeconds: Int(started.duration(to: .now).components.seconds), configFiles: loaded.files,
            links: links.map { link, state in
                LinkReport(name: link.interface.name, mac: link.mac.description,
                           answering: state.serving.sorted().map(\.description), counters: state.tally.text)
            },
            // VIPs, then Service addresses (named namespace/name): one rule for both, the
            // role the node machine decided, or the conflict a link withholds the address for.
            vips: (loaded.config.vips + services.vips).map { vip in
                let target = services.targets[vip.address]
                let conflict = conflicts[vip.address]
                let routedVia = services.routed[vip.address]
                let role: VIPReport.Role = conflict != nil ? .conflict : routedVia != nil ? .routed : VIPReport.Role(machine.role(of: vip.address))
                return VIPReport(name: vip.name, address: vip.address.description, role: role, owner: machine.owners[vip.address],
                                 interfaces: conflict.map { [$0.0] } ?? links.filter { $0.1.serving.contains(vip.address) }.map(\.0.interface.name),
                                 foreignMAC: conflict?.1, targetNode: target?.node,
                                 targetMAC: target == nil ? nil : (answerMACs[vip.address] ?? target.flatMap { watched[$0.address]?.mac })?.description,
                                 routedVia: routedVia, waitingFor: role == .waiting ? machine.waits[vip.address]?.heir : nil)
            },
            gossip: gossipReport, warnings: warnings.isEmpty ? nil : warnings)
    }

    /// What the operator should fix, for `heraldctl status` and `vips`.
    var warnings: [String] {
        node.current.warnings.map(\.description)
            + (runtime.reloads.stale ? ["the last reload failed: the running config is the previous one (journalctl -u herald)"] : [])
    }

    var members: MembersReport {
        let drift = node.current.drift
        return MembersReport(members: view.enumerated().map { index, member in
            let meta = NodeMeta.decode(member.meta)
            return MemberReport(name: member.name, address: member.address.description, status: "\(member.status)",
                                incarnation: member.incarnation,
                                roundTripMicroseconds: member.roundTrip.map { UInt64($0 / .microseconds(1)) },
                                holdingDown: meta?.holdingDown ?? false, interfaces: meta?.interfaces.map(\.name) ?? [],
                                isSelf: index == 0, version: meta?.about?.version, mode: meta?.about?.mode,
                                configDigest: meta?.about?.configDigest, configDiffers: drift.differing[member.name] != nil)
        })
    }

    func explain(_ text: String) -> ExplainReport? {
        guard let vip = loaded.config.vips.first(where: { $0.address.description == text || IPAddress(text) == $0.address || $0.name == text })
        else { return explainService(text) }
        let machine = node.current
        let ranked = machine.vipRankings[vip.address] ?? []
        var candidates = ranked.map(ExplainReport.Candidate.init)
        // This node's own check: why its last run failed.
        if let index = candidates.firstIndex(where: { $0.name == loaded.nodeName }),
           ranked[index].ineligibility == .checkNotPassing, case .failed(let why)? = checks.lastOutcome(vip.name) {
            candidates[index].reason = "\(ranked[index].ineligibility!.description) (last run: \(why))"
        }
        return ExplainReport(vip: vip.name, address: vip.address.description, owner: machine.owners[vip.address],
                             candidates: candidates, notes: Self.notes(machine, about: vip.address))
    }

    /// `explain` for a Service address (or `namespace/name`): its announcers, and in
    /// adjacent mode its target nodes.
    private func explainService(_ text: String) -> ExplainReport? {
        let machine = node.current
        guard let facts = machine.kubernetes,
              let (address, election) = ServiceAnnouncements.ranking(for: text, facts, config: machine.loaded.config, members: machine.view)
        else { return nil }
        let target = election.targets?.first { $0.ineligibility == nil }
        let states = links.map(\.state)
        let mac = states.lazy.compactMap { $0.answerMACs[address] }.first
            ?? target?.address.flatMap { node in states.lazy.compactMap { $0.nodes[node]?.mac }.first }
        var notes = Self.notes(machine, about: address) ?? []
        if election.noReadyEndpoint {
            notes.append("no ready endpoint: not announced (as MetalLB's layer 2 does), until a pod of the Service is ready")
        }
        if let gateway = election.pool.routedVia {
            notes.append("pool \(election.pool.name) is routed via VIP \(gateway): nobody answers ARP for this address; its owner is the VIP's owner (heraldctl explain \(gateway)), not one of the candidates below")
        }
        return ExplainReport(
            vip: election.service, address: address.description, owner: machine.owners[address],
            candidates: election.owners.map(ExplainReport.Candidate.init), target: target?.name,
            targetMAC: target == nil ? nil : mac?.description, targets: election.targets?.map(ExplainReport.Candidate.init),
            notes: notes.isEmpty ? nil : notes)
    }
}

extension Reports {
    /// Why the machine's owner may not be the first eligible candidate: it is still
    /// joining (it elects nothing yet), or it may be the one cut off (the addresses of the
    /// members it lost stay theirs), or the address waits for a member that is starting;
    /// and what the operator should fix.
    static func notes(_ machine: NodeMachine, about address: IPAddress) -> [String]? {
        var notes: [String] = []
        // (On the heir itself its own line says it is starting; it knows no owner yet.)
        if let heir = machine.waits[address]?.heir, heir != machine.loaded.nodeName {
            notes.append("\(heir), first in election order, is still starting: the address stays "
                         + (machine.owners[address].map { "with \($0)" } ?? "unannounced")
                         + " until \(heir) is ready, for at most \(machine.settings.startupWait.configText)")
        }
        if machine.phase == .joining {
            notes.append("this node is still joining the cluster (it has heard no member yet): it elects nothing until it does, or the join grace passes")
        }
        if let lost = machine.isolation.lost {
            notes.append("this node lost most of the cluster at once (\(lost.sorted().joined(separator: ", "))): their addresses stay theirs until its witness answers or they are back")
        }
        notes += machine.warnings.map(\.description)
        return notes.isEmpty ? nil : notes
    }
}

extension VIPReport.Role {
    init(_ role: AddressRole) {
        switch role {
        case .announcing: self = .announcing
        case .standby: self = .standby
        case .notEligible: self = .notEligible
        case .unowned: self = .unowned
        case .waiting: self = .waiting
        }
    }
}

extension ExplainReport.Candidate {
    init(_ ranked: Election.Ranked) {
        self.init(name: ranked.name, eligible: ranked.ineligibility == nil, reason: ranked.ineligibility?.description,
                  interfaces: ranked.interfaces)
    }

    /// A node in target order; `interfaces` holds the node address that is resolved.
    init(_ ranked: TargetElection.Ranked) {
        self.init(name: ranked.name, eligible: ranked.ineligibility == nil, reason: ranked.ineligibility?.description,
                  interfaces: ranked.address.map { [$0.description] } ?? [])
    }
}
