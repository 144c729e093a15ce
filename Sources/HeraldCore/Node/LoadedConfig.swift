/// A config as this node runs it: validated, with the node's name (from the config or the
/// host name), what the host's interfaces are, and the files it came from.
public struct LoadedConfig: Equatable, Sendable {
    public var config: HeraldConfig
    public var nodeName: String
    public var host: HostFacts
    public var files: [String]

    public init(config: HeraldConfig, nodeName: String, host: HostFacts, files: [String] = []) {
        self.config = config
        self.nodeName = nodeName
        self.host = host
        self.files = files
    }
}
