import HeraldCore
import HeraldMembership
import HeraldWire
import Synchronization

/// Turns membership views into what each link answers: runs the election, keeps the
/// result for `heraldctl`, hands each link its addresses, and keeps their lease fresh.
/// Called on the gossip thread after every turn.
public final class Ownership: Sendable {
    public struct State: Sendable {
        public var owners: [IPAddress: String] = [:]
        public var owned: Set<IPAddress> = []
        public var view: [Member] = []
        /// False until this node has joined (or the join grace has passed): a node that
        /// believes it is alone must not grab every VIP while it is still joining.
        public var settled = false
        /// VIPs this node started announcing since start, its first ones included.
        public var takeovers = 0
    }

    let config: HeraldConfig
    let host: HostFacts
    let nodeName: String
    let links: [LinkService]
    let lease: Duration
    let joinGrace: Duration
    let started = ContinuousClock.now
    private let state = Mutex(State())

    public init(config: HeraldConfig, host: HostFacts, nodeName: String, links: [LinkService], lease: Duration,
                joinGrace: Duration) {
        self.config = config
        self.host = host
        self.nodeName = nodeName
        self.links = links
        self.lease = lease
        self.joinGrace = joinGrace
    }

    public var current: State { state.withLock { $0 } }

    func onView(_ view: GossipService.View, changed: Bool, takenAt: ContinuousClock.Instant) {
        let deadline = takenAt + lease
        let others = view.members.dropFirst()
        let settled = others.contains { $0.isCandidate } || ContinuousClock.now - started >= joinGrace
        let wasSettled = state.withLock { $0.settled }
        guard changed || settled != wasSettled else {
            for link in links { link.renewLease(until: deadline) }
            return
        }
        let owners = settled ? Election.owners(config.vips, members: view.members) : [:]
        let owned = Set(owners.filter { $0.value == nodeName }.keys)
        let previous = state.withLock { state -> Set<IPAddress> in
            let previous = state.owned
            state.owners = owners
            state.owned = owned
            state.view = view.members
            state.settled = settled
            state.takeovers += owned.subtracting(previous).count
            return previous
        }
        let plan = LinkPlan.make(config: config, host: host, owned: owned)
        if owned != previous || !wasSettled {
            for link in links {
                let answering = plan.addressesByInterface[link.interface.name] ?? []
                link.setOwnership(answering: answering, ownedElsewhere: owned.subtracting(answering), leaseUntil: deadline)
            }
        } else {
            for link in links { link.renewLease(until: deadline) }
        }
    }
}
