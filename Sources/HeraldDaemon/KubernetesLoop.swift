import FoundationEssentials
import Glibc
import HeraldCore
import HeraldKube
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Moves bytes between the Kubernetes API and the `KubernetesMachine`, which decides
/// everything. Watchers keep Services, Nodes and EndpointSlices (and, for namespace
/// selectors, Namespaces) current in the machine; the facts thread posts the machine's
/// `facts` to the node loop once per burst of changes; the allocator thread runs the
/// machine's writes after every change. If the API server goes away, the last known state
/// keeps being announced.
final class KubernetesLoop: Service, Sendable {
    let settings: KubernetesSettings
    let runtime: Runtime
    let logger: Logger
    private let credentials: KubeCredentials
    private let machine: Mutex<KubernetesMachine>
    private let loop = ThreadLoop("kube-allocator")
    private let factsLoop = ThreadLoop("kube-facts")
    private let node: NodeInbox
    private let decided: NodeState
    /// Failed API requests by what they were for (services, nodes, endpointslices, status, events).
    private let errorCounts = Mutex<[String: UInt64]>([:])

    var apiErrors: [String: UInt64] { errorCounts.withLock { $0 } }

    private func countError(_ what: String) { errorCounts.withLock { $0[what, default: 0] += 1 } }

    init(settings: KubernetesSettings, runtime: Runtime, node: NodeInbox, decided: NodeState, logger: Logger) throws(SystemError) {
        self.settings = settings
        self.runtime = runtime
        self.node = node
        self.decided = decided
        self.logger = logger
        machine = Mutex(KubernetesMachine(loadBalancerClass: settings.loadBalancerClass,
                                          watchesNamespaces: runtime.loaded.config.watchesNamespaces))
        do {
            credentials = try settings.kubeconfig.map { path throws(KubeConfigError) in try KubeConfigLoader.load(path: path) }
                ?? KubeConfigLoader.inCluster(environment: ["KUBERNETES_SERVICE_HOST": System.environment("KUBERNETES_SERVICE_HOST"),
                                                            "KUBERNETES_SERVICE_PORT": System.environment("KUBERNETES_SERVICE_PORT")]
                    .compactMapValues { $0 })
        } catch {
            throw SystemError("kubernetes: \(error)", errno: 0)
        }
    }

    /// Announcers or targets changed (a member failed, a node stopped answering): post
    /// the Events that say so.
    func announcersChanged() { loop.wake.signal() }

    func run() async throws {
        var watchers: [(name: String, run: @Sendable () -> Void, stop: @Sendable () -> Void)] = []
        func add<Object: KubeObject>(_ type: Object.Type, _ path: String, _ kind: KubernetesMachine.Kind,
                                     _ apply: @escaping @Sendable (inout KubernetesMachine, ObjectUpdate<Object>) -> Void) throws(SystemError) {
            let watcher = try watcher(type, path, kind: kind, apply: apply)
            watchers.append(("kube-\(kind.rawValue)", watcher.run, watcher.stop))
        }
        try add(KubeService.self, "/api/v1/services", .services) { $0.onUpdate($1) }
        try add(Node.self, "/api/v1/nodes", .nodes) { $0.onUpdate($1) }
        try add(EndpointSlice.self, "/apis/discovery.k8s.io/v1/endpointslices", .endpointslices) { $0.onUpdate($1) }
        if machine.withLock({ $0.watched.contains(.namespaces) }) {
            try add(Namespace.self, "/api/v1/namespaces", .namespaces) { $0.onUpdate($1) }
        }
        let all = watchers
        logger.info("watching \(all.map { $0.name.dropFirst(5) }.joined(separator: ", "))",
                    metadata: ["server": "\(credentials.server)"])
        await withDiscardingTaskGroup { group in
            for watcher in all {
                group.addTask { await ThreadLoop(watcher.name).run { watcher.run() } }
            }
            group.addTask { [self] in await loop.run { self.reconcileLoop() } }
            group.addTask { [self] in await factsLoop.run { self.postFacts() } }
            // A watcher blocks in its HTTP request: stopping it aborts that within a second.
            group.addTask {
                await untilShutdown()
                for watcher in all { watcher.stop() }
            }
        }
    }

