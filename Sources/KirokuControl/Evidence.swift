public import Crypto
import Foundation
public import KirokuProtocol

extension EvidenceVerifier {
    /// Checks the hub's signed statements (one per page): signed by a given hub key, about this tree and
    /// one query, tiling the matching events from the first to the last with no gap or overlap, each
    /// page's digest over the bundle's entries at its place. Returns the number of problems.
    static func completeness(
        _ bundle: EvidenceBundle, tree: Checkpoint, keys: [Curve25519.Signing.PublicKey], allowIncomplete: Bool,
        lines: inout [String]
    ) -> Int {
        guard !bundle.statements.isEmpty else {
            if allowIncomplete {
                lines.append(
                    "note  no signed statement of the query (--no-completeness): this bundle proves the events it shows, not that it shows every event that matched"
                )
                return 0
            }
            lines.append(
                "FAIL  no signed statement of the query: events may have been taken out (a bundle made before statements: --no-completeness)"
            )
            return 1
        }
        var problems = 0
        func fail(_ line: String) {
            problems += 1
            lines.append("FAIL  " + line)
        }
        var pages: [EvidenceStatement] = []
        func chainLinks(
            _ pageLinks: [EvidenceLinks.Run]?, page: EvidenceStatement, entries: ArraySlice<EvidenceBundle.Entry>,
            lines: inout [String],
            covered: inout [String: (events: Int, hashes: Int)]
        ) -> Int {
            guard let runs = pageLinks else {
                lines.append("FAIL  the page from event \(page.offset + 1) has no chain links beside its statement")
                return 1
            }
            guard EvidenceLinks.digest(runs) == page.links else {
                lines.append(
                    "FAIL  the chain links of the page from event \(page.offset + 1) are not the ones the hub signed")
                return 1
            }
            var bad = 0
            for entry in entries {
                guard case .object(let members) = entry.object, case .string(let agent) = members["agent"],
                    case .integer(let seq) = members["seq"], case .string(let hash) = members["hash"]
                else { continue }
                guard let run = runs.first(where: { $0.agent == agent && $0.hash(seq: seq) != nil }),
                    run.hash(seq: seq) == hash
                else {
                    bad += 1
                    if bad <= 5 { lines.append("FAIL  \(agent) seq \(seq) is not where the signed chain links put it") }
                    continue
                }
                // A full event's predecessor is authenticated by its content: it must be the link before it; a
                // purged stub's `prev` is held to the links too.
                if case .string(let prev) = members["prev"], let before = run.hash(seq: seq - 1), before != prev {
                    bad += 1
                    if bad <= 5 {
                        lines.append(
                            "FAIL  \(agent) seq \(seq)'s prev is not the hash the chain links give for seq \(seq - 1)")
                    }
                }
                covered[agent, default: (0, 0)].events += 1
            }
            for run in runs { covered[run.agent, default: (0, 0)].hashes += run.hashes.count }
            return bad
        }
        for (index, text) in bundle.statements.enumerated() {
            do {
                let note = try SignedNote(text: text)
                let statement = try EvidenceStatement(body: note.body)
                guard note.check(name: statement.origin, publicKeys: keys).check == .valid else {
                    fail("statement \(index + 1) is not signed by a given hub key (or carries a failing signature)")
                    continue
                }
                pages.append(statement)
            } catch {
                fail("statement \(index + 1) cannot be read: \(error.message)")
            }
        }
        guard problems == 0, let first = pages.first else { return problems }
        if pages.contains(where: { $0.origin != tree.origin || $0.treeSize != tree.size }) {
            fail("a statement is about another log or tree than the checkpoint (\(tree.origin) size \(tree.size))")
        }
        if pages.contains(where: { $0.query != first.query || $0.matching != first.matching }) {
            fail("the statements are about different queries or counts: pages of different exports were mixed")
        }
        // Each statement's links travel beside it, in the same order, and stay with it through the sort (two
        // pages may share an offset: an empty one before the next).
        var paired = pages.enumerated().map {
            (page: $0.element, links: $0.offset < bundle.links.count ? bundle.links[$0.offset] : nil)
        }
        paired.sort {
            $0.page.offset < $1.page.offset || ($0.page.offset == $1.page.offset && $0.page.entries < $1.page.entries)
        }
        pages = paired.map(\.page)
        var next: Int64 = 0
        var covered: [String: (events: Int, hashes: Int)] = [:]
        for (page, pageLinks) in paired {
            guard page.offset == next else {
                fail(
                    page.offset > next
                        ? "events \(next + 1)–\(page.offset) of the \(first.matching) that match are missing: a page was left out"
                        : "two pages overlap at event \(page.offset + 1)")
                return problems
            }
            guard page.entries <= Int64(bundle.events.count) - page.offset else {
                fail(
                    "the page from event \(page.offset + 1) should hold \(page.entries) event(s); the bundle ends before: events were removed"
                )
                return problems
            }
            let start = Int(page.offset)
            let end = start + Int(page.entries)
            guard end <= bundle.events.count else {
                fail(
                    "the page from event \(start + 1) should hold \(page.entries) event(s); the bundle ends before: events were removed"
                )
                return problems
            }
            let slice = bundle.events[start..<end].map { entry -> (leafIndex: Int64, hash: String, purged: Bool) in
                guard case .object(let members) = entry.object, case .string(let hash) = members["hash"] else {
                    return (entry.leafIndex, "", entry.purged)
                }
                return (entry.leafIndex, hash, entry.purged)
            }
            if EvidenceStatement.digest(slice) != page.digest {
                fail(
                    "events \(start + 1)–\(end) are not the ones the hub listed for that page: an event was removed, added, replaced or moved"
                )
            }
            problems += chainLinks(
                pageLinks, page: page, entries: bundle.events[start..<end], lines: &lines, covered: &covered)
            next = Int64(end)
        }
        if next != first.matching {
            fail(
                "the hub counted \(first.matching) matching event(s) in tree size \(tree.size); the bundle's pages hold \(next): a page was cut short or left out"
            )
        } else if bundle.events.count != Int(next) {
            fail("the bundle holds \(bundle.events.count) event(s) but its pages list \(next): events were added")
        }
        if problems == 0 {
            let query = first.query.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
            lines.append(
                "ok    complete: the hub signed that \(first.matching) event(s) of tree size \(tree.size) match the query (\(query.isEmpty ? "everything" : query)), and all \(first.matching) are here (\(pages.count) page(s))"
            )
            let agents = covered.keys.sorted().map {
                "\($0) \(covered[$0]!.hashes) linked, \(covered[$0]!.events) shown"
            }
            if !agents.isEmpty {
                lines.append(
                    "ok    chain links: every event sits in its agent's signed chain (\(agents.joined(separator: "; "))); linked events not shown are ones the hub signs as not matching"
                )
            }
            if first.query.filter({ $0.key != "checkpoint" }) != bundle.query.filter({ $0.key != "checkpoint" }) {
                lines.append(
                    "note  the bundle's own 'query' differs from the one the hub signed; the signed one above is what was searched"
                )
            }
        }
        return problems
    }
}

