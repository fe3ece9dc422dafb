@testable import DData
import Foundation
import Testing

/// TextData's corpus: Unicode scalars, a sorted vocabulary, and located errors.
@Suite struct TextCorpusTests {
    func corpus(_ bytes: [UInt8]) throws(DataError) -> TextCorpus { try TextCorpus(path: "t.txt", bytes: bytes) }

    @Test func vocabularyIsTheSortedScalarsOfTheFile() throws {
        let c = try corpus(Array("banana\nBé€".utf8))
        // Code points: \n 0x0A, B 0x42, a 0x61, b 0x62, n 0x6E, é 0xE9, € 0x20AC.
        #expect(c.vocabularyStrings == ["\n", "B", "a", "b", "n", "é", "€"])
        #expect(c.indices == [3, 2, 4, 2, 4, 2, 0, 1, 5, 6])
        // Scalars, not grapheme clusters: e + U+0301 is two symbols.
        let combining = try corpus(Array("e\u{301}e".utf8))
        #expect(combining.vocabulary.map(\.value) == [0x65, 0x301] && combining.indices == [0, 1, 0])
    }

    @Test func vocabularyJSONReadsBackAsTheVocabulary() throws {
        let c = try corpus(Array("a\"\n\\\u{7}é".utf8))
        #expect(c.vocabularyJSON == "[\"\\u0007\", \"\\n\", \"\\\"\", \"\\\\\", \"a\", \"é\"]\n")
        let parsed = try JSONSerialization.jsonObject(with: Data(c.vocabularyJSON.utf8)) as? [String]
        #expect(parsed == c.vocabularyStrings)
    }

    /// dtest --generate reads vocabulary.json with TextCorpus.vocabulary(json:path:).
    @Test func vocabularyJSONParsesBackExactly() throws {
        let c = try corpus(Array("a\"\n\\\u{7}é\t\r\u{7F}€😀 \u{2028}".utf8))
        #expect(try TextCorpus.vocabulary(json: c.vocabularyJSON, path: "v.json") == c.vocabulary)
        // Other JSON escapes, surrogate pairs included.
        #expect(try TextCorpus.vocabulary(json: #"[ "\/", "\u00e9", "\ud83d\ude00" ]"#, path: "v.json").map(\.value) == [0x2F, 0xE9, 0x1F600])
        func message(_ json: String) -> String {
            do { _ = try TextCorpus.vocabulary(json: json, path: "v.json"); return "accepted" } catch { return error.description }
        }
        #expect(message("[\"ab\"]").hasPrefix("v.json: error: is not a vocabulary: an entry of 2 characters"))
        #expect(message("[\"a\", \"a\"]").contains("a character listed twice"))
        #expect(message("[]").contains("an empty array"))
        #expect(message("[\"a\"").contains("an unterminated array"))
        #expect(message("{\"a\": 1}").contains("expected '['"))
        #expect(message("[\"\\ud800\"]").contains("a lone surrogate"))
        #expect(message("[\"a\"] x").contains("text after the array"))
    }

    @Test func errorsNameTheFileAndTheByte() throws {
        func message(_ bytes: [UInt8]) -> String {
            do { _ = try corpus(bytes); return "accepted" } catch { return error.description }
        }
        #expect(message([]).hasPrefix("t.txt: error: the text file is empty\nhint: "))
        #expect(message([0x61, 0x62, 0xFF, 0x63]).hasPrefix("t.txt: error: is not UTF-8: a malformed sequence at byte offset 2 (0xFF)\nhint: convert the file to UTF-8"))
        #expect(message([0x61, 0xE2, 0x82]).contains("a truncated sequence at byte offset 1 (0xE2)"))
        #expect(message([0x61, 0x62, 0xC0, 0x80]).contains("malformed sequence at byte offset 2 (0xC0)"))  // overlong NUL
        #expect(message([0xED, 0xA0, 0x80]).contains("malformed sequence at byte offset 0 (0xED)"))  // a surrogate
        #expect(message([0x61, 0xC3, 0x41]).contains("malformed sequence at byte offset 1 (0xC3)"))  // no continuation byte
        #expect(message(Array("ok €".utf8)) == "accepted")
        do {
            _ = try TextCorpus(paths: ["/nonexistent/dendrite/text.txt"])
            Issue.record("read a missing file")
        } catch {
            #expect(error.file == "/nonexistent/dendrite/text.txt" && error.message == "cannot open the text file" && error.hint != nil)
        }
    }
}
