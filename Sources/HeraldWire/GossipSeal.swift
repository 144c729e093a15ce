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

/// Turns gossip payloads into UDP packets and back:
/// `"HRLD" | version 1 | mode | (nonce 12 | ciphertext | tag 16) or plaintext`.
/// Mode 1 is AES-256-GCM with the cluster name and the header as associated data, so a
/// packet from another cluster, or with a flipped header, fails authentication. Mode 0
/// (plaintext) exists only for `insecure = true` labs, and the two never mix.
public struct GossipSeal: Sendable {
    static let magic: [UInt8] = Array("HRLD".utf8)
    static let version: UInt8 = 1
    static let headerLength = 6
    public static let nonceLength = 12

    let keyring: Keyring?
    let associatedData: [UInt8]

    /// `keyring == nil` means insecure (plaintext) gossip.
    public init(keyring: Keyring?, clusterName: String) {
        self.keyring = keyring
        associatedData = Array(clusterName.utf8)
    }

    public var isEncrypted: Bool { keyring != nil }

    private var header: [UInt8] { Self.magic + [Self.version, isEncrypted ? 1 : 0] }

    /// `nonce` must be 12 fresh random bytes for every packet.
    public func seal(_ payload: [UInt8], nonce: [UInt8]) -> [UInt8] {
        guard let keyring else { return header + payload }
        precondition(nonce.count == Self.nonceLength, "AES-GCM nonce is 12 bytes")
        let box = try! AES.GCM.seal(payload, using: keyring.keys[0], nonce: try! AES.GCM.Nonce(data: nonce),
                                    authenticating: associatedData + header)
        return header + nonce + Array(box.ciphertext) + Array(box.tag)
    }

    public func open(_ packet: [UInt8]) throws(WireError) -> [UInt8] {
        guard packet.count >= Self.headerLength, Array(packet[0..<4]) == Self.magic else { throw .badGossipMagic }
        guard packet[4] == Self.version else { throw .unsupportedGossipVersion(packet[4]) }
        let peerEncrypted = packet[5] == 1
        guard packet[5] <= 1, peerEncrypted == isEncrypted else { throw .gossipEncryptionMismatch(peerEncrypted: peerEncrypted) }
        guard let keyring else { return Array(packet[Self.headerLength...]) }
        guard packet.count >= Self.headerLength + Self.nonceLength + 16 else {
            throw .truncated(needed: Self.headerLength + Self.nonceLength + 16, available: packet.count)
        }
        let nonceEnd = Self.headerLength + Self.nonceLength
        let tagStart = packet.count - 16
        guard let nonce = try? AES.GCM.Nonce(data: packet[Self.headerLength..<nonceEnd]),
              let box = try? AES.GCM.SealedBox(nonce: nonce, ciphertext: packet[nonceEnd..<tagStart], tag: packet[tagStart...])
        else { throw .gossipAuthenticationFailed }
        let aad = associatedData + Array(packet[0..<Self.headerLength])
        for key in keyring.keys {
            if let plaintext = try? AES.GCM.open(box, using: key, authenticating: aad) { return Array(plaintext) }
        }
        throw .gossipAuthenticationFailed
    }
}
