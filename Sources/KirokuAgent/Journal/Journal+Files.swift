import GRDB
public import KirokuProtocol

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// How far a followed file has been read: its inode (to notice rotation) and the byte offset after the
/// last line journalled.
public struct FilePosition: Sendable, Equatable {
    public var path: String
    public var inode: UInt64
    public var offset: Int64

    public init(path: String, inode: UInt64, offset: Int64) {
        self.path = path
        self.inode = inode
        self.offset = offset
    }
}

extension Journal {
    public func filePosition(path: String) throws -> FilePosition? {
        try pool.read { db in try Self.filePosition(db, path: path) }
    }

    static func filePosition(_ db: Database, path: String) throws -> FilePosition? {
        try Row.fetchOne(db, sql: "SELECT inode, offset FROM file_positions WHERE path = ?", arguments: [path]).map {
            FilePosition(path: path, inode: UInt64(bitPattern: $0[0] as Int64), offset: $0[1])
        }
    }

    /// Appends events read from a file and the position after them in one durable transaction: a crash
    /// leaves both or neither, so the next start neither skips nor repeats a line.
    @discardableResult
    public func append(_ drafts: [EventDraft], position: FilePosition) async throws -> [Event] {
        let prepared = try prepare(drafts, now: Date())
        let agent = agentID
        let site = site
        do {
            return try await pool.write { db in
                let events = try Self.insert(prepared, agent: agent, site: site, db: db)
                try db.execute(
                    sql: "INSERT OR REPLACE INTO file_positions(path, inode, offset) VALUES (?, ?, ?)",
                    arguments: [position.path, Int64(bitPattern: position.inode), position.offset])
                return events
            }
        } catch {
            throw commitError(error)
        }
    }
}
