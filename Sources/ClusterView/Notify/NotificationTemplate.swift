#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The body of a webhook notification: a JSON template whose `{{placeholders}}` are replaced by
/// JSON-escaped text (without quotes, so a placeholder goes inside a JSON string).
///
/// Placeholders: `state` (`firing` or `resolved`), `summary` (one line), `text` (the default
/// message), `incident` (its id), `kind`, `node`, `check`, `status`, `previous` (the status
/// notified before, for a change), `reasons` (joined by `; `), `time` (RFC 3339), `dashboard`
/// (the link), `sender` (the node that sent it). An unknown placeholder is left as it is.
public struct NotificationTemplate: Sendable, Hashable {
    public let text: String

    /// Slack-compatible (Slack shows `text`); the other fields let any receiver tell incidents
    /// apart without parsing the text.
    public static let standard = NotificationTemplate(
        text: #"{"text": "{{text}}", "state": "{{state}}", "incident": "{{incident}}", "kind": "{{kind}}", "#
            + #""node": "{{node}}", "check": "{{check}}", "status": "{{status}}", "reasons": "{{reasons}}", "#
            + #""time": "{{time}}", "dashboard": "{{dashboard}}", "sender": "{{sender}}"}"#)

    /// Largest template accepted (a file given to `--notify-template`).
    public static let maxBytes = 64 * 1024

    public init(text: String) {
        self.text = text
    }

    /// The values of the placeholders for `notification`, sent by `sender` at `time`.
    public static func values(_ notification: Notification, time: String, dashboard: String, sender: String) -> [String: String] {
        let incident = notification.incident
        var previous = ""
        let state: String
        switch notification {
        case .firing(_, let before):
            state = "firing"
            previous = before ?? ""
        case .resolved:
            state = "resolved"
        }
        let text =
            state == "firing"
            ? "🔴 \(incident.summary)\(previous.isEmpty ? "" : " (was \(previous))")"
                + (incident.reasons.isEmpty ? "" : ": " + incident.reasons.prefix(5).joined(separator: "; "))
                + " — \(dashboard)"
            : "✅ resolved: \(incident.summary.replacingOccurrences(of: " is ", with: " was ")) — \(dashboard)"
        return [
            "state": state, "summary": incident.summary, "text": text, "incident": incident.id, "kind": incident.kind.rawValue,
            "node": incident.node ?? "", "check": incident.check ?? "", "status": incident.status, "previous": previous,
            "reasons": incident.reasons.joined(separator: "; "), "time": time, "dashboard": dashboard, "sender": sender,
        ]
    }

    /// The template with each known placeholder replaced by its JSON-escaped value.
    public func render(_ values: [String: String]) -> [UInt8] {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{") {
            out += rest[..<open.lowerBound]
            let after = rest[open.upperBound...]
            guard let close = after.range(of: "}}") else {
                rest = rest[open.lowerBound...]
                break
            }
            let name = String(after[..<close.lowerBound]).trimmingCharacters(in: .whitespaces)
            if let value = values[name] {
                out += Self.jsonEscaped(value)
            } else {
                out += rest[open.lowerBound..<close.upperBound]
            }
            rest = after[close.upperBound...]
        }
        out += rest
        return Array(out.utf8)
    }

    /// `text` escaped for the inside of a JSON string.
    static func jsonEscaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}
