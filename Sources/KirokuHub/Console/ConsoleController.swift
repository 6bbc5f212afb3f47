import Crypto
import Foundation
import HTTPTypes
import Hummingbird
import KirokuProtocol
import Logging
import Mustache
import NIOCore

/// The web console of the 管理者 and the 会議 (PROTOCOL.md §12): Japanese pages under `/` on the hub's own
/// mutual-TLS port, beside the API under `/v1`. The person's certificate is the login; every page calls the
/// same handlers, and so the same role checks, as the API. Pages work without JavaScript; state changes are
/// forms that carry a token bound to the person's certificate (``ConsoleToken``).
struct ConsoleController: HubController {
    let core: HubCore
    let events: EventController
    let agents: AgentController
    let findings: FindingController
    let log: LogController
    let retention: RetentionController
    let registers: RegisterController
    let submissions: SubmissionController
    let library: MustacheLibrary
    let token: ConsoleToken

    init(
        core: HubCore, events: EventController, agents: AgentController, findings: FindingController,
        log: LogController,
        retention: RetentionController, registers: RegisterController, submissions: SubmissionController
    ) throws {
        self.core = core
        self.events = events
        self.agents = agents
        self.findings = findings
        self.log = log
        self.retention = retention
        self.registers = registers
        self.submissions = submissions
        var library = MustacheLibrary()
        for (name, text) in ConsoleTemplates.all { try library.register(text, named: name) }
        self.library = library
        self.token = ConsoleToken(signingKey: core.key)
    }

