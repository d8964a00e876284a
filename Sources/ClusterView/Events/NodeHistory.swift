/// A member's record over a window, as one node observed it: the share of the time it was up,
/// the time it spent in each status, and how often it changed. Pure: computed from the stored
/// events of the member and the observer's own start and stop marks, with `now` passed in.
///
/// Only time the observer saw counts: before the first event it recorded about the member, and
/// from the observer's stop (or, after a crash, its last recorded event) to its next start, is
/// left out, so a node that was down itself does not report the others as up or down meanwhile.
public struct NodeHistory: Sendable, Hashable {
    /// What the member was at an instant, as counted in ``timeInStatusMillis``: its status level
    /// while it was alive or suspect, `dead` or `left` otherwise, `unknown` while alive without a
    /// status.
    public static let downStates: Set<String> = ["dead", "left"]

    /// The window's start and end (Unix milliseconds).
    public var fromMillis: Int64
    public var toMillis: Int64
    /// Time within the window this node observed the member.
    public var observedMillis: Int64
    /// Share of ``observedMillis`` the member was alive or suspect; `nil` when nothing was observed.
    public var uptime: Double?
    /// Observed time by status (`healthy`, `degraded`, `unhealthy`, `starting`, `stopping`,
    /// `unknown`, `dead`, `left`).
    public var timeInStatusMillis: [String: Int64]
    /// Changes of membership state or status level within the window.
    public var changes: Int

    /// Summarises `events` — the member's `member` and `status` events and the observer's
    /// `observer` marks, in the order they were stored, including those before the window that
    /// say what held at its start — over `from..<to`.
    public static func summarize(_ events: [ClusterEvent], from: Int64, to: Int64) -> NodeHistory {
        var history = NodeHistory(fromMillis: from, toMillis: to, observedMillis: 0, uptime: nil, timeInStatusMillis: [:], changes: 0)
        guard to > from else { return history }
        var state: String?
        var level: String?
        var observing = true
        var upMillis: Int64 = 0
        // The instant the current interval began, clamped to the window.
        var cursor = from
        var lastEventAt = Int64.min

        func account(until end: Int64) {
            let start = max(cursor, from)
            let stop = min(end, to)
            guard stop > start, observing, let current = current() else { return }
            let span = stop - start
            history.observedMillis += span
            history.timeInStatusMillis[current, default: 0] += span
            if !downStates.contains(current) { upMillis += span }
        }
        func current() -> String? {
            if let state, downStates.contains(state) { return state }
            guard state != nil || level != nil else { return nil }  // not seen yet
            return level ?? "unknown"
        }

        for event in events {
            let at = min(max(event.observedAtMillis, Int64.min / 2), Int64.max / 2)
            switch event.kind {
            case .observer:
                if event.to == "started" {
                    // After a crash there was no stop mark: the observer saw nothing after its
                    // last recorded event.
                    if observing { account(until: max(lastEventAt, cursor)) }
                    observing = true
                } else {
                    account(until: at)
                    observing = false
                }
                cursor = max(cursor, at)
                continue
            case .member:
                guard event.to != "restarted" else { break }
                account(until: at)
                if state != nil, state != event.to, at >= from, at < to { history.changes += 1 }
                state = event.to
                if downStates.contains(event.to) { level = nil }
                cursor = max(cursor, at)
            case .status:
                account(until: at)
                if level != nil, level != event.to, at >= from, at < to { history.changes += 1 }
                level = event.to
                if state.map(downStates.contains) ?? false { state = "alive" }
                cursor = max(cursor, at)
            default:
                break
            }
            lastEventAt = max(lastEventAt, at)
        }
        account(until: to)
        if history.observedMillis > 0 {
            history.uptime = Double(upMillis) / Double(history.observedMillis)
        }
        return history
    }
}
