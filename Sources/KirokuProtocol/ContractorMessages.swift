import Crypto

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// The messages of contractors' submissions (PROTOCOL.md §13), shared by the hub and kirokuctl: a
/// contractor (受託者) hands the city a site-audit report (第25), a work report after maintenance (第26) or an
/// incident report, under their own person certificate; the hub keeps each file by its SHA-256 and records
/// the hashes in a `contractor/submitted` event of its own chain, so the Merkle log proves which document was
/// submitted, by whom, when.
public enum SubmissionType: String, Sendable, Codable, CaseIterable {
    /// 第25: the contractor's report on the security measures at its site.
    case siteAudit = "site_audit"
    /// 第26: what a maintenance under an instruction did.
    case workReport = "work_report"
    /// 第24⑸: an accident the contract obliges the contractor to report.
    case incidentReport = "incident_report"

    public var label: String {
        switch self {
        case .siteAudit: "実施状況報告 (第25)"
        case .workReport: "作業報告 (第26)"
        case .incidentReport: "事故報告 (第24⑸)"
        }
    }
}

/// What a submission's file is, told by its first bytes, never by its name.
public enum DocumentType: String, Sendable, Codable, CaseIterable {
    case pdf = "application/pdf"
    case png = "image/png"
    case jpeg = "image/jpeg"
    case csv = "text/csv"

    /// The type of a file's content, or nil if it is none of the four: a PDF (`%PDF-`), a PNG or JPEG by
    /// their signatures, or a CSV — text in UTF-8 or CP932 with no control characters but tab, CR and LF.
    public static func of(_ bytes: [UInt8]) -> DocumentType? {
        if bytes.starts(with: Array("%PDF-".utf8)) { return .pdf }
        if bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .jpeg }
        guard !bytes.isEmpty,
            !bytes.contains(where: { ($0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D) || $0 == 0x7F })
        else {
            return nil
        }
        return String(validating: bytes, as: UTF8.self) != nil || isShiftJIS(bytes) ? .csv : nil
    }

    /// Whether the bytes are well-formed Shift_JIS/CP932: ASCII, half-width katakana, or a lead byte
    /// (0x81–0x9F, 0xE0–0xFC) followed by a trail byte (0x40–0x7E, 0x80–0xFC).
    static func isShiftJIS(_ bytes: [UInt8]) -> Bool {
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x80 || (0xA1...0xDF).contains(byte) {
                index += 1
            } else if (0x81...0x9F).contains(byte) || (0xE0...0xFC).contains(byte) {
                guard index + 1 < bytes.count,
                    (0x40...0x7E).contains(bytes[index + 1]) || (0x80...0xFC).contains(bytes[index + 1])
                else { return false }
                index += 2
            } else {
                return false
            }
        }
        return true
    }

    /// The file name extension the type is saved under.
    public var fileExtension: String {
        switch self {
        case .pdf: "pdf"
        case .png: "png"
        case .jpeg: "jpg"
        case .csv: "csv"
        }
    }
}

/// One file of a submission as the record holds it.
public struct SubmittedFile: Sendable, Codable, Equatable {
    /// The name it was submitted under (for people; the hub keeps it by hash).
    public var name: String
    public var sha256: String
    public var size: Int64
    public var type: DocumentType

    public init(name: String, sha256: String, size: Int64, type: DocumentType) {
        self.name = name
        self.sha256 = sha256
        self.size = size
        self.type = type
    }

    /// The value of the event attribute `file1`, `file2`…: `SHA256 SIZE TYPE NAME` (the name last, as it may
    /// hold spaces).
    public var attribute: String { "\(sha256) \(size) \(type.rawValue) \(name)" }

    public init?(attribute: String) {
        let parts = attribute.split(separator: " ", maxSplits: 3, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 4, Hex.isLowercaseHex(parts[0], length: 64), let size = Int64(parts[1]),
            let type = DocumentType(rawValue: parts[2])
        else { return nil }
        self.init(name: parts[3], sha256: parts[0], size: size, type: type)
    }

    /// The SHA-256 of a file's bytes, lowercase hex.
    public static func digest(_ bytes: [UInt8]) -> String { Hex.encode(SHA256.hash(data: bytes)) }
}

/// A review of a submission by the city (管理者 or 運用管理者).
public struct SubmissionReview: Sendable, Codable, Equatable {
    /// `accepted` or `returned`.
    public var decision: String
    public var by: String
    public var at: String
    public var reason: String

    public init(decision: String, by: String, at: String, reason: String) {
        self.decision = decision
        self.by = by
        self.at = at
        self.reason = reason
    }
}

/// A submission as `GET /v1/submissions` answers it.
public struct Submission: Sendable, Codable, Equatable {
    public var id: Int64
    public var contract: String
    public var type: SubmissionType
    /// The maintenance instruction a work report answers (第26).
    public var instruction: String?
    public var note: String
    public var submittedBy: String
    public var submittedAt: String
    /// `submitted` (awaiting review), `accepted` or `returned`.
    public var status: String
    /// The returned submission this one replaces.
    public var previous: Int64?
    public var files: [SubmittedFile]
    /// The `contractor/submitted` event in the record (`hub/SEQ`), for its evidence bundle.
    public var event: String
    public var reviews: [SubmissionReview]

    public init(
        id: Int64, contract: String, type: SubmissionType, instruction: String?, note: String, submittedBy: String,
        submittedAt: String, status: String, previous: Int64?, files: [SubmittedFile], event: String,
        reviews: [SubmissionReview]
    ) {
        self.id = id
        self.contract = contract
        self.type = type
        self.instruction = instruction
        self.note = note
        self.submittedBy = submittedBy
        self.submittedAt = submittedAt
        self.status = status
        self.previous = previous
        self.files = files
        self.event = event
        self.reviews = reviews
    }

    enum CodingKeys: String, CodingKey {
        case id, contract, type, instruction, note, status, previous, files, event, reviews
        case submittedBy = "submitted_by"
        case submittedAt = "submitted_at"
    }
}

/// The body of `POST /v1/submissions`: the files travel in it as base64.
public struct SubmissionRequest: Sendable, Codable, Equatable {
    public struct File: Sendable, Codable, Equatable {
        public var name: String
        /// The file's bytes, base64.
        public var content: String

        public init(name: String, bytes: [UInt8]) {
            self.name = name
            self.content = Data(bytes).base64EncodedString()
        }
    }

    public var contract: String
    public var type: SubmissionType
    public var instruction: String?
    public var note: String
    public var previous: Int64?
    public var files: [File]

    public init(
        contract: String, type: SubmissionType, instruction: String?, note: String, previous: Int64?, files: [File]
    ) {
        self.contract = contract
        self.type = type
        self.instruction = instruction
        self.note = note
        self.previous = previous
        self.files = files
    }

    /// Most files in one submission.
    public static let maxFiles = 10
}
