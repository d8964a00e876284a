import GossipCore

/// When a node or a check counts as flapping: at least ``threshold`` changes of status within
/// ``window``. It stays flapping until it has been quiet (no change) for the whole window, so a
/// subject that changes every few minutes does not turn flapping and stable in turn.
public struct FlapPolicy: Sendable, Hashable {
    /// Changes within the window that make a subject flapping, 2–100. Default 5.
    public var threshold: Int
    /// The window, at least one second. Default 10 minutes.
    public var window: Duration

    public static let thresholds = 2...100

    public init(threshold: Int = 5, window: Duration = .seconds(600)) {
        self.threshold = min(max(threshold, Self.thresholds.lowerBound), Self.thresholds.upperBound)
        self.window = max(window, .seconds(1))
    }

    var windowMillis: Int64 { Int64(window / .milliseconds(1)) }
}

/// That a subject flaps: since when (Unix milliseconds, this node's clock) and how many changes
/// it made since it began to (those that made it flapping included).
public struct Flapping: Sendable, Hashable {
    public var sinceMillis: Int64
    public var changes: Int

    public init(sinceMillis: Int64, changes: Int) {
        self.sinceMillis = sinceMillis
        self.changes = changes
    }
}

/// The recent changes of one subject — a member's status or membership state, or one of its
/// checks — and whether it flaps. Keeps at most ``FlapPolicy/threshold`` times, so its size does
/// not grow with how often the subject changes.
struct FlapState: Sendable, Hashable {
    /// Times of the latest changes, oldest first.
    private(set) var recent: [Int64] = []
    private(set) var flapping: Flapping?

    /// Records a change at `millis`; true when this change made the subject flapping.
    mutating func change(at millis: Int64, policy: FlapPolicy) -> Bool {
        recent.append(millis)
        if recent.count > policy.threshold { recent.removeFirst(recent.count - policy.threshold) }
        if flapping != nil {
            flapping?.changes += 1
            return false
        }
        // A clock stepped back makes the span negative: still within the window.
        guard recent.count >= policy.threshold, millis &- recent[0] < policy.windowMillis else { return false }
        flapping = Flapping(sinceMillis: millis, changes: recent.count)
        return true
    }

    /// Whether a flapping subject has been quiet for the whole window at `millis`.
    func isQuiet(at millis: Int64, policy: FlapPolicy) -> Bool {
        guard flapping != nil, let last = recent.last else { return false }
        return millis &- last >= policy.windowMillis
    }

    /// Ends the flapping (after ``isQuiet(at:policy:)``); returns what it was.
    mutating func settle() -> Flapping? {
        defer {
            flapping = nil
            recent.removeAll()
        }
        return flapping
    }

    /// Changes within the window ending at `millis` (at most the threshold: only that many are kept).
    func changes(within policy: FlapPolicy, at millis: Int64) -> Int {
        recent.count(where: { millis &- $0 < policy.windowMillis })
    }
}

/// What flaps: a member's status, or one of its checks.
enum FlapSubject: Sendable, Hashable {
    case member(PublicKey)
    case check(PublicKey, String)

    var key: PublicKey {
        switch self {
        case .member(let key), .check(let key, _): key
        }
    }
}
