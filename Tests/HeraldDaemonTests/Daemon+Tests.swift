import FoundationEssentials
import Glibc
import HeraldControl
import HeraldCore
import HeraldSystem
import HeraldTestKit
import HeraldWire
import Logging
import ServiceLifecycle
import Testing
@testable import HeraldDaemon

/// A scratch directory under /tmp, removed when the test ends.
final class ScratchDirectory {
    let path: String

    init() {
        var template = Array("/tmp/herald-test-XXXXXX".utf8CString)
        path = String(cString: mkdtemp(&template))
    }

    func write(_ name: String, _ text: String, mode: mode_t = 0o644) {
        let full = "\(path)/\(name)"
        if let slash = name.lastIndex(of: "/") { mkdir("\(path)/\(name[..<slash])", 0o755) }
        let fd = open(full, O_WRONLY | O_CREAT | O_TRUNC, mode)
        System.write(fd, text)
        fchmod(fd, mode)
        close(fd)
    }

    deinit {
        for entry in System.listDirectory(path) {
            for inner in System.listDirectory("\(path)/\(entry)") { unlink("\(path)/\(entry)/\(inner)") }
            rmdir("\(path)/\(entry)")
            unlink("\(path)/\(entry)")
        }
        rmdir(path)
    }
}

let noInterfaces = HostFacts(hostname: "h1", interfaces: [])
/// A host whose one NIC is on 10.0.0.0/16.
let tenNet = HostFacts(hostname: "h1", interfaces: [
    HostInterface(name: "eth0", index: 2, mac: MACAddress("02:00:00:00:00:11"), isUp: true, isBroadcast: true, isLoopback: false,
                  isVirtual: false, hasMaster: false, prefixes: [IPPrefix(address: IPAddress("10.0.200.1")!, length: 16)]),
])

@Suite struct LogHandlerTests {
    @Test func logfmtQuotesOnlyWhatNeedsIt() {
        let line = HeraldLogHandler.logfmtLine(level: .warning, message: "another host claims a VIP",
                                               fields: ["vip": "198.51.100.50", "note": "a \"b\"\nc", "iface": "eth0"],
                                               time: "2026-01-01T00:00:00.000Z")
        #expect(line == "time=2026-01-01T00:00:00.000Z level=warning msg=\"another host claims a VIP\" iface=eth0 note=\"a \\\"b\\\"\\nc\" vip=198.51.100.50\n")
    }

    @Test func journalFieldsAreUpperCaseAndPrefixed() {
        #expect(HeraldLogHandler.journalField("vip") == "HERALD_VIP")
        #expect(HeraldLogHandler.journalField("foreign-mac") == "HERALD_FOREIGN_MAC")
        #expect(HeraldLogHandler.journalPriority(.error) == 3)
    }

    @Test func journalOnlyWhenStderrIsTheNamedStream() {
        setenv("JOURNAL_STREAM", "1:2", 1)
        defer { unsetenv("JOURNAL_STREAM") }
        #expect(HeraldLogHandler.detectSink() == .logfmt)
        var info = stat()
        fstat(2, &info)
        setenv("JOURNAL_STREAM", "\(info.st_dev):\(info.st_ino)", 1)
        #expect(HeraldLogHandler.detectSink() == .journal)
    }
}

@Suite struct ConfigLoaderTests {
    @Test func readsMainFileAndPoolsDirectoryInOrder() throws {
        let scratch = ScratchDirectory()
        scratch.write("herald.toml", "[node]\nname = \"h1\"\n")
        scratch.write("pools.d/20-b.toml", "[[pool]]\nname = \"b\"\naddresses = [\"10.0.1.16/28\"]\n")
        scratch.write("pools.d/10-a.toml", "[[pool]]\nname = \"a\"\naddresses = [\"10.0.0.16/28\"]\n")
        scratch.write("pools.d/notes.txt", "ignored")
        let loaded = try ConfigLoader.load(path: "\(scratch.path)/herald.toml", host: tenNet).get()
        #expect(loaded.config.pools.map(\.name) == ["a", "b"])
        #expect(loaded.files == ["\(scratch.path)/herald.toml", "\(scratch.path)/pools.d/10-a.toml", "\(scratch.path)/pools.d/20-b.toml"])
        #expect(loaded.nodeName == "h1")
    }

