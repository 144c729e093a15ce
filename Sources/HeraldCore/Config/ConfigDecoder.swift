import HeraldWire

/// One config file's text, read by the daemon and handed to the pure decoder.
public struct ConfigFile: Sendable {
    public var path: String
    public var text: String

    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}

/// Turns TOML text into a `HeraldConfig`, collecting every problem (not just the first)
/// with its file, line and key. Checks that need more than one value at a time (overlaps,
/// duplicates, subnets) live in `ConfigValidator`.
public enum ConfigDecoder {
    /// `main` is `herald.toml`; `fragments` are the `pools.d/*.toml` files, which may hold only
    /// `[[pool]]` and `[[vip]]` tables.
    public static func decode(main: ConfigFile, fragments: [ConfigFile] = []) -> Result<HeraldConfig, ConfigErrors> {
        let diagnostics = Diagnostics()
        var config = HeraldConfig()
        for (index, file) in ([main] + fragments).enumerated() {
            let root: TOMLTable
            do {
                root = try TOMLParser.parse(file.text)
            } catch {
                diagnostics.error(SourceLocation(file: file.path, line: error.line), "", "\(error.message) (column \(error.column))")
                continue
            }
            var reader = TableReader(root, file: file.path, path: "", diagnostics: diagnostics)
            if index == 0 {
                decodeMain(&reader, into: &config)
            } else {
                reader.known = ["pool", "vip"]
                for key in ["node", "gossip", "kubernetes", "metrics", "tuning"] where root[key] != nil {
                    reader.used.insert(key)
                    diagnostics.error(reader.location(root[key]!.line), key, "[\(key)] belongs in the main config file, not in pools.d")
                }
            }
            config.pools += reader.tables("pool").compactMap(decodePool)
            config.vips += reader.tables("vip").compactMap(decodeVIP)
            reader.finish()
        }
        guard diagnostics.errors.isEmpty else { return .failure(ConfigErrors(diagnostics.errors)) }
        return .success(config)
    }

