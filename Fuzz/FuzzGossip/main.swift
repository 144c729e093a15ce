import CFuzzer
import Glibc
import HeraldMembership
import HeraldWire

// Gossip datagrams -> open (plaintext, so the fuzzer can reach past the seal) -> decode ->
// replay guard -> a membership instance that already knows some members, ticked
// after each packet. Nothing an input carries may trap, and what the instance sends
// must encode and decode again.
let address = GossipAddress(ip: IPAddress("198.51.100.11")!, port: 7946)
let seal = GossipSeal(keyring: nil, clusterName: "fuzz")

struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func run(_ bytes: [UInt8]) {
    var settings = MembershipSettings.lan
    settings.maxMembers = 64
    var instance = MembershipMachine(name: "h1", address: address, meta: [1, 0, 0, 0], settings: settings, now: .zero)
    var random = SplitMix(state: UInt64(bytes.count))
    for name in ["h2", "h3"] {
        let peer = GossipAddress(ip: IPAddress("198.51.100.\(name == "h2" ? 12 : 13)")!, port: 7946)
        _ = instance.onPacket([.alive(name: name, address: peer, incarnation: 1, meta: [])], from: peer, now: .zero)
    }
    var replays = ReplayGuard(destinations: [address], settings: .init(capacity: 8, pendingCapacity: 4))
    let source = GossipAddress(ip: IPAddress("198.51.100.99")!, port: 7946)
    // The first byte picks how the rest arrives: as a sealed packet (through the replay
    // guard, twice, so a confirmed run is exercised too) or as a bare payload.
    guard let mode = bytes.first else { return }
    let packet = Array(bytes.dropFirst())
    var actions: [MembershipAction] = []
    if mode & 1 == 0 {
        guard let opened = try? seal.open(packet), let messages = try? GossipPayload.decode(opened.payload) else { return }
        guard let stamp = opened.stamp else {
            actions += instance.onPacket(messages, from: source, now: .milliseconds(10))
            return
        }
        for _ in 0..<2 {
            let outcome = replays.onPacket(stamp, messages, from: source, now: .milliseconds(10), using: &random)
            for reply in outcome.replies {
                precondition((try? GossipPayload.decode(GossipPayload.encode([reply.message]))) != nil, "a reply that does not decode")
            }
            for admitted in outcome.admitted { actions += instance.onPacket(admitted.messages, from: admitted.from, now: .milliseconds(10)) }
        }
    } else {
        guard let messages = try? GossipPayload.decode(packet) else { return }
        actions += instance.onPacket(messages, from: source, now: .milliseconds(10))
    }
    for step in 1...20 { actions += instance.onTick(now: .milliseconds(10 + 50 * step), using: &random) }
    for case .send(let sent, _) in actions {
        let encoded = GossipPayload.encode(sent)
        precondition((try? GossipPayload.decode(encoded)) != nil, "a message this node sends does not decode")
    }
}

var argc = CommandLine.argc
var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
    run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
})
