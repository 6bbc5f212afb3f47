import GRDB
public import KirokuProtocol

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

extension Journal {
    /// The journal on GRDB's async API, for the sync loop: its task suspends while SQLite works — the
    /// delivered mark's fsync among it — instead of holding a thread of Swift's cooperative pool. The same
    /// statements as the blocking methods (each has one `static` body both call), for the daemon's async
    /// code; the command line and the tests keep the blocking ones.
    public var suspending: Suspending { Suspending(journal: self) }

    public struct Suspending: Sendable {
        let journal: Journal

        public func progress() async throws -> (headSeq: Int64, deliveredThrough: Int64) {
            try await journal.pool.read(Journal.progress)
        }

        public func pending(from seq: Int64, limit: Int, maxBytes: Int) async throws -> [StoredEvent] {
            try await journal.pool.read { db in try Journal.pending(db, from: seq, limit: limit, maxBytes: maxBytes) }
        }

        public func event(seq: Int64) async throws -> Event? {
            try await journal.pool.read { db in try Journal.event(db, seq: seq) }
        }

        public func hash(seq: Int64) async throws -> String? {
            try await journal.pool.read { db in try Journal.hash(db, seq: seq) }
        }

        public func pendingEpoch() async throws -> PendingEpoch? {
            try await journal.pool.read(Journal.pendingEpoch)
        }

        public func filePosition(path: String) async throws -> FilePosition? {
            try await journal.pool.read { db in try Journal.filePosition(db, path: path) }
        }

        public func knownTree() async throws -> KnownTree? {
            try await journal.pool.read(Journal.knownTree)
        }

        public func markDelivered(_ signed: SignedReceipt, now: Date = Date()) async throws {
            let body = try String(decoding: JSONEncoder().encode(signed), as: UTF8.self)
            let nowMS = Int64(now.timeIntervalSince1970 * 1000)
            try await journal.pool.write { db in try Journal.markDelivered(db, signed, body: body, nowMS: nowMS) }
        }

        @discardableResult
        public func pruneDelivered(olderThan cutoff: Date) async throws -> Int {
            let cutoffMS = Int64(cutoff.timeIntervalSince1970 * 1000)
            return try await journal.pool.write { db in try Journal.pruneDelivered(db, cutoffMS: cutoffMS) }
        }

        public func recordContact(now: Date = Date()) async throws {
            let nowMS = Int64(now.timeIntervalSince1970 * 1000)
            try await journal.pool.write { db in try Journal.recordContact(db, nowMS: nowMS) }
        }

        public func recordFailure(_ message: String, reachable: Bool, now: Date = Date()) async throws {
            let nowMS = Int64(now.timeIntervalSince1970 * 1000)
            try await journal.pool.write { db in
                try Journal.recordFailure(db, message, reachable: reachable, nowMS: nowMS)
            }
        }

        public func startEpoch(
            afterHubSeq hubSeq: Int64, hubHash: String, agreedThrough: Int64,
            record: @escaping @Sendable (_ moved: ClosedRange<Int64>?, _ movedAsFrom: Int64) -> EventDraft
        ) async throws -> EpochStart {
            let journal = journal
            do {
                return try await journal.pool.write { db in
                    try journal.startEpoch(
                        db, afterHubSeq: hubSeq, hubHash: hubHash, agreedThrough: agreedThrough, record: record)
                }
            } catch {
                throw journal.commitError(error)
            }
        }
    }
}

/// Where a restored journal and the hub part: the last seq at which both hold the same event. Chains are
/// hash-linked, so agreement is a prefix and bisection finds its end. The caller asks the hub about each
/// ``probe`` and answers with ``record(agrees:)`` until ``probe`` is nil; ``agreedThrough`` is the answer.
public struct EpochBisection: Sendable, Equatable {
    /// The highest seq known to agree.
    public private(set) var agreedThrough: Int64
    /// The highest seq that may still agree.
    private var high: Int64

    /// Agreement is known through `low` (what the hub acknowledged) and impossible past `high`.
    public init(low: Int64, high: Int64) {
        agreedThrough = low
        self.high = max(low, high)
    }

    /// The seq to compare next, or nil when the answer is known.
    public var probe: Int64? {
        agreedThrough < high ? agreedThrough + (high - agreedThrough + 1) / 2 : nil
    }

    /// Whether the journal and the hub hold the same event at ``probe``.
    public mutating func record(agrees: Bool) {
        guard let middle = probe else { return }
        if agrees { agreedThrough = middle } else { high = middle - 1 }
    }
}
