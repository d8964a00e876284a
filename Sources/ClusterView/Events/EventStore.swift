import Foundation
import Synchronization
internal import GRDB
import GossipCore

/// The events a node recorded, in SQLite (WAL mode) through GRDB: one table of events and one of
/// the signed statuses they refer to, each distinct signed status stored once under its BLAKE2b
/// digest.
///
/// Synchronous and not thread-bound: ``EventRecorder`` calls it off the event loops, GRDB
/// serialises the writes and lets reads run beside them. Every row read back is checked (lengths,
/// kinds, the signed status re-parsed); a bad one is skipped and counted in ``skippedRows``, never
/// trusted.
public final class EventStore: Sendable {
    /// Why the store cannot be used: what SQLite said, for the 503 and the log.
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
        init(_ error: any Error) { self.description = Self.describe(error) }

        static func describe(_ error: any Error) -> String {
            if let error = error as? DatabaseError {
                return "\(error.resultCode): \(error.message ?? "no message")"
            }
            return "\(error)"
        }
    }

    /// Longest node id, check name, state and message accepted back from the database.
    static let maxTextBytes = 1024

    public let path: String
    private let pool: DatabasePool
    private let skipped = Atomic<Int>(0)

    /// Opens (creating it if needed) the database at `path` and brings its schema up to date.
    /// Throws a ``Failure`` saying why when the file is not a database, is locked, or cannot be written.
    public init(path: String) throws(Failure) {
        self.path = path
        var configuration = Configuration()
        // A reader or writer held up by another process waits at most this long, then fails:
        // the history answers 503 rather than hang.
        configuration.busyMode = .timeout(2)
        configuration.label = "chorus.history"
        // WAL with synchronous NORMAL: a commit is not synced to disk (a checkpoint is), so a
        // power cut may lose the last events but never corrupts the file; a process crash loses
        // nothing. With FULL every 250-ms batch was an fsync: 128 node processes forming wrote
        // 45–93 MB/s and SQLite was 7 % of their CPU (BENCHMARKS.md session 21).
        configuration.prepareDatabase { db in try db.execute(sql: "PRAGMA synchronous = NORMAL") }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try Self.migrator.migrate(pool)
        } catch {
            throw Failure(error)
        }
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE signed_status (
                        hash BLOB PRIMARY KEY NOT NULL,
                        payload BLOB NOT NULL,
                        signature BLOB NOT NULL
                    ) WITHOUT ROWID;
                    CREATE TABLE event (
                        id INTEGER PRIMARY KEY AUTOINCREMENT,
                        observed_at INTEGER NOT NULL,
                        node TEXT NOT NULL,
                        node_key BLOB,
                        kind TEXT NOT NULL,
                        subject TEXT,
                        from_state TEXT,
                        to_state TEXT NOT NULL,
                        message TEXT NOT NULL,
                        status_hash BLOB
                    );
                    CREATE INDEX event_by_node ON event(node, id);
                    CREATE INDEX event_by_key ON event(node_key, id) WHERE node_key IS NOT NULL;
                    CREATE INDEX event_by_kind ON event(kind, id);
                    CREATE INDEX event_by_time ON event(observed_at);
                    CREATE INDEX event_by_status ON event(status_hash) WHERE status_hash IS NOT NULL;
                    """)
        }
        return migrator
    }

    // MARK: Writing

    /// Appends `events` in one transaction and returns them with their ids.
    public func append(_ events: [ClusterEvent]) throws(Failure) -> [ClusterEvent] {
        guard !events.isEmpty else { return [] }
        do {
            return try pool.write { db in
                var stored: [ClusterEvent] = []
                stored.reserveCapacity(events.count)
                // Statements prepared once per connection, not parsed again for each row.
                let insertStatus = try db.cachedStatement(
                    sql: "INSERT OR IGNORE INTO signed_status (hash, payload, signature) VALUES (?, ?, ?)")
                let insertEvent = try db.cachedStatement(
                    sql: """
                        INSERT INTO event (observed_at, node, node_key, kind, subject, from_state, to_state, message, status_hash)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """)
                for var event in events {
                    var hash: Data?
                    if let status = event.signedStatus {
                        let digest = Data(Sodium.digest(status.payload + status.signature))
                        try insertStatus.execute(arguments: [digest, Data(status.payload), Data(status.signature)])
                        hash = digest
                    }
                    try insertEvent.execute(arguments: [
                        event.observedAtMillis, event.node, event.nodeKey.map { Data($0.bytes) }, event.kind.rawValue,
                        event.check, event.from, event.to, event.message, hash,
                    ])
                    event.id = db.lastInsertedRowID
                    stored.append(event)
                }
                return stored
            }
        } catch {
            throw Failure(error)
        }
    }

    /// Deletes at most `chunk` of the oldest events that are older than `cutoffMillis` or beyond
    /// the newest `maxEvents`, and the signed statuses no remaining event refers to. Returns how
    /// many events it deleted (call again while it returns `chunk`).
    public func prune(olderThan cutoffMillis: Int64, keeping maxEvents: Int, chunk: Int = 10_000) throws(Failure) -> Int {
        do {
            return try pool.write { db in
                // Events are only ever deleted from the oldest end, so the ids left are one
                // contiguous range and its length is the count (COUNT(*) reads every row).
                guard let (low, high) = try Row.fetchOne(db, sql: "SELECT min(id), max(id) FROM event")
                    .flatMap({ row -> (Int64, Int64)? in
                        guard let low: Int64 = row[0], let high: Int64 = row[1] else { return nil }
                        return (low, high)
                    })
                else { return 0 }
                let keepFrom = high - Int64(max(maxEvents, 0)) + 1
                let doomed = try Row.fetchAll(
                    db,
                    sql: """
                        SELECT id, status_hash FROM event WHERE id < ? OR observed_at < ?
                        ORDER BY id LIMIT ?
                        """,
                    arguments: [max(keepFrom, low), cutoffMillis, chunk])
                guard let last: Int64 = doomed.last?["id"] else { return 0 }
                try db.execute(sql: "DELETE FROM event WHERE id <= ? AND (id < ? OR observed_at < ?)", arguments: [last, max(keepFrom, low), cutoffMillis])
                let deleted = db.changesCount
                let hashes = Set(doomed.compactMap { row -> Data? in row["status_hash"] })
                for hash in hashes {
                    try db.execute(
                        sql: "DELETE FROM signed_status WHERE hash = ? AND NOT EXISTS (SELECT 1 FROM event WHERE status_hash = ?)",
                        arguments: [hash, hash])
                }
                return deleted
            }
        } catch {
            throw Failure(error)
        }
    }

    // MARK: Reading

    /// The events `filter` asks for, newest first (oldest first after ``EventFilter/afterID``).
    public func events(_ filter: EventFilter) throws(Failure) -> EventPage {
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let check = filter.check {
            conditions.append("subject = ?")
            arguments += [check]
        }
        if let kind = filter.kind {
            conditions.append("kind = ?")
            arguments += [kind.rawValue]
        }
        if let since = filter.sinceMillis {
            conditions.append("observed_at >= ?")
            arguments += [since]
        }
        if let until = filter.untilMillis {
            conditions.append("observed_at < ?")
            arguments += [until]
        }
        if let before = filter.beforeID {
            conditions.append("id < ?")
            arguments += [before]
        }
        if let after = filter.afterID {
            conditions.append("id > ?")
            arguments += [after]
        }
        let order = filter.afterID == nil ? "DESC" : "ASC"
        let join = "SELECT e.*, s.payload, s.signature FROM event e LEFT JOIN signed_status s ON s.hash = e.status_hash"
        let sql: String
        if let node = filter.node {
            // A member is named by its key's prefix until its first status names it: the events
            // under either name are the node's (the newest event with a key gives the key). Each
            // branch walks its own index in id order and stops at the page size, so a page costs
            // the same for a node with ten events or a million (an OR of the two read them all).
            func branch(_ condition: String) -> String {
                "SELECT id FROM (SELECT id FROM event WHERE \(([condition] + conditions).joined(separator: " AND ")) ORDER BY id \(order) LIMIT ?)"
            }
            let byKey = "node_key = (SELECT node_key FROM event WHERE node = ? AND node_key IS NOT NULL ORDER BY id DESC LIMIT 1)"
            sql = "\(join) WHERE e.id IN (\(branch("node = ?")) UNION \(branch(byKey))) ORDER BY e.id \(order) LIMIT ?"
            arguments = [node] + arguments + [filter.limit, node] + arguments + [filter.limit, filter.limit]
        } else {
            sql = "\(join) \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")) ORDER BY e.id \(order) LIMIT ?"
            arguments += [filter.limit]
        }
        do {
            let rows = try pool.read { db in try Row.fetchAll(db.cachedStatement(sql: sql), arguments: arguments) }
            var events: [ClusterEvent] = []
            events.reserveCapacity(rows.count)
            for row in rows {
                if let event = Self.event(from: row) { events.append(event) } else { skipped.add(1, ordering: .relaxed) }
            }
            let lastID: Int64? = rows.last?["id"]
            return EventPage(events: events, nextBeforeID: rows.count == filter.limit && filter.afterID == nil ? lastID : nil)
        } catch {
            throw Failure(error)
        }
    }

    /// The event with `id`, or `nil`.
    public func event(id: Int64) throws(Failure) -> ClusterEvent? {
        do {
            let row = try pool.read { db in
                try Row.fetchOne(
                    db,
                    sql: "SELECT e.*, s.payload, s.signature FROM event e LEFT JOIN signed_status s ON s.hash = e.status_hash WHERE e.id = ?",
                    arguments: [id])
            }
            return row.flatMap(Self.event(from:))
        } catch {
            throw Failure(error)
        }
    }

    /// The key of the member named `node` (its id, or its key's fingerprint) in the newest event
    /// that names it with a key; `nil` when no event does.
    public func key(of node: String) throws(Failure) -> PublicKey? {
        do {
            let data = try pool.read { db -> Data? in
                if let byName = try Data.fetchOne(
                    db, sql: "SELECT node_key FROM event WHERE node = ? AND node_key IS NOT NULL ORDER BY id DESC LIMIT 1", arguments: [node])
                {
                    return byName
                }
                guard let prefix = Hex.decode(node) else { return nil }
                if prefix.count == PublicKey.byteCount { return Data(prefix) }
                guard prefix.count == 8 else { return nil }
                return try Data.fetchOne(
                    db, sql: "SELECT node_key FROM event WHERE substr(node_key, 1, 8) = ? ORDER BY id DESC LIMIT 1", arguments: [Data(prefix)])
            }
            return data.flatMap { PublicKey(bytes: Array($0)) }
        } catch {
            throw Failure(error)
        }
    }

    /// What ``NodeHistory`` summarises: the `member` and `status` events of `key` observed at or
    /// after `since`, the last of each kind before it, and the observer's own marks the same way;
    /// in the order they were stored, without their signed statuses, at most `limit` of the
    /// newest. One read transaction, so the parts agree.
    public func timeline(of key: PublicKey, since: Int64, limit: Int = 200_000) throws(Failure) -> [ClusterEvent] {
        let keyData = Data(key.bytes)
        do {
            let rows = try pool.read { db -> [Row] in
                var rows: [Row] = []
                for (condition, arguments) in [
                    ("node_key = ? AND kind = 'member'", [keyData] as StatementArguments),
                    ("node_key = ? AND kind = 'status'", [keyData]),
                    ("kind = 'observer'", []),
                ] {
                    rows += try Row.fetchAll(
                        db, sql: "SELECT * FROM event WHERE \(condition) AND observed_at < ? ORDER BY id DESC LIMIT 1",
                        arguments: arguments + [since])
                    rows += try Row.fetchAll(
                        db,
                        sql: "SELECT * FROM (SELECT * FROM event WHERE \(condition) AND observed_at >= ? ORDER BY id DESC LIMIT ?)",
                        arguments: arguments + [since, limit])
                }
                return rows
            }
            return decode(rows).sorted { $0.id < $1.id }
        } catch {
            throw Failure(error)
        }
    }

    /// The newest `check` event of each check of `key`, by check name.
    public func lastCheckEvents(of key: PublicKey) throws(Failure) -> [ClusterEvent] {
        do {
            let rows = try pool.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT * FROM event WHERE id IN
                            (SELECT max(id) FROM event WHERE node_key = ? AND kind = 'check' GROUP BY subject)
                        ORDER BY subject
                        """,
                    arguments: [Data(key.bytes)])
            }
            return decode(rows)
        } catch {
            throw Failure(error)
        }
    }

    private func decode(_ rows: [Row]) -> [ClusterEvent] {
        var events: [ClusterEvent] = []
        events.reserveCapacity(rows.count)
        for row in rows {
            if let event = Self.event(from: row) { events.append(event) } else { skipped.add(1, ordering: .relaxed) }
        }
        return events
    }

    /// How many events are stored (the id range: see ``prune(olderThan:keeping:chunk:)``).
    public func count() throws(Failure) -> Int {
        do {
            return try pool.read { db in
                let row = try Row.fetchOne(db, sql: "SELECT min(id), max(id) FROM event")
                guard let low: Int64 = row?[0], let high: Int64 = row?[1] else { return 0 }
                return Int(high - low + 1)
            }
        } catch {
            throw Failure(error)
        }
    }

    /// Rows read back that failed the checks and were skipped.
    public var skippedRows: Int { skipped.load(ordering: .relaxed) }

    /// An event from a row, or `nil` when any field is out of bounds (a damaged or tampered file).
    static func event(from row: Row) -> ClusterEvent? {
        func text(_ column: String) -> String?? {
            guard let value: String = row[column] else { return .some(nil) }
            return value.utf8.count <= maxTextBytes ? .some(value) : nil
        }
        guard let id: Int64 = row["id"], let observed: Int64 = row["observed_at"],
            let nodeText = text("node"), let node = nodeText,
            let kindText: String = row["kind"], let kind = EventKind(rawValue: kindText),
            let subject = text("subject"), let from = text("from_state"),
            let toText = text("to_state"), let to = toText, let messageText = text("message"), let message = messageText
        else { return nil }
        var nodeKey: PublicKey?
        if let keyData: Data = row["node_key"] {
            guard let key = PublicKey(bytes: Array(keyData)) else { return nil }
            nodeKey = key
        }
        var signed: SignedStatus?
        if let payload: Data = row["payload"], let signature: Data = row["signature"] {
            guard payload.count <= StatusProjection.maxPayloadBytes, signature.count == SigningKeyPair.signatureByteCount,
                let status = try? SignedStatus(payload: Array(payload), signature: Array(signature))
            else { return nil }
            signed = status
        }
        return ClusterEvent(
            id: id, observedAtMillis: observed, node: node, nodeKey: nodeKey, kind: kind, check: subject, from: from, to: to,
            message: message, signedStatus: signed)
    }
}

