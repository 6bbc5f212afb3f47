import Crypto

/// The RFC 6962 (RFC 9162 §2.1) Merkle tree hash: leaf = SHA-256(0x00 ‖ data), node = SHA-256(0x01 ‖ left
/// ‖ right), no padding, the empty tree's root SHA-256 of nothing. Kiroku's leaf data is an event's hash
/// (its 32 bytes), in the order the hub accepted the events.
public enum Merkle {
    public typealias Hash = [UInt8]

    public static let emptyRoot: Hash = Array(SHA256.hash(data: [UInt8]()))

    public static func leafHash(_ data: some Sequence<UInt8>) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x00])
        hasher.update(data: Array(data))
        return Array(hasher.finalize())
    }

    /// The leaf hash of an event, from its lowercase hex hash; nil if that is not 64 hex digits.
    public static func leafHash(eventHash: String) -> Hash? {
        guard eventHash.utf8.count == 64, let bytes = Hex.decode(eventHash) else { return nil }
        return leafHash(bytes)
    }

    public static func nodeHash(_ left: Hash, _ right: Hash) -> Hash {
        var hasher = SHA256()
        hasher.update(data: [0x01])
        hasher.update(data: left)
        hasher.update(data: right)
        return Array(hasher.finalize())
    }

    /// The largest power of two strictly less than `n` (n ≥ 2): where RFC 6962 splits a tree of n leaves.
    @inlinable
    public static func split(_ n: Int64) -> Int64 {
        precondition(n >= 2)
        return Int64(1) << (63 - (n - 1).leadingZeroBitCount)
    }

    /// The root of a list of leaf hashes (for tests and small trees; the hub uses ``Prover``).
    public static func root(_ leaves: [Hash]) -> Hash {
        if leaves.isEmpty { return emptyRoot }
        if leaves.count == 1 { return leaves[0] }
        let k = Int(split(Int64(leaves.count)))
        return nodeHash(root(Array(leaves[..<k])), root(Array(leaves[k...])))
    }

    // MARK: Verification (RFC 9162 §2.1.3.2 and §2.1.4.2)

    /// True if `proof` shows the leaf with hash `leaf` at `index` in the tree of `size` leaves with `root`.
    public static func verifyInclusion(leaf: Hash, index: Int64, size: Int64, proof: [Hash], root: Hash) -> Bool {
        guard index >= 0, index < size, leaf.count == 32, root.count == 32, proof.allSatisfy({ $0.count == 32 })
        else { return false }
        var fn = index
        var sn = size - 1
        var r = leaf
        for p in proof {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                r = nodeHash(p, r)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                r = nodeHash(r, p)
            }
            fn >>= 1
            sn >>= 1
        }
        return sn == 0 && r == root
    }

    /// True if `proof` shows that the tree of `second` leaves with `secondRoot` extends the tree of `first`
    /// leaves with `firstRoot` (append-only: nothing of the first was changed).
    public static func verifyConsistency(
        first: Int64, second: Int64, firstRoot: Hash, secondRoot: Hash, proof: [Hash]
    ) -> Bool {
        guard first >= 0, first <= second, firstRoot.count == 32, secondRoot.count == 32,
            proof.allSatisfy({ $0.count == 32 })
        else { return false }
        if first == second { return proof.isEmpty && firstRoot == secondRoot }
        if first == 0 { return proof.isEmpty && firstRoot == emptyRoot }
        guard !proof.isEmpty else { return false }
        var path = proof
        if first & (first - 1) == 0 { path.insert(firstRoot, at: 0) }
        var fn = first - 1
        var sn = second - 1
        while fn & 1 == 1 {
            fn >>= 1
            sn >>= 1
        }
        var fr = path[0]
        var sr = path[0]
        for c in path.dropFirst() {
            if sn == 0 { return false }
            if fn & 1 == 1 || fn == sn {
                fr = nodeHash(c, fr)
                sr = nodeHash(c, sr)
                while fn & 1 == 0 && fn != 0 {
                    fn >>= 1
                    sn >>= 1
                }
            } else {
                sr = nodeHash(sr, c)
            }
            fn >>= 1
            sn >>= 1
        }
        return fr == firstRoot && sr == secondRoot && sn == 0
    }

    // MARK: Proofs from stored subtrees

    /// Where a tree's complete subtrees are kept: `level` 0 holds the leaf hashes, level L the hash of the
    /// 2^L leaves from `index · 2^L`. Only complete subtrees exist.
    public typealias NodeSource = (_ level: Int, _ index: Int64) throws -> Hash

    /// Computes roots and proofs for a tree of `size` leaves from its stored complete subtrees: O(log n)
    /// look-ups per proof (each distinct subtree is read once), however large the tree.
    public struct Prover {
        public let size: Int64
        private let source: NodeSource
        private var cache: [Int64: Hash] = [:]

        public init(size: Int64, source: @escaping NodeSource) {
            precondition(size >= 0)
            self.size = size
            self.source = source
        }

        private mutating func node(_ level: Int, _ index: Int64) throws -> Hash {
            let key = Int64(level) << 56 | index
            if let hit = cache[key] { return hit }
            let hash = try source(level, index)
            cache[key] = hash
            return hash
        }

        /// MTH of leaves [start, end): a stored node when the range is a complete aligned subtree, else the
        /// fold of the complete subtrees that make it up (ranges that end at the tree's right edge).
        mutating func subtree(_ start: Int64, _ end: Int64) throws -> Hash {
            var pieces: [Hash] = []
            var at = start
            while at < end {
                var width = Int64(1) << (63 - (end - at).leadingZeroBitCount)  // largest power of 2 ≤ remaining
                while at % width != 0 { width >>= 1 }
                pieces.append(try node(width.trailingZeroBitCount, at / width))
                at += width
            }
            var hash = pieces.removeLast()
            while let left = pieces.popLast() { hash = nodeHash(left, hash) }
            return hash
        }

        public mutating func root() throws -> Hash {
            size == 0 ? emptyRoot : try subtree(0, size)
        }

        /// The audit path of leaf `index` (RFC 6962 §2.1.1 PATH).
        public mutating func inclusion(index: Int64) throws -> [Hash] {
            precondition(index >= 0 && index < size)
            var out: [Hash] = []
            var (start, end) = (Int64(0), size)
            while end - start > 1 {
                let k = split(end - start)
                if index < start + k {
                    out.append(try subtree(start + k, end))
                    end = start + k
                } else {
                    out.append(try subtree(start, start + k))
                    start += k
                }
            }
            return out.reversed()
        }

        /// The proof that this tree extends its first `first` leaves (RFC 6962 §2.1.2 PROOF).
        public mutating func consistency(from first: Int64) throws -> [Hash] {
            precondition(first >= 0 && first <= size)
            if first == 0 || first == size { return [] }
            var out: [Hash] = []
            var (m, start, end, complete) = (first, Int64(0), size, true)
            while m != end - start {
                let k = split(end - start)
                if m <= k {
                    out.append(try subtree(start + k, end))
                    end = start + k
                } else {
                    out.append(try subtree(start, start + k))
                    m -= k
                    start += k
                    complete = false
                }
            }
            if !complete { out.append(try subtree(start, end)) }
            return out.reversed()
        }
    }

    /// Appends leaves to stored complete subtrees. Starts from the tree's right edge (its frontier: the
    /// complete subtrees of the binary decomposition of its size) and reports every node that becomes
    /// complete, for the caller to store with the leaves.
    public struct Appender {
        public private(set) var size: Int64
        /// The frontier, largest (leftmost) subtree first, with each subtree's level.
        private var frontier: [(level: Int, hash: Hash)]

        /// Reads the frontier of a tree of `size` leaves: one look-up per set bit of `size`.
        public init(size: Int64, source: NodeSource) throws {
            self.size = size
            var frontier: [(Int, Hash)] = []
            var at = Int64(0)
            for level in stride(from: 62, through: 0, by: -1) where size & (Int64(1) << level) != 0 {
                frontier.append((level, try source(level, at >> level)))
                at += Int64(1) << level
            }
            self.frontier = frontier
        }

        /// Starts from a frontier kept beside the tree (``frontierHashes``, largest subtree first): no look-up.
        public init(size: Int64, frontierHashes: [Hash]) throws(KirokuError) {
            var levels: [Int] = []
            for level in stride(from: 62, through: 0, by: -1) where size & (Int64(1) << level) != 0 {
                levels.append(level)
            }
            guard size >= 0, levels.count == frontierHashes.count, frontierHashes.allSatisfy({ $0.count == 32 }) else {
                throw KirokuError(.internalError, "a kept Merkle frontier does not fit a tree of \(size) leaves")
            }
            self.size = size
            self.frontier = Array(zip(levels, frontierHashes))
        }

        /// The frontier's hashes, largest (leftmost) subtree first: what ``init(size:frontierHashes:)`` takes.
        public var frontierHashes: [Hash] { frontier.map(\.hash) }

        /// The audit path of the next leaf in the tree it makes (size + 1): the frontier, smallest subtree
        /// first (RFC 6962 PATH of the rightmost leaf). Lets a store prove a batch's last event with no reads.
        public var nextLeafInclusion: [Hash] { frontier.reversed().map(\.hash) }

        /// Adds one leaf; `store` receives the leaf and each completed node (level, index, hash).
        public mutating func append(_ leaf: Hash, store: (_ level: Int, _ index: Int64, _ hash: Hash) throws -> Void)
            rethrows
        {
            var level = 0
            var index = size
            var hash = leaf
            try store(0, index, hash)
            while index & 1 == 1, let last = frontier.last, last.level == level {
                frontier.removeLast()
                hash = nodeHash(last.hash, hash)
                level += 1
                index >>= 1
                try store(level, index, hash)
            }
            frontier.append((level, hash))
            size += 1
        }

        /// The current root, from the frontier alone.
        public var root: Hash {
            guard var hash = frontier.last?.hash else { return emptyRoot }
            for node in frontier.dropLast().reversed() { hash = nodeHash(node.hash, hash) }
            return hash
        }
    }
}
