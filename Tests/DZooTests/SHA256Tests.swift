@testable import DZoo
import Testing

/// DZoo's SHA256 (over swift-crypto) against the known answers of FIPS 180-4's examples.
@Suite struct SHA256Tests {
    static let millionA = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
    static let millionADigest = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

    @Test func knownVectors() {
        #expect(SHA256.hex([UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(SHA256.hex(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(SHA256.hex(Self.millionA) == Self.millionADigest)
    }

    @Test func collectionsWithoutContiguousStorage() {
        // `update` copies these into an array first: the same digest.
        #expect(SHA256.hex("abc".utf8.lazy.map { $0 }) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(SHA256.hex(repeatElement(UInt8(ascii: "a"), count: 1_000_000)) == Self.millionADigest)
    }

    @Test func unevenPiecesGiveTheSameDigest() {
        // Pieces around the 64-byte block size and larger, empty ones included, as array slices, arrays and
        // collections without contiguous storage in turn.
        let sizes = [0, 1, 55, 56, 63, 64, 65, 127, 1000, 3, 4096, 4097, 0, 9999, 17, 2]  // 16 sizes: every size meets every kind
        var h = SHA256()
        var offset = 0, piece = 0
        while offset < Self.millionA.count {
            let end = min(Self.millionA.count, offset + sizes[piece % sizes.count])
            switch piece % 3 {
            case 0: h.update(Self.millionA[offset..<end])
            case 1: h.update(Array(Self.millionA[offset..<end]))
            default: h.update(repeatElement(UInt8(ascii: "a"), count: end - offset))
            }
            offset = end
            piece += 1
        }
        #expect(piece > 100)
        #expect(h.finalize() == Self.millionADigest)

        // "abc" in two pieces.
        var abc = SHA256()
        abc.update("a".utf8)
        abc.update("bc".utf8)
        #expect(abc.finalize() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }
}
