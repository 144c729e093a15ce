import HeraldWire
import HeraldTestKit
import Testing

/// Feeds a million malformed frames to each decoder. The property is simply that nothing
/// traps: every input either decodes or throws a `WireError`. Mutations are seeded, so a
/// failure reproduces.
@Suite struct MutationTests {
    static let iterations = 1_000_000

    /// One mutation of a valid frame: flip, overwrite, truncate, extend, or splice lengths.
    static func mutate(_ seed: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var bytes = seed
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !bytes.isEmpty:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
            case 1 where !bytes.isEmpty:
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 2:
                bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
            case 3:
                bytes += (0..<Int.random(in: 1...40, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            case 4 where bytes.count > 22:
                // Lengths and type fields are where decoders go wrong: hit them on purpose.
                let spot = [18, 19, 20, 21, 54, 55, 56, 79, 80, 87, 88].randomElement(using: &rng)!
                if spot < bytes.count { bytes[spot] = [0, 1, 2, 0xFF, 0x80].randomElement(using: &rng)! }
            default:
                bytes = (0..<Int.random(in: 0...96, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return bytes
    }

    static let seeds = [Fixtures.arpingRequest, Fixtures.kernelARPReply, Fixtures.ndisc6Solicitation,
                        Fixtures.kernelAdvertisement, Fixtures.kernelDADProbe, Fixtures.routerSolicitation]

    @Test func frameDecoderSurvivesMalformedInput() async {
        let outcomes = await offPool { Self.frameDecoderRun() }
        #expect(outcomes.decoded + outcomes.rejected == Self.iterations)
        // Both paths must be exercised, or the mutations are too mild or too wild.
        #expect(outcomes.decoded > Self.iterations / 100)
        #expect(outcomes.rejected > Self.iterations / 10)
    }

    static func frameDecoderRun() -> (decoded: Int, rejected: Int) {
        var rng = SplitMix64(state: 1)
        var outcomes = (decoded: 0, rejected: 0)
        for index in 0..<Self.iterations {
            let input = Self.mutate(Self.seeds[index % Self.seeds.count], &rng)
            do {
                _ = try Frame.decode(input)
                outcomes.decoded += 1
            } catch {
                outcomes.rejected += 1
            }
        }
        return outcomes
    }

    @Test func arpDecoderSurvivesMalformedInput() async {
        let rejected = await offPool { Self.arpDecoderRun() }
        #expect(rejected > 0 && rejected < Self.iterations)
    }

    static func arpDecoderRun() -> Int {
        var rng = SplitMix64(state: 2)
        var rejected = 0
        for index in 0..<Self.iterations {
            let input = Self.mutate(Array(Self.seeds[index % 2].dropFirst(14)), &rng)
            do { _ = try input.withUnsafeBytes { try ARPPacket.decode($0) } } catch { rejected += 1 }
        }
        return rejected
    }

    @Test func ndpDecoderSurvivesMalformedInput() async {
        let rejected = await offPool { Self.ndpDecoderRun() }
        #expect(rejected > 0 && rejected < Self.iterations)
    }

    static func ndpDecoderRun() -> Int {
        var rng = SplitMix64(state: 3)
        var rejected = 0
        for index in 0..<Self.iterations {
            let input = Self.mutate(Array(Self.seeds[2 + index % 4].dropFirst(14)), &rng)
            do { _ = try input.withUnsafeBytes { try NDPPacket.decode($0) } } catch { rejected += 1 }
        }
        return rejected
    }
}
