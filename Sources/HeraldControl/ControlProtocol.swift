import FoundationEssentials
import HeraldCore

/// What `heraldctl` asks over the control socket: one command per connection, one line
/// of text; the answer is one JSON document (one of the reports below, or
/// `ControlErrorReply`), then the daemon closes the connection.
public enum ControlRequest: Equatable, Sendable {
    case status
    case members
    case explain(String)
    /// Re-read the config files and answer the verdict (`ReloadReport`).
    case reload

    public init?(line: String) {
        let words = line.split(separator: " ").map(String.init)
        switch (words.first, words.count) {
        case ("status", 1): self = .status
        case ("members", 1): self = .members
        case ("explain", 2): self = .explain(words[1])
        case ("reload", 1): self = .reload
        default: return nil
        }
    }

    public var line: String {
        switch self {
        case .status: "status"
        case .members: "members"
        case .explain(let address): "explain \(address)"
        case .reload: "reload"
        }
    }

    public static let usage = "status | members | explain ADDRESS | reload"
}

/// The answer to `reload`: applied, or refused with every problem (`FILE:LINE: key: message`).
public struct ReloadReport: Codable, Equatable, Sendable {
    public var applied: Bool
    public var message: String
    public var errors: [String]

    public init(applied: Bool, message: String, errors: [String]) {
        self.applied = applied
        self.message = message
        self.errors = errors
    }
}

public struct StatusReport: Codable, Equatable, Sendable {
    public var node: String
    public var version: String
    public var pid: Int32
    public var uptimeSeconds: Int
    public var configFiles: [String]
    public var links: [LinkReport]
    public var vips: [VIPReport]
    /// Absent without `[gossip]`.
    public var gossip: GossipReport?
    /// What the operator should fix (a host that is no Kubernetes Node, configs that
    /// differ, a failed reload); absent when there is nothing.
    public var warnings: [String]?

    public init(node: String, version: String, pid: Int32, uptimeSeconds: Int, configFiles: [String],
                links: [LinkReport], vips: [VIPReport], gossip: GossipReport? = nil, warnings: [String]? = nil) {
        self.node = node
        self.version = version
        self.pid = pid
        self.uptimeSeconds = uptimeSeconds
        self.configFiles = configFiles
        self.links = links
        self.vips = vips
        self.gossip = gossip
        self.warnings = warnings
    }
}

public struct GossipReport: Codable, Equatable, Sendable {
    public var address: String
    public var profile: String
    public var encrypted: Bool
    public var alive: Int
    public var suspect: Int
    public var dead: Int
    public var awareness: Int
    public var holdingDown: Bool
    public var settled: Bool
    /// VIPs this node took over since start (including its first ones).
    public var takeovers: Int
    /// Gossip packets dropped, by reason.
    public var rejected: [String: UInt64]

    public init(address: String, profile: String, encrypted: Bool, alive: Int, suspect: Int, dead: Int, awareness: Int,
                holdingDown: Bool, settled: Bool, takeovers: Int, rejected: [String: UInt64]) {
        self.address = address
        self.profile = profile
        self.encrypted = encrypted
        self.alive = alive
        self.suspect = suspect
        self.dead = dead
        self.awareness = awareness
        self.holdingDown = holdingDown
        self.settled = settled
        self.takeovers = takeovers
        self.rejected = rejected
    }
}

public struct MemberReport: Codable, Equatable, Sendable {
    public var name: String
    public var address: String
    public var status: String
    public var incarnation: UInt64
    /// This node's last direct probe round trip, in microseconds.
    public var roundTripMicroseconds: UInt64?
    public var holdingDown: Bool
    public var interfaces: [String]
    public var isSelf: Bool
    /// What the member gossips about itself (absent from versions before it).
    public var version: String?
    public var mode: String?
    public var configDigest: String?
    /// Its config digest differs from the cluster's majority.
    public var configDiffers: Bool?

    public init(name: String, address: String, status: String, incarnation: UInt64,
                roundTripMicroseconds: UInt64? = nil, holdingDown: Bool, interfaces: [String], isSelf: Bool,
                version: String? = nil, mode: String? = nil, configDigest: String? = nil, configDiffers: Bool? = nil) {
        self.name = name
        self.address = address
        self.status = status
        self.incarnation = incarnation
        self.roundTripMicroseconds = roundTripMicroseconds
        self.holdingDown = holdingDown
        self.interfaces = interfaces
        self.isSelf = isSelf
        self.version = version
        self.mode = mode
        self.configDigest = configDigest
        self.configDiffers = configDiffers
    }
}

