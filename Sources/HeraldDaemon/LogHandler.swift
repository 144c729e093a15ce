import CSystemd
import Glibc
import HeraldSystem
import Logging

/// Logs to the systemd journal with native fields when stderr is connected to it (systemd
/// sets `JOURNAL_STREAM` to the device and inode of that stream), and as logfmt lines on
/// stderr otherwise. Metadata key `vip` becomes journal field `HERALD_VIP`, so
/// `journalctl -u herald HERALD_VIP=192.168.2.50` finds every line about one address.
public struct HeraldLogHandler: LogHandler {
    public enum Sink: Sendable {
        case journal
        case logfmt
    }

    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let sink: Sink

    public init(label: String, level: Logger.Level = .info, sink: Sink = Self.detectSink()) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Journal when our stderr is the stream systemd named in `JOURNAL_STREAM`.
    public static func detectSink() -> Sink {
        guard let stream = System.environment("JOURNAL_STREAM") else { return .logfmt }
        let parts = stream.split(separator: ":")
        var info = stat()
        guard parts.count == 2, fstat(2, &info) == 0,
              UInt64(parts[0]) == UInt64(info.st_dev), UInt64(parts[1]) == UInt64(info.st_ino) else { return .logfmt }
        return .journal
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { $1 } }
        if let extra = event.metadata { fields.merge(extra) { $1 } }
        if let error = event.error { fields["error"] = "\(error)" }
        switch sink {
        case .journal: sendToJournal(event, fields)
        case .logfmt: System.write(2, Self.logfmtLine(level: event.level, message: "\(event.message)", fields: fields, time: Self.timestamp()))
        }
    }

    static func logfmtLine(level: Logger.Level, message: String, fields: Logger.Metadata, time: String) -> String {
        var line = "time=\(time) level=\(level.rawValue) msg=\(quote(message))"
        for key in fields.keys.sorted() {
            line += " \(key)=\(quote("\(fields[key]!)"))"
        }
        return line + "\n"
    }

    static func quote(_ value: String) -> String {
        let plain = !value.isEmpty && value.unicodeScalars.allSatisfy { $0.value > 0x20 && $0 != "\"" && $0 != "=" && $0 != "\\" && $0.value < 0x7F }
        if plain { return value }
        var escaped = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\t": escaped += "\\t"
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }

    /// UTC, RFC 3339 with milliseconds.
    static func timestamp() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(now.tv_nsec / 1_000_000), 3))Z"
    }

    static func journalPriority(_ level: Logger.Level) -> Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    /// Journal field names: upper case letters, digits and underscores, not starting with one.
    static func journalField(_ key: String) -> String {
        "HERALD_" + String(key.uppercased().map { $0.isLetter || $0.isNumber ? $0 : "_" })
    }

    private func sendToJournal(_ event: LogEvent, _ fields: Logger.Metadata) {
        var entries = ["MESSAGE=\(event.message)", "PRIORITY=\(Self.journalPriority(event.level))",
                       "SYSLOG_IDENTIFIER=heraldd", "HERALD_SUBSYSTEM=\(label)"]
        for (key, value) in fields { entries.append("\(Self.journalField(key))=\(value)") }
        let buffers = entries.map { Array($0.utf8) }
        var vectors: [iovec] = []
        var retained: [UnsafeMutableRawPointer] = []
        for buffer in buffers {
            let pointer = UnsafeMutableRawPointer.allocate(byteCount: max(buffer.count, 1), alignment: 1)
            buffer.withUnsafeBytes { pointer.copyMemory(from: $0.baseAddress!, byteCount: buffer.count) }
            retained.append(pointer)
            vectors.append(iovec(iov_base: pointer, iov_len: buffer.count))
        }
        _ = sd_journal_sendv(&vectors, Int32(vectors.count))
        retained.forEach { $0.deallocate() }
    }
}
