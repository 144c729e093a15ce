import HeraldWire

/// Where a setting was written, for error messages that point at the line to fix.
public struct SourceLocation: Hashable, Sendable, CustomStringConvertible {
    public var file: String
    public var line: Int

    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// `file:line`, or just the file for problems with the file as a whole (line 0).
    public var description: String { line > 0 ? "\(file):\(line)" : file }
}

/// The validated contents of `herald.toml` and `pools.d/*.toml`.
public struct HeraldConfig: Equatable, Sendable {
    public var node = NodeSettings()
    public var gossip: GossipSettings?
    public var kubernetes: KubernetesSettings?
    public var metrics: MetricsSettings?
    public var tuning = TuningSettings()
    public var pools: [PoolConfig] = []
    public var vips: [VIPConfig] = []
    /// Where `[node]`, `[gossip]`, `[kubernetes]` and `[metrics]` start, for messages about
    /// a section as a whole.
    public var sectionLocations: [String: SourceLocation] = [:]
    /// What is worth fixing but does not stop the config (a key that no longer does
    /// anything): logged by heraldd, printed by `heraldctl check`.
    public var warnings: [ConfigError] = []

    public init() {}

    public static func == (lhs: HeraldConfig, rhs: HeraldConfig) -> Bool {
        lhs.node == rhs.node && lhs.gossip == rhs.gossip && lhs.kubernetes == rhs.kubernetes
            && lhs.metrics == rhs.metrics && lhs.pools == rhs.pools && lhs.vips == rhs.vips
    }
}

public struct NodeSettings: Equatable, Sendable {
    /// How this host relates to the Kubernetes nodes whose Services it announces.
    public enum Mode: String, CaseIterable, Sendable {
        /// This host is a Kubernetes node: it answers with its own MAC.
        case local
        /// This host sits next to the nodes (a hypervisor, another Linux box on the same
        /// L2 segment) and answers with the MAC of a target node (`docs/adjacent-mode.md`).
        case adjacent
    }

    /// `nil`: the host name.
    public var name: String?
    /// `nil`: every UP, broadcast-capable, non-virtual interface.
    public var interfaces: [String]?
    public var interfacesLocation: SourceLocation?
    public var mode = Mode.local
    public var modeLocation: SourceLocation?
    /// Adjacent mode: how often each target node is probed on the link; it counts as
    /// unreachable after `TargetTracker.Settings.misses` probes in a row go unanswered.
    public var targetProbeInterval: Duration = .milliseconds(100)
    /// The SCHED_FIFO priority of the gossip thread, and of the capture thread while frames
    /// queue up for it (0: normal scheduling), so answers and probes are on time on a host
    /// whose cores are busy.
    public var realtimePriority = 10
    /// The user health-check commands run as: never heraldd's own (which can read the
    /// gossip key, the kubeconfig and the control socket), never root. The package creates
    /// this one.
    public var checkUser = NodeSettings.defaultCheckUser
    public var checkUserLocation: SourceLocation?
    /// What a node asks, when it loses most of the cluster at once, whether it is the one
    /// cut off (`docs/gossip.md`, "Cut off or alone").
    public var witness = Witness.gateway
    public var witnessLocation: SourceLocation?

    public enum Witness: Hashable, Sendable {
        /// The default gateway, on the interface whose subnet holds it.
        case gateway
        case address(IPAddress)
        /// Nobody: a node that loses most of the cluster at once takes their VIPs.
        case none
    }

    public static let defaultCheckUser = "herald-check"

    public init(name: String? = nil, interfaces: [String]? = nil, mode: Mode = .local) {
        self.name = name
        self.interfaces = interfaces
        self.mode = mode
    }

    public static func == (lhs: NodeSettings, rhs: NodeSettings) -> Bool {
        lhs.name == rhs.name && lhs.interfaces == rhs.interfaces && lhs.mode == rhs.mode
            && lhs.targetProbeInterval == rhs.targetProbeInterval && lhs.realtimePriority == rhs.realtimePriority
            && lhs.checkUser == rhs.checkUser && lhs.witness == rhs.witness
    }
}

public struct HostPort: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// `192.168.2.20:7946`, `[fd00::1]:7946` or `name.example:7946`.
    public static func parse(_ text: String) -> HostPort? {
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else { return nil }
            host = text[text.index(after: text.startIndex)..<close]
            guard IPv6Address(host) != nil else { return nil }
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":"), text.firstIndex(of: ":") == colon else { return nil }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
            let isName = host.allSatisfy { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "." } && host.first?.isLetter == true
            guard IPv4Address(host) != nil || isName else { return nil }
        }
        guard !host.isEmpty, let port = UInt16(portText), port > 0 else { return nil }
        return HostPort(host: String(host), port: port)
    }
}

public struct GossipSettings: Equatable, Sendable {
    public enum Profile: String, CaseIterable, Sendable {
        case lan, fast, conservative
    }

    public var bind: HostPort
    public var join: [HostPort] = []
    public var keyFile: String?
    public var keyFileLocation: SourceLocation?
    public var insecure = false
    public var profile = Profile.lan
    /// Authenticated with every packet: nodes of another cluster cannot join by mistake.
    public var cluster = "herald"
    /// The sealed format this node speaks: 3, or 2 or 1 while a cluster still has older
    /// hosts (it then accepts both; see docs/gossip.md).
    public var wireVersion = Int(GossipSeal.currentVersion)
}