public struct MembersReport: Codable, Equatable, Sendable {
    public var members: [MemberReport]

    public init(members: [MemberReport]) {
        self.members = members
    }
}

public struct ExplainReport: Codable, Equatable, Sendable {
    public struct Candidate: Codable, Equatable, Sendable {
        public var name: String
        public var eligible: Bool
        /// Why not, when not eligible.
        public var reason: String?
        public var interfaces: [String]

        public init(name: String, eligible: Bool, reason: String? = nil, interfaces: [String]) {
            self.name = name
            self.eligible = eligible
            self.reason = reason
            self.interfaces = interfaces
        }
    }

    public var vip: String
    public var address: String
    public var owner: String?
    /// Every known member in election order: the first eligible one owns the VIP.
    public var candidates: [Candidate]
    /// Adjacent mode: the node that takes the traffic, its MAC once resolved, and every
    /// node in target order (`interfaces` holds the node address that is resolved).
    public var target: String?
    public var targetMAC: String?
    public var targets: [Candidate]?
    /// Why the address is or is not announced beyond the ranking (no ready endpoint, this
    /// host not a Kubernetes Node).
    public var notes: [String]?

    public init(vip: String, address: String, owner: String?, candidates: [Candidate], target: String? = nil,
                targetMAC: String? = nil, targets: [Candidate]? = nil, notes: [String]? = nil) {
        self.vip = vip
        self.address = address
        self.owner = owner
        self.candidates = candidates
        self.target = target
        self.targetMAC = targetMAC
        self.targets = targets
        self.notes = notes
    }
}

public struct LinkReport: Codable, Equatable, Sendable {
    public var name: String
    public var mac: String
    public var answering: [String]
    public var counters: LinkCounters<String, String>

    public init(name: String, mac: String, answering: [String], counters: LinkCounters<String, String>) {
        self.name = name
        self.mac = mac
        self.answering = answering
        self.counters = counters
    }
}

public struct VIPReport: Codable, Equatable, Sendable {
    public enum Role: String, Codable, Sendable {
        /// This node answers for the VIP.
        case announcing
        /// Another node owns it; this one would take over if it failed.
        case standby
        /// This node cannot announce it (nodes list, interfaces, health check).
        case notEligible = "not-eligible"
        /// Nobody can announce it right now.
        case unowned
        /// Nobody announces it while the member it goes to (`waitingFor`) starts: briefly,
        /// when hosts start together or that host's Kubernetes lists come late.
        case waiting
        /// Another host (`foreignMAC`) answers for it; this node withholds it.
        case conflict
        /// An address of a routed pool: no host answers ARP for it; its traffic is routed
        /// to the VIP `routedVia`, whose owner is its owner.
        case routed
    }

    public var name: String
    public var address: String
    public var role: Role
    public var owner: String?
    public var interfaces: [String]
    public var foreignMAC: String?
    /// Adjacent mode: the node that takes the traffic, and the MAC answers carry.
    public var targetNode: String?
    public var targetMAC: String?
    /// A routed pool's address: the VIP (by name) its traffic is routed to.
    public var routedVia: String?
    /// Role `waiting`: the member the address goes to once it has started.
    public var waitingFor: String?

    public init(name: String, address: String, role: Role, owner: String?, interfaces: [String], foreignMAC: String? = nil,
                targetNode: String? = nil, targetMAC: String? = nil, routedVia: String? = nil, waitingFor: String? = nil) {
        self.name = name
        self.address = address
        self.role = role
        self.owner = owner
        self.interfaces = interfaces
        self.foreignMAC = foreignMAC
        self.targetNode = targetNode
        self.targetMAC = targetMAC
        self.routedVia = routedVia
        self.waitingFor = waitingFor
    }
}

public struct ControlErrorReply: Codable, Sendable {
    public var error: String

    public init(error: String) {
        self.error = error
    }
}

/// Encodes an answer: keys sorted, so answers compare and diff well.
public func controlReply(_ report: some Encodable) -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    do {
        return Array(try encoder.encode(report))
    } catch {
        return Array(#"{"error":"cannot encode the answer"}"#.utf8)
    }
}
