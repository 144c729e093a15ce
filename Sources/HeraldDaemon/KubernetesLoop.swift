import FoundationEssentials
import Glibc
import HeraldCore
import HeraldKube
import HeraldMembership
import HeraldSystem
import HeraldWire
import Logging
import ServiceLifecycle
import Synchronization

/// Serves `type: LoadBalancer` Services. Three `Watcher`s keep Services, Nodes and
/// EndpointSlices current and their changes go to the node loop as plain facts
/// (`KubernetesFacts`), where the node machine elects who announces each address; one node
/// at a time (the allocator, as the machine says) gives Services pool addresses and writes
/// them to `status.loadBalancer`. If the API server goes away, the last known state keeps
/// being announced.
final class KubernetesLoop: Service, Sendable {
    struct Snapshot: Sendable {
        var services: [String: KubeService] = [:]
        var nodes: [String: Node] = [:]
        var slices: [String: EndpointSlice] = [:]
        var namespaces: [String: Namespace] = [:]
        var listed: Set<String> = []
    }

    let settings: KubernetesSettings
    let runtime: Runtime
    let logger: Logger
    private let credentials: KubeCredentials
    private let state = Mutex(Snapshot())
    private let loop = ThreadLoop("kube-allocator")
    private let factsLoop = ThreadLoop("kube-facts")
    private let node: NodeInbox
    private let decided: NodeState
    private let readiness: Readiness
    private let events = Mutex<[String: String]>([:])
    /// Failed API requests by what they were for (services, nodes, endpointslices, status, events).
    private let errorCounts = Mutex<[String: UInt64]>([:])

    var apiErrors: [String: UInt64] { errorCounts.withLock { $0 } }

    private func countError(_ what: String) { errorCounts.withLock { $0[what, default: 0] += 1 } }

    init(settings: KubernetesSettings, runtime: Runtime, node: NodeInbox, decided: NodeState, readiness: Readiness,
         logger: Logger) throws(SystemError) {
        self.settings = settings
        self.runtime = runtime
        self.node = node
        self.decided = decided
        self.readiness = readiness
        self.logger = logger
        do {
            credentials = try settings.kubeconfig.map { path throws(KubeConfigError) in try KubeConfigLoader.load(path: path) }
                ?? KubeConfigLoader.inCluster(environment: ["KUBERNETES_SERVICE_HOST": System.environment("KUBERNETES_SERVICE_HOST"),
                                                            "KUBERNETES_SERVICE_PORT": System.environment("KUBERNETES_SERVICE_PORT")]
                    .compactMapValues { $0 })
        } catch {
            throw SystemError("kubernetes: \(error)", errno: 0)
        }
    }

    var snapshot: Snapshot { state.withLock { $0 } }

    /// Announcers or targets changed (a member failed, a node stopped answering): post
    /// the Events that say so.
    func announcersChanged() { loop.wake.signal() }

    func run() async throws {
        let services = try watcher(KubeService.self, "/api/v1/services", kind: "services") {
            Self.apply($1, to: &$0.services) { $0.key }
        }
        let nodes = try watcher(Node.self, "/api/v1/nodes", kind: "nodes") {
            Self.apply($1, to: &$0.nodes) { $0.metadata.name }
        }
        let slices = try watcher(EndpointSlice.self, "/apis/discovery.k8s.io/v1/endpointslices", kind: "endpointslices") {
            Self.apply($1, to: &$0.slices) { "\($0.metadata.namespace ?? "")/\($0.metadata.name)" }
        }
        var watchers: [(name: String, run: @Sendable () -> Void, stop: @Sendable () -> Void)] = [
            ("kube-services", services.run, services.stop), ("kube-nodes", nodes.run, nodes.stop),
            ("kube-slices", slices.run, slices.stop)]
        // Namespaces only for pools' namespace_selectors (and the RBAC to list them).
        if runtime.loaded.config.watchesNamespaces {
            let namespaces = try watcher(Namespace.self, "/api/v1/namespaces", kind: "namespaces") {
                Self.apply($1, to: &$0.namespaces) { $0.metadata.name }
            }
            watchers.append(("kube-namespaces", namespaces.run, namespaces.stop))
        }
        let lists = watchers.count
        let all = watchers
        logger.info("watching \(watchers.map { $0.name.dropFirst(5) }.joined(separator: ", "))",
                    metadata: ["server": "\(credentials.server)"])
        await withDiscardingTaskGroup { group in
            for watcher in all {
                group.addTask { await ThreadLoop(watcher.name).run { watcher.run() } }
            }
            group.addTask { [self] in await loop.run { self.reconcileLoop() } }
            group.addTask { [self] in await factsLoop.run { self.postFacts() } }
            // READY waits for the first lists, but not forever: with the API down at boot the
            // VIPs still start, and Services follow once it answers.
            group.addTask { [self] in
                for _ in 0..<100 where state.withLock({ $0.listed.count }) < lists && !Task.isShuttingDownGracefully {
                    try? await Task.sleep(for: .milliseconds(100))
                }
                if state.withLock({ $0.listed.count }) < lists {
                    logger.warning("the API server has not answered the first lists in 10 s; starting without Services")
                }
                await readiness.markReady("kubernetes")
            }
            // A watcher blocks in its HTTP request: stopping it aborts that within a second.
            group.addTask {
                await untilShutdown()
                for watcher in all { watcher.stop() }
            }
        }
    }