public struct KubernetesSettings: Equatable, Sendable {
    public var kubeconfig: String?
    public var loadBalancerClass = ""
}

public struct MetricsSettings: Equatable, Sendable {
    public var listen: HostPort
}

/// `[tuning]`: the trades heraldd makes for memory and speed, each with a way to turn it
/// off (herald.toml(5); the figures are in docs/performance.md, "Tuning"). Real time has
/// its own key, `node.realtime_priority`.
public struct TuningSettings: Equatable, Sendable {
    /// Unmap the code that ran only at start-up once ready (`ResidentCode`).
    public var dropStartupCode = true
    /// Kernel filters: the capture sees only frames about the addresses its link watches,
    /// the gossip socket only datagrams that may be Herald's.
    public var kernelFilters = true

    public init() {}
}

public struct PoolConfig: Equatable, Sendable {
    public var name: String
    public var addresses: [IPRange]
    public var autoAssign = true
    public var avoidBuggyIPs = false
    public var interfaces: [String]?
    /// Who may announce: node names or globs, or `key=value` node labels (any may match).
    public var nodes: [Glob] = []
    /// Kubernetes: node label selectors (any may match), on top of `nodes`.
    public var nodeSelectors: [LabelSelector] = []
    /// Which Services may get addresses from it: by namespace name or namespace labels
    /// (either may match), and by Service labels (any selector may match).
    public var namespaces: [String] = []
    public var namespaceSelectors: [LabelSelector] = []
    public var serviceSelectors: [LabelSelector] = []
    /// Of the pools a Service may use, the lowest priority is tried first; pools without
    /// one come after, in config order.
    public var priority: Int?
    /// A routed pool: its addresses are off the LAN, and the router sends their traffic
    /// to this VIP (by name) as next hop, so nothing answers ARP for them.
    public var routedVia: String?
    public var location: SourceLocation
}

extension PoolConfig {
    /// A pool with every other setting at its default.
    public init(name: String, addresses: [IPRange], location: SourceLocation) {
        self.name = name
        self.addresses = addresses
        self.location = location
    }
}

/// A health gate for a standalone VIP: the node is eligible only while the check passes.
public struct HealthCheck: Equatable, Sendable {
    public enum Probe: Equatable, Sendable {
        case tcp(HostPort)
        case command(String)
    }

    public var probe: Probe
    public var interval: Duration = .seconds(1)
    public var timeout: Duration = .seconds(1)
    /// Consecutive passes before a failing node becomes eligible again.
    public var rise = 2
    /// Consecutive failures before a passing node stops being eligible.
    public var fall = 2
}

public struct VIPConfig: Equatable, Sendable {
    public var name: String
    public var address: IPAddress
    public var nodes: [Glob] = []
    public var interfaces: [String]?
    public var check: HealthCheck?
    public var location: SourceLocation

    public init(name: String, address: IPAddress, nodes: [Glob] = [], interfaces: [String]? = nil, check: HealthCheck? = nil,
                location: SourceLocation) {
        self.name = name
        self.address = address
        self.nodes = nodes
        self.interfaces = interfaces
        self.check = check
        self.location = location
    }

    /// Whether `node` may announce this VIP; an empty list means every node.
    public func allows(node: String) -> Bool {
        nodes.isEmpty || nodes.contains { $0.matches(node) }
    }
}

/// One problem in the config, phrased as `FILE:LINE: key.path: message`.
public struct ConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    public var location: SourceLocation
    public var keyPath: String
    public var message: String

    public init(_ location: SourceLocation, _ keyPath: String, _ message: String) {
        self.location = location
        self.keyPath = keyPath
        self.message = message
    }

    public var description: String {
        keyPath.isEmpty ? "\(location): \(message)" : "\(location): \(keyPath): \(message)"
    }
}

/// Parses a duration as written in config: `250ms`, `1s`, `1.5s`, `2m`, `1h`; `nil` for
/// anything else, including values beyond a year (each key then checks its own range).
func parseDuration(_ text: String) -> Duration? {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600)]
    for (suffix, seconds) in units where text.hasSuffix(suffix) {
        let number = text.dropLast(suffix.count)
        guard !number.isEmpty, number.count <= 32, number.allSatisfy({ $0.isASCIIDigitValue || $0 == "." }),
              let value = Double(number), value.isFinite else { return nil }
        let milliseconds = (value * seconds * 1000).rounded()
        guard milliseconds <= maximumDurationMilliseconds else { return nil }
        return .milliseconds(Int64(milliseconds))
    }
    return nil
}

extension Duration {
    /// As the config writes it: `250ms`, `10s`, `1h`.
    public var configText: String {
        let milliseconds = components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
        for (unit, size) in [("h", Int64(3_600_000)), ("m", 60_000), ("s", 1000)] where milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }
}

/// No duration in the config may be longer than a year (every key has a tighter range).
let maximumDurationMilliseconds = 365.0 * 24 * 3600 * 1000

/// Every problem found in one attempt to load the config, in file order.
public struct ConfigErrors: Error, Equatable, Sendable, CustomStringConvertible {
    public var errors: [ConfigError]

    public init(_ errors: [ConfigError]) { self.errors = errors }

    public var description: String { errors.map(\.description).joined(separator: "\n") }
}