    /// A watcher whose updates go to the machine; each wakes the allocator and the facts
    /// poster.
    private func watcher<Object: KubeObject>(
        _ type: Object.Type, _ path: String, kind: KubernetesMachine.Kind,
        apply: @escaping @Sendable (inout KubernetesMachine, ObjectUpdate<Object>) -> Void
    ) throws(SystemError) -> Watcher<Object> {
        do {
            return try Watcher<Object>(credentials: credentials, path: path, onUpdate: { [self] update in
                machine.withLock { apply(&$0, update) }
                loop.wake.signal()
                factsLoop.wake.signal()
            }, onError: { [self] error, retry in
                countError(kind.rawValue)
                logger.warning("kubernetes \(kind.rawValue): \(error); retrying in \(retry)")
            }, onSkip: { [self] reason in
                countError(kind.rawValue)
                logger.warning("kubernetes \(kind.rawValue): an object that does not decode is ignored: \(reason)")
            })
        } catch {
            throw SystemError("kubernetes: \(error)", errno: 0)
        }
    }

    // MARK: Facts for the node machine

    /// Tells the node machine what the API server says, once per burst of watch events:
    /// facts are a pass over every Service and so is each post's election, so a relist or
    /// a thousand new Services must be one post, not one per object. Then it waits until
    /// the node loop has taken them (it would only ever see the newest), and after a costly
    /// round (thousands of Services changing) as long again: a burst gets half a core, not
    /// all of it.
    private func postFacts() {
        var posted: Int?
        var toldListed = false
        while !factsLoop.isStopping {
            guard machine.withLock({ $0.version }) != posted else {
                factsLoop.wake.wait(milliseconds: -1)
                continue
            }
            // The rest of the burst.
            guard factsLoop.sleep(.milliseconds(10)) else { return }
            let started = ContinuousClock.now
            let (facts, listed, version) = machine.withLock { ($0.facts, $0.isListed, $0.version) }
            node.post(.kubernetes(facts))
            posted = version
            if listed && !toldListed {
                toldListed = true
                node.post(.kubernetesListed)
            }
            while node.factsPending {
                var fds = [pollfd(fd: node.factsTaken.fd, events: Int16(POLLIN), revents: 0),
                           pollfd(fd: factsLoop.wake.fd, events: Int16(POLLIN), revents: 0)]
                _ = poll(&fds, 2, -1)
                node.factsTaken.drain()
                factsLoop.wake.drain()
                if factsLoop.isStopping { return }
            }
            let spent = started.duration(to: .now)
            if spent > .milliseconds(20) { guard factsLoop.sleep(min(spent, .seconds(2))) else { return } }
        }
    }

    // MARK: Writing (the allocator, and the announcer's Events)

    private func reconcileLoop() {
        let writers: KubeWriters
        do {
            writers = try KubeWriters(credentials: credentials, count: Self.requestsInFlight)
        } catch {
            logger.error("kubernetes: \(error)")
            return
        }
        // Reconciles on every change; after a failed write, again every 2 s until it succeeds.
        var retryAt: ContinuousClock.Instant?
        while !loop.isStopping {
            var fds = [pollfd(fd: loop.wake.fd, events: Int16(POLLIN), revents: 0)]
            let timeout = retryAt.map { Int32(clamping: max(0, ContinuousClock.now.duration(to: $0).milliseconds + 1)) } ?? -1
            _ = poll(&fds, 1, timeout)
            let woken = fds[0].revents != 0
            if woken {
                loop.wake.drain()
                // Let a burst of changes (kubectl apply of many objects, a relist) settle
                // into one reconcile.
                guard loop.sleep(.milliseconds(20)) else { return }
            }
            guard woken || retryAt.map({ ContinuousClock.now >= $0 }) ?? false else { continue }
            retryAt = nil
            let current = decided.current
            let decisions = KubernetesMachine.NodeDecisions(
                nodeName: current.loaded.nodeName, isAllocator: current.isAllocator, configsDiffer: !current.drift.isEmpty,
                announcements: current.announcements, pools: runtime.loaded.config.pools)
            let actions = machine.withLock { $0.reconcile(decisions) }
            var writes: [@Sendable (KubeHTTP) -> Bool] = []
            for action in actions {
                switch action {
                case .warn(let message): logger.warning("\(message)")
                case .write(let serviceWrites): writes.append { [self] http in execute(serviceWrites, over: http) }
                }
            }
            if !writers.run(writes) { retryAt = .now + .seconds(2) }
        }
    }

    /// At most this many requests to the API server at once: a thousand new Services are
    /// not three thousand round trips in a row, and the API server's own fairness sees a
    /// handful of connections, not a flood.
    static let requestsInFlight = 8