    @Test func missingFileIsNamed() {
        guard case .failure(let errors) = ConfigLoader.load(path: "/nonexistent/herald.toml", host: noInterfaces) else {
            Issue.record("loaded a missing file")
            return
        }
        #expect(errors.description == "/nonexistent/herald.toml: cannot open /nonexistent/herald.toml: No such file or directory")
    }

    @Test func refusesAKubeconfigOthersCanReadOrChange() {
        let scratch = ScratchDirectory()
        let kubeconfig = """
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://198.51.100.5:6443", certificate-authority-data: "\(Data("ca".utf8).base64EncodedString())"}}]
            users: [{name: u, user: {token: secret}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """
        let path = "\(scratch.path)/kubeconfig"
        scratch.write("kubeconfig", kubeconfig, mode: 0o644)
        #expect(ConfigLoader.kubeconfigProblem(path, reader: FileSafety.currentUser()) == "\(path) holds credentials and others can read it (mode 644); run: chmod 640 \(path)")
        scratch.write("kubeconfig", kubeconfig, mode: 0o660)
        #expect(ConfigLoader.kubeconfigProblem(path, reader: FileSafety.currentUser()) == "\(path) can be changed by group or others (mode 660); run: chmod 640 \(path)")
        scratch.write("kubeconfig", kubeconfig, mode: 0o640)
        #expect(ConfigLoader.kubeconfigProblem(path, reader: FileSafety.currentUser()) == nil)
    }

    @Test func keyFilesAreWrittenWholeWithTheirModeAndOwner() throws {
        // heraldctl keygen: a new file by rename (readers see old or new, never half), mode
        // 0600 whatever it replaces, owned by herald when root writes it.
        let scratch = ScratchDirectory()
        let path = "\(scratch.path)/gossip.key"
        scratch.write("gossip.key", "old\n", mode: 0o644)
        var before = stat()
        #expect(stat(path, &before) == 0)
        let owner: (uid: uid_t, gid: gid_t)? = getuid() == 0 ? (65534, 65534) : nil
        try System.writeFileAtomically(path, "new\n", mode: 0o600, owner: owner)
        var after = stat()
        #expect(stat(path, &after) == 0)
        #expect(after.st_ino != before.st_ino, "replaced by rename, not rewritten in place")
        #expect(after.st_mode & 0o777 == 0o600)
        if let owner { #expect(after.st_uid == owner.uid && after.st_gid == owner.gid) }
        #expect(try System.readFile(path, limit: 100) == "new\n")
        #expect(System.listDirectory(scratch.path) == ["gossip.key"], "no temporary file left")
    }

    @Test func refusesAKeyFileOthersCanRead() {
        let scratch = ScratchDirectory()
        let key = testKeyLine(1) + "\n"
        scratch.write("gossip.key", key, mode: 0o644)
        scratch.write("herald.toml", "[gossip]\nbind = \"0.0.0.0:7946\"\nkey_file = \"\(scratch.path)/gossip.key\"\n")
        guard case .failure(let errors) = ConfigLoader.load(path: "\(scratch.path)/herald.toml", host: noInterfaces) else {
            Issue.record("accepted a world-readable key")
            return
        }
        #expect(errors.description == "\(scratch.path)/herald.toml:3: gossip.key_file: \(scratch.path)/gossip.key is readable by group or others (mode 644); run: chmod 600 \(scratch.path)/gossip.key")
        scratch.write("gossip.key", key, mode: 0o600)
        #expect((try? ConfigLoader.load(path: "\(scratch.path)/herald.toml", host: noInterfaces).get()) != nil)
        scratch.write("gossip.key", "# comment\nnot a key\n", mode: 0o600)
        guard case .failure(let bad) = ConfigLoader.load(path: "\(scratch.path)/herald.toml", host: noInterfaces) else {
            Issue.record("accepted a key file without a key")
            return
        }
        #expect(bad.description.hasSuffix("gossip.key:2: not a base64-encoded 32-byte key (make one with heraldctl keygen)"))
    }
}

@Suite struct ControlSocketTests {
    @Test func answersStatusAndRejectsUnknownCommands() async throws {
        let scratch = ScratchDirectory()
        let path = "\(scratch.path)/herald.sock"
        let service = try ControlServer(path: path, logger: Logger(label: "test")) { command in
            Array("{\"answer\":\"\(command.line)\"}".utf8)
        }
        var info = stat()
        #expect(stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(throws: SystemError.self) { try ControlServer(path: path, logger: Logger(label: "test")) { _ in [] } }

        let group = ServiceGroup(services: [service], logger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            // The socket listens from init on; the service accepts once the group runs it,
            // which can take seconds while CPU-bound tests hold every thread of the pool.
            // The client gives up after 5 s, so ask again (at most a minute in all).
            var reply: Result<[UInt8], SystemError> = .failure(SystemError("not asked", errno: 0))
            for _ in 0..<12 {
                reply = await offPool { Result { () throws(SystemError) in try ControlClient.request(.status, path: path) } }
                if case .success = reply { break }
            }
            #expect(try String(decoding: reply.get(), as: UTF8.self) == "{\"answer\":\"status\"}")
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
        }
        #expect(!System.fileExists(path))
    }
}

extension ControlSocketTests {
    @Test func neverReplacesAFileThatIsNotASocket() {
        let scratch = ScratchDirectory()
        scratch.write("herald.sock", "precious")
        #expect(throws: SystemError.self) {
            try ControlServer(path: "\(scratch.path)/herald.sock", logger: Logger(label: "test")) { _ in [] }
        }
        #expect((try? System.readFile("\(scratch.path)/herald.sock")) == "precious")
    }
}

