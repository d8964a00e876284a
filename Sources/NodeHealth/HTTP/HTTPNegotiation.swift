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
        weighted(headers, .acceptEncoding).contains { ($0.name == coding || $0.name == "*") && $0.q > 0 }
    }

    /// Whether `Accept` prefers `mediaType` (`application/health+json`): named with a q-value
    /// above 0 and no lower than any other type it names. A wildcard never picks it: a client
    /// that names no type gets the usual JSON.
    public static func prefers(_ headers: HTTPFields, mediaType: String) -> Bool {
        let listed = weighted(headers, .accept)
        guard let wanted = listed.filter({ $0.name == mediaType }).map(\.q).max(), wanted > 0 else { return false }
        return listed.allSatisfy { $0.q <= wanted }
    }

    /// The items of a weighted list header (`name;q=0.5, other`), names lower-cased, q 1 unless given.
    private static func weighted(_ headers: HTTPFields, _ field: HTTPField.Name) -> [(name: String, q: Double)] {
        headers[values: field].flatMap { value in
            value.split(separator: ",").compactMap { item -> (name: String, q: Double)? in
                let parts = item.split(separator: ";").map(\.trimmingSpaces)
                guard let name = parts.first?.lowercased(), !name.isEmpty else { return nil }
                let q = parts.dropFirst().first { $0.hasPrefix("q=") }.flatMap { Double($0.dropFirst(2)) } ?? 1
                return (name, q.isFinite ? q : 0)
            }
        }
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