    /// A watcher whose updates `store` applies to the snapshot; every update wakes the
    /// allocator and the facts poster.
    private func watcher<Object: KubeObject>(
        _ type: Object.Type, _ path: String, kind: String,
        store: @escaping @Sendable (inout Snapshot, Watcher<Object>.Update) -> Void
    ) throws(SystemError) -> Watcher<Object> {
        do {
            return try Watcher<Object>(credentials: credentials, path: path, onUpdate: { [self] update in
                state.withLock { state in
                    store(&state, update)
                    if case .replaced = update { state.listed.insert(kind) }
                }
                loop.wake.signal()
                factsLoop.wake.signal()
            }, onError: { [self] error, retry in
                countError(kind)
                logger.warning("kubernetes \(kind): \(error); retrying in \(retry)")
            }, onSkip: { [self] reason in
                countError(kind)
                logger.warning("kubernetes \(kind): an object that does not decode is ignored: \(reason)")
            })
        } catch {
            throw SystemError("kubernetes: \(error)", errno: 0)
        }
    }

    /// Applies one update to a map of objects by key.
    private static func apply<Object>(_ update: Watcher<Object>.Update, to map: inout [String: Object],
                                      key: (Object) -> String) {
        switch update {
        case .replaced(let all): map = Dictionary(all.map { (key($0), $0) }, uniquingKeysWith: { _, last in last })
        case .added(let object), .modified(let object): map[key(object)] = object
        case .deleted(let object): map[key(object)] = nil
        }
    }

    // MARK: Facts for the node machine

    /// Tells the node machine what the API server says, once per burst of watch events:
    /// facts are a pass over every Service and so is each post's election, so a relist or
    /// a thousand new Services must be one post, not one per object.
    private func postFacts() {
        while !factsLoop.isStopping {
            factsLoop.wake.wait(milliseconds: -1)
            guard !factsLoop.isStopping else { return }
            usleep(10_000)   // the rest of the burst
            factsLoop.wake.drain()
            let started = ContinuousClock.now
            node.post(.kubernetes(facts(snapshot)))
            // Until the machine has taken them (it would only ever see the newest: facts it
            // would not see are waste), then, after a costly round (thousands of Services
            // changing), as long again: a burst gets half a core, not all of it.
            while node.factsPending && !factsLoop.isStopping { usleep(5_000) }
            let spent = started.duration(to: .now)
            if spent > .milliseconds(20) { usleep(UInt32(min(spent, .seconds(2)).milliseconds * 1000)) }
        }
    }

    /// The Services this node serves and what the Nodes say, as plain values.
    func facts(_ snapshot: Snapshot) -> KubernetesFacts {
        // One pass over the slices, not one per Service.
        var slices: [String: [EndpointSlice]] = [:]
        for slice in snapshot.slices.values {
            guard let service = slice.metadata.labels?["kubernetes.io/service-name"] else { continue }
            slices["\(slice.metadata.namespace ?? "default")/\(service)", default: []].append(slice)
        }
        return KubernetesFacts(
            services: snapshot.services.values.filter { $0.isServed(loadBalancerClass: settings.loadBalancerClass) }.map { service in
                let endpoints = Self.readyEndpoints(slices[service.key] ?? [])
                return ServiceFacts(key: service.key, addresses: service.ingressAddresses,
                                    localTraffic: service.spec?.externalTrafficPolicy == "Local",
                                    hasReadyEndpoint: endpoints.any, readyEndpointNodes: endpoints.nodes)
            },
            nodes: snapshot.nodes.mapValues { node in
                let conditions = node.status?.conditions ?? []
                return KubeNodeFacts(labels: node.metadata.labels ?? [:],
                                     networkUnavailable: conditions.contains { $0.type == "NetworkUnavailable" && $0.status == "True" },
                                     ready: conditions.contains { $0.type == "Ready" && $0.status == "True" },
                                     internalIPs: (node.status?.addresses ?? []).filter { $0.type == "InternalIP" }.compactMap { IPAddress($0.address) })
            })
    }

