import Crypto
import FoundationEssentials

/// The keys a node accepts gossip under. The first (primary) key encrypts; every key is
/// tried on decryption, so a new key can be added everywhere, then made primary, then the
/// old one removed, without a moment where two nodes cannot talk.
public struct Keyring: Sendable {
    public let keys: [SymmetricKey]

    public init(keys: [SymmetricKey]) {
        precondition(!keys.isEmpty, "a keyring has at least one key")
        self.keys = keys
    }

    /// Parses a key file: one base64-encoded 32-byte key per line, primary first; blank
    /// lines and `#` comments are ignored. The error names the line.
    public static func parse(_ text: String) -> Result<Keyring, KeyFileError> {
        var keys: [SymmetricKey] = []
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false).first?
                .filter { !$0.isWhitespace } ?? ""
            if line.isEmpty { continue }
            guard let data = Data(base64Encoded: String(line)), data.count == 32 else {
                return .failure(KeyFileError(line: index + 1, message: "not a base64-encoded 32-byte key (make one with heraldctl keygen)"))
            }
            keys.append(SymmetricKey(data: data))
        }
        guard !keys.isEmpty else { return .failure(KeyFileError(line: 0, message: "contains no key")) }
        return .success(Keyring(keys: keys))
    }

    /// A key in key-file form, from 32 random bytes the caller draws (this module takes
    /// its randomness as input, like the rest of the pure core).
    public static func keyLine(_ randomBytes: [UInt8]) -> String {
        precondition(randomBytes.count == 32, "a gossip key is 32 bytes")
        return Data(randomBytes).base64EncodedString()
    }

    public struct KeyFileError: Error, Equatable, Sendable {
        public let line: Int
        public let message: String
    }
}

/// Turns gossip payloads into UDP packets and back.
///
/// Version 3 (this release): `"HRLD" | 3 | mode | body`. The body's plaintext is
/// `sender name (u8 length + UTF-8) | run (u64) | counter (u64) | destination | payload`:
/// the run is a random number the sender draws at start, the counter grows by one per
/// packet, and the destination is the address the sender sent to, so a packet is fresh
/// only once (`ReplayGuard`), and only at the receiver it was meant for. Mode 1 encrypts the
/// plaintext with AES-256-GCM under the nonce `run (8 bytes) | counter (low 4 bytes)`, which
/// never repeats under a key (a sender draws a new run before its counter wraps), with the
/// cluster name and the header as associated data; the layout is `nonce 12 | ciphertext |
/// tag 16`. Mode 0 (plaintext, only for `insecure = true` labs) starts the body with the
/// cluster name (u8 length + UTF-8), checked on receipt. The two modes never mix.
///
/// Version 2 (the release before): the same without the destination, the run called an
/// epoch (from the clock or a state file) and a random nonce. Version 1 (Herald 0.1): the
/// payload alone. A host speaks and accepts them only with `gossip.wire_version = 2` or `1`,
/// during a rolling upgrade, and then accepts version 3 too.
public struct GossipSeal: Sendable {
    static let magic: [UInt8] = Array("HRLD".utf8)
    public static let currentVersion: UInt8 = 3
    static let headerLength = 6
    public static let nonceLength = 12
    /// The largest packet a node sends: a full-state chunk with headroom. Anything larger is
    /// refused before any work is spent on it.
    public static let maxPacket = 24 * 1024

    /// Who sent a packet, where it stands in the sender's sequence, and (version 3) whom it
    /// was for.
    public struct Stamp: Equatable, Sendable {
        public var sender: String
        public var run: UInt64
        public var counter: UInt64
        /// Absent in version 2.
        public var destination: GossipAddress?

        public init(sender: String, run: UInt64, counter: UInt64, destination: GossipAddress?) {
            self.sender = sender
            self.run = run
            self.counter = counter
            self.destination = destination
        }

        /// The AES-GCM nonce of a version 3 packet.
        var nonce: [UInt8] {
            (0..<8).reversed().map { UInt8(truncatingIfNeeded: run >> ($0 * 8)) }
                + (0..<4).reversed().map { UInt8(truncatingIfNeeded: counter >> ($0 * 8)) }
        }
    }

    /// An opened packet: its payload, and its stamp (`nil` for version 1).
    public struct Opened: Equatable, Sendable {
        public var stamp: Stamp?
        public var payload: [UInt8]

        public init(stamp: Stamp?, payload: [UInt8]) {
            self.stamp = stamp
            self.payload = payload
        }
    }

    let keyring: Keyring?
    let clusterName: [UInt8]
    /// The version this node sends: 3, or 2 or 1 while a cluster still has older hosts.
    public let wireVersion: UInt8

    /// `keyring == nil` means insecure (plaintext) gossip.
    public init(keyring: Keyring?, clusterName: String, wireVersion: UInt8 = currentVersion) {
        self.keyring = keyring
        self.clusterName = Array(clusterName.utf8.prefix(255))
        self.wireVersion = wireVersion
    }

    public var isEncrypted: Bool { keyring != nil }

