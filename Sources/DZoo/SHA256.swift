import Crypto

/// SHA-256 for the checksums of snapshots, solver states and model cards: swift-crypto's
/// (BoringSSL's on Linux), with the digest as 64 lowercase hex digits, as cards store it.
public struct SHA256 {
    private var hasher = Crypto.SHA256()

    public init() {}

    public mutating func update(_ bytes: some Collection<UInt8>) {
        if bytes.withContiguousStorageIfAvailable({ hasher.update(bufferPointer: UnsafeRawBufferPointer($0)) }) == nil {
            Array(bytes).withUnsafeBytes { hasher.update(bufferPointer: $0) }
        }
    }

    /// The digest as 64 lowercase hex digits.
    public func finalize() -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in hasher.finalize() { text += [digits[Int(byte >> 4)], digits[Int(byte & 15)]] }
        return String(decoding: text, as: UTF8.self)
    }

    public static func hex(_ bytes: some Collection<UInt8>) -> String {
        var h = SHA256()
        h.update(bytes)
        return h.finalize()
    }
}
