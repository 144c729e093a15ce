import CCurl
import Glibc
import HeraldCore
import Synchronization

/// Why a request to the API server failed, phrased for the journal.
public enum KubeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No answer: connection refused, DNS, timeout, TLS handshake.
    case transport(String)
    /// 401/403: the credentials are wrong or lack permission.
    case unauthorized(Int, String)
    /// 409: the object changed since it was read.
    case conflict(String)
    /// 410: the resourceVersion is older than the server's history.
    case gone(String)
    case notFound(String)
    /// Any other status.
    case status(Int, String)
    /// The answer was not what the API promises.
    case malformed(String)
    /// `stop()` was called.
    case stopped

    public var description: String {
        switch self {
        case .transport(let message): "cannot reach the API server: \(message)"
        case .unauthorized(let code, let message): "the API server refused our credentials (\(code)): \(message); check kubernetes.kubeconfig"
        case .conflict(let message): "conflict: \(message)"
        case .gone(let message): "gone: \(message)"
        case .notFound(let message): "not found: \(message)"
        case .status(let code, let message): "API server answered \(code): \(message)"
        case .malformed(let message): "unexpected answer from the API server: \(message)"
        case .stopped: "stopped"
        }
    }

    /// Maps an HTTP status and the `Status` body's message to an error.
    static func from(status: Int, body: [UInt8]) -> KubeError {
        let message = KubeStatus.message(in: body) ?? "HTTP \(status)"
        switch status {
        case 401, 403: return .unauthorized(status, message)
        case 404: return .notFound(message)
        case 409: return .conflict(message)
        case 410: return .gone(message)
        default: return .status(status, message)
        }
    }
}

/// One connection's worth of requests to the API server, over libcurl with TLS verified
/// (peer and host name) and the kubeconfig's client certificate or token. Blocking: used
/// from a dedicated thread. `stop()` aborts a request in progress from any thread.
public final class KubeHTTP: @unchecked Sendable {
    public let credentials: KubeCredentials
    private let handle: UnsafeMutableRawPointer
    private let stopping = Atomic<Bool>(false)
    private var headers: UnsafeMutablePointer<curl_slist>?

