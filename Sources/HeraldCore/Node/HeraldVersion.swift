/// This build's version: in `heraldd --version`, `heraldctl --version`, the journal at
/// start, and the metadata every node gossips (`NodeMeta.About`).
public enum HeraldVersion {
    public static let current = "0.1.0"
}