@Suite struct ControlProtocolTests {
    @Test func daemonsJSONDecodesIntoTheSameReport() throws {
        var tally = LinkTally()
        tally.requestsReceived = [IPAddress("198.51.100.50")!: 7]
        tally.dropped = [.malformed(.truncated(needed: 42, available: 1)).kind: 3, .notOurs: 1]
        tally.kernelDrops = 2
        let counters = tally.text
        #expect(counters.requestsReceived == ["198.51.100.50": 7])
        #expect(counters.dropped == ["malformed_truncated": 3, "not_ours": 1])
        let report = StatusReport(
            node: "h1 \"quoted\"\n", version: "0.1.0", pid: 42, uptimeSeconds: 9, configFiles: ["/etc/herald/herald.toml"],
            links: [LinkReport(name: "eth0", mac: "02:00:00:00:00:0b", answering: ["198.51.100.50"], counters: counters)],
            vips: [VIPReport(name: "web", address: "198.51.100.50", role: .announcing, owner: "h1", interfaces: ["eth0"]),
                   VIPReport(name: "nas", address: "198.51.100.51", role: .notEligible, owner: nil, interfaces: []),
                   VIPReport(name: "dns", address: "198.51.100.52", role: .conflict, owner: "h1", interfaces: ["eth0"],
                             foreignMAC: "02:00:00:00:00:99")])
        let encoded = controlReply(report)
        #expect(try JSONDecoder().decode(StatusReport.self, from: Data(encoded)) == report)
        // Keys sorted, optional fields absent rather than null: answers diff well.
        let text = String(decoding: encoded, as: UTF8.self)
        #expect(text.hasPrefix(#"{"configFiles":["/etc/herald/herald.toml"],"links":"#))
        #expect(!text.contains("null"))
    }
}