    /// Whether any endpoint of the slices is ready (or serving), and on which nodes.
    private static func readyEndpoints(_ slices: [EndpointSlice]) -> (any: Bool, nodes: Set<String>) {
        var any = false
        var names: Set<String> = []
        for slice in slices {
            for endpoint in slice.endpoints ?? [] where endpoint.conditions?.ready ?? true || endpoint.conditions?.serving ?? false {
                any = true
                if let node = endpoint.nodeName { names.insert(node) }
            }
        }
        return (any, names)
    }

    // MARK: Allocating (one node)

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
            // Until a change, or the retry after a failed write.
            let timeout = retryAt.map { Int32(clamping: max(0, ContinuousClock.now.duration(to: $0).milliseconds + 1)) } ?? -1
            _ = poll(&fds, 1, timeout)
            let woken = fds[0].revents != 0
            if woken {
                // Let a burst of changes (kubectl apply of many objects, a relist) settle
                // into one reconcile.
                usleep(20_000)
                loop.wake.drain()
            }
            guard woken || retryAt.map({ ContinuousClock.now >= $0 }) ?? false else { continue }
            retryAt = nil
            guard !loop.isStopping, state.withLock({ $0.listed.contains("services") }) else { continue }
            var ok = writers.run(announcementWrites())
            if decided.current.isAllocator { ok = writers.run(allocationWrites()) && ok }
            if !ok { retryAt = .now + .seconds(2) }
        }
    }

    /// At most this many requests to the API server at once: a thousand new Services are
    /// not three thousand round trips in a row, and the API server's own fairness sees a
    /// handful of connections, not a flood.
    static let requestsInFlight = 8

    /// One Service's writes, in order (its status, then the Event, then the annotation);
    /// false when one failed for a reason other than a conflict.
    typealias Writes = @Sendable (KubeHTTP) -> Bool

    /// Gives every served Service its addresses and returns the writes for what changed,
    /// one entry per Service. Decided in one pass, in order: Services that already hold
    /// addresses go first, oldest first, so a restart or a new allocator keeps them, and of
    /// two that hold one address without a valid sharing key the later one is moved (with
    /// a Warning Event).
    private func allocationWrites() -> [Writes] {
        var writes: [Writes] = []
        let services = snapshot.services.values.sorted { lhs, rhs in
            (lhs.ingressAddresses.isEmpty ? 1 : 0, lhs.metadata.creationTimestamp ?? "", lhs.key)
                < (rhs.ingressAddresses.isEmpty ? 1 : 0, rhs.metadata.creationTimestamp ?? "", rhs.key)
        }
        var allocator = Allocator(pools: runtime.loaded.config.pools)
        let snapshot = snapshot
        // While hosts disagree on the config (pools, above all), an address a Service holds
        // may be missing from this host's pools only: keep it rather than move the Service.
        let drifting = !decided.current.drift.isEmpty
        for service in services {
            let held = service.ingressAddresses.filter { allocator.pool(of: $0) != nil }
            guard service.isServed(loadBalancerClass: settings.loadBalancerClass) else {
                // No longer ours (type or class changed): give its pool addresses back.
                if !held.isEmpty {
                    let kept = service.ingressAddresses.filter { allocator.pool(of: $0) == nil }
                    writes.append { [self] http in write(http, service, addresses: kept) != .failed }
                }
                continue
            }
            let namespaceLabels = snapshot.namespaces[service.metadata.namespace ?? "default"]?.metadata.labels ?? [:]
            switch service.claim(namespaceLabels: namespaceLabels).flatMap({ allocator.assign($0, current: held) }) {
            case .success(let addresses):
                if addresses != service.ingressAddresses, drifting, !service.ingressAddresses.isEmpty {
                    let key = "\(service.key)#drift"
                    if events.withLock({ $0.updateValue("", forKey: key) == nil }) {
                        logger.warning("\(service.key): not moved to \(addresses.map(\.description).joined(separator: ",")) while the hosts' configs differ (heraldctl members)")
                    }
                    continue
                }
                events.withLock { $0["\(service.key)#drift"] = nil }
                let pool = allocator.assignments[service.key]?.pool
                if addresses == service.ingressAddresses {
                    if needsPoolAnnotation(service, pool: pool) {
                        writes.append { [self] http in annotatePool(http, service, pool: pool) }
                    }
                    continue
                }
                let lost = held.filter { !addresses.contains($0) }
                let others = lost.flatMap { allocator.holders(of: $0) }.filter { $0 != service.key }
                writes.append { [self] http in
                    switch write(http, service, addresses: addresses) {
                    case .written:
                        let posted: Bool
                        if lost.isEmpty {
                            posted = event(http, service, reason: "IPAllocated", type: "Normal",
                                           message: "Assigned IP \(addresses.map(\.description))")
                        } else {
                            let message = "\(lost.map(\.description).joined(separator: ",")) is also held by \(others.joined(separator: ", ")) without a valid sharing key; reassigned to \(addresses.map(\.description).joined(separator: ","))"
                            logger.warning("\(service.key): \(message)")
                            posted = event(http, service, reason: "IPReassigned", type: "Warning", message: message)
                        }
                        // After the status: a patch first would make the status write's precondition stale.
                        return annotatePool(http, service, pool: pool) && posted
                    case .conflict: return true
                    case .failed: return false
                    }
                }
            case .failure(let error):
                let message = "Failed to allocate IP for \"\(service.key)\": \(error)"
                if eventNeeded(service, reason: "AllocationFailed", message: message) {
                    writes.append { [self] http in event(http, service, reason: "AllocationFailed", type: "Warning", message: message) }
                }
            }
        }
        return writes
    }

    private func needsPoolAnnotation(_ service: KubeService, pool: String?) -> Bool {
        pool != nil && service.metadata.annotations?[Self.poolAnnotation] != pool
    }

    /// Writes `metallb.io/ip-allocated-from-pool` (as MetalLB's controller does) when the
    /// Service's annotation does not name its pool yet: a merge patch of that one
    /// annotation, so nothing else of the Service is touched.
    private func annotatePool(_ http: KubeHTTP, _ service: KubeService, pool: String?) -> Bool {
        guard let pool, needsPoolAnnotation(service, pool: pool) else { return true }
        let namespace = service.metadata.namespace ?? "default"
        let patch = ServicePoolPatch(metadata: .init(annotations: [Self.poolAnnotation: pool]))
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

    static let poolAnnotation = "metallb.io/ip-allocated-from-pool"

    private struct ServicePoolPatch: Encodable {
        struct Meta: Encodable { var annotations: [String: String] }
        var metadata: Meta
    }

    enum WriteResult { case written, conflict, failed }

    /// `nodeAssigned` for each Service this node has started announcing (once per change
    /// of announcer, from the new announcer, as MetalLB's speakers do).
    private func announcementWrites() -> [Writes] {
        let machine = decided.current
        let me = machine.loaded.nodeName
        let announcements = machine.announcements
        var writes: [Writes] = []
        for service in snapshot.services.values where service.isServed(loadBalancerClass: settings.loadBalancerClass) {
            guard let first = service.ingressAddresses.first, announcements.owners[first] == me else {
                // Not (or no longer) ours: announce again if it comes back.
                events.withLock {
                    $0["\(service.key)#nodeAssigned"] = nil
                    $0["\(service.key)#targetAssigned"] = nil
                }
                continue
            }
            let assigned = "announcing from node \"\(me)\" with protocol \"layer2\""
            let target = announcements.targets[first].map {
                "traffic goes to node \"\($0.node)\" (\($0.address)): \"\(me)\" answers with its MAC (adjacent mode)"
            }
            guard eventNeeded(service, reason: "nodeAssigned", message: assigned)
                    || target.map({ eventNeeded(service, reason: "targetAssigned", message: $0) }) ?? false else { continue }
            writes.append { [self] http in
                let posted = event(http, service, reason: "nodeAssigned", type: "Normal", message: assigned)
                let targeted = target.map { event(http, service, reason: "targetAssigned", type: "Normal", message: $0) } ?? true
                return posted && targeted
            }
        }
        return writes
    }

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

    /// Posts an Event on the Service, once per distinct message (not on every resync).
    /// Returns false when posting failed (it is tried again with the next reconcile).
    func event(_ http: KubeHTTP, _ service: KubeService, reason: String, type: String, message: String) -> Bool {
        guard eventNeeded(service, reason: reason, message: message) else { return true }
        let key = "\(service.key)#\(reason)"
        let namespace = service.metadata.namespace ?? "default"
        let body = KubeEvent(about: service, reason: reason, type: type, message: message, timestamp: Self.timestamp(),
                             host: runtime.loaded.nodeName)
        do {
            _ = try http.request("POST", "/api/v1/namespaces/\(namespace)/events", body: Array(try JSONEncoder().encode(body)))
            events.withLock { $0[key] = message }
            return true
        } catch {
            countError("events")
            logger.warning("cannot post event \(reason) on \(service.key): \(error)")
            return false
        }
    }

    /// Whether this Event has not been posted yet (with this message).
    private func eventNeeded(_ service: KubeService, reason: String, message: String) -> Bool {
        events.withLock { $0["\(service.key)#\(reason)"] != message }
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
    func run(_ writes: [KubernetesLoop.Writes]) -> Bool {
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
