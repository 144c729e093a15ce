import HeraldCore
import HeraldSystem
import HeraldWire
import Synchronization

/// Resolves the gossip join peers off the gossip thread: a name whose DNS server does not
/// answer would otherwise hold the gossip loop in getaddrinfo for seconds, peers would
/// declare this node dead, and the watchdog would kill it. Addresses given as numbers
/// resolve at once; names are looked up on a thread of their own, again every 5 s while
/// any fails, and the gossip loop reads whatever is known when it turns.
final class SeedResolver: Sendable {
    struct Result: Equatable, Sendable {
        var addresses: [GossipAddress]
        var unresolved: [String]
        /// Grows with every lookup that changed the result.
        var version: Int
    }

    private let seeds: [HostPort]
    private let state: Mutex<Result>
    private let loop = ThreadLoop("resolve")
    private let onChange: @Sendable () -> Void

    init(seeds: [HostPort], onChange: @escaping @Sendable () -> Void) {
        self.seeds = seeds
        self.onChange = onChange
        let numeric = seeds.compactMap { seed in IPAddress(seed.host).map { GossipAddress(ip: $0, port: seed.port) } }
        let names = seeds.filter { IPAddress($0.host) == nil }
        state = Mutex(Result(addresses: numeric, unresolved: names.map(\.description), version: 1))
        guard !names.isEmpty else { return }
        // Not awaited: the gossip loop stops it, and a lookup in flight ends on its own.
        Thread.start(name: loop.name) { [self] in resolveLoop() }
    }

    var current: Result { state.withLock { $0 } }

    func stop() {
        loop.stop()
    }

    private func resolveLoop() {
        while !loop.isStopping {
            var addresses: [GossipAddress] = []
            var unresolved: [String] = []
            for seed in seeds {
                if let address = UDPSocket.resolve(seed) { addresses.append(address) } else { unresolved.append(seed.description) }
            }
            let changed = state.withLock { result in
                guard result.addresses != addresses || result.unresolved != unresolved else { return false }
                result = Result(addresses: addresses, unresolved: unresolved, version: result.version + 1)
                return true
            }
            if changed { onChange() }
            if unresolved.isEmpty { return }
            loop.wake.wait(milliseconds: 5000)
        }
    }
}
