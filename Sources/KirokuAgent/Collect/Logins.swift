import Foundation
import KirokuProtocol

#if canImport(Glibc)
    import Glibc
#endif

/// Operator sessions from the system's login records (第20): `/var/log/wtmp`, the binary file `login`,
/// `sshd` and display managers append a `struct utmp` to (Linux x86-64 and arm64 glibc layout, 384 bytes).
/// A `USER_PROCESS` record is a login; a `DEAD_PROCESS` record is the end of the session on that line,
/// whose user is the one who logged in on it last (glibc writes logouts without a name, as `last` knows).
/// `/var/log/btmp` has the same records for failed logins (`login` and `sshd` write them, `lastb` reads
/// them): each is an authentication failure by the name that was tried.
enum Logins {
    static let recordSize = 384
    static let loginProcess: Int16 = 6
    static let userProcess: Int16 = 7
    static let deadProcess: Int16 = 8

    struct Record {
        var type: Int16
        var pid: Int32
        var line: String
        var user: String
        var host: String
        var seconds: Int32
        var microseconds: Int32
    }

    static func record(_ bytes: ArraySlice<UInt8>) -> Record {
        let base = bytes.startIndex
        func int16(_ at: Int) -> Int16 {
            Int16(bitPattern: UInt16(bytes[base + at]) | UInt16(bytes[base + at + 1]) << 8)
        }
        func int32(_ at: Int) -> Int32 {
            Int32(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[base + at + $1]) << (8 * $1) })
        }
        func text(_ at: Int, _ length: Int) -> String {
            let field = bytes[(base + at)..<(base + at + length)]
            return String(decoding: field.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        }
        return Record(
            type: int16(0), pid: int32(4), line: text(8, 32), user: text(44, 32), host: text(76, 256),
            seconds: int32(340),
            microseconds: int32(344))
    }

    /// The events of whole records read at `offset` of the file open as `fd` (read again backwards, up to
    /// 1 MiB, to find who a logout's line belonged to).
    static func drafts(_ chunk: ArraySlice<UInt8>, fd: Int32, offset: Int64, failures: Bool = false) -> [EventDraft] {
        var drafts: [EventDraft] = []
        var lastUser: [String: String] = [:]  // line → user, within this chunk
        func add(_ entry: Record, _ action: String, actor: String) {
            var attrs = ["source": failures ? "btmp" : "wtmp", "pid": "\(entry.pid)"]
            if !entry.host.isEmpty { attrs["host"] = entry.host }
            let when = Date(timeIntervalSince1970: Double(entry.seconds) + Double(entry.microseconds) / 1_000_000)
            let draft = EventDraft(
                kind: "operation", action: action, actor: actor.isEmpty ? "unknown" : actor, subject: entry.line,
                attrs: attrs,
                time: Timestamp.localNow(when).rfc3339)
            if (try? draft.validateFromProducer()) != nil { drafts.append(draft) }
        }
        var index = chunk.startIndex
        while index + recordSize <= chunk.endIndex {
            let entry = record(chunk[index..<(index + recordSize)])
            let at = offset + Int64(index - chunk.startIndex)
            index += recordSize
            if failures {
                // btmp: every record is a failed attempt (LOGIN_PROCESS from login and sshd, USER_PROCESS
                // from some PAM stacks); the name is what was typed, possibly no one's.
                if entry.type == loginProcess || entry.type == userProcess {
                    add(entry, "auth_failure", actor: entry.user)
                }
                continue
            }
            guard !entry.line.isEmpty else { continue }
            if entry.type == userProcess {
                lastUser[entry.line] = entry.user
                add(entry, "login", actor: entry.user)
            } else if entry.type == deadProcess {
                let user =
                    entry.user.isEmpty
                    ? (lastUser[entry.line] ?? loggedIn(line: entry.line, fd: fd, before: at) ?? "") : entry.user
                lastUser[entry.line] = nil
                add(entry, "logout", actor: user)
            }
        }
        return drafts
    }

    /// Who logged in last on `line` before the record at `before`, read backwards (at most 1 MiB).
    static func loggedIn(line: String, fd: Int32, before: Int64) -> String? {
        let start = max(0, before - Int64(1 << 20) / Int64(recordSize) * Int64(recordSize))
        let length = Int(before - start)
        guard length > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: length)
        let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, length, off_t(start)) }
        guard count == length else { return nil }
        var index = length - recordSize
        while index >= 0 {
            let entry = record(buffer[index..<(index + recordSize)])
            if entry.line == line {
                if entry.type == userProcess { return entry.user.isEmpty ? nil : entry.user }
                if entry.type == deadProcess { return nil }
            }
            index -= recordSize
        }
        return nil
    }
}
