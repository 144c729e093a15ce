/// A config as this node runs it: validated, with the node's name (from the config or the
/// host name), what the host's interfaces are, the files it came from, and the user its
/// health-check commands run as.
public struct LoadedConfig: Equatable, Sendable {
    public var config: HeraldConfig
    public var nodeName: String
    public var host: HostFacts
    public var files: [String]
    /// `node.check_user` as this host knows it; `nil` when it has no such user (then no
    /// VIP of this node has a command check).
    public var checkUser: UserIdentity?

    public init(config: HeraldConfig, nodeName: String, host: HostFacts, files: [String] = [], checkUser: UserIdentity? = nil) {
        self.config = config
        self.nodeName = nodeName
        self.host = host
        self.files = files
        self.checkUser = checkUser
    }
}

/// A user of this host, as the shell looked it up.
public struct UserIdentity: Hashable, Sendable, CustomStringConvertible {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    /// Its primary group and every supplementary one.
    public var groups: [UInt32]

    public init(name: String, uid: UInt32, gid: UInt32, groups: [UInt32] = []) {
        self.name = name
        self.uid = uid
        self.gid = gid
        self.groups = groups.isEmpty ? [gid] : groups
    }

    public var description: String { "\(name) (uid \(uid))" }
}