    private func header(version: UInt8) -> [UInt8] { Self.magic + [version, isEncrypted ? 1 : 0] }

    /// `stamp.counter` must grow by one per packet and stay below 2^32 for one `run`.
    /// Versions 1 and 2 need `nonce`: 12 fresh random bytes per packet.
    public func seal(_ payload: [UInt8], stamp: Stamp, nonce randomNonce: [UInt8] = []) -> [UInt8] {
        let header = header(version: wireVersion)
        var writer = ByteWriter(capacity: payload.count + 64)
        if wireVersion >= 2 {
            if keyring == nil { writer.bytes += [UInt8(clusterName.count)] + clusterName }
            writer.name(stamp.sender)
            writer.u64(stamp.run)
            writer.u64(stamp.counter)
            if wireVersion >= 3 { writer.gossipAddress(stamp.destination ?? GossipAddress(ip: .v4(.any), port: 0)) }
        }
        writer.bytes += payload
        guard let keyring else { return header + writer.bytes }
        let nonce = wireVersion >= 3 ? stamp.nonce : randomNonce
        precondition(nonce.count == Self.nonceLength, "AES-GCM nonce is 12 bytes")
        let box = try! AES.GCM.seal(writer.bytes, using: keyring.keys[0], nonce: try! AES.GCM.Nonce(data: nonce),
                                    authenticating: clusterName + header)
        return header + nonce + Array(box.ciphertext) + Array(box.tag)
    }

    /// The gossip socket's kernel filter: only datagrams that start with the magic and are
    /// no larger than `maxPacket` reach the socket (a flood of others costs the kernel a few
    /// instructions per datagram, and heraldd nothing: no wake-up, no copy, no checksum of
    /// 60 KB). It runs on the datagram after its UDP header, 8 bytes.
    public static let socketFilter = BPFProgram([
        .loadLength, .ifGreater(than: UInt32(8 + maxPacket), skip: 2, else: 0),
        .loadWord(at: 8), .ifEqual(magic.reduce(0) { $0 << 8 | UInt32($1) }, skip: 1, else: 0),
        .drop,
        .accept,
    ])

    /// Whether a packet of `length` bytes deserves opening at all.
    public static func acceptsLength(_ length: Int) -> Bool { length <= maxPacket }

    public func open(_ packet: [UInt8]) throws(WireError) -> Opened {
        guard Self.acceptsLength(packet.count) else { throw .gossipPacketTooLarge }
        guard packet.count >= Self.headerLength, Array(packet[0..<4]) == Self.magic else { throw .badGossipMagic }
        let version = packet[4]
        guard version == Self.currentVersion || (version == wireVersion && version >= 1) else {
            throw .unsupportedGossipVersion(version)
        }
        let peerEncrypted = packet[5] == 1
        guard packet[5] <= 1, peerEncrypted == isEncrypted else { throw .gossipEncryptionMismatch(peerEncrypted: peerEncrypted) }
        let plaintext: [UInt8]
        var nonce: [UInt8] = []
        if let keyring {
            guard packet.count >= Self.headerLength + Self.nonceLength + 16 else {
                throw .truncated(needed: Self.headerLength + Self.nonceLength + 16, available: packet.count)
            }
            let nonceEnd = Self.headerLength + Self.nonceLength
            let tagStart = packet.count - 16
            nonce = Array(packet[Self.headerLength..<nonceEnd])
            guard let gcmNonce = try? AES.GCM.Nonce(data: nonce),
                  let box = try? AES.GCM.SealedBox(nonce: gcmNonce, ciphertext: packet[nonceEnd..<tagStart], tag: packet[tagStart...])
            else { throw .gossipAuthenticationFailed }
            let aad = clusterName + Array(packet[0..<Self.headerLength])
            guard let opened = keyring.keys.lazy.compactMap({ try? AES.GCM.open(box, using: $0, authenticating: aad) }).first else {
                throw .gossipAuthenticationFailed
            }
            plaintext = Array(opened)
        } else {
            plaintext = Array(packet[Self.headerLength...])
        }
        guard version >= 2 else { return Opened(stamp: nil, payload: plaintext) }
        let opened = try plaintext.withUnsafeBytes { raw in
            Result { () throws(WireError) -> Opened in
                var reader = ByteReader(raw)
                if keyring == nil {
                    let cluster = try reader.bytes(Int(try reader.u8()))
                    guard cluster == clusterName else { throw .gossipClusterMismatch }
                }
                let sender = try reader.name()
                let run = try reader.u64()
                let counter = try reader.u64()
                let destination = version >= 3 ? try reader.gossipAddress() : nil
                return Opened(stamp: Stamp(sender: sender, run: run, counter: counter, destination: destination),
                              payload: try reader.bytes(reader.remaining))
            }
        }.get()
        // The nonce is the stamp: a packet whose plaintext says otherwise was not sealed by us.
        if version >= 3, isEncrypted, let stamp = opened.stamp, stamp.nonce != nonce { throw .gossipAuthenticationFailed }
        return opened
    }
}
