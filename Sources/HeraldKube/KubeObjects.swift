import FoundationEssentials

/// The parts of Kubernetes objects Herald reads and writes; everything else in them is
/// ignored when decoding. Field names are the API's.
public struct ObjectMeta: Codable, Equatable, Sendable {
    public var name: String
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    /// RFC 3339 in UTC, so it sorts as text.
    public var creationTimestamp: String?
    public var labels: [String: String]?
    public var annotations: [String: String]?

    public init(name: String, namespace: String? = nil) {
        self.name = name
        self.namespace = namespace
    }
}

/// Anything with object metadata: what a `Watcher` can keep current.
public protocol KubeObject: Codable, Sendable {
    var metadata: ObjectMeta { get }
}

public struct ListMeta: Codable, Equatable, Sendable {
    public var resourceVersion: String?
}

/// A list response. Items that do not decode are left out rather than failing the whole
/// list: one odd object must not hide all the others.
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public var metadata: ListMeta
    public var items: [Item]
    /// Why each item that does not decode was left out (one bad object must not hide
    /// the others).
    public var skipped: [String] = []

    private enum CodingKeys: String, CodingKey { case metadata, items }

    private struct Lenient: Decodable {
        var value: Result<Item, any Error>

        init(from decoder: any Decoder) throws { value = Result { try Item(from: decoder) } }
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        metadata = try container.decode(ListMeta.self, forKey: .metadata)
        items = []
        for item in try container.decodeIfPresent([Lenient].self, forKey: .items) ?? [] {
            switch item.value {
            case .success(let value): items.append(value)
            case .failure(let error): skipped.append("\(error)")
            }
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(metadata, forKey: .metadata)
        try container.encode(items, forKey: .items)
    }
}

public struct KubeService: KubeObject, Equatable {
    public struct Port: Codable, Equatable, Sendable {
        public var port: Int
        public var `protocol`: String?
        public var name: String?
    }

    public struct Spec: Codable, Equatable, Sendable {
        public var type: String?
        public var loadBalancerIP: String?
        public var loadBalancerClass: String?
        public var ports: [Port]?
        public var selector: [String: String]?
        public var ipFamilies: [String]?
        public var ipFamilyPolicy: String?
        public var externalTrafficPolicy: String?
    }

    public struct Ingress: Codable, Equatable, Sendable {
        public var ip: String?
        public var ipMode: String?

        public init(ip: String) {
            self.ip = ip
            ipMode = "VIP"
        }
    }

    public struct LoadBalancerStatus: Codable, Equatable, Sendable {
        public var ingress: [Ingress]?

        public init(ingress: [Ingress]?) { self.ingress = ingress }
    }

    public struct Status: Codable, Equatable, Sendable {
        public var loadBalancer: LoadBalancerStatus?

        public init(loadBalancer: LoadBalancerStatus?) { self.loadBalancer = loadBalancer }
    }

    public var apiVersion: String? = "v1"
    public var kind: String? = "Service"
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?

    public init(metadata: ObjectMeta, spec: Spec?, status: Status?) {
        self.metadata = metadata
        self.spec = spec
        self.status = status
    }

    /// `namespace/name`.
    public var key: String { "\(metadata.namespace ?? "default")/\(metadata.name)" }
}

public struct Node: KubeObject, Equatable {
    public struct Condition: Codable, Equatable, Sendable {
        public var type: String
        public var status: String
    }

    public struct Address: Codable, Equatable, Sendable {
        public var type: String
        public var address: String
    }

    public struct Status: Codable, Equatable, Sendable {
        public var conditions: [Condition]?
        public var addresses: [Address]?
    }

    public var metadata: ObjectMeta
    public var status: Status?
}

public struct EndpointSlice: KubeObject, Equatable {
    public struct Conditions: Codable, Equatable, Sendable {
        public var ready: Bool?
        public var serving: Bool?
    }

