import HeraldCore
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// The links this daemon runs, one per interface that carries a VIP. Opened at start; a
/// reload opens links for new interfaces and stops links whose interfaces no longer carry
/// any VIP, while every other link keeps running untouched.
final class LinkSet: Service, Sendable {
    /// Links opened for a reload but not started yet: nothing is committed until every
    /// new capture has opened, so a reload that cannot open one changes nothing.
    struct Prepared: Sendable {
        var added: [LinkLoop]
        var removed: [String]
    }

    private let links: Mutex<[String: LinkLoop]>
    private let started: AsyncStream<LinkLoop>
    private let starter: AsyncStream<LinkLoop>.Continuation
    private let make: @Sendable (HostInterface) throws(SystemError) -> LinkLoop

    init(interfaces: [HostInterface],
         make: @escaping @Sendable (HostInterface) throws(SystemError) -> LinkLoop) throws(SystemError) {
        self.make = make
        var opened: [String: LinkLoop] = [:]
        for interface in interfaces { opened[interface.name] = try make(interface) }
        links = Mutex(opened)
        (started, starter) = AsyncStream.makeStream()
        for link in opened.values { starter.yield(link) }
    }

    /// Every running link, in interface-name order.
    var all: [LinkLoop] { links.withLock { $0.values.sorted { $0.interface.name < $1.interface.name } } }

    subscript(name: String) -> LinkLoop? { links.withLock { $0[name] } }

    func prepare(interfaces: [HostInterface]) throws(SystemError) -> Prepared {
        let current = links.withLock { Set($0.keys) }
        let wanted = Set(interfaces.map(\.name))
        var added: [LinkLoop] = []
        for interface in interfaces where !current.contains(interface.name) { added.append(try make(interface)) }
        return Prepared(added: added, removed: current.subtracting(wanted).sorted())
    }

    /// Starts the new links and stops the removed ones (they fall silent at once).
    func commit(_ prepared: Prepared) {
        let stopped = links.withLock { links -> [LinkLoop] in
            for link in prepared.added { links[link.interface.name] = link }
            return prepared.removed.compactMap { links.removeValue(forKey: $0) }
        }
        for link in stopped { link.stop() }
        for link in prepared.added { starter.yield(link) }
    }

    func stopAll() {
        for link in all { link.stop() }
    }

    func run() async throws {
        await withDiscardingTaskGroup { group in
            for await link in started.cancelOnGracefulShutdown() {
                group.addTask { try? await link.run() }
            }
            // Shutting down: the links see the same graceful shutdown and stop themselves.
            stopAll()
        }
    }
}