@Suite struct MetricsTests {
    @Test func writesTheTextFormatWithEscapedLabelsAndCumulativeBuckets() {
        var out = MetricsText()
        out.family("herald_things_total", .counter, "Things.\nSecond line with \\.")
        out.sample("herald_things_total", ["vip": "a \"b\"\\\n"], UInt64(3))
        var histogram = Histogram(bounds: [0.001, 0.01])
        histogram.observe(0.0005)
        histogram.observe(0.005)
        histogram.observe(2)
        out.family("herald_rtt_seconds", .histogram, "RTT.")
        out.histogram("herald_rtt_seconds", [], histogram)
        #expect(out.text == """
            # HELP herald_things_total Things.\\nSecond line with \\\\.
            # TYPE herald_things_total counter
            herald_things_total{vip="a \\"b\\"\\\\\\n"} 3
            # HELP herald_rtt_seconds RTT.
            # TYPE herald_rtt_seconds histogram
            herald_rtt_seconds_bucket{le="0.001"} 1
            herald_rtt_seconds_bucket{le="0.01"} 2
            herald_rtt_seconds_bucket{le="+Inf"} 3
            herald_rtt_seconds_sum 2.0055
            herald_rtt_seconds_count 3

            """)
    }

    @Test func parsesRequestLinesAndRefusesGarbage() {
        #expect(HTTPRequestLine.parse(Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8))
                == HTTPRequestLine(method: "GET", path: "/metrics"))
        #expect(HTTPRequestLine.parse(Array("garbage\r\n\r\n".utf8)) == nil)
        #expect(HTTPRequestLine.parse(Array("GET metrics HTTP/1.1\r\n".utf8)) == nil)
        #expect(HTTPRequestLine.isComplete(Array("GET / HTTP/1.0\r\n\r\n".utf8)))
        #expect(!HTTPRequestLine.isComplete(Array("GET / HTTP/1.0\r\nHost: x\r\n".utf8)))
    }

    @Test func watchdogVouchesOnlyWhileEveryLoopTurns() {
        #expect(SystemdNotifier.progressLimit(watchdog: .seconds(10)) == .seconds(5))
        #expect(SystemdNotifier.progressLimit(watchdog: .seconds(2)) == .seconds(3))
        let beats: [(name: String, lateness: Duration)] = [("link-eth0", .milliseconds(900)), ("gossip", .seconds(7))]
        #expect(SystemdNotifier.stalled(beats, limit: .seconds(5)) == ["gossip"])
        #expect(SystemdNotifier.stalled(beats, limit: .seconds(8)).isEmpty)
    }

    @Test func aLoopWaitingForAPacketIsNotLateButOneThatOverstaysItsWaitIs() {
        let idle = Heartbeat("control")
        idle.willWait(milliseconds: -1)
        #expect(idle.lateness == .zero, "waiting for a client with no deadline")
        idle.beat()   // a client came: from now on the turn counts
        usleep(20_000)
        #expect(idle.lateness >= .milliseconds(15), "a turn that hangs after the wait is late")
        let busy = Heartbeat("link")
        busy.willWait(milliseconds: 0)
        usleep(20_000)
        #expect(busy.lateness >= .milliseconds(15), "should have been back by now")
        busy.beat()
        #expect(busy.lateness < .milliseconds(15))
    }
}

@Suite struct NodeInboxTests {
    @Test func kubernetesFactsPostedInABurstAreHandledOnceTheNewest() async {
        let inbox = NodeInbox()
        let facts = (0..<3).map { index in KubernetesFacts(services: [ServiceFacts(key: "default/s\(index)", addresses: [])]) }
        for posted in facts { inbox.post(.kubernetes(posted)) }
        inbox.post(.tick)
        #expect(inbox.factsPending)
        var iterator = inbox.events.makeAsyncIterator()
        guard let first = await iterator.next(), case .kubernetes(let handled) = inbox.newest(first) else {
            Issue.record("the facts did not come first")
            return
        }
        #expect(handled == facts[2])
        #expect(!inbox.factsPending)
        guard let second = await iterator.next(), case .tick = inbox.newest(second) else {
            Issue.record("a second copy of the facts queued")
            return
        }
        // After they were taken, new facts queue again.
        inbox.post(.kubernetes(facts[0]))
        guard let third = await iterator.next(), case .kubernetes(let again) = inbox.newest(third) else {
            Issue.record("facts posted after the burst were lost")
            return
        }
        #expect(again == facts[0])
    }
}

@Suite struct CommandCheckTests {
    /// A config whose VIP has a command check, in a directory of its own.
    func configWithCommandCheck(_ scratch: ScratchDirectory, checkUser: String = "nobody", mode: mode_t = 0o644,
                                command: String = "true") -> String {
        scratch.write("herald.toml", """
            [node]
            check_user = "\(checkUser)"
            [[vip]]
            name = "nas"
            address = "10.0.0.50"
            check = { command = "\(command)" }
            """, mode: mode)
        return "\(scratch.path)/herald.toml"
    }

    @Test func theCheckUserMustExistAndNotBeHeralddsOwn() throws {
        let scratch = ScratchDirectory()
        let loaded = try ConfigLoader.load(path: configWithCommandCheck(scratch), host: tenNet).get()
        #expect(loaded.checkUser?.name == "nobody" && loaded.checkUser?.uid == 65534)
        guard case .failure(let missing) = ConfigLoader.load(path: configWithCommandCheck(scratch, checkUser: "no-such-user"), host: tenNet)
        else { Issue.record("accepted a check user that does not exist"); return }
        #expect(missing.description == "\(scratch.path)/herald.toml:2: node.check_user: no user 'no-such-user' on this host to run health-check commands as: the package creates herald-check (systemd-sysusers herald.conf); or name another unprivileged user")
        let nobody = FileSafety.user(named: "nobody")!
        guard case .failure(let own) = ConfigLoader.load(path: configWithCommandCheck(scratch), host: tenNet, serviceUser: nobody)
        else { Issue.record("accepted heraldd's own user for checks"); return }
        #expect(own.description.contains("node.check_user: 'nobody' is the user heraldd runs as"))
    }

    @Test func aCommandCheckInAFileOthersCanChangeIsRefused() throws {
        guard getuid() == 0 else { return }  // the files must be root's to pass
        let scratch = ScratchDirectory()
        let path = configWithCommandCheck(scratch, mode: 0o664)
        guard case .failure(let errors) = ConfigLoader.load(path: path, host: tenNet) else {
            Issue.record("accepted a command check in a group-writable file")
            return
        }
        #expect(errors.description == "\(path):3: vip.check.command: \(path) holds a command check, but it can be changed by group or others (mode 664); a check runs a command on this host, so only root may change the file and its directories: chown root:root \(path) && chmod go-w \(path)")
        chmod(path, 0o644)
        #expect((try? ConfigLoader.load(path: path, host: tenNet).get()) != nil)
        chown(path, 65534, 65534)
        #expect(ConfigLoader.load(path: path, host: tenNet).description.contains("it is owned by uid 65534, not root"))
        chown(path, 0, 0)
        chmod(scratch.path, 0o777)
        #expect(ConfigLoader.load(path: path, host: tenNet).description.contains("its directory \(scratch.path) can be changed by group or others (mode 777)"))
        chmod(scratch.path, 0o1777)
        #expect((try? ConfigLoader.load(path: path, host: tenNet).get()) != nil, "a sticky directory protects root's file")
        chmod(scratch.path, 0o700)
        // The program a check names by absolute path is held to the same rule.
        scratch.write("check.sh", "#!/bin/sh\nexit 0\n", mode: 0o777)
        let named = configWithCommandCheck(scratch, command: "\(scratch.path)/check.sh --quick")
        #expect(ConfigLoader.load(path: named, host: tenNet).description.contains("the check's program \(scratch.path)/check.sh: it can be changed by group or others (mode 777)"))
    }

    @Test func keyAndKubeconfigAreCheckedForTheUserHeralddRunsAs() {
        guard getuid() == 0 else { return }
        let scratch = ScratchDirectory()
        scratch.write("gossip.key", testKeyLine(1) + "\n", mode: 0o600)
        scratch.write("herald.toml", "[gossip]\nbind = \"0.0.0.0:7946\"\nkey_file = \"\(scratch.path)/gossip.key\"\n")
        chmod(scratch.path, 0o755)
        let path = "\(scratch.path)/herald.toml"
        #expect((try? ConfigLoader.load(path: path, host: tenNet).get()) != nil, "root reads it")
        let nobody = FileSafety.user(named: "nobody")!
        #expect(ConfigLoader.load(path: path, host: tenNet, serviceUser: nobody).description
            == "\(path):3: gossip.key_file: cannot use key file \(scratch.path)/gossip.key: heraldd runs as user nobody, who cannot read it (owner uid 0, mode 600); run: chown nobody:nobody \(scratch.path)/gossip.key")
        chown("\(scratch.path)/gossip.key", 65534, 65534)
        #expect((try? ConfigLoader.load(path: path, host: tenNet, serviceUser: nobody).get()) != nil)
    }
}

extension Result where Failure == ConfigErrors {
    /// The errors, or "" when it loaded.
    var description: String {
        if case .failure(let errors) = self { return errors.description }
        return ""
    }
}
