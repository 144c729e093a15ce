import Glibc
import HeraldCore
import HeraldMembership
import HeraldWire

/// Builds the control socket's answers from the running services.
struct Reports: Sendable {
    let runtime: Runtime
    let eligibility: Eligibility
    let linkSet: LinkSet
    let gossip: GossipService?
    let ownership: Ownership?
    let kubernetes: KubernetesService?
    let started = ContinuousClock.now

    var loaded: LoadedConfig { runtime.loaded }
    var links: [LinkService] { linkSet.all }

    func answer(_ request: ControlRequest) -> [UInt8] {
        switch request {
        case .status: JSONWriter.encode(status.json)
        case .members: JSONWriter.encode(members.json)
        case .explain(let text): explain(text).map { JSONWriter.encode($0.json) }
            ?? JSONWriter.encode(ControlErrorReply(error: "\(text) is neither a configured VIP nor a Service address").json)
        }
    }

    /// The members known now, this node first; without gossip, just this node.
    var view: [Member] {
        ownership?.current.view ?? gossip?.view.members ?? [Member(
            name: loaded.nodeName, address: GossipAddress(ip: .v4(.any), port: 0), incarnation: 0, status: .alive,
            meta: eligibility.meta.encode(), statusSince: .zero, roundTrip: nil)]
    }

    var status: StatusReport {
        let loaded = loaded
        let links = links
        let conflicts = links.reduce(into: [IPAddress: (String, String)]()) { result, link in
            for (address, mac) in link.conflicts { result[address] = (link.interface.name, mac.description) }
        }
        let state = ownership?.current
        let view = view
        let services = kubernetes?.announcements(members: view) ?? .init()
        let owned = state?.owned ?? LinkPlan.standaloneOwnership(config: loaded.config, nodeName: loaded.nodeName)
            .union(services.owners.filter { $0.value == loaded.nodeName }.keys)
        let answerMACs = links.reduce(into: [IPAddress: MACAddress]()) { result, link in
            result.merge(link.answerMACs) { first, _ in first }
        }
        let watched = links.reduce(into: [IPAddress: NodeReach]()) { result, link in
            result.merge(link.nodes) { first, _ in first }
        }
        let gossipReport = gossip.map { gossip -> GossipReport in
            let view = gossip.view
            let others = view.members.dropFirst()
            return GossipReport(address: gossip.address.description, profile: loaded.config.gossip?.profile.rawValue ?? "",
                                encrypted: gossip.seal.isEncrypted,
                                alive: others.filter { $0.status == .alive }.count + 1,
                                suspect: others.filter { $0.status == .suspect }.count,
                                dead: others.filter { $0.status == .dead || $0.status == .left }.count,
                                awareness: view.awareness, holdingDown: view.holdingDown, settled: state?.settled ?? false,
                                takeovers: state?.takeovers ?? 0, rejected: gossip.rejected)
        }
        return StatusReport(
            node: loaded.nodeName, version: HeraldVersion.current, pid: getpid(),
            uptimeSeconds: Int(started.duration(to: .now).components.seconds), configFiles: loaded.files,
            links: links.map { link in
                LinkReport(name: link.interface.name, mac: link.mac.description,
                           answering: link.serving.sorted().map(\.description), counters: link.counters)
            },
            vips: loaded.config.vips.map { vip in
                let owner = state.map { $0.owners[vip.address] } ?? (owned.contains(vip.address) ? loaded.nodeName : nil)
                let ranked = Election.rank(vip, members: view).first { $0.name == loaded.nodeName }
                if let (interface, mac) = conflicts[vip.address] {
                    return VIPReport(name: vip.name, address: vip.address.description, role: .conflict, owner: owner,
                                     interfaces: [interface], foreignMAC: mac)
                }
                let role: VIPReport.Role = owned.contains(vip.address) ? .announcing
                    : ranked?.ineligibility != nil ? .notEligible
                    : owner != nil ? .standby : .unowned
                return VIPReport(name: vip.name, address: vip.address.description, role: role, owner: owner,
                                 interfaces: owned.contains(vip.address) ? ranked?.interfaces ?? [] : [])
            } + services.vips.map { vip in
                // Service addresses: the name is the Service's namespace/name.
                let owner = state.map { $0.owners[vip.address] } ?? services.owners[vip.address]
                let target = services.targets[vip.address]
                let targetMAC = answerMACs[vip.address] ?? target.flatMap { watched[$0.address]?.mac }
                let conflict = conflicts[vip.address]
                return VIPReport(name: vip.name, address: vip.address.description,
                                 role: conflict != nil ? .conflict : owned.contains(vip.address) ? .announcing
                                     : owner != nil ? .standby : .unowned,
                                 owner: owner,
                                 interfaces: conflict.map { [$0.0] } ?? links.filter { $0.serving.contains(vip.address) }.map(\.interface.name),
                                 foreignMAC: conflict?.1, targetNode: target?.node, targetMAC: targetMAC?.description)
            },
            gossip: gossipReport)
    }

    var members: MembersReport {
        MembersReport(members: view.enumerated().map { index, member in
            let meta = NodeMeta.decode(member.meta)
            return MemberReport(name: member.name, address: member.address.description, status: "\(member.status)",
                                incarnation: member.incarnation,
                                roundTripMicroseconds: member.roundTrip.map { UInt64($0 / .microseconds(1)) },
                                holdingDown: meta?.holdingDown ?? false, interfaces: meta?.interfaces.map(\.name) ?? [],
                                isSelf: index == 0)
        })
    }

    func explain(_ text: String) -> ExplainReport? {
        guard let vip = loaded.config.vips.first(where: { $0.address.description == text || IPAddress(text) == $0.address || $0.name == text })
        else { return explainService(text) }
        let ranked = Election.rank(vip, members: view)
        return ExplainReport(vip: vip.name, address: vip.address.description, owner: ranked.first { $0.ineligibility == nil }?.name,
                             candidates: ranked.map(ExplainReport.Candidate.init))
    }

    /// `explain` for a Service address (or `namespace/name`): its announcers, and in
    /// adjacent mode its target nodes.
    private func explainService(_ text: String) -> ExplainReport? {
        let view = view
        guard let (service, address, election) = kubernetes?.ranking(for: text, members: view) else { return nil }
        let target = election.targets?.first { $0.ineligibility == nil }
        let mac = links.lazy.compactMap { $0.answerMACs[address] }.first
            ?? target?.address.flatMap { node in links.lazy.compactMap { $0.nodes[node]?.mac }.first }
        return ExplainReport(
            vip: service, address: address.description, owner: election.owners.first { $0.ineligibility == nil }?.name,
            candidates: election.owners.map(ExplainReport.Candidate.init), target: target?.name,
            targetMAC: target == nil ? nil : mac?.description, targets: election.targets?.map(ExplainReport.Candidate.init))
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
