/// Collects "ready" from every link so `READY=1` goes to systemd only once each link is
/// open and has sent its first announcements.
public actor Readiness {
    private var pending: Set<String>
    private var waiters: [CheckedContinuation<Void, Never>] = []

    public init(links: [String]) { pending = Set(links) }

    func markReady(_ link: String) {
        pending.remove(link)
        if pending.isEmpty {
            waiters.forEach { $0.resume() }
            waiters.removeAll()
        }
    }

    public func waitUntilReady() async {
        if pending.isEmpty { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}
