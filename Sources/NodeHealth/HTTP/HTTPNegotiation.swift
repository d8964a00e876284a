import HTTPTypes

/// Conditional requests and content codings, as RFC 9110 defines them, for answers that offer them.
public enum HTTPNegotiation {
    /// Whether `If-None-Match` names `etag` (weak comparison, RFC 9110 §13.1.2) or is `*`: then the
    /// client's copy is current and the answer is 304 Not Modified.
    public static func notModified(_ headers: HTTPFields, etag: String) -> Bool {
        let wanted = opaque(etag)
        for field in headers[values: .ifNoneMatch] {
            for candidate in field.split(separator: ",") {
                let tag = candidate.trimmingSpaces
                if tag == "*" || opaque(tag) == wanted { return true }
            }
        }
        return false
    }

    /// Whether `Accept-Encoding` accepts `coding` (`gzip`): named or `*`, with a q-value above 0.
    public static func accepts(_ headers: HTTPFields, coding: String) -> Bool {
        for field in headers[values: .acceptEncoding] {
            for item in field.split(separator: ",") {
                let parts = item.split(separator: ";").map(\.trimmingSpaces)
                guard let name = parts.first?.lowercased(), name == coding || name == "*" else { continue }
                let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                if q > 0 { return true }
            }
        }
        return false
    }

    /// The tag without `W/`.
    private static func opaque(_ tag: some StringProtocol) -> Substring {
        let tag = Substring(tag)
        return tag.hasPrefix("W/") ? tag.dropFirst(2) : tag
    }
}

extension Substring {
    /// Without the spaces and tabs around it (the optional whitespace of a header list).
    fileprivate var trimmingSpaces: Substring {
        var trimmed = self
        while trimmed.first == " " || trimmed.first == "\t" { trimmed = trimmed.dropFirst() }
        while trimmed.last == " " || trimmed.last == "\t" { trimmed = trimmed.dropLast() }
        return trimmed
    }
}