    func addRoutes(to router: Router<HubRequestContext>) {
        router.get("/console.css") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "text/css; charset=utf-8", .cacheControl: "max-age=3600"],
                body: .init(byteBuffer: ByteBuffer(string: ConsoleTemplates.css)))
        }
        router.get("/") { request, context in
            await self.page(request, context) { viewer in
                // A hub on PostgreSQL has no findings or registers to show: its readers start at the search.
                core.house == nil ? Self.seeOther("/events") : try await self.dashboard(viewer, context)
            }
        }
        router.get("/events") { request, context in
            await self.page(request, context) { try await self.search($0, request, context) }
        }
        router.get("/events.csv") { request, context in
            await self.page(request, context) { try await self.csv($0, request, context) }
        }
        router.get("/findings") { request, context in
            await self.page(request, context) { try await self.findingList($0, request, context) }
        }
        router.get("/findings/:id") { request, context in
            await self.page(request, context) { try await self.finding($0, context) }
        }
        for (path, status) in [("acknowledge", FindingStatus.acknowledged), ("resolve", .resolved)] {
            router.post("/findings/:id/\(path)") { request, context in
                await self.page(request, context) { viewer in
                    let form = try await self.form(request, context)
                    let id = try Self.id(context)
                    _ = try await self.findings.act(on: id, status: status, reason: form["reason"] ?? "", context)
                    return Self.seeOther("/findings/\(id)")
                }
            }
        }
        // The 点検 of the record (第20②), from the dashboard.
        router.post("/reviews") { request, context in
            await self.page(request, context) { _ in
                let form = try await self.form(request, context)
                guard let text = form["through"], let through = PersonTime.parse(text) else {
                    throw KirokuError(
                        .badQuery, "through must be \(PersonTime.forms), not '\((form["through"] ?? "").prefix(40))'")
                }
                let person = try await self.authorize(.actOnFindings, context)
                _ = try await self.store.review(through: through, note: form["note"] ?? "", by: person.id)
                return Self.seeOther("/")
            }
        }
        router.get("/agents") { request, context in
            await self.page(request, context) { try await self.agentList($0, context) }
        }
        router.get("/agents/:id") { request, context in
            await self.page(request, context) { try await self.agent($0, context) }
        }
        router.get("/registers") { request, context in
            await self.page(request, context) { try await self.registerList($0, context) }
        }
        router.get("/registers/:name") { request, context in
            await self.page(request, context) { try await self.register($0, request, context) }
        }
        router.post("/registers/:name/preview") { request, context in
            await self.page(request, context) { try await self.registerPreview($0, request, context) }
        }
        router.post("/registers/:name/import") { request, context in
            await self.page(request, context) { _ in
                let register = try RegisterController.register(context)
                // Who may not replace the register is refused before 48 MB are read.
                try await self.authorize(.writeRegister(register), context)
                let form = try await self.form(request, context, upTo: 48 * 1024 * 1024)
                guard let csv = form["csv"].flatMap({ Data(base64Encoded: $0) }), let held = form["held"] else {
                    throw KirokuError(.badQuery, "the import form lost its CSV; preview the file again")
                }
                let result = try await self.registers.importCSV(register, Array(csv), expectedHeld: held, context)
                return Self.seeOther(
                    "/registers/\(register.rawValue)?imported=\(result.added)-\(result.changed)-\(result.removed)")
            }
        }
        router.get("/retention") { request, context in
            await self.page(request, context) { try await self.retentionPage($0, context) }
        }
        router.post("/holds") { request, context in
            await self.page(request, context) { _ in
                var form = try await self.form(request, context)
                form["token"] = nil
                for name in ["from", "to"] {
                    guard let text = form[name] else { continue }
                    guard let time = PersonTime.parse(text) else {
                        throw KirokuError(.badQuery, "\(name) must be \(PersonTime.forms), not '\(text.prefix(40))'")
                    }
                    form[name] = time.rfc3339
                }
                _ = try await self.retention.placeHold(form, context)
                return Self.seeOther("/retention")
            }
        }
        router.post("/holds/:id/lift") { request, context in
            await self.page(request, context) { _ in
                let form = try await self.form(request, context)
                _ = try await self.retention.liftHold(try Self.id(context), reason: form["reason"] ?? "", context)
                return Self.seeOther("/retention")
            }
        }
        router.get("/reports") { request, context in
            await self.page(request, context) { viewer in
                try await self.authorize(.readRecord, context)
                _ = try self.store  // the report reads findings: not on a hub whose record is on PostgreSQL
                let now = Timestamp(date: Date()).withOffset(minutes: Timestamp.jstOffsetMinutes).rfc3339
                let year = Int(now.prefix(4)) ?? 2026
                let month = Int(now.dropFirst(5).prefix(2)) ?? 4
                return self.render(
                    "reports", title: "会議資料", data: ["fiscalYear": Wareki.fiscalYear(year: year, month: month)],
                    viewer: viewer)
            }
        }
        router.get("/report") { request, context in
            await self.page(request, context) { viewer in
                let period = try ReportPeriod.parse(try Self.query(request))
                var data = try await self.reportData(period, viewer, context)
                data["css"] = ConsoleTemplates.reportCSS
                let text = self.library.render(data, withTemplate: "report") ?? ""
                var headers = Self.pageHeaders("text/html; charset=utf-8")
                // The report carries its own style (it is also saved and printed from a file): allowed by its hash.
                headers[HTTPField.Name("Content-Security-Policy")!] =
                    "default-src 'none'; style-src '\(Self.reportStyleHash)'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'"
                return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: text)))
            }
        }
        router.get("/integrity") { request, context in
            await self.page(request, context) { try await self.integrity($0, context) }
        }
        router.get("/submissions") { request, context in
            await self.page(request, context) { try await self.submissionList($0, context) }
        }
        router.get("/submissions/:id") { request, context in
            await self.page(request, context) { try await self.submission($0, context) }
        }
        router.post("/submissions") { request, context in
            await self.page(request, context) { _ in
                // Who may not submit is refused before the upload is read.
                try await self.authorize(.submitDocuments, context)
                var request = request
                guard let boundary = ConsoleMultipart.boundary(request.headers[.contentType]) else {
                    throw KirokuError(.badQuery, "send the files with the page's form")
                }
                let body = try await Self.body(&request, upTo: self.configuration.maxSubmissionBytes + 1024 * 1024)
                let parts = ConsoleMultipart.parts(body, boundary: boundary)
                func field(_ name: String) -> String? {
                    parts.first { $0.name == name }.map { String(decoding: $0.bytes, as: UTF8.self) }
                }
                try self.checkToken(field("token"), context)
                guard let type = SubmissionType(rawValue: field("type") ?? "") else {
                    throw KirokuError(.badQuery, "choose the kind of submission")
                }
                let previous = try field("previous").flatMap { text -> Int64? in
                    guard !text.isEmpty else { return nil }
                    guard let number = Int64(text), number > 0 else {
                        throw KirokuError(.badQuery, "the returned submission is named by its number")
                    }
                    return number
                }
                let files = parts.filter { $0.name == "file" && !$0.bytes.isEmpty }
                    .map { SubmissionRequest.File(name: $0.filename ?? "file", bytes: $0.bytes) }
                guard !files.isEmpty else { throw KirokuError(.badQuery, "choose the files to submit") }
                let made = try await self.submissions.submit(
                    SubmissionRequest(
                        contract: field("contract") ?? "", type: type, instruction: field("instruction"),
                        note: field("note") ?? "",
                        previous: previous, files: files), context)
                return Self.seeOther("/submissions/\(made.id)")
            }
        }
        router.post("/submissions/:id/review") { request, context in
            await self.page(request, context) { _ in
                let form = try await self.form(request, context)
                let decision =
                    form["decision"] == "accept" ? "accepted" : form["decision"] == "return" ? "returned" : ""
                guard !decision.isEmpty else { throw KirokuError(.badQuery, "a review accepts or returns") }
                let id = try Self.id(context)
                _ = try await self.submissions.review(id, decision: decision, reason: form["reason"] ?? "", context)
                return Self.seeOther("/submissions/\(id)")
            }
        }
    }

    /// `sha256-…` of the report's stylesheet, the only style its Content-Security-Policy allows.
    static let reportStyleHash =
        "sha256-" + Data(SHA256.hash(data: Array(ConsoleTemplates.reportCSS.utf8))).base64EncodedString()

    // MARK: Who is looking

    /// The person in front of the page: who they are, their name, what the people register lets them do.
    struct Viewer {
        var identity: Identity
        var lookup: StaffLookup
        var names: [String: String]
        /// Only their own record (操作者, 受託者).
        var ownOnly: Bool
        var core: HubCore

        func can(_ permission: Permission) -> Bool {
            // On a hub whose record is on PostgreSQL, what its configuration names the person for.
            if core.house == nil { return core.configuration.store?.allows(permission, identity.id) ?? false }
            return (try? core.permit(permission, identity, lookup)) != nil
        }

        var who: String {
            let name = names[identity.id].map { "\($0) " } ?? ""
            var roles = ""
            if case .staff(let staff) = lookup {
                roles = " · " + staff.roles.map { core.configuration.roleLabels.labels[$0]! }.joined(separator: "・")
            }
            return "\(name)(\(identity.id))\(roles)"
        }
    }

    func viewer(_ context: HubRequestContext) async throws -> Viewer {
        let identity = try Self.require(.person, context)
        if core.house == nil {
            // No people register there: its readers see the record's pages, everyone else is refused.
            try await authorize(.readRecord, context)
            return Viewer(identity: identity, lookup: .unknown, names: [:], ownOnly: false, core: core)
        }
        let lookup = try await store.staff(identity.id, labels: configuration.roleLabels)
        let ownOnly = try await readerLimit(context) != nil
        var names: [String: String] = [:]
        for row in try await store.register(.people) {
            if let id = row["person_id"], let name = row["name"], !name.isEmpty { names[id] = name }
        }
        return Viewer(identity: identity, lookup: lookup, names: names, ownOnly: ownOnly, core: core)
    }

    /// Runs a page's handler as the caller; a refusal becomes a Japanese page with the same status and code.
    func page(_ request: Request, _ context: HubRequestContext, _ handler: (Viewer) async throws -> Response) async
        -> Response
    {
        var viewer: Viewer?
        do {
            viewer = try await self.viewer(context)
            return try await handler(viewer!)
        } catch {
            let refusal =
                (error as? KirokuError) ?? KirokuError(.internalError, "the hub failed internally; nothing was changed")
            if refusal.code == .internalError {
                context.logger.error("console page failed", metadata: ["kiroku.error": "\(error)"])
            }
            metrics.refused(refusal.code)
            if ErrorMiddleware.wantsJSON(request) { return ErrorMiddleware.response(refusal) }
            var response = render(
                "error", title: "要求を受け付けられません",
                data: [
                    "headline": refusal.code.japanese, "message": refusal.message, "code": refusal.code.rawValue,
                    // No links to pages that would refuse the same way (a hub on PostgreSQL, a stranger).
                    "known": viewer != nil, "house": core.house != nil,
                ],
                viewer: viewer)
            response.status = .init(code: refusal.code.httpStatus)
            return response
        }
    }

    func render(_ template: String, title: String, data: [String: Any], viewer: Viewer?) -> Response {
        let body = library.render(data, withTemplate: template) ?? ""
        let page =
            library.render(
                [
                    "title": title, "body": body, "origin": configuration.origin, "who": viewer?.who ?? "",
                    "known": viewer != nil,
                    "reader": viewer.map { !$0.ownOnly } ?? false, "unenforced": viewer?.lookup == .unenforced,
                    // Findings, registers, reports, retention and submissions are kept on SQLite only.
                    "house": core.house != nil,
                    "contracts": core.house != nil
                        && (viewer.map { $0.can(.readRecord) || $0.can(.submitDocuments) } ?? false),
                ] as [String: Any], withTemplate: "layout") ?? ""
        return Response(
            status: .ok, headers: Self.pageHeaders("text/html; charset=utf-8"),
            body: .init(byteBuffer: ByteBuffer(string: page)))
    }

    /// Every page: no script at all, no framing, no caching of the record, no referrer to other sites.
    static func pageHeaders(_ contentType: String) -> HTTPFields {
        var headers: HTTPFields = [.contentType: contentType, .cacheControl: "no-store"]
        headers[HTTPField.Name("Content-Security-Policy")!] =
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
        headers[HTTPField.Name("X-Frame-Options")!] = "DENY"
        headers[HTTPField.Name("X-Content-Type-Options")!] = "nosniff"
        // `same-origin`, not `no-referrer`: with no referrer Chromium sends `Origin: null` on the console's own forms.
        headers[HTTPField.Name("Referrer-Policy")!] = "same-origin"
        return headers
    }

    static func seeOther(_ location: String) -> Response {
        var headers = pageHeaders("text/plain; charset=utf-8")
        headers[.location] = location
        return Response(status: .seeOther, headers: headers)
    }

    static func id(_ context: HubRequestContext) throws -> Int64 {
        guard let id = context.parameters.get("id")?.removingPercentEncoding.flatMap({ Int64($0) }) else {
            throw KirokuError(.badQuery, "the number in the address is not a number")
        }
        return id
    }

    /// A submitted form (`application/x-www-form-urlencoded`), refused unless it carries the token bound to
    /// the caller's certificate: a page on another site cannot know it.
    func form(_ request: Request, _ context: HubRequestContext, upTo limit: Int = 64 * 1024) async throws -> [String:
        String]
    {
        var request = request
        let body = try await Self.body(&request, upTo: limit)
        let form = try ConsoleForm.parse(String(decoding: body, as: UTF8.self))
        try checkToken(form["token"], context)
        return form
    }

    func checkToken(_ presented: String?, _ context: HubRequestContext) throws {
        guard let presented, token.check(presented, certificateDigest: context.certificateDigest) else {
            throw KirokuError(
                .crossSiteRequest,
                "the form's token is missing or is not this certificate's; open the page again and resubmit")
        }
    }

    static func body(_ request: inout Request, upTo limit: Int) async throws -> [UInt8] {
        do {
            return Array(try await request.collectBody(upTo: limit).readableBytesView)
        } catch is NIOTooManyBytesError {
            throw KirokuError(.batchTooLarge, "the form is over \(limit / 1024 / 1024) MB")
        }
    }

    /// A page's query as a browser's GET form sends it (`+` for a space), empty fields left out.
    static func query(_ request: Request) throws -> [String: String] { try ConsoleForm.parse(request.uri.query ?? "") }

    func eventRow(_ event: Event, _ viewer: Viewer) -> [String: Any] {
        [
            "time": ConsoleText.time(event.time), "agent": event.agent, "seq": event.seq,
            "kind": ConsoleText.kind(event.kind),
            "action": ConsoleText.eventAction(event.action, kind: event.kind) == event.action
                ? event.action : "\(ConsoleText.eventAction(event.action, kind: event.kind)) (\(event.action))",
            "actor": event.actor, "actorName": viewer.names[event.actor] ?? "", "subject": event.subject,
            "site": event.site,
            "attrs": CanonicalJSON.sortedKeys(event.attrs.keys).map { "\($0)=\(event.attrs[$0]!)" }.joined(
                separator: " "),
        ]
    }

    // MARK: Pages

    func dashboard(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        if viewer.ownOnly { return Self.seeOther("/events") }
        try await authorize(.readRecord, context)
        var byArticle: [String: (critical: Int, warning: Int)] = [:]
        var openCritical = 0
        var openWarning = 0
        var acknowledged = 0
        for (rule, status, count) in try await store.findingCounts() {
            if status == "acknowledged" { acknowledged += count }
            guard status == "open" else { continue }
            let info = RuleInfo.named(rule)
            var counts = byArticle[info?.article ?? ""] ?? (0, 0)
            if info?.severity == "critical" {
                counts.critical += count
                openCritical += count
            } else {
                counts.warning += count
                openWarning += count
            }
            byArticle[info?.article ?? ""] = counts
        }
        let articles = byArticle.keys.sorted { Self.articleOrder($0) < Self.articleOrder($1) }.map { article in
            [
                "article": article, "articleQuery": QueryString.percent(article),
                "critical": byArticle[article]!.critical,
                "warning": byArticle[article]!.warning,
            ] as [String: Any]
        }
        let now = Date()
        let nowMS = Int64(now.timeIntervalSince1970 * 1000)
        let today = String(
            Timestamp(epochMilliseconds: nowMS, offsetMinutes: Timestamp.jstOffsetMinutes).rfc3339.prefix(10))
        let midnight = Timestamp(rfc3339: "\(today)T00:00:00.000+09:00")!.epochMilliseconds
        let eventsToday = try await store.countEvents(fromMS: midnight, toMS: midnight + 86_400_000)
        // Lost terminals, as the rules judge them (agent_integrity): quiet for agent_overdue_minutes counted in
        // business hours, not stopped on purpose, not in a declared shutdown or after a 第30 shutdown.
        let lost = try await store.lostAgents()
        let quiet = try await agents.health(context).filter { lost.contains($0.agent) }
        let quietNote =
            quiet.isEmpty
            ? "開庁時間で数えて \(configuration.rules.agentOverdueMinutes) 分以上連絡のない端末はありません (停止の申告・宣言された停止・第30 による終了を除く)。"
            : "開庁時間で数えて \(configuration.rules.agentOverdueMinutes) 分以上連絡がありません (停止の申告・宣言された停止・第30 による終了を除く)。"
        let newest = try await store.checkpoint(size: nil)
        let cosigned = try await store.newestCosignedCheckpoint()
        var checkpointNote = "まだ発行されていません"
        if let newest {
            checkpointNote = "\(ConsoleText.time(Timestamp(date: newest.issued).rfc3339)) 発行 · "
            if let cosigned {
                checkpointNote +=
                    cosigned.checkpoint.size == newest.checkpoint.size
                    ? "会議の立会人が連署済"
                    : "立会人の連署はサイズ \(cosigned.checkpoint.size) まで (\(ConsoleText.time(Timestamp(date: cosigned.issued).rfc3339)) 発行分)"
            } else {
                checkpointNote += "立会人の連署はまだありません"
            }
        }
        // The last 点検 (第20②) and, for those who may record one, the form (through yesterday by default).
        let review = try await store.reviews().first
        let gap = configuration.rules.reviewGapDays
        let yesterday = BusinessCalendar.day(nowMS - 86_400_000)
        let data: [String: Any] = [
            "reviewNote": review.map {
                "\(ConsoleText.date("\($0.through)T00:00:00.000+09:00")) まで · \(viewer.names[$0.by] ?? $0.by) · \(ConsoleText.time($0.at))"
            }
                ?? "まだ点検の記録はありません",
            "reviewText": review?.note ?? "", "hasReviewText": !(review?.note ?? "").isEmpty,
            "canReview": viewer.can(.actOnFindings),
            "reviewDefault": yesterday.replacingOccurrences(of: "-", with: "/"),
            "reviewGap": gap > 0
                ? "\(gap) 日を超えて点検がないと所見になります (record_unreviewed)。" : "点検の間隔の規則は無効です (review_gap_days 0)。",
            "token": token.make(certificateDigest: context.certificateDigest),
            "eventsToday": eventsToday, "today": ConsoleText.date("\(today)T00:00:00.000+09:00"),
            "openCritical": openCritical, "anyCritical": openCritical > 0, "openWarning": openWarning,
            "acknowledged": acknowledged, "byArticle": articles, "anyOpen": !articles.isEmpty,
            "quiet": quiet.map {
                [
                    "agent": $0.agent, "lastSeen": ConsoleText.time($0.lastSeen),
                    "lastEvent": $0.lastEventTime.map(ConsoleText.time) ?? "",
                    "lag": $0.lag,
                ] as [String: Any]
            }, "anyQuiet": !quiet.isEmpty, "quietCount": quiet.count, "quietNote": quietNote,
            "quietCard": "開庁時間で \(configuration.rules.agentOverdueMinutes) 分以上 (意図した停止を除く)",
            "checkpointSize": newest.map { String($0.checkpoint.size) } ?? "—", "checkpointNote": checkpointNote,
            "cosigned": newest != nil && cosigned?.checkpoint.size == newest?.checkpoint.size,
        ]
        return render("dashboard", title: "ダッシュボード", data: data, viewer: viewer)
    }

    /// 第3 before 第12 before 第20: by the article's number.
    static func articleOrder(_ article: String) -> Int {
        Int(
            article.unicodeScalars.filter { $0.properties.numericType != nil && $0.value < 128 }.map(String.init)
                .joined()) ?? 999
    }

    /// The search form's parameters as the API takes them: times typed as staff type them, converted to
    /// RFC 3339; empty fields dropped.
    static func searchParameters(_ query: [String: String]) throws -> [String: String] {
        var parameters = query
        for name in ["from", "to"] {
            guard let text = parameters[name] else { continue }
            guard let time = PersonTime.parse(text) else {
                throw KirokuError(.badQuery, "\(name) must be \(PersonTime.forms), not '\(text.prefix(40))'")
            }
            parameters[name] = time.rfc3339
        }
        for name in ["actor_match", "subject_match"] where parameters[name] == "exact" { parameters[name] = nil }
        if parameters["actor"] == nil { parameters["actor_match"] = nil }
        if parameters["subject"] == nil { parameters["subject_match"] = nil }
        return parameters
    }

    func search(_ viewer: Viewer, _ request: Request, _ context: HubRequestContext) async throws -> Response {
        let typed = try Self.query(request)
        var parameters = try Self.searchParameters(typed)
        parameters["limit"] = parameters["limit"] ?? "100"
        let page = try await events.page(parameters, context)
        let limit = parameters["limit"]!
        var csv = parameters
        csv["cursor"] = nil
        csv["limit"] = nil
        var next = typed
        next["cursor"] = page.next
        let matchOptions = { (chosen: String?) in
            [("exact", "完全一致"), ("prefix", "前方一致"), ("contains", "部分一致")].map {
                ["id": $0.0, "label": $0.1, "selected": $0.0 == (chosen ?? "exact")] as [String: Any]
            }
        }
        let data: [String: Any] = [
            "form": typed, "reader": !viewer.ownOnly, "ownOnly": viewer.ownOnly, "own": viewer.identity.id,
            "kinds": ConsoleText.kinds.map {
                ["id": $0.id, "label": $0.label, "selected": $0.id == typed["kind"]] as [String: Any]
            },
            "actorMatch": matchOptions(typed["actor_match"]), "subjectMatch": matchOptions(typed["subject_match"]),
            "limits": (["50", "100", "500", "1000"] + (["50", "100", "500", "1000"].contains(limit) ? [] : [limit])).map
            {
                ["value": $0, "selected": $0 == limit] as [String: Any]
            },
            "rows": page.events.map { eventRow($0, viewer) }, "shown": page.events.count, "more": page.next != nil,
            "hasNext": page.next != nil, "next": QueryString.encode(next), "limit": limit,
            "csvQuery": QueryString.encode(csv), "evidenceQuery": QueryString.encode(parameters),
        ]
        return render("events", title: viewer.ownOnly ? "わたしの記録" : "記録の検索", data: data, viewer: viewer)
    }

    /// Every event the search selects, as CSV for Excel: UTF-8 with a BOM, or CP932 (`encoding=cp932`),
    /// streamed page by page so that a hundred thousand rows never sit in memory.
    func csv(_ viewer: Viewer, _ request: Request, _ context: HubRequestContext) async throws -> Response {
        var parameters = try Self.searchParameters(try Self.query(request))
        let encoding = parameters.removeValue(forKey: "encoding") ?? "utf-8"
        guard encoding == "utf-8" || encoding == "cp932" else {
            throw KirokuError(.badQuery, "encoding is utf-8 or cp932, not '\(encoding.prefix(20))'")
        }
        guard parameters["cursor"] == nil else {
            throw KirokuError(
                .badQuery, "the CSV holds every event the search selects, from the first: it takes no cursor")
        }
        parameters["limit"] = "5000"
        let cp932 = encoding == "cp932"
        let first = try await events.page(parameters, context)
        if cp932 {
            // Checked before anything is sent: a character Shift_JIS cannot hold is refused with its place,
            // never written as '?'.
            var pageParameters = parameters
            var page = first
            var row = 1
            while true {
                for event in page.events {
                    row += 1
                    try ConsoleCSV.checkCP932(ConsoleCSV.fields(event, names: viewer.names), row: row)
                }
                guard let next = page.next else { break }
                pageParameters["cursor"] = next
                page = try await events.page(pageParameters, context)
            }
        }
        let names = viewer.names
        let events = self.events
        let query = parameters
        var headers = Self.pageHeaders(cp932 ? "text/csv; charset=Shift_JIS" : "text/csv; charset=utf-8")
        headers[.contentDisposition] = "attachment; filename=\"kiroku-events.csv\""
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await writer.write(try ConsoleCSV.encode(ConsoleCSV.header, cp932: cp932, bom: !cp932))
                var page = first
                var parameters = query
                while true {
                    var buffer = ByteBuffer()
                    for event in page.events {
                        buffer.writeImmutableBuffer(
                            try ConsoleCSV.encode(ConsoleCSV.fields(event, names: names), cp932: cp932, bom: false))
                    }
                    try await writer.write(buffer)
                    guard let next = page.next else { break }
                    parameters["cursor"] = next
                    page = try await events.page(parameters, context)
                }
                try await writer.finish(nil)
            })
    }

    func findingList(_ viewer: Viewer, _ request: Request, _ context: HubRequestContext) async throws -> Response {
        let typed = try Self.query(request)
        let status = FindingStatus(parameter: typed["status"])
        guard typed["status"] == nil || status != nil else {
            throw KirokuError(.badQuery, "status is open, acknowledged or resolved")
        }
        guard typed["rule"] == nil || RuleInfo.named(typed["rule"]!) != nil else {
            throw KirokuError(.badQuery, "unknown rule")
        }
        var from: Int64?
        var to: Int64?
        for name in ["from", "to"] {
            guard let text = typed[name] else { continue }
            guard let time = PersonTime.parse(text) else {
                throw KirokuError(.badQuery, "\(name) must be \(PersonTime.forms), not '\(text.prefix(40))'")
            }
            if name == "from" { from = time.epochMilliseconds } else { to = time.epochMilliseconds }
        }
        // Article and severity are properties of rules: the store selects by the rules that have them.
        var rules: [RuleID]?
        if typed["article"] != nil || typed["severity"] != nil {
            rules = RuleInfo.all.filter {
                (typed["article"] == nil || $0.article == typed["article"])
                    && (typed["severity"] == nil || $0.severity == typed["severity"])
            }.map(\.id)
        }
        let shownLimit = 500
        var rows = try await findings.list(
            status: status, rule: typed["rule"].flatMap(RuleID.init(rawValue:)), rules: rules, seenSince: from,
            seenBefore: to, limit: shownLimit + 1,
            context)
        let more = rows.count > shownLimit
        rows = Array(rows.prefix(shownLimit))
        let articles = Set(RuleInfo.all.map(\.article)).sorted { Self.articleOrder($0) < Self.articleOrder($1) }
        let data: [String: Any] = [
            "form": typed, "count": rows.count, "more": more, "shown": rows.count,
            "statuses": FindingStatus.allCases.map {
                ["id": $0.rawValue, "label": ConsoleText.status($0), "selected": $0 == status] as [String: Any]
            },
            "articles": articles.map { ["value": $0, "selected": $0 == typed["article"]] as [String: Any] },
            "rules": RuleInfo.all.map {
                [
                    "id": $0.id.rawValue, "name": ConsoleText.rule($0.id.rawValue), "article": $0.article,
                    "selected": $0.id.rawValue == typed["rule"],
                ] as [String: Any]
            },
            "severities": ["critical", "warning"].map {
                ["id": $0, "label": ConsoleText.severity($0), "selected": $0 == typed["severity"]] as [String: Any]
            },
            "rows": rows.map { finding in
                [
                    "id": finding.id, "status": ConsoleText.status(finding.status),
                    "severity": ConsoleText.severity(finding.severity),
                    "severityClass": finding.severity, "article": finding.article,
                    "rule": ConsoleText.rule(finding.rule), "summary": finding.summaryForJapanese,
                    "count": finding.count, "lastSeen": ConsoleText.time(finding.lastSeen),
                ] as [String: Any]
            },
        ]
        return render("findings", title: "所見", data: data, viewer: viewer)
    }

    func finding(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        let id = try Self.id(context)
        guard let finding = try await findings.list(status: nil, rule: nil, id: id, context).first else {
            throw KirokuError(.notFound, "there is no finding \(id)")
        }
        let evidence = try await store.events(refs: finding.evidence)
        let manual = try await store.manual(for: finding)
        let data: [String: Any] = [
            "hasManual": manual != nil, "manualType": manual?.type ?? "", "manualName": manual?.file.name ?? "",
            "manualSHA": manual?.file.sha256 ?? "",
            "manualLabel": manual.flatMap { HubStore.manualTypes[$0.type] } ?? "",
            "id": finding.id, "status": ConsoleText.status(finding.status),
            "severity": ConsoleText.severity(finding.severity),
            "article": finding.article, "rule": ConsoleText.rule(finding.rule),
            "ruleDescription": RuleInfo.named(finding.rule)?.descriptionJa ?? "",
            "summary": finding.summaryForJapanese, "count": finding.count,
            "firstSeen": "\(ConsoleText.time(finding.firstSeen)) · \(ConsoleText.date(finding.firstSeen))",
            "lastSeen": "\(ConsoleText.time(finding.lastSeen)) · \(ConsoleText.date(finding.lastSeen))",
            "evidence": evidence.map { eventRow($0, viewer) },
            "history": finding.history.map {
                [
                    "at": ConsoleText.time($0.at), "action": ConsoleText.action($0.action), "by": $0.by,
                    "byName": viewer.names[$0.by] ?? "",
                    "reason": $0.reason,
                ] as [String: Any]
            },
            "canAct": viewer.can(.actOnFindings) && finding.status != .resolved, "me": viewer.identity.id,
            "token": token.make(certificateDigest: context.certificateDigest),
        ]
        return render("finding", title: "所見 #\(finding.id)", data: data, viewer: viewer)
    }

    func healthRow(_ health: AgentHealth) -> [String: Any] {
        [
            "agent": health.agent, "lastSeen": ConsoleText.time(health.lastSeen),
            "firstSeen": ConsoleText.time(health.firstSeen),
            "lastEvent": health.lastEventTime.map(ConsoleText.time) ?? "", "events": health.events,
            "lastSeq": health.lastSeq,
            "lag": health.lag, "skew": health.skewMS.map { String(format: "%.1f 秒", Double($0) / 1000) } ?? "—",
            "gaps": health.gaps,
            "declaredLost": health.declaredLost, "forks": health.forks, "quarantined": health.quarantined,
            "clockJumps": health.clockJumps,
            "refusals": health.refusals, "lastRefusal": health.lastRefusal ?? "",
            "trouble": health.gaps + health.declaredLost + health.forks + health.clockJumps > 0,
        ]
    }

    func agentList(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        // Each terminal's page shows its newest events and declared shutdowns, kept on SQLite: the list is
        // offered only where those pages open.
        _ = try store
        let rows = try await agents.health(context).map(healthRow)
        return render("agents", title: "端末", data: ["rows": rows], viewer: viewer)
    }

    func agent(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        guard let id = context.parameters.get("id"),
            let health = try await agents.health(context).first(where: { $0.agent == id })
        else {
            throw KirokuError(.notFound, "no terminal by that id has sent anything")
        }
        // The newest events, newest first (within what the caller may read: the whole record here).
        let recent = try await store.newestEvents(agent: id, limit: 50)
        var data = healthRow(health)
        data["recent"] = recent.map { eventRow($0, viewer) }
        data["agentQuery"] = QueryString.percent(id)
        return render("agent", title: "端末 \(id)", data: data, viewer: viewer)
    }

    static let registerLabels: [Register: String] = [
        .permits: "入退室許可 (第12②)", .cards: "操作識別カード (第16)", .devices: "構成管理簿・機器 (第14)",
        .programs: "構成管理簿・プログラム (第14⑤, 第17)", .maintenance: "作業指示書 (第26)", .people: "職員と役割",
        .stock: "住基カード (第18)", .calendar: "業務カレンダー", .contracts: "委託契約 (第23–第25)",
        .watchlist: "注意対象者 (第20①、管理者のみ閲覧)", .assignments: "事務分掌 (第20①)", .media: "媒体 (第15)",
        .directives: "関係部署への指示 (第10)",
    ]

    func registerList(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        try await authorize(.readRecord, context)
        var rows: [[String: Any]] = []
        for register in Register.allCases {
            rows.append([
                "name": register.rawValue, "label": Self.registerLabels[register] ?? "",
                "count": try await store.register(register).count,
            ])
        }
        return render("registers", title: "台帳", data: ["rows": rows], viewer: viewer)
    }

    func register(_ viewer: Viewer, _ request: Request, _ context: HubRequestContext) async throws -> Response {
        let register = try RegisterController.register(context)
        try await authorize(RegisterController.readPermission(register), context)
        let rows = try await store.register(register)
        let imported = try Self.query(request)["imported"]?.split(separator: "-").compactMap { Int($0) }
        let data: [String: Any] = [
            "name": register.rawValue, "label": Self.registerLabels[register] ?? "", "count": rows.count,
            "columns": register.columns,
            "rows": rows.map { row in ["cells": register.columns.map { row[$0] ?? "" }] },
            "columnList": register.columns.joined(separator: ","), "canImport": viewer.can(.writeRegister(register)),
            "token": token.make(certificateDigest: context.certificateDigest), "hasImported": imported?.count == 3,
            "imported": imported.map { $0.count == 3 ? "追加 \($0[0]) 行 · 変更 \($0[1]) 行 · 削除 \($0[2]) 行" : "" } ?? "",
        ]
        return render("register", title: "台帳 \(register.rawValue)", data: data, viewer: viewer)
    }

    func registerPreview(_ viewer: Viewer, _ request: Request, _ context: HubRequestContext) async throws -> Response {
        let register = try RegisterController.register(context)
        // Who may not replace the register is refused before the upload is read.
        try await authorize(.writeRegister(register), context)
        var request = request
        guard let boundary = ConsoleMultipart.boundary(request.headers[.contentType]) else {
            throw KirokuError(.badQuery, "send the register's CSV file with the page's form")
        }
        let parts = ConsoleMultipart.parse(try await Self.body(&request, upTo: 16 * 1024 * 1024), boundary: boundary)
        try checkToken(parts["token"].map { String(decoding: $0, as: UTF8.self) }, context)
        guard let file = parts["csv"], !file.isEmpty else {
            throw KirokuError(.badQuery, "choose the CSV file to import")
        }
        let (csv, preview) = try await registers.preview(register, file, context)
        func cells(_ row: RegisterRow) -> [String] { register.columns.map { row[$0] ?? "" } }
        let data: [String: Any] = [
            "name": register.rawValue, "rows": preview.rows, "columns": register.columns,
            "addedCount": preview.added.count, "changedCount": preview.changed.count,
            "removedCount": preview.removed.count,
            "refusedCount": preview.refused.count, "anyRefused": !preview.refused.isEmpty,
            "refused": preview.refused.map { ["line": $0.line, "message": $0.message] as [String: Any] },
            "added": preview.added.map { ["cells": cells($0)] },
            "removed": preview.removed.map { ["cells": cells($0)] },
            "changed": preview.changed.map { ["before": cells($0.before), "after": cells($0.after)] },
            "canCommit": preview.refused.isEmpty, "token": token.make(certificateDigest: context.certificateDigest),
            "held": preview.heldDigest, "csv": Data(csv.utf8).base64EncodedString(),
        ]
        return render("registerPreview", title: "台帳 \(register.rawValue) の取り込み: 確認", data: data, viewer: viewer)
    }

    // MARK: Contractors' submissions (PROTOCOL.md §13)

    static let statusLabels = ["submitted": "確認待ち", "accepted": "受理", "returned": "差戻し"]

    func submissionList(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        let scope = try await submissions.scope(context).scope
        let list = try await store.submissions(scope)
        let canSubmit = viewer.can(.submitDocuments)
        let contracts = canSubmit ? try await store.contracts(.namedOn(viewer.identity.id)) : []
        let instructions = canSubmit ? try await store.instructions(.namedOn(viewer.identity.id)) : []
        let data: [String: Any] = [
            "rows": list.map { s -> [String: Any] in
                [
                    "id": s.id, "contract": s.contract, "type": s.type.label, "instruction": s.instruction ?? "",
                    "by": s.submittedBy,
                    "byName": viewer.names[s.submittedBy] ?? "", "hasName": viewer.names[s.submittedBy] != nil,
                    "at": ConsoleText.time(s.submittedAt), "files": s.files.count,
                    "status": Self.statusLabels[s.status] ?? s.status, "waiting": s.status == "submitted",
                    "note": s.note,
                ]
            },
            "canSubmit": canSubmit && !contracts.isEmpty, "me": viewer.identity.id,
            "token": token.make(certificateDigest: context.certificateDigest),
            "contracts": contracts.map {
                ["id": $0["contract_id"] ?? "", "contractor": $0["contractor"] ?? "", "scope": $0["scope"] ?? ""]
            },
            "instructions": instructions.map {
                [
                    "id": $0["instruction_id"] ?? "", "subject": $0["subject"] ?? "", "from": $0["valid_from"] ?? "",
                    "to": $0["valid_to"] ?? "",
                ]
            },
            "types": SubmissionType.allCases.map { ["value": $0.rawValue, "label": $0.label] },
        ]
        return render("submissions", title: "委託の提出 (第25, 第26)", data: data, viewer: viewer)
    }

    func submission(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        let s = try await submissions.submission(context)
        let data: [String: Any] = [
            "id": s.id, "status": Self.statusLabels[s.status] ?? s.status, "contract": s.contract, "type": s.type.label,
            "instruction": s.instruction ?? "", "hasInstruction": s.instruction != nil, "by": s.submittedBy,
            "byName": viewer.names[s.submittedBy] ?? "", "hasName": viewer.names[s.submittedBy] != nil,
            "at": ConsoleText.time(s.submittedAt), "note": s.note, "previous": s.previous.map(String.init) ?? "",
            "hasPrevious": s.previous != nil, "event": s.event,
            "files": s.files.map {
                ["id": s.id, "name": $0.name, "type": $0.type.rawValue, "size": $0.size, "sha256": $0.sha256]
                    as [String: Any]
            },
            "reviews": s.reviews.map {
                [
                    "at": ConsoleText.time($0.at), "decision": Self.statusLabels[$0.decision] ?? $0.decision,
                    "by": $0.by,
                    "byName": viewer.names[$0.by] ?? "", "hasName": viewer.names[$0.by] != nil, "reason": $0.reason,
                ]
            },
            "canReview": s.status == "submitted" && viewer.can(.reviewSubmissions)
                && s.submittedBy != viewer.identity.id,
            "me": viewer.identity.id, "token": token.make(certificateDigest: context.certificateDigest),
        ]
        return render("submission", title: "提出 \(s.id)", data: data, viewer: viewer)
    }

    func retentionPage(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        try await authorize(.readRecord, context)
        let policy = configuration.retention
        var policies = policy.periods.keys.sorted().map {
            ["kind": ConsoleText.kind($0), "period": Self.period(policy.periods[$0]!)]
        }
        policies.append(["kind": "その他すべて (default)", "period": Self.period(policy.fallback)])
        let formToken = token.make(certificateDigest: context.certificateDigest)
        let canManage = viewer.can(.manageRetention)
        let holds = try await store.holds().map { hold in
            let scope = [
                ("対象", hold.subject), ("操作者", hold.actor), ("端末", hold.agent), ("から", hold.from.map(ConsoleText.time)),
                ("まで", hold.to.map(ConsoleText.time)),
            ]
            .compactMap { label, value in value.map { "\(label) \($0)" } }.joined(separator: " · ")
            return [
                "id": hold.id, "scope": scope.isEmpty ? "記録すべて" : scope, "reason": hold.reason,
                "placed": "\(ConsoleText.time(hold.placedAt)) \(hold.placedBy)",
                "lifted": hold.liftedAt.map {
                    "\(ConsoleText.time($0)) \(hold.liftedBy ?? "") (\(hold.liftReason ?? ""))"
                } ?? "",
                "canLift": canManage && hold.liftedAt == nil, "token": formToken,
            ] as [String: Any]
        }
        let since = Timestamp(epochMilliseconds: Int64(Date().timeIntervalSince1970 * 1000) - 90 * 86_400_000).rfc3339
        let purges = try await store.query(
            try EventQuery(parameters: ["kind": "record", "action": "purge", "from": since, "limit": "10000"])
        ).events.suffix(100).reversed().map { event in
            [
                "time": ConsoleText.time(event.time), "actor": event.actor,
                "attrs": CanonicalJSON.sortedKeys(event.attrs.keys).map { "\($0)=\(event.attrs[$0]!)" }.joined(
                    separator: " "),
            ]
        }
        let data: [String: Any] = [
            "policies": policies, "holds": holds, "canManage": canManage, "token": formToken, "purges": Array(purges),
        ]
        return render("retention", title: "保存と保全", data: data, viewer: viewer)
    }

    static func period(_ period: RetentionPolicy.Period) -> String {
        switch period {
        case .years(let n): "\(n) 年"
        case .days(let n): "\(n) 日"
        }
    }

    func integrity(_ viewer: Viewer, _ context: HubRequestContext) async throws -> Response {
        try await authorize(.readRecord, context)
        func keyRow(_ key: Curve25519.Signing.PublicKey, _ use: String) -> [String: Any] {
            [
                "use": use, "keyID": signingKeyID(key), "key": key.rawRepresentation.base64EncodedString(),
                "fingerprint": SHA256.hash(data: key.rawRepresentation).map { String(format: "%02x", $0) }.joined(),
            ]
        }
        let newest = try await record.checkpoint(size: nil)
        let cosigned = try await record.newestCosignedCheckpoint()
        let witnessNote: String
        if let cosigned {
            witnessNote =
                "立会人は \(ConsoleText.time(Timestamp(date: cosigned.issued).rfc3339)) 発行のチェックポイント (サイズ \(cosigned.checkpoint.size)) に連署しています。"
                + (cosigned.checkpoint.size == newest?.checkpoint.size
                    ? "最新のチェックポイントです。" : "それ以降のチェックポイントにはまだ連署がありません。")
        } else {
            witnessNote = "会議の立会人はまだどのチェックポイントにも連署していません (kirokuctl witness run)。"
        }
        let data: [String: Any] = [
            "keys": [keyRow(key.publicKey, "現在の署名鍵")] + overlapKeys.map { keyRow($0.publicKey, "移行中の旧鍵 (連署)") },
            "cosigned": cosigned != nil && cosigned?.checkpoint.size == newest?.checkpoint.size,
            "witnessNote": witnessNote,
            "checkpointText": newest?.note.text ?? "まだありません", "cosignedText": cosigned?.note.text ?? "まだありません",
        ]
        return render("integrity", title: "完全性", data: data, viewer: viewer)
    }
}
