import Crypto
import GRDB
public import KirokuProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The tree of the hub's log this agent last saw in a receipt, and the alarm it raised if a later receipt
/// showed a history that does not extend it (kept in the journal's `meta`).
extension Journal {
    public struct KnownTree: Sendable, Equatable {
        public var size: Int64
        public var root: Merkle.Hash
    }

    /// The tree of the newest receipt whose history was consistent, nil before the first.
    public func knownTree() throws -> KnownTree? {
        try pool.read(Self.knownTree)
    }

    static func knownTree(_ db: Database) throws -> KnownTree? {
        guard
            let size = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'log_size'").flatMap({
                Int64($0)
            }),
            let root = try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'log_root'").flatMap(
                Hex.decode)
        else { return nil }
        return KnownTree(size: size, root: root)
    }

    /// The alarm raised against the known tree, if any: what the hub showed and why it does not extend it.
    public func logAlarm() throws -> String? {
        try pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM meta WHERE key = 'log_alarm'") }
    }

    /// Judges a receipt's tree against the known one (``LogHistory``). A tree that extends it becomes the
    /// known one; one that does not is journalled once as `agent/log_inconsistent` (it reaches the hub and
    /// the 会議's witness like any event, and the hub raises a finding) and the known tree stays. Returns the
    /// reason when inconsistent, and whether this receipt raised the alarm (the first against that tree).
    public func witness(_ log: LogProof, consistency: LogConsistency?) async throws -> (reason: String, first: Bool)? {
        guard let shownRoot = Hex.decode(log.root) else { return ("the receipt's root is not hex", false) }
        let known = try knownTree()
        switch LogHistory.judge(
            known: known.map { ($0.size, $0.root) }, shown: (log.treeSize, shownRoot), consistency: consistency)
        {
        case .extends:
            try await pool.write { db in
                try db.execute(
                    sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('log_size', ?), ('log_root', ?)",
                    arguments: ["\(log.treeSize)", log.root])
                try db.execute(sql: "DELETE FROM meta WHERE key = 'log_alarm'")
            }
            return nil
        case .inconsistent(let reason):
            let alarm =
                "\(reason) (known \(known?.size ?? 0) \(known.map { Hex.encode($0.root) } ?? ""), shown \(log.treeSize) \(log.root))"
            // Once per known tree: the alarm event itself goes out in a later batch, whose receipt the same
            // rewritten log answers, and must not raise another.
            if try logAlarm() == nil {
                // Every attribute bounded: a hub cannot stop the alarm by padding its note with signatures.
                // (The checkpoint itself is kept with the receipt in the journal's receipts table.)
                try await append([
                    EventDraft(
                        kind: "agent", action: "log_inconsistent", actor: "kiroku-agent", subject: agentID,
                        attrs: [
                            "reason": String(reason.prefix(300)), "known_size": "\(known?.size ?? 0)",
                            "known_root": known.map { Hex.encode($0.root) } ?? "", "shown_size": "\(log.treeSize)",
                            "shown_root": String(log.root.prefix(64)),
                            "shown_checkpoint_sha256": Hex.encode(SHA256.hash(data: Array(log.checkpoint.utf8))),
                        ])
                ])
                try await pool.write { db in
                    try db.execute(
                        sql: "INSERT OR REPLACE INTO meta(key, value) VALUES ('log_alarm', ?)", arguments: [alarm])
                }
                return (reason, true)
            }
            return (reason, false)
        }
    }

    /// Takes the hub's log as it is now as the new known tree, after a person has established why it did not
    /// extend the old one (a hub restored from a backup, say): clears the alarm, and journals who and why as
    /// `agent/log_accepted`, with the tree it no longer holds the hub to. The next receipt sets the new one.
    public func acceptLog(by person: String, reason: String) async throws {
        guard let alarm = try logAlarm() else {
            throw KirokuError(
                .configuration, "there is no log alarm to accept: the hub's log is consistent with what this agent saw")
        }
        let known = try knownTree()
        try await append([
            EventDraft(
                kind: "agent", action: "log_accepted", actor: person, subject: agentID,
                attrs: [
                    "reason": String(reason.prefix(500)), "alarm": String(alarm.prefix(500)),
                    "known_size": "\(known?.size ?? 0)",
                    "known_root": known.map { Hex.encode($0.root) } ?? "",
                ])
        ])
        try await pool.write { db in
            try db.execute(sql: "DELETE FROM meta WHERE key IN ('log_size', 'log_root', 'log_alarm')")
        }
    }
}
