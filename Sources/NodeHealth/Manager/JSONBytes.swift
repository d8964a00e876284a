#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// JSON encoding to bytes with the settings every answer uses: sorted keys, unescaped slashes.
public enum JSONBytes {
    public static func encode(_ value: some Encodable) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The types encoded here cannot fail (non-finite numbers are already encoded as null).
        guard let data = try? encoder.encode(value) else { return Array("null".utf8) }
        return Array(data)
    }
}
