import CFuzzer
import Glibc
import HeraldCore
import HeraldWire

// Captured frames -> the responder's decision, for a link that answers, guards and
// watches some addresses (so every branch is reachable); replies it builds must decode,
// and requests it holds must be answered (or dropped as malformed) once it owns them.
let ours = MACAddress(0x02, 0, 0, 0, 0, 0x0b)
let answering: Set<IPAddress> = [IPAddress("198.51.100.50")!, IPAddress("2001:db8:100::50")!]
let context = ResponderContext(mac: ours, answering: answering, ownedElsewhere: [IPAddress("203.0.113.9")!],
                               guarded: answering.union([IPAddress("198.51.100.51")!, IPAddress("2001:db8:100::51")!]),
                               answerMACs: [IPAddress("198.51.100.50")!: MACAddress(0x02, 0, 0, 0, 0, 0x1f)],
                               neighbors: [IPAddress("198.51.100.31")!, IPAddress("2001:db8:100::31")!])
nonisolated(unsafe) var held = HeldRequests(settings: .init(capacity: 8, maximumAge: .seconds(1)))
nonisolated(unsafe) var tick: Int64 = 0

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    tick += 1
    switch Responder.decide(bytes, context: context) {
    case .reply(let frame, _):
        precondition((try? Frame.decode(frame)) != nil, "a reply that does not decode")
    case .held(let address):
        held.hold(bytes, for: address, now: .milliseconds(tick))
        var taken = context
        taken.answering.insert(address)
        for frame in held.take(for: [address], now: .milliseconds(tick)) {
            // Answered now, or dropped for what else is wrong with it; nothing else.
        switch Responder.decide(frame, context: taken) {
        case .reply, .drop: break
        case .held, .conflict, .neighbor: preconditionFailure("a held request decided as something other than a request")
        }
        }
    case .conflict, .neighbor, .drop:
        break
    }
    return 0
})
