import NodeHealth

/// What a request to `/health` or `/health/ready` asks beyond the plain probe, as kube-apiserver's
/// `/readyz` takes it: `exclude=NAME` (repeatable) leaves checks out of the status, `verbose`
/// answers one line per check in plain text. Other parameters are ignored (a load balancer's
/// cache-buster must not fail a probe).
public struct ProbeQuery: Sendable, Hashable {
    public var excluded: Set<String> = []
    public var verbose = false

    /// More names than any node has checks: a bound on what one request makes the node compare.
    public static let maxExclusions = 64

    public struct Invalid: Error, Hashable, CustomStringConvertible {
        public var description: String
    }

    public init() {}

    /// `parameters` percent-decoded, in order. `verbose` counts unless its value is `0` or `false`.
    public init(parameters: [(name: String, value: String)]) throws(Invalid) {
        for (name, value) in parameters {
            switch name {
            case "exclude":
                guard !value.isEmpty else { throw Invalid(description: "exclude: expected a check's name") }
                excluded.insert(value)
                guard excluded.count <= Self.maxExclusions else {
                    throw Invalid(description: "exclude: at most \(Self.maxExclusions) checks")
                }
            case "verbose":
                verbose = value != "0" && value != "false"
            default:
                continue
            }
        }
    }

    /// Whether the plain probe's ready-made answer will do.
    public var isPlain: Bool { excluded.isEmpty && !verbose }

    /// The `?verbose` text of `evaluation`, kube-apiserver's shape: a line per check
    /// (`[+]disk-space ok`, `[-]database failed: connection refused`, `[+]disk-space excluded: ok`),
    /// a warning for each name that is no check here, then `<probe> check passed` or `failed`
    /// with the status and its message when it is not plainly healthy.
    public static func verboseText(_ evaluation: HealthManager.Evaluation, probe: String) -> String {
        let excluded = Set(evaluation.excluded)
        var lines = evaluation.checks.map { check -> String in
            let message = evaluation.results[check.name].map { oneLine($0.message) } ?? ""
            if excluded.contains(check.name) { return "[+]\(check.name) excluded: ok" }
            switch check.verdict {
            case .pending: return "[-]\(check.name) pending: no result yet"
            case .failing where check.critical: return "[-]\(check.name) failed: \(message)"
            case .failing: return "[-]\(check.name) failed (non-critical): \(message)"
            case .passing where check.degraded: return "[+]\(check.name) ok (degraded: \(message))"
            case .passing: return "[+]\(check.name) ok"
            }
        }
        if !evaluation.unknown.isEmpty {
            let names = evaluation.unknown.map { "\"\(oneLine($0))\"" }.joined(separator: ",")
            lines.append("warn: some health checks cannot be excluded: no matches for \(names)")
        }
        var last = "\(probe) check \(evaluation.status.isReady ? "passed" : "failed")"
        if evaluation.status != .healthy { last += ": \(evaluation.status.rawValue): \(oneLine(evaluation.message))" }
        lines.append(last)
        return lines.joined(separator: "\n") + "\n"
    }

    /// `text` on one line: a check's message may hold anything, a line-based answer may not.
    static func oneLine(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { $0.properties.generalCategory == .control ? " " : $0 }))
    }
}