    public init(credentials: KubeCredentials) throws(KubeError) {
        var error = [CChar](repeating: 0, count: 256)
        guard herald_curl_load(&error, error.count) == 0 else {
            throw KubeError.transport(String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        guard let handle = herald_curl_easy_init() else { throw KubeError.transport("curl_easy_init failed") }
        self.handle = handle
        self.credentials = credentials
        herald_curl_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        herald_curl_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        herald_curl_long(handle, CURLOPT_CONNECTTIMEOUT_MS, 5000)
        herald_curl_long(handle, CURLOPT_NOSIGNAL, 1)
        herald_curl_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        switch credentials.certificateAuthority {
        case .file(let path): _ = path.withCString { herald_curl_pointer(handle, CURLOPT_CAINFO, $0) }
        case .data(let bytes): _ = bytes.withUnsafeBytes { herald_curl_blob(handle, CURLOPT_CAINFO_BLOB, $0.baseAddress, $0.count) }
        case nil: break
        }
        switch credentials.clientCertificate {
        case .file(let path): _ = path.withCString { herald_curl_pointer(handle, CURLOPT_SSLCERT, $0) }
        case .data(let bytes): _ = bytes.withUnsafeBytes { herald_curl_blob(handle, CURLOPT_SSLCERT_BLOB, $0.baseAddress, $0.count) }
        case nil: break
        }
        switch credentials.clientKey {
        case .file(let path): _ = path.withCString { herald_curl_pointer(handle, CURLOPT_SSLKEY, $0) }
        case .data(let bytes): _ = bytes.withUnsafeBytes { herald_curl_blob(handle, CURLOPT_SSLKEY_BLOB, $0.baseAddress, $0.count) }
        case nil: break
        }
    }

    deinit {
        herald_curl_slist_free_all(headers)
        herald_curl_easy_cleanup(handle)
    }

    /// Aborts the request in progress (within about a second) and every later one.
    public func stop() { stopping.store(true, ordering: .relaxed) }

    /// The largest response body taken whole (a list of every Service in a big cluster
    /// is a few MB); a larger one is an error, never a truncated success.
    public static let responseLimit = 64 << 20
    /// The longest line of a watch stream (one object); a longer one ends the watch with
    /// an error, so the watcher backs off and lists again.
    public static let lineLimit = 16 << 20

    /// A request that returns the whole body; non-2xx statuses become `KubeError`s.
    public func request(_ method: String, _ path: String, body: [UInt8]? = nil,
                        contentType: String = "application/json", timeout: Duration = .seconds(30)) throws(KubeError) -> [UInt8] {
        var collected: [UInt8] = []
        var tooLarge = false
        let status = try perform(method, path, body: body, contentType: contentType, timeout: timeout, idleLimit: nil) { chunk in
            guard collected.count + chunk.count <= Self.responseLimit else {
                tooLarge = true
                return false
            }
            collected += chunk
            return true
        }
        if tooLarge { throw KubeError.malformed("\(method) \(path): response larger than \(Self.responseLimit >> 20) MiB") }
        guard (200..<300).contains(status) else { throw KubeError.from(status: status, body: collected) }
        return collected
    }

    /// A streaming GET (a watch): `onLine` gets each newline-terminated line and returns
    /// false to end the stream. Ends when the server closes it, with an error when nothing
    /// (not even a bookmark) arrived for `idleLimit`, when it runs past `deadline` (the
    /// server should have ended it by then), or when a line is longer than `lineLimit`.
    /// Splitting is linear: each byte is looked at once, however the stream is chunked.
    public func stream(_ path: String, idleLimit: Duration, deadline: Duration, onLine: ([UInt8]) -> Bool) throws(KubeError) {
        var pending: [UInt8] = []
        /// Bytes of `pending` already searched for a newline.
        var searched = 0
        var errorBody: [UInt8] = []
        var ok = true
        var tooLong = false
        let status = try perform("GET", path, body: nil, contentType: "application/json", timeout: deadline, idleLimit: idleLimit) { chunk in
            guard ok else {
                errorBody += chunk.prefix(max(0, (1 << 20) - errorBody.count))
                return true
            }
            pending += chunk
            var start = 0
            while let newline = pending[searched...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = Array(pending[start..<newline])
                start = newline + 1
                searched = start
                if !line.isEmpty && !onLine(line) { return false }
            }
            pending.removeFirst(start)
            searched = pending.count
            guard pending.count <= Self.lineLimit else {
                tooLong = true
                return false
            }
            return true
        } onStatus: { status in
            ok = (200..<300).contains(status)
        }
        if tooLong { throw KubeError.malformed("watch \(path): a line longer than \(Self.lineLimit >> 20) MiB") }
        if !ok { throw KubeError.from(status: status, body: errorBody) }
    }

    // MARK: -

    private final class Context {
        var onData: ([UInt8]) -> Bool
        var onStatus: (Int) -> Void
        var statusSeen = false
        let handle: UnsafeMutableRawPointer
        let isStopping: () -> Bool

        init(handle: UnsafeMutableRawPointer, onData: @escaping ([UInt8]) -> Bool, onStatus: @escaping (Int) -> Void, isStopping: @escaping () -> Bool) {
            self.handle = handle
            self.onData = onData
            self.onStatus = onStatus
            self.isStopping = isStopping
        }
    }

    private func perform(_ method: String, _ path: String, body: [UInt8]?, contentType: String, timeout: Duration?,
                         idleLimit: Duration?, onData: ([UInt8]) -> Bool,
                         onStatus: (Int) -> Void = { _ in }) throws(KubeError) -> Int {
        if stopping.load(ordering: .relaxed) { throw KubeError.stopped }
        return try withoutActuallyEscaping(onData) { onData throws(KubeError) in
            try withoutActuallyEscaping(onStatus) { onStatus throws(KubeError) in
                let context = Context(handle: handle, onData: onData, onStatus: onStatus,
                                      isStopping: { [unowned self] in self.stopping.load(ordering: .relaxed) })
                return try run(method, path, body: body, contentType: contentType, timeout: timeout, idleLimit: idleLimit, context: context)
            }
        }
    }

    private func run(_ method: String, _ path: String, body: [UInt8]?, contentType: String, timeout: Duration?,
                     idleLimit: Duration?, context: Context) throws(KubeError) -> Int {
        herald_curl_slist_free_all(headers)
        headers = nil
        var lines = ["Accept: application/json", "User-Agent: heraldd"]
        if body != nil { lines.append("Content-Type: \(contentType)") }
        if let token = try currentToken() { lines.append("Authorization: Bearer \(token)") }
        for line in lines { headers = herald_curl_slist_append(headers, line) }
        herald_curl_pointer(handle, CURLOPT_HTTPHEADER, headers)
        _ = (credentials.server + path).withCString { herald_curl_pointer(handle, CURLOPT_URL, $0) }
        _ = method.withCString { herald_curl_pointer(handle, CURLOPT_CUSTOMREQUEST, $0) }
        herald_curl_long(handle, CURLOPT_HTTPGET, method == "GET" ? 1 : 0)
        herald_curl_long(handle, CURLOPT_TIMEOUT_MS, timeout.map { Int(clamping: $0.components.seconds) * 1000 } ?? 0)
        if let idleLimit {
            herald_curl_long(handle, CURLOPT_LOW_SPEED_LIMIT, 1)
            herald_curl_long(handle, CURLOPT_LOW_SPEED_TIME, Int(idleLimit.components.seconds))
        } else {
            herald_curl_long(handle, CURLOPT_LOW_SPEED_LIMIT, 0)
            herald_curl_long(handle, CURLOPT_LOW_SPEED_TIME, 0)
        }
        let unmanaged = Unmanaged.passUnretained(context).toOpaque()
        herald_curl_write(handle, { data, size, count, raw in
            let context = Unmanaged<Context>.fromOpaque(raw!).takeUnretainedValue()
            if !context.statusSeen {
                context.statusSeen = true
                context.onStatus(herald_curl_status(context.handle))
            }
            let length = size * count
            guard let data, context.onData(Array(UnsafeRawBufferPointer(start: data, count: length))) else { return 0 }
            return length
        }, unmanaged)
        herald_curl_progress(handle, { raw, _, _, _, _ in
            Unmanaged<Context>.fromOpaque(raw!).takeUnretainedValue().isStopping() ? 1 : 0
        }, unmanaged)
        let code: CURLcode = if let body {
            body.withUnsafeBytes { bytes in
                herald_curl_long(handle, CURLOPT_POSTFIELDSIZE, bytes.count)
                herald_curl_pointer(handle, CURLOPT_POSTFIELDS, bytes.baseAddress)
                return herald_curl_easy_perform(handle)
            }
        } else {
            herald_curl_easy_perform(handle)
        }
        herald_curl_pointer(handle, CURLOPT_POSTFIELDS, nil)
        herald_curl_long(handle, CURLOPT_POSTFIELDSIZE, -1)
        let status = herald_curl_status(handle)
        switch code {
        case CURLE_OK:
            return status
        case CURLE_WRITE_ERROR where status != 0:
            // Our callback ended the transfer (a watch we were done with).
            return status
        case CURLE_ABORTED_BY_CALLBACK:
            throw KubeError.stopped
        default:
            if stopping.load(ordering: .relaxed) { throw KubeError.stopped }
            throw KubeError.transport(String(cString: herald_curl_easy_strerror(code)))
        }
    }

    private func currentToken() throws(KubeError) -> String? {
        if let file = credentials.tokenFile {
            do {
                return try KubeConfigLoader.readText(file).trimmingWhitespace
            } catch {
                throw KubeError.unauthorized(0, "cannot read token file \(file): \(error.message)")
            }
        }
        return credentials.token
    }
}
