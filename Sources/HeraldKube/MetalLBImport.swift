import HeraldCore

/// `heraldctl import-metallb`: MetalLB's layer-2 configuration — `IPAddressPool` and
/// `L2Advertisement` objects, or the legacy `config` ConfigMap with `address-pools` — as
/// the `[[pool]]` tables of a `pools.d` file. What Herald cannot express is kept as a
/// comment, never dropped silently.
///
/// MetalLB announces a pool only when an `L2Advertisement` selects it (by name, by
/// label, or by selecting none: all pools); its `nodeSelectors` and `interfaces` then
/// limit where. When the input holds no advertisement at all (pools only), every pool is
/// imported as announced, and the output says so.
public enum MetalLBImport {
    public struct Output: Equatable, Sendable {
        /// A `pools.d` file.
        public var toml: String
        /// How many pools are imported as announced.
        public var pools: Int
    }

    public struct ImportError: Error, Equatable, Sendable, CustomStringConvertible {
        public var message: String

        public var description: String { message }
    }

    /// `sources`: each file's name (for messages) and text, in order.
    public static func convert(_ sources: [(name: String, text: String)]) -> Result<Output, ImportError> {
        var pools: [Pool] = []
        var advertisements: [Advertisement] = []
        var skipped: [String] = []
        for source in sources {
            let documents: [YAMLValue]
            do {
                documents = try YAMLValue.parseAll(source.text)
            } catch {
                return .failure(ImportError(message: "\(source.name): \(error.message)"))
            }
            for document in documents {
                guard case .mapping = document else { continue }
                // A List (kubectl get -o yaml) holds the objects in `items`.
                for object in document["kind"]?.string == "List" ? document["items"]?.list ?? [] : [document] {
                    switch read(object, from: source.name) {
                    case .success(let read):
                        pools += read.pools
                        advertisements += read.advertisements
                        skipped += read.skipped
                    case .failure(let error):
                        return .failure(error)
                    }
                }
            }
        }
        guard !pools.isEmpty else {
            return .failure(ImportError(message: "no IPAddressPool and no MetalLB config ConfigMap with address-pools in the input"))
        }
        return .success(render(pools: pools, advertisements: advertisements, skipped: skipped,
                               files: sources.map(\.name)))
    }

    // MARK: Reading

    struct Pool {
        var name: String
        var namespace: String
        var labels: [String: String]
        var addresses: [String]
        var autoAssign = true
        var avoidBuggyIPs = false
        var priority: Int?
        var namespaces: [String] = []
        var namespaceSelectors: [String] = []
        var serviceSelectors: [String] = []
        /// The legacy ConfigMap's BGP pools, never announced here.
        var bgp = false
        var notes: [String] = []
    }

    struct Advertisement {
        var name: String
        /// `nil`: every pool (neither `ipAddressPools` nor `ipAddressPoolSelectors`).
        var poolNames: [String]?
        var poolSelectors: [String]
        var nodeSelectors: [String]
        var interfaces: [String]
    }

    private struct Read {
        var pools: [Pool] = []
        var advertisements: [Advertisement] = []
        var skipped: [String] = []
    }

