import Glibc
import HeraldCore
import HeraldKube
import HeraldSystem
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
        // A watcher whose updates go to the machine; each wakes the allocator and the facts poster.
        func add<Object: KubeObject>(_ type: Object.Type, _ path: String, _ kind: KubernetesMachine.Kind,
                                     _ apply: @escaping @Sendable (inout KubernetesMachine, ObjectUpdate<Object>) -> Void) throws(SystemError) {
            do {
                let watcher = try Watcher<Object>(credentials: credentials, path: path, onUpdate: { [self] update in
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
                watchers.append(("kube-\(kind.rawValue)", watcher.run, watcher.stop))
            } catch {
                throw SystemError("kubernetes: \(error)", errno: 0)
            }
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
            // Once: what else in the cluster answers for LoadBalancer addresses (ClusterCheck).
            group.addTask { [logger, credentials] in
                await ThreadLoop("kube-check").run {
                    ClusterProbe.report(credentials, finding: { logger.warning("kubernetes: \($0)") }, unread: { logger.notice("kubernetes: \($0)") })
                }
            }
            // A watcher blocks in its HTTP request: stopping it aborts that within a second.
            group.addTask {
                await untilShutdown()
                for watcher in all { watcher.stop() }
            }
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
            writers = try KubeWriters(credentials: credentials, count: Self.requestsInFlight) { Thread.parallel($0, name: "kube-writer", $1) }
        } catch {
            logger.error("kubernetes: \(error)")
            return
        }
        // Reconciles on every change; after a failed write, again every 2 s until it succeeds.
        var retryAt: ContinuousClock.Instant?
        while !loop.isStopping {
            let timeout = retryAt.map { Int32(clamping: max(0, ContinuousClock.now.duration(to: $0).milliseconds + 1)) } ?? -1
            let woken = loop.wake.wait(milliseconds: timeout)
            if woken {
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

    /// One Service's writes, in order (`ServiceWriter`); false when one failed for a
    /// reason other than a conflict (then the reconcile runs again in 2 s).
    private func execute(_ writes: ServiceWrites, over http: KubeHTTP) -> Bool {
        let key = writes.service.key
        let outcome = ServiceWriter(http: http, host: runtime.loaded.nodeName).execute(writes)
        if let addresses = outcome.status {
            logger.info("service status written", metadata: ["service": "\(key)", "ips": "\(addresses.map(\.description).joined(separator: ","))"])
            if let warning = writes.warning { logger.warning("\(warning)") }
        }
        if outcome.conflicted { logger.debug("status of \(key) changed meanwhile; writing again on the next update") }
        for (what, message) in outcome.errors {
            countError(what)
            logger.warning("\(message)")
        }
        machine.withLock { machine in
            for event in outcome.posted { machine.onPosted(service: key, reason: event.reason, message: event.message) }
        }
        return outcome.errors.isEmpty
    }
}