/// What `kirokuctl verify` concluded, line by line, and whether the record stands.
public struct EvidenceVerdict: Sendable {
    public var verified: Bool
    public var lines: [String]
    public var checkpoint: Checkpoint?
    public var events: Int
}

public enum EvidenceVerifier {
    /// Verifies a bundle offline. `hubKeys` are the hub's keys the verifier holds (every key it used across
    /// rotations, given by the person who verifies): the checkpoint must be signed by one of them, and the
    /// key the bundle itself names is never used — a forged bundle names its forger's key. Each witness
    /// (name, key) must have cosigned; without any, the verdict says in words that no witness was checked.
    public static func verify(
        _ bundle: EvidenceBundle, hubKeys pinned: [Curve25519.Signing.PublicKey],
        witnesses: [(name: String, key: Curve25519.Signing.PublicKey)], allowIncomplete: Bool = false
    ) -> EvidenceVerdict {
        var lines: [String] = []
        var problems = 0
        func fail(_ line: String) {
            problems += 1
            lines.append("FAIL  " + line)
        }
        let keys = pinned
        guard !keys.isEmpty else {
            fail("no hub key was given: a key written inside the bundle proves nothing")
            return EvidenceVerdict(verified: false, lines: lines, checkpoint: nil, events: 0)
        }
        if !pinned.contains(where: { bundle.hubKey == $0.rawRepresentation.base64EncodedString() }) {
            lines.append("note  the bundle names another hub key than those given; the given keys are used")
        }
        let note: SignedNote
        let tree: Checkpoint
        do {
            note = try SignedNote(text: bundle.checkpoint)
            tree = try Checkpoint(body: note.body)
        } catch {
            fail("the checkpoint cannot be read: \(error.message)")
            return EvidenceVerdict(verified: false, lines: lines, checkpoint: nil, events: 0)
        }
        let signed = note.check(name: tree.origin, publicKeys: keys)
        if signed.check == .invalid, let key = signed.key {
            fail("a signature line by hub key \(signingKeyID(key)) does not verify: the checkpoint was altered")
        } else if signed.check == .valid, let key = signed.key {
            lines.append(
                "ok    checkpoint \(tree.origin) size \(tree.size) root \(Hex.encode(tree.root).prefix(16))… signed by hub key \(signingKeyID(key))"
            )
        } else {
            fail(
                "the checkpoint is not signed by hub key \(keys.map(signingKeyID).joined(separator: " or ")): altered, or from another hub"
            )
        }
        if tree.origin != bundle.origin {
            fail("the checkpoint's origin '\(tree.origin)' is not the bundle's '\(bundle.origin)'")
        }
        for witness in witnesses {
            if let time = note.cosignatureTime(name: witness.name, publicKey: witness.key) {
                let when = Timestamp(epochMilliseconds: Int64(time) * 1000, offsetMinutes: Timestamp.jstOffsetMinutes)
                    .displayText
                lines.append("ok    cosigned by witness \(witness.name) at \(when) JST")
            } else {
                fail("not cosigned by witness \(witness.name): this checkpoint was not seen by that witness")
            }
        }
        // Per event: at most 20 failures are listed, all are counted.
        var bad = 0
        var purged = 0
        func reject(_ line: String) {
            bad += 1
            if bad <= 20 { lines.append("FAIL  " + line) }
        }
        func included(_ hash: String, _ entry: EvidenceBundle.Entry) -> Bool {
            let path = entry.inclusion.compactMap { Hex.isLowercaseHex($0, length: 64) ? Hex.decode($0) : nil }
            guard path.count == entry.inclusion.count, let leaf = Merkle.leafHash(eventHash: hash) else { return false }
            return Merkle.verifyInclusion(
                leaf: leaf, index: entry.leafIndex, size: tree.size, proof: path, root: tree.root)
        }
        for (position, entry) in bundle.events.enumerated() {
            if entry.purged {
                // Nothing to re-hash: the content is gone. The hash must still be the leaf at its place.
                guard case .object(let members) = entry.object, case .string(let hash) = members["hash"],
                    case .string(let agent) = members["agent"], case .integer(let seq) = members["seq"]
                else {
                    reject("event \(position + 1): a purged entry needs agent, seq and hash")
                    continue
                }
                guard included(hash, entry) else {
                    reject(
                        "event \(position + 1) (\(agent) seq \(seq), purged): not in the checkpoint's tree at leaf \(entry.leafIndex)"
                    )
                    continue
                }
                purged += 1
                continue
            }
            let event: Event
            do {
                event = try Event.parse(CanonicalJSON.encode(entry.object))
            } catch {
                reject("event \(position + 1): \(error.message)")
                continue
            }
            let label = "event \(position + 1) (\(event.agent) seq \(event.seq))"
            do {
                try event.validate()
            } catch {
                reject("\(label): \(error.message)")
                continue
            }
            if !included(event.hash, entry) {
                reject("\(label): not in the checkpoint's tree at leaf \(entry.leafIndex)")
            }
        }
        if bad > 20 { lines.append("FAIL  … and \(bad - 20) more events") }
        problems += bad
        problems += completeness(bundle, tree: tree, keys: keys, allowIncomplete: allowIncomplete, lines: &lines)
        let proven = bundle.events.count - purged
        if bad == 0 {
            lines.append(
                "ok    \(proven) event(s): each hash recomputed from its content, each included in the checkpoint's tree"
            )
            if purged > 0 {
                lines.append(
                    "note  \(purged) event(s) purged under the retention policy: content removed, inclusion of their hash proven (and their agent, seq and prev by the signed chain links); their time, kind, action and site are NOT authenticated"
                )
            }
        }
        if witnesses.isEmpty {
            lines.append(
                "note  no witness was checked (--no-witness): a hub that rewrote its own log could have made this bundle; only a witness's cosignature shows the 会議 saw this tree"
            )
        }
        let verified = problems == 0
        let counted =
            purged > 0
            ? "\(proven) event(s) proven and \(purged) purged (content removed under the retention policy; inclusion proven, fields not authenticated)"
            : "\(proven) event(s) proven"
        var witnessed = witnesses.isEmpty ? "WITHOUT A WITNESS" : "cosigned by \(witnesses.count) witness(es)"
        if bundle.statements.isEmpty { witnessed += ", WITHOUT COMPLETENESS" }
        lines.append(
            verified
                ? "VERIFIED: \(counted) in \(tree.origin) tree size \(tree.size), signed by the hub, \(witnessed)."
                : "NOT VERIFIED: \(problems) problem(s) above. This evidence does not show an unaltered record.")
        return EvidenceVerdict(verified: verified, lines: lines, checkpoint: tree, events: bundle.events.count)
    }
}
