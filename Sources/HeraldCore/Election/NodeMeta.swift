import HeraldWire

/// What a node tells the cluster about itself so every node elects from the same inputs:
/// its usable interfaces (name, MAC, subnets), the VIPs whose health checks pass on it,
/// and whether it is holding back after having been declared dead. Carried as the
/// membership's opaque metadata; at most `GossipMessage.maxMetaLength` bytes.
public struct NodeMeta: Equatable, Sendable {
    public struct Interface: Equatable, Sendable {
        public var name: String
        public var mac: MACAddress
        public var prefixes: [IPPrefix]

        public init(name: String, mac: MACAddress, prefixes: [IPPrefix]) {
            self.name = name
            self.mac = mac
            self.prefixes = prefixes
        }
    }

    public var interfaces: [Interface]
    /// Names of VIPs with a `check` that currently passes here.
    public var passingChecks: [String]
    /// Back after being declared dead (stopped, partitioned): not eligible until the
    /// hold-down ends, so a node that wakes up does not snatch VIPs back at once.
    public var holdingDown: Bool
    /// Just started, not ready to serve yet (its links still probing, or it has not
    /// joined): not eligible, so the node that owns a VIP keeps it until this one can
    /// answer, and a restart hands nothing over early. Encoded in the hold-down byte (2),
    /// which older versions read as holding down.
    public var startingUp: Bool
    /// Adjacent mode: Kubernetes nodes this host probed on its links and found not
    /// answering. No node reported here is chosen as a target by any adjacent host.
    public var unreachableNodes: [String]
    /// What the host runs: its version, mode and `ConfigDigest`, so the cluster sees a host
    /// whose config differs (and a rollout half done). `nil` from versions before it.
    public var about: About?

    public struct About: Equatable, Sendable {
        public var version: String
        public var mode: String
        public var configDigest: String

        public init(version: String, mode: String, configDigest: String) {
            self.version = version
            self.mode = mode
            self.configDigest = configDigest
        }

        /// Carried as an entry of the unreachable-nodes list that no Kubernetes node name
        /// can be (names never start with `=`), so versions that predate it read the
        /// metadata as before and match no node with it.
        static let marker = "=herald "

        var entry: String { Self.marker + [version, mode, configDigest].joined(separator: " ") }

        init?(entry: String) {
            guard entry.hasPrefix(Self.marker) else { return nil }
            let words = entry.dropFirst(Self.marker.count).split(separator: " ").map(String.init)
            guard words.count == 3 else { return nil }
            (version, mode, configDigest) = (words[0], words[1], words[2])
        }
    }

    public init(interfaces: [Interface], passingChecks: [String] = [], holdingDown: Bool = false, startingUp: Bool = false,
                unreachableNodes: [String] = [], about: About? = nil) {
        self.interfaces = interfaces
        self.passingChecks = passingChecks
        self.holdingDown = holdingDown
        self.startingUp = startingUp
        self.unreachableNodes = unreachableNodes
        self.about = about
    }

    static let version: UInt8 = 1

    public func encode() -> [UInt8] {
        var bytes: [UInt8] = [Self.version, holdingDown ? 1 : startingUp ? 2 : 0, UInt8(min(interfaces.count, 255))]
        for interface in interfaces.prefix(255) {
            let name = Array(interface.name.utf8.prefix(255))
            bytes += [UInt8(name.count)] + name + interface.mac.octets
            bytes.append(UInt8(min(interface.prefixes.count, 255)))
            for prefix in interface.prefixes.prefix(255) {
                switch prefix.address {
                case .v4(let ip): bytes += [4] + ip.octets
                case .v6(let ip): bytes += [6] + ip.bytes
                }
                bytes.append(UInt8(prefix.length))
            }
        }
        var checks: [UInt8] = []
        var count = 0
        // Names that do not fit in the metadata's kilobyte (or a count byte) are left out:
        // those checks count as not passing on other nodes.
        for name in passingChecks where bytes.count + checks.count + name.utf8.count + 2 < GossipMessage.maxMetaLength
            && name.utf8.count <= 255 && count < 255 {
            checks += [UInt8(name.utf8.count)] + Array(name.utf8)
            count += 1
        }
        bytes += [UInt8(count)] + checks
        // An optional trailer, absent when empty (as versions before `about` wrote it):
        // `about` first, then the unreachable nodes.
        var unreachable: [UInt8] = []
        count = 0
        for name in (about.map { [$0.entry] } ?? []) + unreachableNodes where bytes.count + unreachable.count + name.utf8.count + 3 < GossipMessage.maxMetaLength
            && name.utf8.count <= 255 && count < 255 {
            unreachable += [UInt8(name.utf8.count)] + Array(name.utf8)
            count += 1
        }
        return count == 0 ? bytes : bytes + [UInt8(count)] + unreachable
    }

    /// `nil` for metadata this version cannot read: such a node is not eligible.
    public static func decode(_ bytes: [UInt8]) -> NodeMeta? {
        var index = 0
        func take(_ count: Int) -> ArraySlice<UInt8>? {
            guard count >= 0, index + count <= bytes.count else { return nil }
            defer { index += count }
            return bytes[index..<index + count]
        }
        func byte() -> UInt8? { take(1)?.first }
        func string() -> String? {
            guard let length = byte(), let raw = take(Int(length)) else { return nil }
            return String(decoding: raw, as: UTF8.self)
        }
        guard byte() == version, let holding = byte(), let interfaceCount = byte() else { return nil }
        var interfaces: [Interface] = []
        for _ in 0..<interfaceCount {
            guard let name = string(), let macBytes = take(6), let prefixCount = byte() else { return nil }
            let mac = MACAddress(macBytes[macBytes.startIndex], macBytes[macBytes.startIndex + 1], macBytes[macBytes.startIndex + 2],
                                 macBytes[macBytes.startIndex + 3], macBytes[macBytes.startIndex + 4], macBytes[macBytes.startIndex + 5])
            var prefixes: [IPPrefix] = []
            for _ in 0..<prefixCount {
                guard let family = byte() else { return nil }
                let address: IPAddress
                switch family {
                case 4:
                    guard let raw = take(4) else { return nil }
                    address = .v4(IPv4Address(raw[raw.startIndex], raw[raw.startIndex + 1], raw[raw.startIndex + 2], raw[raw.startIndex + 3]))
                case 6:
                    guard let raw = take(16) else { return nil }
                    address = .v6(IPv6Address(bytes: raw))
                default:
                    return nil
                }
                guard let length = byte(), Int(length) <= address.bitWidth else { return nil }
                prefixes.append(IPPrefix(address: address, length: Int(length)))
            }
            interfaces.append(Interface(name: name, mac: mac, prefixes: prefixes))
        }
        guard let checkCount = byte() else { return nil }
        var checks: [String] = []
        for _ in 0..<checkCount {
            guard let name = string() else { return nil }
            checks.append(name)
        }
        var unreachable: [String] = []
        if index < bytes.count, let unreachableCount = byte() {
            // Never written empty: an empty trailer is garbage.
            guard unreachableCount > 0 else { return nil }
            for _ in 0..<unreachableCount {
                guard let name = string() else { return nil }
                unreachable.append(name)
            }
        }
        guard index == bytes.count else { return nil }
        let about = unreachable.lazy.compactMap(About.init(entry:)).first
        return NodeMeta(interfaces: interfaces, passingChecks: checks, holdingDown: holding != 0 && holding != 2,
                        startingUp: holding == 2, unreachableNodes: unreachable.filter { !$0.hasPrefix("=") }, about: about)
    }
}