    public struct Endpoint: Codable, Equatable, Sendable {
        public var addresses: [String]
        public var conditions: Conditions?
        public var nodeName: String?
    }

    public var metadata: ObjectMeta
    public var endpoints: [Endpoint]?
}

/// The API's error body (`kind: Status`).
/// A Namespace: only its name and labels matter (pools' `namespace_selectors`).
public struct Namespace: KubeObject, Equatable {
    public var apiVersion: String? = "v1"
    public var kind: String? = "Namespace"
    public var metadata: ObjectMeta
}

/// A core/v1 Event about a Service (what `kubectl describe service` shows), as posted.
public struct KubeEvent: Encodable, Equatable, Sendable {
    public struct Meta: Encodable, Equatable, Sendable {
        public var generateName: String
        public var namespace: String
    }

    public struct InvolvedObject: Encodable, Equatable, Sendable {
        public var apiVersion = "v1"
        public var kind = "Service"
        public var name: String
        public var namespace: String
        public var uid: String
        public var resourceVersion: String
    }

    public struct Source: Encodable, Equatable, Sendable {
        public var component = "herald"
        public var host: String
    }

    public var apiVersion = "v1"
    public var kind = "Event"
    public var metadata: Meta
    public var involvedObject: InvolvedObject
    public var reason: String
    public var message: String
    public var type: String
    public var count = 1
    public var firstTimestamp: String
    public var lastTimestamp: String
    public var source: Source

    /// An event on `service`, stamped `timestamp` (RFC 3339, UTC), from `host`.
    public init(about service: KubeService, reason: String, type: String, message: String, timestamp: String, host: String) {
        let namespace = service.metadata.namespace ?? "default"
        metadata = Meta(generateName: "\(service.metadata.name).", namespace: namespace)
        involvedObject = InvolvedObject(name: service.metadata.name, namespace: namespace, uid: service.metadata.uid ?? "",
                                        resourceVersion: service.metadata.resourceVersion ?? "")
        self.reason = reason
        self.message = message
        self.type = type
        firstTimestamp = timestamp
        lastTimestamp = timestamp
        source = Source(host: host)
    }
}

public struct KubeStatus: Codable, Equatable, Sendable {
    public var message: String?
    public var reason: String?
    public var code: Int?

    static func message(in body: [UInt8]) -> String? {
        (try? JSONDecoder().decode(KubeStatus.self, from: Data(body)))?.message
    }
}

/// One line of a watch stream.
public enum WatchEvent<Object: Codable & Sendable>: Sendable {
    case added(Object), modified(Object), deleted(Object)
    /// The server's progress marker: resume from this version.
    case bookmark(resourceVersion: String)
    /// The stream ended with an error `Status`, e.g. 410 when the version is too old.
    case error(KubeStatus)

    private struct Envelope: Decodable {
        var type: String
    }

    private struct Typed<T: Decodable>: Decodable {
        var object: T
    }

    private struct Bookmark: Decodable {
        var metadata: ListMeta
    }

    public static func decode(_ line: [UInt8]) throws(KubeError) -> WatchEvent {
        let data = Data(line)
        let decoder = JSONDecoder()
        do {
            switch try decoder.decode(Envelope.self, from: data).type {
            case "ADDED": return .added(try decoder.decode(Typed<Object>.self, from: data).object)
            case "MODIFIED": return .modified(try decoder.decode(Typed<Object>.self, from: data).object)
            case "DELETED": return .deleted(try decoder.decode(Typed<Object>.self, from: data).object)
            case "BOOKMARK":
                return .bookmark(resourceVersion: try decoder.decode(Typed<Bookmark>.self, from: data).object.metadata.resourceVersion ?? "")
            case "ERROR": return .error(try decoder.decode(Typed<KubeStatus>.self, from: data).object)
            case let other: throw KubeError.malformed("watch event type \(other)")
            }
        } catch let error as KubeError {
            throw error
        } catch {
            throw KubeError.malformed("watch event: \(error)")
        }
    }
}