    private static func decodeMain(_ root: inout TableReader, into config: inout HeraldConfig) {
        root.known = ["node", "gossip", "kubernetes", "metrics", "tuning", "pool", "vip"]
        for key in ["node", "gossip", "kubernetes", "metrics", "tuning"] {
            if let line = root.table[key]?.line { config.sectionLocations[key] = root.location(line) }
        }
        if var node = root.table("node") {
            node.known = ["name", "interfaces", "mode", "target_probe_interval", "realtime_priority", "check_user", "witness"]
            if let (name, line) = node.string("name") {
                if isValidNodeName(name) {
                    config.node.name = name
                } else {
                    node.error(line, "name", "'\(name)' is not a valid node name (letters, digits, '-', '.', '_'; at most 253 characters)")
                }
            }
            if let (interfaces, line) = node.strings("interfaces") {
                config.node.interfaces = interfaces
                config.node.interfacesLocation = node.location(line)
                validateInterfaceNames(interfaces, line: line, key: "interfaces", in: &node)
            }
            if let (text, line) = node.string("mode") {
                if let mode = NodeSettings.Mode(rawValue: text) {
                    config.node.mode = mode
                    config.node.modeLocation = node.location(line)
                } else {
                    node.error(line, "mode", "'\(text)' is not one of \(NodeSettings.Mode.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            if let (priority, _) = node.int("realtime_priority", in: 0...49) { config.node.realtimePriority = priority }
            if let (text, line) = node.string("witness") {
                config.node.witnessLocation = node.location(line)
                switch text {
                case "gateway": config.node.witness = .gateway
                case "none": config.node.witness = .none
                default:
                    if let address = IPAddress(text) {
                        config.node.witness = .address(address)
                    } else {
                        node.error(line, "witness", "'\(text.prefix(64))' is not an IP address, \"gateway\" or \"none\"")
                    }
                }
            }
            if let (user, line) = node.string("check_user") {
                if user == "root" {
                    node.error(line, "check_user", "health checks never run as root: name an unprivileged user of their own")
                } else if isValidUserName(user) {
                    config.node.checkUser = user
                    config.node.checkUserLocation = node.location(line)
                } else {
                    node.error(line, "check_user", "'\(user.prefix(64))' is not a valid user name")
                }
            }
            if let interval = node.duration("target_probe_interval", in: .milliseconds(10)...(.seconds(10))) {
                config.node.targetProbeInterval = interval
            }
            node.finish()
        }
        if var gossip = root.table("gossip") {
            gossip.known = ["bind", "join", "key_file", "insecure", "profile", "cluster", "wire_version", "state_directory"]
            let bind = gossip.hostPort("bind", required: true)
            let join = gossip.strings("join").map { list, line in
                list.compactMap { entry -> HostPort? in
                    guard let parsed = HostPort.parse(entry) else {
                        gossip.error(line, "join", "'\(entry)' is not HOST:PORT")
                        return nil
                    }
                    return parsed
                }
            } ?? []
            let keyFile = gossip.string("key_file")
            let insecure = gossip.bool("insecure")?.0 ?? false
            var profile = GossipSettings.Profile.lan
            if let (text, line) = gossip.string("profile") {
                if let parsed = GossipSettings.Profile(rawValue: text) {
                    profile = parsed
                } else {
                    gossip.error(line, "profile", "'\(text)' is not one of \(GossipSettings.Profile.allCases.map(\.rawValue).joined(separator: ", "))")
                }
            }
            if keyFile == nil && !insecure {
                gossip.error(gossip.table.line, "key_file", "is required unless insecure = true (make one with: heraldctl keygen /etc/herald/gossip.key)")
            }
            if let (_, line) = keyFile, insecure {
                gossip.error(line, "key_file", "set together with insecure = true, which would ignore it and send gossip unencrypted: remove one of the two")
            }
            let wireVersion = gossip.int("wire_version", in: 1...Int(GossipSeal.currentVersion))?.0 ?? Int(GossipSeal.currentVersion)
            if let (_, line) = gossip.string("state_directory") {
                config.warnings.append(ConfigError(gossip.location(line), gossip.keyPath("state_directory"),
                                                   "no longer used: replay protection needs no state (remove it)"))
            }
            let cluster = gossip.string("cluster")
            if let (name, line) = cluster, !isValidNodeName(name) {
                gossip.error(line, "cluster", "'\(name)' is not a valid cluster name (letters, digits, '-', '.', '_')")
            }
            if let bind {
                config.gossip = GossipSettings(bind: bind, join: join, keyFile: keyFile?.0,
                                               keyFileLocation: keyFile.map { gossip.location($0.1) },
                                               insecure: insecure, profile: profile, cluster: cluster?.0 ?? "herald",
                                               wireVersion: wireVersion)
            }
            gossip.finish()
        }
        if var kubernetes = root.table("kubernetes") {
            kubernetes.known = ["kubeconfig", "load_balancer_class"]
            config.kubernetes = KubernetesSettings(kubeconfig: kubernetes.string("kubeconfig")?.0,
                                                   loadBalancerClass: kubernetes.string("load_balancer_class")?.0 ?? "")
            kubernetes.finish()
        }
        if var tuning = root.table("tuning") {
            tuning.known = ["drop_startup_code", "kernel_filters"]
            if let (value, _) = tuning.bool("drop_startup_code") { config.tuning.dropStartupCode = value }
            if let (value, _) = tuning.bool("kernel_filters") { config.tuning.kernelFilters = value }
            tuning.finish()
        }
        if var metrics = root.table("metrics") {
            metrics.known = ["listen"]
            if let listen = metrics.hostPort("listen", required: true) {
                config.metrics = MetricsSettings(listen: listen)
            }
            metrics.finish()
        }
    }

    private static func decodePool(_ reader: TableReader) -> PoolConfig? {
        var pool = reader
        pool.known = ["name", "addresses", "auto_assign", "avoid_buggy_ips", "interfaces", "nodes", "node_selectors", "namespaces",
                      "namespace_selectors", "service_selectors", "priority", "routed_via"]
        defer { pool.finish() }
        let name = pool.string("name", required: true)
        if let (text, line) = name, !isValidNodeName(text) {
            pool.error(line, "name", "'\(text)' is not a valid pool name (letters, digits, '-', '.', '_')")
        }
        var ranges: [IPRange] = []
        if let (list, line) = pool.strings("addresses", required: true) {
            if list.isEmpty { pool.error(line, "addresses", "needs at least one address range") }
            for text in list {
                switch IPRange.parse(text) {
                case .success(let range): ranges.append(range)
                case .failure(let error): pool.error(line, "addresses", error.message)
                }
            }
        }
        let interfaces = pool.strings("interfaces")
        if let (names, line) = interfaces { validateInterfaceNames(names, line: line, key: "interfaces", in: &pool) }
        guard let (poolName, _) = name else { return nil }
        return PoolConfig(name: poolName, addresses: ranges,
                          autoAssign: pool.bool("auto_assign")?.0 ?? true,
                          avoidBuggyIPs: pool.bool("avoid_buggy_ips")?.0 ?? false,
                          interfaces: interfaces?.0,
                          nodes: (pool.strings("nodes")?.0 ?? []).map(Glob.init),
                          nodeSelectors: selectors("node_selectors", in: &pool),
                          namespaces: pool.strings("namespaces")?.0 ?? [],
                          namespaceSelectors: selectors("namespace_selectors", in: &pool),
                          serviceSelectors: selectors("service_selectors", in: &pool),
                          priority: pool.int("priority", in: 0...1_000_000)?.0,
                          routedVia: pool.string("routed_via")?.0,
                          location: pool.location(pool.table.line))
    }

    /// A list of label selectors in kubectl's form (`"zone in (a,b), tier=web"`).
    private static func selectors(_ key: String, in reader: inout TableReader) -> [LabelSelector] {
        guard let (texts, line) = reader.strings(key) else { return [] }
        return texts.compactMap { text in
            switch LabelSelector.parse(text) {
            case .success(let selector): return selector
            case .failure(let error):
                reader.error(line, key, error.message)
                return nil
            }
        }
    }

    private static func decodeVIP(_ reader: TableReader) -> VIPConfig? {
        var vip = reader
        vip.known = ["name", "address", "nodes", "interfaces", "check"]
        defer { vip.finish() }
        let name = vip.string("name", required: true)
        if let (text, line) = name, !isValidNodeName(text) {
            vip.error(line, "name", "'\(text)' is not a valid VIP name (letters, digits, '-', '.', '_')")
        }
        var address: IPAddress?
        if let (text, line) = vip.string("address", required: true) {
            address = IPAddress(text)
            if address == nil {
                let hint = text.contains("/") || text.contains("-") ? " (a VIP is one address, not a range)" : ""
                vip.error(line, "address", "'\(text)' is not an IP address\(hint)")
            }
        }
        let interfaces = vip.strings("interfaces")
        if let (names, line) = interfaces { validateInterfaceNames(names, line: line, key: "interfaces", in: &vip) }
        let nodes = (vip.strings("nodes")?.0 ?? []).map(Glob.init)
        let check = vip.table("check").flatMap(decodeCheck)
        guard let (vipName, _) = name, let address else { return nil }
        return VIPConfig(name: vipName, address: address, nodes: nodes, interfaces: interfaces?.0, check: check,
                         location: vip.location(vip.table.line))
    }

    private static func decodeCheck(_ reader: TableReader) -> HealthCheck? {
        var check = reader
        check.known = ["tcp", "command", "interval", "timeout", "rise", "fall"]
        defer { check.finish() }
        var probe: HealthCheck.Probe?
        let tcp = check.string("tcp")
        let command = check.string("command")
        switch (tcp, command) {
        case (let (text, line)?, nil):
            if let target = HostPort.parse(text) {
                probe = .tcp(target)
            } else {
                check.error(line, "tcp", "'\(text)' is not HOST:PORT")
            }
        case (nil, let (text, line)?):
            if text.trimmingSpaces.isEmpty { check.error(line, "command", "is empty") } else { probe = .command(text) }
        case (_?, let (_, line)?):
            check.error(line, "command", "set either tcp or command, not both")
        case (nil, nil):
            check.error(check.table.line, "", "needs tcp = \"HOST:PORT\" or command = \"...\"")
        }
        guard let probe else { return nil }
        var result = HealthCheck(probe: probe)
        if let interval = check.duration("interval", in: .milliseconds(100)...(.seconds(3600))) { result.interval = interval }
        if let timeout = check.duration("timeout", in: .milliseconds(10)...(.seconds(60))) { result.timeout = timeout }
        if let (rise, _) = check.int("rise", in: 1...100) { result.rise = rise }
        if let (fall, _) = check.int("fall", in: 1...100) { result.fall = fall }
        return result
    }

    private static func validateInterfaceNames(_ names: [String], line: Int, key: String, in reader: inout TableReader) {
        for name in names where name.isEmpty || name.utf8.count > 15 || name.contains(where: { $0 == "/" || $0 == " " || $0 == ":" }) {
            reader.error(line, key, "'\(name.prefix(64))' is not a valid interface name")
        }
        var seen: Set<String> = []
        for name in names where !seen.insert(name).inserted {
            reader.error(line, key, "'\(name.prefix(64))' is listed twice")
        }
    }

    /// A user name as Debian's adduser and systemd-sysusers accept it.
    static func isValidUserName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 32 && name.first != "-" && !name.allSatisfy(\.isNumber)
            && name.allSatisfy { ($0.isLetter || $0.isNumber || "-._".contains($0)) && $0.isASCII }
    }

    static func isValidNodeName(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 253
            && name.allSatisfy { ($0.isLetter || $0.isNumber || "-._".contains($0)) && $0.isASCII }
    }
}

final class Diagnostics {
    /// Reported problems, at most: a file of garbage gets a readable answer, fast.
    static let limit = 100

    var errors: [ConfigError] = []
    private var suppressed = 0

    func error(_ location: SourceLocation, _ keyPath: String, _ message: String) {
        guard errors.count < Self.limit else {
            suppressed += 1
            errors[Self.limit - 1] = ConfigError(location, "", "… and \(suppressed + 1) more problems (only the first \(Self.limit - 1) are listed)")
            return
        }
        errors.append(ConfigError(location, keyPath, message))
    }
}

/// Reads typed values from one TOML table, records what it read, and reports keys nobody
/// asked for (typos) when finished.
struct TableReader {
    let table: TOMLTable
    let file: String
    let path: String
    let diagnostics: Diagnostics
    var known: [String] = []
    var used: Set<String> = []

    init(_ table: TOMLTable, file: String, path: String, diagnostics: Diagnostics) {
        self.table = table
        self.file = file
        self.path = path
        self.diagnostics = diagnostics
    }

    func location(_ line: Int) -> SourceLocation { SourceLocation(file: file, line: max(line, 1)) }

    func keyPath(_ key: String) -> String {
        [path, key].filter { !$0.isEmpty }.joined(separator: ".")
    }

    func error(_ line: Int, _ key: String, _ message: String) {
        diagnostics.error(location(line), keyPath(key), message)
    }

    private mutating func entry(_ key: String, required: Bool) -> TOMLTable.Entry? {
        used.insert(key)
        guard let entry = table[key] else {
            if required { error(table.line, key, "is required") }
            return nil
        }
        return entry
    }

    private func wrongType(_ entry: TOMLTable.Entry, expected: String) {
        error(entry.line, entry.key, "expected \(expected), found \(entry.value.typeName)")
    }

    mutating func string(_ key: String, required: Bool = false) -> (String, Int)? {
        guard let entry = entry(key, required: required) else { return nil }
        guard case .string(let value) = entry.value.kind else { wrongType(entry, expected: "a string"); return nil }
        return (value, entry.line)
    }

    mutating func strings(_ key: String, required: Bool = false) -> ([String], Int)? {
        guard let entry = entry(key, required: required) else { return nil }
        guard case .array(let elements) = entry.value.kind else { wrongType(entry, expected: "an array of strings"); return nil }
        var values: [String] = []
        for element in elements {
            guard case .string(let value) = element.kind else {
                error(element.line, key, "expected an array of strings, found a \(element.typeName) in it")
                return nil
            }
            values.append(value)
        }
        return (values, entry.line)
    }

    mutating func bool(_ key: String) -> (Bool, Int)? {
        guard let entry = entry(key, required: false) else { return nil }
        guard case .boolean(let value) = entry.value.kind else { wrongType(entry, expected: "true or false"); return nil }
        return (value, entry.line)
    }

    mutating func int(_ key: String, in range: ClosedRange<Int>) -> (Int, Int)? {
        guard let entry = entry(key, required: false) else { return nil }
        guard case .integer(let value) = entry.value.kind else { wrongType(entry, expected: "an integer"); return nil }
        guard let result = Int(exactly: value), range.contains(result) else {
            error(entry.line, key, "\(value) is out of range \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return (result, entry.line)
    }

    /// A duration within `range`; outside it, or not a duration, an error naming the range.
    mutating func duration(_ key: String, in range: ClosedRange<Duration>) -> Duration? {
        guard let (text, line) = string(key) else { return nil }
        guard let value = parseDuration(text), value > .zero else {
            error(line, key, "'\(text)' is not a duration such as \"500ms\", \"1s\" or \"2m\"")
            return nil
        }
        guard range.contains(value) else {
            error(line, key, "\(text) is out of range (\(range.lowerBound.configText) to \(range.upperBound.configText))")
            return nil
        }
        return value
    }

    mutating func hostPort(_ key: String, required: Bool) -> HostPort? {
        guard let (text, line) = string(key, required: required) else { return nil }
        guard let value = HostPort.parse(text) else {
            error(line, key, "'\(text)' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)")
            return nil
        }
        return value
    }

    mutating func table(_ key: String) -> TableReader? {
        guard let entry = entry(key, required: false) else { return nil }
        guard case .table(let child) = entry.value.kind else { wrongType(entry, expected: "a table"); return nil }
        return TableReader(child, file: file, path: keyPath(key), diagnostics: diagnostics)
    }

    /// The elements of an array of tables (`[[pool]]`).
    mutating func tables(_ key: String) -> [TableReader] {
        guard let entry = entry(key, required: false) else { return [] }
        guard case .array(let elements) = entry.value.kind else {
            wrongType(entry, expected: "an array of tables ([[\(key)]])")
            return []
        }
        return elements.compactMap { element in
            guard case .table(let child) = element.kind else {
                error(element.line, key, "expected [[\(key)]] tables, found a \(element.typeName)")
                return nil
            }
            return TableReader(child, file: file, path: keyPath(key), diagnostics: diagnostics)
        }
    }

    func finish() {
        for entry in table.entries where !used.contains(entry.key) {
            // Suggestions for plausible typos only: a distance over long keys costs their product.
            let suggestion = entry.key.utf8.count > 64 ? "" : known.min { editDistance($0, entry.key) < editDistance($1, entry.key) }
                .flatMap { editDistance($0, entry.key) <= 3 ? " (did you mean '\($0)'?)" : nil } ?? ""
            error(entry.line, String(entry.key.prefix(64)), "unknown key\(suggestion)")
        }
    }
}

func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return a.isEmpty ? b.count : previous[b.count]
}
