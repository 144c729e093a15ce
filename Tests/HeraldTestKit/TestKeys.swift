import HeraldWire

/// A gossip key line that is the same on every run for a given seed.
public func testKeyLine(_ seed: UInt64) -> String {
    var generator = SplitMix64(state: seed)
    return Keyring.keyLine(generator.bytes(32))
}
