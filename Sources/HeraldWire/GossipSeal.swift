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
/// Version 2 (this release): `"HRLD" | 2 | mode | body`. The body's plaintext is
/// `sender name (u8 length + UTF-8) | epoch (u64) | counter (u64) | payload`, so a
/// receiver can tell a replayed packet from a fresh one (`ReplayGuard`): the epoch is
/// the sender's start (it only grows, across restarts too) and the counter grows by one
/// per packet. Mode 1 encrypts the plaintext with AES-256-GCM (`nonce 12 | ciphertext |
/// tag 16`, the cluster name and the header as associated data), so a packet from another
/// cluster, or with a flipped header, fails authentication. Mode 0 (plaintext, only for
/// `insecure = true` labs) starts the body with the cluster name (u8 length + UTF-8),
/// checked on receipt. The two modes never mix.
///
/// Version 1 (Herald 0.1): the same header with version 1 and the payload alone, with no
/// sender stamp (so no replay protection) and, in plaintext, no cluster name. Spoken and
/// accepted only with `gossip.wire_version = 1`, for a rolling upgrade from 0.1.
public struct GossipSeal: Sendable {
    static let magic: [UInt8] = Array("HRLD".utf8)
    public static let currentVersion: UInt8 = 2
    static let headerLength = 6
    public static let nonceLength = 12

    /// Who sent a version 2 packet, and where it stands in the sender's sequence.
    public struct Stamp: Equatable, Sendable {
        public var sender: String
        public var epoch: UInt64
        public var counter: UInt64

        public init(sender: String, epoch: UInt64, counter: UInt64) {
            self.sender = sender
            self.epoch = epoch
            self.counter = counter
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
    /// The version this node sends: 2, or 1 while a cluster still has 0.1 hosts.
    public let wireVersion: UInt8

    /// `keyring == nil` means insecure (plaintext) gossip.
    public init(keyring: Keyring?, clusterName: String, wireVersion: UInt8 = currentVersion) {
        self.keyring = keyring
        self.clusterName = Array(clusterName.utf8.prefix(255))
        self.wireVersion = wireVersion
    }

    public var isEncrypted: Bool { keyring != nil }

    private func header(version: UInt8) -> [UInt8] { Self.magic + [version, isEncrypted ? 1 : 0] }

    /// `nonce` must be 12 fresh random bytes for every packet; `stamp.counter` must grow
    /// by one per packet (version 1 ignores the stamp).
    public func seal(_ payload: [UInt8], stamp: Stamp, nonce: [UInt8]) -> [UInt8] {
        let header = header(version: wireVersion)
        var plaintext: [UInt8] = []
        if wireVersion >= 2 {
            let sender = Array(stamp.sender.utf8.prefix(255))
            if keyring == nil { plaintext += [UInt8(clusterName.count)] + clusterName }
            plaintext += [UInt8(sender.count)] + sender
            for value in [stamp.epoch, stamp.counter] {
                plaintext += (0..<8).reversed().map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
            }
        }
        plaintext += payload
        guard let keyring else { return header + plaintext }
        precondition(nonce.count == Self.nonceLength, "AES-GCM nonce is 12 bytes")
        let box = try! AES.GCM.seal(plaintext, using: keyring.keys[0], nonce: try! AES.GCM.Nonce(data: nonce),
                                    authenticating: clusterName + header)
        return header + nonce + Array(box.ciphertext) + Array(box.tag)
    }

    public func open(_ packet: [UInt8]) throws(WireError) -> Opened {
        guard packet.count >= Self.headerLength, Array(packet[0..<4]) == Self.magic else { throw .badGossipMagic }
        let version = packet[4]
        guard version == Self.currentVersion || (version == 1 && wireVersion == 1) else {
            throw .unsupportedGossipVersion(version)
        }
        let peerEncrypted = packet[5] == 1
        guard packet[5] <= 1, peerEncrypted == isEncrypted else { throw .gossipEncryptionMismatch(peerEncrypted: peerEncrypted) }
        let plaintext: [UInt8]
        if let keyring {
            guard packet.count >= Self.headerLength + Self.nonceLength + 16 else {
                throw .truncated(needed: Self.headerLength + Self.nonceLength + 16, available: packet.count)
            }
            let nonceEnd = Self.headerLength + Self.nonceLength
            let tagStart = packet.count - 16
            guard let nonce = try? AES.GCM.Nonce(data: packet[Self.headerLength..<nonceEnd]),
                  let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: packet[nonceEnd..<tagStart], tag: packet[tagStart...])
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
        return try plaintext.withUnsafeBytes { raw in
            Result { () throws(WireError) -> Opened in
                var reader = ByteReader(raw)
                if keyring == nil {
                    let cluster = try reader.bytes(Int(try reader.u8()))
                    guard cluster == clusterName else { throw .gossipClusterMismatch }
                }
                let sender = String(decoding: try reader.bytes(Int(try reader.u8())), as: UTF8.self)
                let stamp = Stamp(sender: sender, epoch: try reader.u64(), counter: try reader.u64())
                return Opened(stamp: stamp, payload: try reader.bytes(reader.remaining))
            }
        }.get()
    }
}
