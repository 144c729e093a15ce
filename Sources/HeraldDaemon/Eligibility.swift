import HeraldCore
import Synchronization

/// Assembles what this node gossips about its eligibility — interfaces that are up,
/// health checks that pass, and (adjacent mode) nodes that do not answer on its links —
/// and hands it to the gossip service, or the standalone listener, whenever it changes.
final class Eligibility: Sendable {
    private struct State {
        var interfaces: [NodeMeta.Interface]
        var down: Set<String> = []
        var passingChecks: Set<String> = []
        var unreachable: [String: Set<String>] = [:]
        var gossip: GossipService?
        var listener: (@Sendable () -> Void)?
    }

    private let state: Mutex<State>

    init(interfaces: [NodeMeta.Interface]) {
        state = Mutex(State(interfaces: interfaces))
    }

    var meta: NodeMeta {
        state.withLock { state in
            NodeMeta(interfaces: state.interfaces.filter { !state.down.contains($0.name) },
                     passingChecks: state.passingChecks.sorted(),
                     unreachableNodes: state.unreachable.values.reduce(into: Set<String>()) { $0.formUnion($1) }.sorted())
        }
    }

    func attach(_ gossip: GossipService) {
        state.withLock { $0.gossip = gossip }
    }

    /// Without gossip: told whenever the metadata changes, to elect again.
    func attach(listener: @escaping @Sendable () -> Void) {
        state.withLock { $0.listener = listener }
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

    /// Adjacent mode: the nodes that do not answer on `interface`.
    func unreachable(_ nodes: Set<String>, on interface: String) {
        guard state.withLock({ ($0.unreachable[interface] ?? []) != nodes }) else { return }
        publish { $0.unreachable[interface] = nodes.isEmpty ? nil : nodes }
    }

    private func publish(_ change: (inout State) -> Void) {
        let (gossip, listener) = state.withLock { state in
            change(&state)
            return (state.gossip, state.listener)
        }
        gossip?.updateMeta(meta)
        listener?()
    }
}