    private static func read(_ object: YAMLValue, from file: String) -> Result<Read, ImportError> {
        let kind = object["kind"]?.string ?? "?"
        let metadata = object["metadata"]
        let name = metadata?["name"]?.string ?? "?"
        let namespace = metadata?["namespace"]?.string ?? "metallb-system"
        let spec = object["spec"]
        var result = Read()
        func fail(_ message: String) -> Result<Read, ImportError> {
            .failure(ImportError(message: "\(file): \(kind) \(namespace)/\(name): \(message)"))
        }
        switch kind {
        case "IPAddressPool":
            guard let addresses = strings(spec?["addresses"]), !addresses.isEmpty else { return fail("spec.addresses is empty") }
            var pool = Pool(name: name, namespace: namespace, labels: labels(metadata?["labels"]), addresses: addresses)
            pool.autoAssign = spec?["autoAssign"]?.string != "false"
            pool.avoidBuggyIPs = spec?["avoidBuggyIPs"]?.string == "true"
            if let allocation = spec?["serviceAllocation"] {
                if let text = allocation["priority"]?.string {
                    guard let priority = Int(text), priority >= 0 else { return fail("serviceAllocation.priority '\(text)' is not a number") }
                    pool.priority = priority
                }
                pool.namespaces = strings(allocation["namespaces"]) ?? []
                switch (selectors(allocation["namespaceSelectors"]), selectors(allocation["serviceSelectors"])) {
                case (.success(let namespaceSelectors), .success(let serviceSelectors)):
                    pool.namespaceSelectors = namespaceSelectors
                    pool.serviceSelectors = serviceSelectors
                case (.failure(let error), _), (_, .failure(let error)):
                    return fail(error.message)
                }
            }
            if spec?["allocateTo"] != nil { pool.notes.append("spec.allocateTo is not supported: left out") }
            result.pools.append(pool)
        case "L2Advertisement":
            let poolSelectors: [String]
            let nodeSelectors: [String]
            switch (selectors(spec?["ipAddressPoolSelectors"]), selectors(spec?["nodeSelectors"])) {
            case (.success(let pools), .success(let nodes)): (poolSelectors, nodeSelectors) = (pools, nodes)
            case (.failure(let error), _), (_, .failure(let error)): return fail(error.message)
            }
            let names = strings(spec?["ipAddressPools"])
            result.advertisements.append(Advertisement(
                name: "\(namespace)/\(name)", poolNames: names == nil && poolSelectors.isEmpty ? nil : names ?? [],
                poolSelectors: poolSelectors, nodeSelectors: nodeSelectors, interfaces: strings(spec?["interfaces"]) ?? []))
        case "ConfigMap" where object["data"]?["config"] != nil:
            guard let text = object["data"]?["config"]?.string else { return fail("data.config is not text") }
            let config: YAMLValue
            do {
                config = try YAMLValue.parse(text)
            } catch {
                return fail("data.config: \(error.message)")
            }
            for entry in config["address-pools"]?.list ?? [] {
                let poolName = entry["name"]?.string ?? "?"
                guard let addresses = strings(entry["addresses"]), !addresses.isEmpty else {
                    return fail("address pool \(poolName) has no addresses")
                }
                var pool = Pool(name: poolName, namespace: namespace, labels: [:], addresses: addresses)
                pool.autoAssign = entry["auto-assign"]?.string != "false"
                pool.avoidBuggyIPs = entry["avoid-buggy-ips"]?.string == "true"
                pool.bgp = (entry["protocol"]?.string ?? "layer2") != "layer2"
                result.pools.append(pool)
            }
            // The legacy format announces every layer-2 pool.
            result.advertisements.append(Advertisement(name: "ConfigMap \(namespace)/\(name)",
                                                       poolNames: config["address-pools"]?.list.compactMap { entry in
                                                           entry["protocol"]?.string == "bgp" ? nil : entry["name"]?.string } ?? [],
                                                       poolSelectors: [], nodeSelectors: [], interfaces: []))
            if config["peers"] != nil { result.skipped.append("ConfigMap \(namespace)/\(name): BGP peers (BGP is not supported)") }
        case "BGPAdvertisement", "BGPPeer", "BFDProfile", "Community":
            result.skipped.append("\(kind) \(namespace)/\(name): BGP is not supported (Herald is layer 2 only)")
        default:
            result.skipped.append("\(kind) \(namespace)/\(name): not MetalLB configuration")
        }
        return .success(result)
    }

    private static func strings(_ value: YAMLValue?) -> [String]? {
        guard case .sequence(let items)? = value else { return nil }
        return items.compactMap(\.string)
    }

    private static func labels(_ value: YAMLValue?) -> [String: String] {
        guard case .mapping(let map)? = value else { return [:] }
        return map.compactMapValues(\.string)
    }

