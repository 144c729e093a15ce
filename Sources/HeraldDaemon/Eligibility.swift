import HeraldCore
import Synchronization

/// Assembles what this node gossips about its eligibility — interfaces that are up, and
/// health checks that pass — and hands it to the gossip service whenever either changes.
final class Eligibility: Sendable {
    private struct State {
        var interfaces: [NodeMeta.Interface]
        var down: Set<String> = []
        var passingChecks: Set<String> = []
        var gossip: GossipService?
    }

    private let state: Mutex<State>

    init(interfaces: [NodeMeta.Interface]) {
        state = Mutex(State(interfaces: interfaces))
    }

    var meta: NodeMeta {
        state.withLock { state in
            NodeMeta(interfaces: state.interfaces.filter { !state.down.contains($0.name) },
                     passingChecks: state.passingChecks.sorted())
        }
    }

    func attach(_ gossip: GossipService) {
        state.withLock { $0.gossip = gossip }
    }

    /// An interface going down makes its subnets ineligible; coming back, it means this
    /// node was cut off, so it holds down before taking VIPs back.
    func carrier(_ interface: String, up: Bool) {
        publish { if up { $0.down.remove(interface) } else { $0.down.insert(interface) } }
        if up { state.withLock { $0.gossip }?.requestHoldDown() }
    }

    /// The node's usable interfaces after a reload.
    func setInterfaces(_ interfaces: [NodeMeta.Interface]) {
        publish { $0.interfaces = interfaces }
    }

    func checks(_ passing: Set<String>) {
        publish { $0.passingChecks = passing }
    }

    private func publish(_ change: (inout State) -> Void) {
        let gossip = state.withLock { state -> GossipService? in
            change(&state)
            return state.gossip
        }
        gossip?.updateMeta(meta)
    }
}
