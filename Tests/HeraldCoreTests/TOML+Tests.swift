@testable import HeraldCore
import Testing

@Suite struct TOMLTests {
    @Test func readsTheDesignDocumentsConfigShape() throws {
        let root = try TOMLParser.parse("""
        # comment
        [node]
        name = "pve-1"                 # trailing comment
        interfaces = ["vmbr0"]

        [gossip]
        bind = "192.168.2.20:7946"
        join = [
          "192.168.2.21:7946",   # multi-line array
          "192.168.2.22:7946",
        ]

        [[pool]]
        name = 'homelab'
        addresses = ["192.168.2.100-192.168.2.120", "fd00:2::/120"]
        auto_assign = true

        [[pool]]
        name = "second"
        count = 1_000
        hex = 0xff

        [[vip]]
        name = "nas"
        check = { tcp = "127.0.0.1:445", interval = "1s", rise = 2 }
        a.b.c = "dotted"
        "quoted key" = "\\u00e9\\t"
        """)
        guard case .table(let node) = root["node"]?.value.kind else { Issue.record("no node"); return }
        #expect(node["name"]?.value == TOMLValue(kind: .string("pve-1"), line: 3))
        guard case .array(let pools) = root["pool"]?.value.kind, pools.count == 2,
              case .table(let second) = pools[1].kind else { Issue.record("no pools"); return }
        #expect(second["count"]?.value.kind == .integer(1000))
        #expect(second["hex"]?.value.kind == .integer(255))
        #expect(second.line == 18)
        guard case .array(let vips) = root["vip"]?.value.kind, case .table(let vip) = vips[0].kind,
              case .table(let check) = vip["check"]?.value.kind else { Issue.record("no vip"); return }
        #expect(check["rise"]?.value.kind == .integer(2))
        #expect(vip["quoted key"]?.value.kind == .string("é\t"))
        guard case .table(let a) = vip["a"]?.value.kind, case .table(let b) = a["b"]?.value.kind else { Issue.record("no dotted"); return }
        #expect(b["c"]?.value.kind == .string("dotted"))
        guard case .table(let gossip) = root["gossip"]?.value.kind, case .array(let join) = gossip["join"]?.value.kind else {
            Issue.record("no join")
            return
        }
        #expect(join.map(\.line) == [9, 10])
    }

    @Test(arguments: [
        ("a = 1\na = 2", 2, "duplicate key 'a'"),
        ("[x]\n[x]", 2, "already defined on line 1"),
        ("a = \"unterminated", 1, "unterminated string"),
        ("a = yes", 1, "invalid value 'yes'"),
        ("a = 1979-05-27", 1, "dates and times are not used"),
        ("a = 1 b = 2", 1, "expected end of line"),
        ("a = [1, 2", 1, "expected ',' or ']'"),
        ("\n\na = 007", 3, "leading zeros"),
        ("a = \"\"\"multi\"\"\"", 1, "multi-line strings"),
        ("x = 1\n[x]", 2, "redefines a key set on line 1"),
        ("[[p]]\na=1\n[p]", 3, "redefines"),
        ("= 1", 1, "expected a key"),
    ])
    func reportsErrorsWithTheirLine(source: String, line: Int, fragment: String) {
        do {
            _ = try TOMLParser.parse(source)
            Issue.record("accepted: \(source)")
        } catch {
            #expect(error.line == line, "\(error)")
            #expect(error.message.contains(fragment), "\(error)")
        }
    }
}