    /// Kubernetes `LabelSelector`s (`matchLabels`, `matchExpressions`) in kubectl's text
    /// form, which Herald's `*_selectors` read.
    static func selectors(_ value: YAMLValue?) -> Result<[String], ImportError> {
        var result: [String] = []
        for selector in value?.list ?? [] {
            var requirements = labels(selector["matchLabels"]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            for expression in selector["matchExpressions"]?.list ?? [] {
                guard let key = expression["key"]?.string, let operation = expression["operator"]?.string else {
                    return .failure(ImportError(message: "a matchExpressions entry without key or operator"))
                }
                let values = strings(expression["values"]) ?? []
                switch operation {
                case "In": requirements.append("\(key) in (\(values.joined(separator: ",")))")
                case "NotIn": requirements.append("\(key) notin (\(values.joined(separator: ",")))")
                case "Exists": requirements.append(key)
                case "DoesNotExist": requirements.append("!\(key)")
                default: return .failure(ImportError(message: "matchExpressions operator '\(operation)' is not a label selector operator"))
                }
            }
            // An empty selector selects everything.
            result.append(requirements.joined(separator: ", "))
        }
        return .success(result)
    }

    // MARK: Writing

    private static func render(pools: [Pool], advertisements: [Advertisement], skipped: [String], files: [String]) -> Output {
        var lines = ["# Converted from MetalLB by heraldctl import-metallb (\(files.joined(separator: ", "))).",
                     "# Check it with: heraldctl check /etc/herald/herald.toml"]
        if advertisements.isEmpty {
            lines += ["#", "# The input holds no L2Advertisement: every pool is imported as announced. MetalLB announces a",
                      "# pool only when an L2Advertisement selects it; leave out the pools it should not."]
        }
        for line in skipped { lines.append("# skipped: \(line)") }
        var announced = 0
        for pool in pools {
            var selecting = advertisements.filter { advertisement in
                advertisement.poolNames.map { $0.contains(pool.name) } ?? true
                    || advertisement.poolSelectors.contains { text in
                        (try? LabelSelector.parse(text).get())?.matches(pool.labels) ?? text.isEmpty
                    }
            }
            if selecting.isEmpty && advertisements.isEmpty {
                selecting = [Advertisement(name: "", poolNames: nil, poolSelectors: [], nodeSelectors: [], interfaces: [])]
            }
            var table = ["[[pool]]", "name = \(quoted(pool.name))",
                         "addresses = [\(pool.addresses.map { quoted($0.split(separator: " ").joined()) }.joined(separator: ", "))]"]
            if !pool.autoAssign { table.append("auto_assign = false") }
            if pool.avoidBuggyIPs { table.append("avoid_buggy_ips = true") }
            if let priority = pool.priority { table.append("priority = \(priority)") }
            // An empty selector selects everything: then the list restricts nothing.
            let everyNamespace = pool.namespaceSelectors.contains("")
            if !pool.namespaces.isEmpty && !everyNamespace {
                table.append("namespaces = [\(pool.namespaces.map(quoted).joined(separator: ", "))]")
            }
            for (key, values) in [("namespace_selectors", pool.namespaceSelectors), ("service_selectors", pool.serviceSelectors)]
            where !values.isEmpty && !values.contains("") {
                table.append("\(key) = [\(values.map(quoted).joined(separator: ", "))]")
            }
            // Several advertisements: a node or interface any of them allows.
            let nodeSelectors = selecting.contains { $0.nodeSelectors.isEmpty || $0.nodeSelectors.contains("") } ? []
                : Array(Set(selecting.flatMap(\.nodeSelectors))).sorted()
            if !nodeSelectors.isEmpty { table.append("node_selectors = [\(nodeSelectors.map(quoted).joined(separator: ", "))]") }
            let interfaces = selecting.contains { $0.interfaces.isEmpty } ? [] : Array(Set(selecting.flatMap(\.interfaces))).sorted()
            if !interfaces.isEmpty { table.append("interfaces = [\(interfaces.map(quoted).joined(separator: ", "))]") }

            lines.append("")
            let origin = "IPAddressPool \(pool.namespace)/\(pool.name)"
            let by = selecting.map(\.name).filter { !$0.isEmpty }
            for note in pool.notes { lines.append("# \(origin): \(note)") }
            if pool.bgp {
                lines.append("# \(origin) is a BGP pool: not imported (Herald is layer 2 only)")
                lines += table.map { "# " + $0 }
            } else if selecting.isEmpty {
                lines.append("# \(origin): no L2Advertisement selects it, so MetalLB does not announce it; Herald would. Uncomment to announce it.")
                lines += table.map { "# " + $0 }
            } else {
                lines.append("# \(origin)" + (by.isEmpty ? "" : ", announced by \(by.joined(separator: ", "))"))
                lines += table
                announced += 1
            }
        }
        return Output(toml: lines.joined(separator: "\n") + "\n", pools: announced)
    }

    private static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case _ where scalar.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count)
                + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}