    /// One Service's writes, in order; false when one failed for a reason other than a
    /// conflict (then the reconcile runs again in 2 s).
    private func execute(_ writes: ServiceWrites, over http: KubeHTTP) -> Bool {
        let service = writes.service
        if let addresses = writes.status {
            switch write(http, service, addresses: addresses) {
            case .written: if let warning = writes.warning { logger.warning("\(warning)") }
            case .conflict: return true
            case .failed: return false
            }
        }
        var ok = true
        for event in writes.events {
            guard post(http, service, event) else {
                ok = false
                continue
            }
            machine.withLock { $0.onPosted(service: service.key, reason: event.reason, message: event.message) }
        }
        if let pool = writes.poolAnnotation { ok = annotate(http, service, pool: pool) && ok }
        return ok
    }

    /// Writes `metallb.io/ip-allocated-from-pool` (as MetalLB's controller does): a merge
    /// patch of that one annotation, so nothing else of the Service is touched.
    private func annotate(_ http: KubeHTTP, _ service: KubeService, pool: String) -> Bool {
        let namespace = service.metadata.namespace ?? "default"
        let patch = ServicePoolPatch(metadata: .init(annotations: [KubernetesMachine.poolAnnotation: pool]))
        do {
            _ = try http.request("PATCH", "/api/v1/namespaces/\(namespace)/services/\(service.metadata.name)",
                                 body: Array(try JSONEncoder().encode(patch)), contentType: "application/merge-patch+json")
            return true
        } catch {
            countError("annotations")
            logger.warning("cannot annotate \(service.key) with its pool: \(error)")
            return false
        }
    }

    private struct ServicePoolPatch: Encodable {
        struct Meta: Encodable { var annotations: [String: String] }
        var metadata: Meta
    }

    enum WriteResult { case written, conflict, failed }

    /// Writes `status.loadBalancer.ingress` with the object's resourceVersion as a
    /// precondition. A 409 means the Service changed since we read it: the watch brings
    /// the new version, and the next turn writes again.
    private func write(_ http: KubeHTTP, _ service: KubeService, addresses: [IPAddress]) -> WriteResult {
        var update = KubeService(metadata: service.metadata, spec: nil,
                                 status: .init(loadBalancer: .init(ingress: addresses.map { .init(ip: $0.description) })))
        update.metadata.annotations = nil
        update.metadata.labels = nil
        let path = "/api/v1/namespaces/\(service.metadata.namespace ?? "default")/services/\(service.metadata.name)/status"
        do {
            _ = try http.request("PUT", path, body: Array(try JSONEncoder().encode(update)))
            logger.info("service status written", metadata: ["service": "\(service.key)", "ips": "\(addresses.map(\.description).joined(separator: ","))"])
            return .written
        } catch let error as KubeError {
            if case .conflict = error {
                logger.debug("status of \(service.key) changed meanwhile; writing again on the next update")
                return .conflict
            }
            countError("status")
            logger.warning("cannot write status of \(service.key): \(error)")
            return .failed
        } catch {
            logger.warning("cannot encode status of \(service.key): \(error)")
            return .failed
        }
    }

    /// Posts an Event on the Service.
    private func post(_ http: KubeHTTP, _ service: KubeService, _ event: ServiceEvent) -> Bool {
        let namespace = service.metadata.namespace ?? "default"
        let body = KubeEvent(about: service, reason: event.reason, type: event.type.rawValue, message: event.message,
                             timestamp: Self.timestamp(), host: runtime.loaded.nodeName)
        do {
            _ = try http.request("POST", "/api/v1/namespaces/\(namespace)/events", body: Array(try JSONEncoder().encode(body)))
            return true
        } catch {
            countError("events")
            logger.warning("cannot post event \(event.reason) on \(service.key): \(error)")
            return false
        }
    }

    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(cBuffer: buffer)
    }
}

/// The allocator's connections to the API server: each Service's writes go through one
/// of them, up to `count` Services at a time.
final class KubeWriters: Sendable {
    private let connections: [KubeHTTP]

    init(credentials: KubeCredentials, count: Int) throws(KubeError) {
        connections = try (0..<max(1, count)).map { _ throws(KubeError) in try KubeHTTP(credentials: credentials) }
    }

    /// Runs every entry (in parallel across the connections) and returns when all have;
    /// false when any failed.
    func run(_ writes: [@Sendable (KubeHTTP) -> Bool]) -> Bool {
        guard writes.count > 1 else { return writes.first.map { $0(connections[0]) } ?? true }
        final class Progress: Sendable {
            let next = Atomic<Int>(0)
            let failed = Atomic<Bool>(false)
        }
        let progress = Progress()
        let pool = connections
        Thread.parallel(min(pool.count, writes.count), name: "kube-writer") { worker in
            while true {
                let index = progress.next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < writes.count else { return }
                if !writes[index](pool[worker]) { progress.failed.store(true, ordering: .relaxed) }
            }
        }
        return !progress.failed.load(ordering: .relaxed)
    }
}
