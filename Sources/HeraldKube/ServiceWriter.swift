import FoundationEssentials
import Glibc
import HeraldWire
import Synchronization

/// One Service's writes to the API server, in the order `KubernetesMachine.reconcile`
/// gives them: its `status.loadBalancer` (with the resourceVersion as precondition), its
/// Events, then the `metallb.io/ip-allocated-from-pool` annotation. What happened comes
/// back as a value; the caller logs and counts it.
public struct ServiceWriter: Sendable {
    public let http: KubeHTTP
    /// The host named as the Events' source.
    public let host: String

    public init(http: KubeHTTP, host: String) {
        self.http = http
        self.host = host
    }

    public struct Outcome: Sendable {
        /// The addresses written to the status, when it was.
        public var status: [IPAddress]?
        /// A 409 on the status: the Service changed since it was read. The watch brings the
        /// new version and the next reconcile writes again; nothing else was written.
        public var conflicted = false
        /// The Events posted (the machine posts each message once: tell it).
        public var posted: [ServiceEvent] = []
        /// What failed, by what it was for (`status`, `events`, `annotations`).
        public var errors: [(what: String, message: String)] = []
    }

    public func execute(_ writes: ServiceWrites) -> Outcome {
        var outcome = Outcome()
        let service = writes.service
        if let addresses = writes.status {
            do {
                try writeStatus(service, addresses: addresses)
                outcome.status = addresses
            } catch .conflict {
                outcome.conflicted = true
                return outcome
            } catch {
                outcome.errors.append(("status", "cannot write status of \(service.key): \(error)"))
                return outcome
            }
        }
        for event in writes.events {
            do {
                try post(event, on: service)
                outcome.posted.append(event)
            } catch {
                outcome.errors.append(("events", "cannot post event \(event.reason) on \(service.key): \(error)"))
            }
        }
        if let pool = writes.poolAnnotation {
            do {
                try annotate(service, pool: pool)
            } catch {
                outcome.errors.append(("annotations", "cannot annotate \(service.key) with its pool: \(error)"))
            }
        }
        return outcome
    }

    private static func path(_ service: KubeService) -> String {
        "/api/v1/namespaces/\(service.metadata.namespace ?? "default")/services/\(service.metadata.name)"
    }

    /// PUT of the status subresource: only `status.loadBalancer.ingress`, no labels or
    /// annotations, the resourceVersion as precondition.
    private func writeStatus(_ service: KubeService, addresses: [IPAddress]) throws(KubeError) {
        var update = KubeService(metadata: service.metadata, spec: nil,
                                 status: .init(loadBalancer: .init(ingress: addresses.map { .init(ip: $0.description) })))
        update.metadata.annotations = nil
        update.metadata.labels = nil
        _ = try http.request("PUT", Self.path(service) + "/status", body: try Self.encode(update))
    }

    private func post(_ event: ServiceEvent, on service: KubeService) throws(KubeError) {
        let body = KubeEvent(about: service, reason: event.reason, type: event.type.rawValue, message: event.message,
                             timestamp: Self.timestamp(), host: host)
        _ = try http.request("POST", "/api/v1/namespaces/\(service.metadata.namespace ?? "default")/events",
                             body: try Self.encode(body))
    }

    /// A merge patch of that one annotation (as MetalLB's controller writes it), so nothing
    /// else of the Service is touched.
    private func annotate(_ service: KubeService, pool: String) throws(KubeError) {
        struct Patch: Encodable {
            struct Meta: Encodable { var annotations: [String: String] }
            var metadata: Meta
        }
        let patch = Patch(metadata: .init(annotations: [KubernetesMachine.poolAnnotation: pool]))
        _ = try http.request("PATCH", Self.path(service), body: try Self.encode(patch), contentType: "application/merge-patch+json")
    }

    private static func encode(_ value: some Encodable) throws(KubeError) -> [UInt8] {
        do { return Array(try JSONEncoder().encode(value)) } catch { throw .malformed("cannot encode: \(error)") }
    }

    /// Now, RFC 3339 in UTC, as Events carry it.
    static func timestamp() -> String {
        var now = time(nil)
        var parts = tm()
        gmtime_r(&now, &parts)
        var buffer = [CChar](repeating: 0, count: 32)
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%SZ", &parts)
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// The allocator's connections to the API server: each Service's writes go through one
/// of them, up to `count` Services at a time, on threads the caller starts (`parallel`
/// runs its body for 0..<n at once and returns when all have).
public final class KubeWriters: Sendable {
    private let connections: [KubeHTTP]
    private let parallel: @Sendable (Int, @escaping @Sendable (Int) -> Void) -> Void

    public init(credentials: KubeCredentials, count: Int,
                parallel: @escaping @Sendable (Int, @escaping @Sendable (Int) -> Void) -> Void) throws(KubeError) {
        connections = try (0..<max(1, count)).map { _ throws(KubeError) in try KubeHTTP(credentials: credentials) }
        self.parallel = parallel
    }

    /// Runs every entry (in parallel across the connections) and returns when all have;
    /// false when any failed.
    public func run(_ writes: [@Sendable (KubeHTTP) -> Bool]) -> Bool {
        guard writes.count > 1 else { return writes.first.map { $0(connections[0]) } ?? true }
        final class Progress: Sendable {
            let next = Atomic<Int>(0)
            let failed = Atomic<Bool>(false)
        }
        let progress = Progress()
        let pool = connections
        parallel(min(pool.count, writes.count)) { worker in
            while true {
                let index = progress.next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard index < writes.count else { return }
                if !writes[index](pool[worker]) { progress.failed.store(true, ordering: .relaxed) }
            }
        }
        return !progress.failed.load(ordering: .relaxed)
    }
}
