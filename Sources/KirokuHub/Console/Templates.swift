/// The console's pages as Mustache templates (`{{x}}` is escaped, `{{{x}}}` only for HTML the hub rendered
/// itself). Compiled into the hub so that a deployment is one binary; no script, nothing from the internet.
enum ConsoleTemplates {
    static let all: [String: String] = [
        "layout": layout, "dashboard": dashboard, "events": events, "findings": findings, "finding": finding,
        "agents": agents, "agent": agent, "registers": registers, "register": register, "retention": retention,
        "integrity": integrity, "error": error, "registerPreview": registerPreview,
        "report": report, "reports": reports, "submissions": submissions, "submission": submission,
    ]

    static let submissions = """
        {{#canSubmit}}
        <h2>提出する</h2>
        <p class="note">あなた ({{me}}) の証明書で提出します。ファイルは内容で PDF・PNG・JPEG・CSV かを確かめ、SHA-256 を記録に残します。</p>
        <form method="post" action="/submissions" enctype="multipart/form-data" class="act">
        <input type="hidden" name="token" value="{{token}}">
        <label>契約<select name="contract" required>{{#contracts}}<option value="{{id}}">{{id}} {{contractor}} {{scope}}</option>{{/contracts}}</select></label>
        <label>種類<select name="type">{{#types}}<option value="{{value}}">{{label}}</option>{{/types}}</select></label>
        <label>作業指示書 (作業報告のとき)<select name="instruction"><option value="">—</option>{{#instructions}}<option value="{{id}}">{{id}} {{subject}} ({{from}}–{{to}})</option>{{/instructions}}</select></label>
        <label>差し戻された提出の番号 (再提出のとき)<input name="previous" inputmode="numeric" pattern="[0-9]*"></label>
        <label>内容 (1000 字まで)<input name="note" required maxlength="1000"></label>
        <label>ファイル (10 個まで)<input type="file" name="file" multiple required accept=".pdf,.png,.jpg,.jpeg,.csv"></label>
        <button type="submit">提出する</button>
        </form>
        {{/canSubmit}}
        <h2>提出の一覧</h2>
        <table><thead><tr><th>番号</th><th>契約</th><th>種類</th><th>作業指示書</th><th>提出者</th><th>提出日時</th><th>ファイル</th><th>状態</th><th>内容</th></tr></thead><tbody>
        {{#rows}}<tr class="{{#waiting}}trouble{{/waiting}}"><td class="num"><a href="/submissions/{{id}}">{{id}}</a></td><td>{{contract}}</td><td>{{type}}</td><td>{{instruction}}</td><td>{{by}}{{#hasName}}<span class="name">{{byName}}</span>{{/hasName}}</td><td class="time">{{at}}</td><td class="num">{{files}}</td><td>{{status}}</td><td>{{note}}</td></tr>{{/rows}}
        </tbody></table>
        {{^rows}}<p>まだ提出はありません。</p>{{/rows}}
        """

    static let submission = """
        <dl class="facts">
        <dt>状態</dt><dd>{{status}}</dd><dt>契約</dt><dd>{{contract}}</dd><dt>種類</dt><dd>{{type}}</dd>
        {{#hasInstruction}}<dt>作業指示書</dt><dd>{{instruction}}</dd>{{/hasInstruction}}
        <dt>提出者</dt><dd>{{by}}{{#hasName}} {{byName}}{{/hasName}}</dd><dt>提出日時</dt><dd>{{at}}</dd><dt>内容</dt><dd>{{note}}</dd>
        {{#hasPrevious}}<dt>再提出の元</dt><dd><a href="/submissions/{{previous}}">{{previous}}</a></dd>{{/hasPrevious}}
        <dt>記録</dt><dd>{{event}} (この記録の証拠の束がファイルのハッシュを証明します)</dd>
        </dl>
        <h2>ファイル</h2>
        <table><thead><tr><th>名前</th><th>種類</th><th>大きさ (バイト)</th><th>SHA-256</th></tr></thead><tbody>
        {{#files}}<tr><td><a href="/v1/submissions/{{id}}/files/{{sha256}}">{{name}}</a></td><td>{{type}}</td><td class="num">{{size}}</td><td class="attrs">{{sha256}}</td></tr>{{/files}}
        </tbody></table>
        <h2>確認の経過</h2>
        <table><thead><tr><th>日時</th><th>判断</th><th>担当</th><th>理由</th></tr></thead><tbody>
        {{#reviews}}<tr><td class="time">{{at}}</td><td>{{decision}}</td><td>{{by}}{{#hasName}}<span class="name">{{byName}}</span>{{/hasName}}</td><td>{{reason}}</td></tr>{{/reviews}}
        </tbody></table>
        {{^reviews}}<p>まだ確認されていません。</p>{{/reviews}}
        {{#canReview}}
        <h2>確認する</h2>
        <p class="note">記録される担当者はあなた ({{me}})、日時は今です。理由は必須です。差し戻すと、受託者が再提出できます。</p>
        <form method="post" action="/submissions/{{id}}/review" class="act">
        <input type="hidden" name="token" value="{{token}}"><input type="hidden" name="decision" value="accept">
        <label>受理の理由 (1000 字まで)<input name="reason" required maxlength="1000"></label><button type="submit">受理する</button>
        </form>
        <form method="post" action="/submissions/{{id}}/review" class="act">
        <input type="hidden" name="token" value="{{token}}"><input type="hidden" name="decision" value="return">
        <label>差戻しの理由 (1000 字まで)<input name="reason" required maxlength="1000"></label><button type="submit">差し戻す</button>
        </form>
        {{/canReview}}
        """

    static let layout = """
        <!DOCTYPE html>
        <html lang="ja">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>{{title}} — 記録 Kiroku</title>
        <link rel="stylesheet" href="/console.css">
        </head>
        <body>
        <header>
        {{#known}}<a class="brand" href="/">記録 Kiroku</a>{{/known}}{{^known}}<span class="brand">記録 Kiroku</span>{{/known}}<span class="origin">{{origin}}</span>
        <nav>
        {{#reader}}{{#house}}<a href="/">ダッシュボード</a>{{/house}}{{/reader}}
        {{#known}}<a href="/events">記録の検索</a>{{/known}}
        {{#reader}}{{#house}}<a href="/findings">所見</a><a href="/reports">会議資料</a><a href="/agents">端末</a><a href="/registers">台帳</a><a href="/retention">保存と保全</a>{{/house}}<a href="/integrity">完全性</a>{{/reader}}
        {{#contracts}}<a href="/submissions">委託の提出</a>{{/contracts}}
        </nav>
        <div class="who">{{who}}</div>
        </header>
        <main>
        {{#unenforced}}<p class="error">職員台帳 (people) がまだ空のため、役割による制限がかかっていません。どの職員証明書でもすべての操作ができます。台帳 → people から職員と役割を取り込んでください。</p>{{/unenforced}}
        <h1>{{title}}</h1>
        {{{body}}}
        </main>
        <footer>日時はすべて日本標準時 (JST)。この画面はあなたの職員証明書で開かれています。</footer>
        </body>
        </html>
        """

    static let error = """
        <div class="error"><p><strong>{{headline}}</strong></p><p class="detail">{{message}} <code>{{code}}</code></p></div>
        {{#known}}<p>{{#house}}<a href="/">ダッシュボードへ</a> · {{/house}}<a href="/events">記録の検索へ</a></p>{{/known}}
        """

    static let dashboard = """
        <section class="cards">
        <div class="card"><div class="label">本日の記録</div><div class="figure">{{eventsToday}}</div><div class="note">{{today}}</div></div>
        <div class="card {{#anyCritical}}alert{{/anyCritical}}"><div class="label">未対応の所見 (重大)</div><div class="figure">{{openCritical}}</div><div class="note">警告 {{openWarning}} 件 · 確認済 {{acknowledged}} 件</div></div>
        <div class="card {{#anyQuiet}}alert{{/anyQuiet}}"><div class="label">連絡の途絶えた端末</div><div class="figure">{{quietCount}}</div><div class="note">{{quietCard}}</div></div>
        <div class="card {{^cosigned}}alert{{/cosigned}}"><div class="label">最新のチェックポイント</div><div class="figure">{{checkpointSize}}</div><div class="note">{{checkpointNote}}</div></div>
        </section>
        <h2>未対応の所見 (条項・重大度別)</h2>
        {{#anyOpen}}
        <table><thead><tr><th>条項</th><th>重大</th><th>警告</th><th></th></tr></thead><tbody>
        {{#byArticle}}<tr><td>{{article}}</td><td class="num">{{critical}}</td><td class="num">{{warning}}</td><td><a href="/findings?status=open&amp;article={{articleQuery}}">一覧</a></td></tr>{{/byArticle}}
        </tbody></table>
        {{/anyOpen}}
        {{^byArticle}}<p class="ok">未対応の所見はありません。</p>{{/byArticle}}
        <h2>連絡の途絶えた端末</h2>
        {{#anyQuiet}}
        <table><thead><tr><th>端末</th><th>最終連絡</th><th>最後の記録</th><th>未送信</th></tr></thead><tbody>
        {{#quiet}}<tr><td><a href="/agents/{{agent}}">{{agent}}</a></td><td>{{lastSeen}}</td><td>{{lastEvent}}</td><td class="num">{{lag}}</td></tr>{{/quiet}}
        </tbody></table>
        {{/anyQuiet}}
        {{^quiet}}<p class="ok">{{quietNote}}</p>{{/quiet}}
        <h2>記録の点検 (第20②)</h2>
        <p>最後の点検: {{reviewNote}}{{#hasReviewText}} — {{reviewText}}{{/hasReviewText}}</p>
        <p class="note">{{reviewGap}}</p>
        {{#canReview}}
        <form method="post" action="/reviews" class="act">
        <input type="hidden" name="token" value="{{token}}">
        <label>この日まで点検した<input name="through" required value="{{reviewDefault}}" placeholder="2026/11/30 または 令和8年11月30日"></label>
        <label>所見・気づいたこと (1 行)<input name="note" maxlength="300"></label><button type="submit">点検を記録する</button>
        </form>
        {{/canReview}}
        """

    static let events = """
        <form class="search" method="get" action="/events">
        <label>期間 (から)<input name="from" value="{{form.from}}" placeholder="2026/4/1 または 令和8年4月1日"></label>
        <label>期間 (まで・含まない)<input name="to" value="{{form.to}}" placeholder="2026/5/1 9:30"></label>
        <label>種別<select name="kind"><option value="">すべて</option>{{#kinds}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/kinds}}</select></label>
        <label>操作<input name="action" value="{{form.action}}" placeholder="lookup"></label>
        <label>端末<input name="agent" value="{{form.agent}}"></label>
        {{#reader}}<label>操作者<input name="actor" value="{{form.actor}}"></label>
        <label>操作者の一致<select name="actor_match">{{#actorMatch}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/actorMatch}}</select></label>{{/reader}}
        <label>対象<input name="subject" value="{{form.subject}}"></label>
        <label>対象の一致<select name="subject_match">{{#subjectMatch}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/subjectMatch}}</select></label>
        <label>件数<select name="limit">{{#limits}}<option{{#selected}} selected{{/selected}}>{{value}}</option>{{/limits}}</select></label>
        <button type="submit">検索</button>
        </form>
        {{#ownOnly}}<p class="note">あなたの役割では、あなた自身 ({{own}}) の記録だけが表示されます。</p>{{/ownOnly}}
        <p class="actions">{{shown}} 件を表示{{#more}} (続きがあります){{/more}} ·
        <a href="/events.csv?{{csvQuery}}">CSV (UTF-8)</a> · <a href="/events.csv?{{csvQuery}}&amp;encoding=cp932">CSV (Shift_JIS/CP932)</a> ·
        <a href="/v1/evidence?{{evidenceQuery}}">この表示の証拠バンドル</a></p>
        <table class="events"><thead><tr><th>日時</th><th>端末</th><th>種別</th><th>操作</th><th>操作者</th><th>対象</th><th>場所</th><th>属性</th></tr></thead><tbody>
        {{#rows}}<tr><td class="time">{{time}}</td><td>{{agent}}<span class="seq">#{{seq}}</span></td><td>{{kind}}</td><td>{{action}}</td><td>{{actor}}{{#actorName}}<span class="name">{{actorName}}</span>{{/actorName}}</td><td>{{subject}}</td><td>{{site}}</td><td class="attrs">{{attrs}}</td></tr>{{/rows}}
        </tbody></table>
        {{^rows}}<p>条件に合う記録はありません。</p>{{/rows}}
        {{#hasNext}}<p class="pager"><a href="/events?{{next}}">次の {{limit}} 件 →</a></p>{{/hasNext}}
        """

    static let findings = """
        <form class="search" method="get" action="/findings">
        <label>状態<select name="status"><option value="">すべて</option>{{#statuses}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/statuses}}</select></label>
        <label>条項<select name="article"><option value="">すべて</option>{{#articles}}<option{{#selected}} selected{{/selected}}>{{value}}</option>{{/articles}}</select></label>
        <label>規則<select name="rule"><option value="">すべて</option>{{#rules}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{name}} ({{article}})</option>{{/rules}}</select></label>
        <label>重大度<select name="severity"><option value="">すべて</option>{{#severities}}<option value="{{id}}"{{#selected}} selected{{/selected}}>{{label}}</option>{{/severities}}</select></label>
        <label>期間 (から)<input name="from" value="{{form.from}}" placeholder="2026/4/1"></label>
        <label>期間 (まで・含まない)<input name="to" value="{{form.to}}" placeholder="令和8年5月1日"></label>
        <button type="submit">絞り込む</button>
        </form>
        <p>{{count}} 件{{#more}}以上{{/more}}</p>
        <table><thead><tr><th>番号</th><th>状態</th><th>重大度</th><th>条項</th><th>規則</th><th>内容</th><th>件数</th><th>最終発生</th></tr></thead><tbody>
        {{#rows}}<tr class="{{severityClass}}"><td><a href="/findings/{{id}}">#{{id}}</a></td><td>{{status}}</td><td>{{severity}}</td><td>{{article}}</td><td>{{rule}}</td><td>{{summary}}</td><td class="num">{{count}}</td><td class="time">{{lastSeen}}</td></tr>{{/rows}}
        </tbody></table>
        {{^rows}}<p class="ok">条件に合う所見はありません。</p>{{/rows}}
        {{#more}}<p class="note">新しいものから {{shown}} 件を表示しています。期間や条項で絞り込んでください。</p>{{/more}}
        """

    static let finding = """
        <dl class="facts">
        <dt>状態</dt><dd>{{status}}</dd><dt>重大度</dt><dd>{{severity}}</dd><dt>条項</dt><dd>{{article}}</dd>
        <dt>規則</dt><dd>{{rule}} — {{ruleDescription}}</dd><dt>内容</dt><dd>{{summary}}</dd><dt>件数</dt><dd>{{count}}</dd>
        <dt>初回</dt><dd>{{firstSeen}}</dd><dt>最終</dt><dd>{{lastSeen}}</dd>
        {{#hasManual}}<dt>対応マニュアル</dt><dd><a href="/v1/manuals/{{manualType}}/file">{{manualName}}</a> ({{manualLabel}}, SHA-256 {{manualSHA}})</dd>{{/hasManual}}
        </dl>
        <h2>証拠の記録</h2>
        <table class="events"><thead><tr><th>日時</th><th>端末</th><th>種別</th><th>操作</th><th>操作者</th><th>対象</th><th>場所</th><th>属性</th></tr></thead><tbody>
        {{#evidence}}<tr><td class="time">{{time}}</td><td>{{agent}}<span class="seq">#{{seq}}</span></td><td>{{kind}}</td><td>{{action}}</td><td>{{actor}}{{#actorName}}<span class="name">{{actorName}}</span>{{/actorName}}</td><td>{{subject}}</td><td>{{site}}</td><td class="attrs">{{attrs}}</td></tr>{{/evidence}}
        </tbody></table>
        {{^evidence}}<p>証拠の記録は保存期間を過ぎて消去されたか、まだありません。</p>{{/evidence}}
        <h2>経過</h2>
        <table><thead><tr><th>日時</th><th>経過</th><th>担当</th><th>理由</th></tr></thead><tbody>
        {{#history}}<tr><td class="time">{{at}}</td><td>{{action}}</td><td>{{by}}{{#byName}}<span class="name">{{byName}}</span>{{/byName}}</td><td>{{reason}}</td></tr>{{/history}}
        </tbody></table>
        {{^history}}<p>まだ対応の記録はありません。</p>{{/history}}
        {{#canAct}}
        <h2>対応を記録する</h2>
        <p class="note">記録される担当者はあなた ({{me}})、日時は今です。理由は必須です。</p>
        <form method="post" action="/findings/{{id}}/acknowledge" class="act">
        <input type="hidden" name="token" value="{{token}}">
        <label>確認の理由 (1000 字まで)<input name="reason" required maxlength="1000"></label><button type="submit">確認済にする</button>
        </form>
        <form method="post" action="/findings/{{id}}/resolve" class="act">
        <input type="hidden" name="token" value="{{token}}">
        <label>解決の理由 (1000 字まで)<input name="reason" required maxlength="1000"></label><button type="submit">解決済にする</button>
        </form>
        {{/canAct}}
        """

    static let agents = """
        <table><thead><tr><th>端末</th><th>最終連絡</th><th>最後の記録の日時</th><th>記録数</th><th>未送信</th><th>時刻のずれ</th><th>欠番</th><th>申告された欠落</th><th>分岐</th><th>時刻の飛び</th><th>拒否</th></tr></thead><tbody>
        {{#rows}}<tr class="{{#trouble}}trouble{{/trouble}}"><td><a href="/agents/{{agent}}">{{agent}}</a></td><td class="time">{{lastSeen}}</td><td class="time">{{lastEvent}}</td><td class="num">{{events}}</td><td class="num">{{lag}}</td><td class="num">{{skew}}</td><td class="num">{{gaps}}</td><td class="num">{{declaredLost}}</td><td class="num">{{forks}}</td><td class="num">{{clockJumps}}</td><td class="num">{{refusals}}</td></tr>{{/rows}}
        </tbody></table>
        {{^rows}}<p>まだ端末から記録が届いていません。</p>{{/rows}}
        """

    static let agent = """
        <dl class="facts">
        <dt>最終連絡</dt><dd>{{lastSeen}}</dd><dt>最初の連絡</dt><dd>{{firstSeen}}</dd><dt>受け取った記録</dt><dd>{{events}} 件 (最終連番 {{lastSeq}})</dd>
        <dt>未送信</dt><dd>{{lag}} 件</dd><dt>時刻のずれ</dt><dd>{{skew}}</dd><dt>欠番</dt><dd>{{gaps}}</dd><dt>申告された欠落</dt><dd>{{declaredLost}}</dd>
        <dt>分岐 (隔離)</dt><dd>{{forks}} ({{quarantined}})</dd><dt>時刻の飛び</dt><dd>{{clockJumps}}</dd><dt>拒否</dt><dd>{{refusals}} {{lastRefusal}}</dd>
        </dl>
        <h2>最近の記録</h2>
        <table class="events"><thead><tr><th>日時</th><th>種別</th><th>操作</th><th>操作者</th><th>対象</th><th>場所</th></tr></thead><tbody>
        {{#recent}}<tr><td class="time">{{time}}</td><td>{{kind}}</td><td>{{action}}</td><td>{{actor}}{{#actorName}}<span class="name">{{actorName}}</span>{{/actorName}}</td><td>{{subject}}</td><td>{{site}}</td></tr>{{/recent}}
        </tbody></table>
        <p><a href="/events?agent={{agentQuery}}">この端末の記録をすべて検索</a></p>
        """

    static let registers = """
        <table><thead><tr><th>台帳</th><th>内容</th><th>行数</th><th></th></tr></thead><tbody>
        {{#rows}}<tr><td><a href="/registers/{{name}}">{{name}}</a></td><td>{{label}}</td><td class="num">{{count}}</td><td><a href="/v1/registers/{{name}}/csv">CSV</a></td></tr>{{/rows}}
        </tbody></table>
        """

    static let register = """
        {{#hasImported}}<p class="ok">取り込みました: {{imported}}</p>{{/hasImported}}
        <p>{{label}} · {{count}} 行 · <a href="/v1/registers/{{name}}/csv">CSV で書き出す</a></p>
        {{#canImport}}
        <form method="post" action="/registers/{{name}}/preview" enctype="multipart/form-data" class="act">
        <input type="hidden" name="token" value="{{token}}">
        <label>CSV から取り込む (UTF-8 または Shift_JIS、1 行目は {{columnList}})<input type="file" name="csv" accept=".csv,text/csv" required></label>
        <button type="submit">内容を確認する</button>
        </form>
        <p class="note">次の画面で、追加・変更・削除される行と受け付けられない行を示します。取り込むのはそこで確かめてからです。</p>
        {{/canImport}}
        <table><thead><tr>{{#columns}}<th>{{.}}</th>{{/columns}}</tr></thead><tbody>
        {{#rows}}<tr>{{#cells}}<td>{{.}}</td>{{/cells}}</tr>{{/rows}}
        </tbody></table>
        {{^rows}}<p>この台帳はまだ空です。{{#canImport}}上のフォームから CSV を取り込むか、{{/canImport}}<code>kirokuctl registers import {{name}} FILE.csv --hub URL --pki DIR --as ID</code> で読み込みます。</p>{{/rows}}
        """

    static let registerPreview = """
        <p>CSV {{rows}} 行: 追加 <strong>{{addedCount}}</strong> · 変更 <strong>{{changedCount}}</strong> · 削除 <strong>{{removedCount}}</strong> · 受け付けられない行 <strong>{{refusedCount}}</strong></p>
        {{#anyRefused}}<div class="error"><p><strong>受け付けられない行があります。CSV を直して、もう一度確認してください。何も取り込んでいません。</strong></p>
        <ul>{{#refused}}<li>{{line}} 行目: {{message}}</li>{{/refused}}</ul></div>{{/anyRefused}}
        {{#canCommit}}
        <form method="post" action="/registers/{{name}}/import" class="act">
        <input type="hidden" name="token" value="{{token}}"><input type="hidden" name="held" value="{{held}}"><input type="hidden" name="csv" value="{{csv}}">
        <button type="submit">この内容で取り込む</button> <a href="/registers/{{name}}">やめる</a>
        </form>
        {{/canCommit}}
        <h2>追加される行 ({{addedCount}})</h2>
        <table><thead><tr>{{#columns}}<th>{{.}}</th>{{/columns}}</tr></thead><tbody>
        {{#added}}<tr>{{#cells}}<td>{{.}}</td>{{/cells}}</tr>{{/added}}
        </tbody></table>
        <h2>変更される行 ({{changedCount}})</h2>
        <table><thead><tr><th></th>{{#columns}}<th>{{.}}</th>{{/columns}}</tr></thead><tbody>
        {{#changed}}<tr><td>変更前</td>{{#before}}<td>{{.}}</td>{{/before}}</tr><tr class="critical"><td>変更後</td>{{#after}}<td>{{.}}</td>{{/after}}</tr>{{/changed}}
        </tbody></table>
        <h2>削除される行 ({{removedCount}})</h2>
        <table><thead><tr>{{#columns}}<th>{{.}}</th>{{/columns}}</tr></thead><tbody>
        {{#removed}}<tr>{{#cells}}<td>{{.}}</td>{{/cells}}</tr>{{/removed}}
        </tbody></table>
        """

    static let retention = """
        <h2>保存期間</h2>
        <table><thead><tr><th>種別</th><th>保存期間</th></tr></thead><tbody>
        {{#policies}}<tr><td>{{kind}}</td><td>{{period}}</td></tr>{{/policies}}
        </tbody></table>
        <h2>保全 (リーガルホールド)</h2>
        <table><thead><tr><th>番号</th><th>対象</th><th>理由</th><th>設定</th><th>解除</th><th></th></tr></thead><tbody>
        {{#holds}}<tr><td>#{{id}}</td><td>{{scope}}</td><td>{{reason}}</td><td>{{placed}}</td><td>{{lifted}}</td>
        <td>{{#canLift}}<form method="post" action="/holds/{{id}}/lift" class="inline"><input type="hidden" name="token" value="{{token}}"><input name="reason" required maxlength="500" placeholder="解除の理由"><button type="submit">解除</button></form>{{/canLift}}</td></tr>{{/holds}}
        </tbody></table>
        {{^holds}}<p>保全はありません。</p>{{/holds}}
        {{#canManage}}
        <h2>保全を設定する</h2>
        <form method="post" action="/holds" class="act">
        <input type="hidden" name="token" value="{{token}}">
        <label>対象 (住民など)<input name="subject"></label><label>操作者<input name="actor"></label><label>端末<input name="agent"></label>
        <label>期間 (から)<input name="from" placeholder="2026/4/1"></label><label>期間 (まで・この日時は含まない)<input name="to" placeholder="2026/5/1"></label>
        <label>理由 (500 字まで)<input name="reason" required maxlength="500"></label>
        <button type="submit">保全する</button>
        </form>
        {{/canManage}}
        <h2>消去の履歴</h2>
        <table><thead><tr><th>日時</th><th>実行者</th><th>内容</th></tr></thead><tbody>
        {{#purges}}<tr><td class="time">{{time}}</td><td>{{actor}}</td><td class="attrs">{{attrs}}</td></tr>{{/purges}}
        </tbody></table>
        {{^purges}}<p>まだ消去は行われていません。</p>{{/purges}}
        """

    static let integrity = """
        <h2>ハブの署名鍵</h2>
        <table><thead><tr><th>用途</th><th>鍵 ID</th><th>公開鍵 (base64)</th><th>SHA-256 指紋</th></tr></thead><tbody>
        {{#keys}}<tr><td>{{use}}</td><td><code>{{keyID}}</code></td><td><code class="wrap">{{key}}</code></td><td><code class="wrap">{{fingerprint}}</code></td></tr>{{/keys}}
        </tbody></table>
        <h2>会議の立会人 (witness)</h2>
        <p class="{{^cosigned}}alert{{/cosigned}}">{{witnessNote}}</p>
        <h2>最新のチェックポイント</h2>
        <pre class="note-text">{{checkpointText}}</pre>
        <h2>立会人が連署した最新のチェックポイント</h2>
        <pre class="note-text">{{cosignedText}}</pre>
        """

    static let reports = """
        <p>会議に諮る資料を、期間を選んで作ります。印刷 (A4 縦) または PDF への保存は、開いた資料をブラウザーで印刷してください。</p>
        <form class="search" method="get" action="/report">
        <label>月<input name="month" placeholder="2026-11"></label>
        <button type="submit">月の資料</button>
        </form>
        <form class="search" method="get" action="/report">
        <label>年度 (開始の西暦年)<input name="fiscal_year" placeholder="2026" value="{{fiscalYear}}"></label>
        <label>半期<select name="half"><option value="1">上半期 (第1回)</option><option value="2">下半期 (第2回)</option></select></label>
        <button type="submit">半期の資料</button>
        </form>
        <form class="search" method="get" action="/report">
        <label>から<input name="from" placeholder="2026/4/1"></label><label>まで (含まない)<input name="to" placeholder="2026/5/1"></label>
        <label>会議の回 (任意)<input name="meeting" placeholder="令和8年度第2回"></label>
        <button type="submit">期間の資料</button>
        </form>
        <p class="note">同じ資料は <code>kirokuctl report --fiscal-year 2026 --half 2 --format pdf --out 資料.pdf</code> でも作れます。</p>
        """

    /// The report: its own document (no console navigation), A4 portrait, for paper.
    static let report = """
        <!DOCTYPE html>
        <html lang="ja">
        <head>
        <meta charset="utf-8">
        <title>{{title}} ({{periodName}})</title>
        <meta name="kiroku-report" content="from={{fromRFC}};to={{toRFC}};checkpoint={{checkpoint.size}}">
        <style>{{{css}}}</style>
        </head>
        <body>
        <header class="cover">
        <h1>{{title}}</h1>
        <p class="period">対象期間: {{period}}</p>
        <p>作成: {{made}} · {{madeBy}} · 記録: {{origin}}</p>
        {{#unfinished}}<p class="alert-box">この期間はまだ終わっていません。作成時点までの記録による途中の資料です。</p>{{/unfinished}}
        <table class="summary"><tbody>
        <tr><th>期間中の記録</th><td class="num">{{events}} 件</td><th>期間に関わる所見 (作成時点の状態)</th><td class="num">重大 {{findingsCritical}} 件 · 未対応 {{findingsOpen}} 件 · 確認済 {{findingsAcknowledged}} 件</td></tr>
        </tbody></table>
        {{#anyUnhandledCritical}}
        <div class="alert-box"><p><strong>対応の記録がない重大な所見 ({{unhandledCriticalCount}} 件)</strong></p>
        <table><thead><tr><th>所見</th><th>内容</th><th class="nowrap">初回</th></tr></thead><tbody>
        {{#unhandledCritical}}<tr><td>#{{id}} {{rule}}{{#carried}} (前期から継続){{/carried}}</td><td>{{summary}}</td><td class="nowrap">{{firstSeen}}</td></tr>{{/unhandledCritical}}
        </tbody></table></div>
        {{/anyUnhandledCritical}}
        </header>

        <h2>1. 条項ごとの状況 (第1〜第31)</h2>
        {{#articles}}
        <section class="article">
        <h3>{{id}} {{title}}</h3>
        {{#hasNote}}<p class="note">{{note}}</p>{{/hasNote}}
        {{#speaks}}
        <p>記録: {{events}} 件{{#hasKinds}} ({{kinds}}){{/hasKinds}}{{#hasRules}} · 判定する規則: {{rules}}{{/hasRules}}</p>
        {{#hasRules}}
        <table class="counts"><thead><tr><th></th><th>未対応</th><th>確認済</th><th>解決済</th></tr></thead><tbody>
        <tr><th>重大</th><td class="num">{{openCritical}}</td><td class="num">{{ackCritical}}</td><td class="num">{{resolvedCritical}}</td></tr>
        <tr><th>警告</th><td class="num">{{openWarning}}</td><td class="num">{{ackWarning}}</td><td class="num">{{resolvedWarning}}</td></tr>
        </tbody></table>
        {{/hasRules}}
        {{#hasCritical}}
        <table><thead><tr><th>所見</th><th>内容</th><th class="nowrap">状態</th><th>対応 (日時・担当・理由)</th></tr></thead><tbody>
        {{#critical}}<tr><td>#{{id}} {{rule}}{{#carried}} (前期から継続){{/carried}}</td><td>{{summary}}</td><td class="nowrap">{{status}}</td><td>{{#history}}<div>{{at}} {{action}} {{by}}: {{reason}}</div>{{/history}}{{#unhandled}}<strong>対応の記録なし</strong>{{/unhandled}}</td></tr>{{/critical}}
        </tbody></table>
        {{/hasCritical}}
        {{/speaks}}
        </section>
        {{/articles}}

        <h2>2. 基準が求める集計</h2>
        <section><h3>入退室 (第12, 第13): 部屋と人ごと</h3>
        {{#anyRooms}}<table><thead><tr><th>部屋</th><th>人</th><th>入室</th><th>退室</th><th>拒否</th></tr></thead><tbody>
        {{#rooms}}{{#people}}<tr><td>{{room}}</td><td>{{person}}</td><td class="num">{{enter}}</td><td class="num">{{exit}}</td><td class="num">{{denied}}</td></tr>{{/people}}{{/rooms}}
        </tbody></table>{{/anyRooms}}{{^anyRooms}}<p>期間中の入退室の記録はありません。</p>{{/anyRooms}}
        </section>
        <section><h3>構成管理簿の変更 (第14⑤, 第17)</h3>
        <table class="counts"><thead><tr>{{#configActions}}<th>{{action}}</th>{{/configActions}}</tr></thead><tbody><tr>{{#configActions}}<td class="num">{{count}}</td>{{/configActions}}</tr></tbody></table>
        <table><thead><tr><th>日時</th><th>端末</th><th>変更</th><th>対象</th></tr></thead><tbody>
        {{#config}}<tr><td>{{time}}</td><td>{{agent}}</td><td>{{action}}</td><td>{{subject}}</td></tr>{{/config}}
        </tbody></table>
        <p class="note">{{configCut}}</p>
        </section>
        <section><h3>操作識別カード (第16) と住基カード (第18)</h3>
        <table class="counts"><thead><tr>{{#card}}<th>{{action}}</th>{{/card}}</tr></thead><tbody><tr>{{#card}}<td class="num">{{count}}</td>{{/card}}</tr></tbody></table>
        <table class="counts"><thead><tr>{{#residentCard}}<th>{{action}}</th>{{/residentCard}}</tr></thead><tbody><tr>{{#residentCard}}<td class="num">{{count}}</td>{{/residentCard}}</tr></tbody></table>
        <p>住基カードの在庫 (台帳 stock、作成時点): {{#stock}}{{state}} {{count}} 枚　{{/stock}}</p>
        </section>
        <section><h3>ウイルス検査と検出 (第19)</h3>
        <table class="counts"><thead><tr>{{#malware}}<th>{{action}}</th>{{/malware}}</tr></thead><tbody><tr>{{#malware}}<td class="num">{{count}}</td>{{/malware}}</tr></tbody></table>
        {{#anyDetections}}<table><thead><tr><th>日時</th><th>端末</th><th>内容</th><th>対象</th><th>操作者</th></tr></thead><tbody>
        {{#detections}}<tr><td>{{time}}</td><td>{{agent}}</td><td>{{action}}</td><td>{{subject}}</td><td>{{actor}}</td></tr>{{/detections}}
        </tbody></table><p class="note">{{detectionsCut}}</p>{{/anyDetections}}
        </section>
        <section><h3>操作者ごとの照会 (第20): 時間外と繰り返し ({{repeatedThreshold}} 回以上/日)</h3>
        {{#anyOperators}}<table><thead><tr><th>操作者</th><th>照会</th><th>時間外</th><th>繰り返し (対象×日)</th><th>繰り返しの照会</th><th>更新・印刷・出力</th><th>認証失敗</th></tr></thead><tbody>
        {{#operators}}<tr class="{{#flag}}flag{{/flag}}"><td>{{person}}</td><td class="num">{{lookups}}</td><td class="num">{{outOfHours}}</td><td class="num">{{repeatedPairs}}</td><td class="num">{{repeatedLookups}}</td><td class="num">{{changes}}</td><td class="num">{{authFailures}}</td></tr>{{/operators}}
        </tbody></table>{{/anyOperators}}{{^anyOperators}}<p>期間中の操作の記録はありません。</p>{{/anyOperators}}
        </section>
        <section><h3>障害・事故 (第22, 第26〜第30)</h3>
        {{#anyIncidents}}<table><thead><tr><th>日時</th><th>端末</th><th>種類</th><th>報告者</th><th>対象</th></tr></thead><tbody>
        {{#incidents}}<tr><td>{{time}}</td><td>{{agent}}</td><td>{{action}}</td><td>{{actor}}</td><td>{{subject}}</td></tr>{{/incidents}}
        </tbody></table><p class="note">{{incidentsCut}}</p>{{/anyIncidents}}{{^anyIncidents}}<p>期間中の障害・事故の記録はありません。</p>{{/anyIncidents}}
        </section>
        <section><h3>関係部署への指示 (第10)</h3>
        {{#anyDirectives}}<table><thead><tr><th>指示</th><th>部署</th><th>内容</th><th>指示日</th><th>期限</th><th>回答</th></tr></thead><tbody>
        {{#directives}}<tr class="{{#flag}}flag{{/flag}}"><td>{{id}}</td><td>{{department}}</td><td>{{content}}</td><td>{{issued}}</td><td>{{due}}</td><td>{{answered}}</td></tr>{{/directives}}
        </tbody></table>{{/anyDirectives}}{{^anyDirectives}}<p>期間中の指示は関係部署への指示の台帳 (directives) にありません。</p>{{/anyDirectives}}
        </section>
        <section><h3>媒体の持出しと返却 (第15)</h3>
        {{#anyMedia}}<table><thead><tr><th>日時</th><th>端末</th><th>内容</th><th>担当</th><th>媒体</th></tr></thead><tbody>
        {{#media}}<tr><td>{{time}}</td><td>{{agent}}</td><td>{{action}}</td><td>{{actor}}</td><td>{{subject}}</td></tr>{{/media}}
        </tbody></table><p class="note">{{mediaCut}}</p>{{/anyMedia}}{{^anyMedia}}<p>期間中の媒体の持出しの記録はありません。</p>{{/anyMedia}}
        </section>
        <section><h3>外部委託 (第23〜第26)</h3>
        {{#anyContracts}}<table><thead><tr><th>契約</th><th>受託者・内容</th><th>期間</th><th>管理体制の確認 (第23⑴)</th><th>審議会の承認 (第23⑵)</th><th>第24 の事項</th><th>実施状況報告の周期</th></tr></thead><tbody>
        {{#contracts}}<tr class="{{#flag}}flag{{/flag}}"><td>{{id}}</td><td>{{contractor}}<br>{{scope}}</td><td>{{span}}</td><td>{{confirmed}}</td><td>{{approved}}</td><td>{{clauses}}</td><td>{{cycle}}</td></tr>{{/contracts}}
        </tbody></table>{{/anyContracts}}{{^anyContracts}}<p>期間中の委託契約は委託契約の台帳 (contracts) にありません。</p>{{/anyContracts}}
        <h4>受託者の提出 (第25 実施状況報告・第26 作業報告)</h4>
        {{#anySubmissions}}<table><thead><tr><th>番号</th><th>契約</th><th>種類</th><th>提出者・日時</th><th>ファイル (SHA-256)</th><th>状態</th><th>確認</th></tr></thead><tbody>
        {{#submissions}}<tr class="{{#flag}}flag{{/flag}}"><td>{{id}}</td><td>{{contract}}</td><td>{{type}} {{instruction}}</td><td>{{by}}<br>{{at}}</td><td>{{files}}</td><td>{{status}}</td><td>{{review}}</td></tr>{{/submissions}}
        </tbody></table>{{/anySubmissions}}{{^anySubmissions}}<p>期間中の提出はありません。</p>{{/anySubmissions}}
        <h4>委託に関する記録</h4>
        {{#anyContractors}}<table><thead><tr><th>日時</th><th>内容</th><th>担当</th><th>対象</th></tr></thead><tbody>
        {{#contractors}}<tr><td>{{time}}</td><td>{{action}}</td><td>{{actor}}</td><td>{{subject}}</td></tr>{{/contractors}}
        </tbody></table><p class="note">{{contractorsCut}}</p>{{/anyContractors}}{{^anyContractors}}<p>期間中の委託に関する記録はありません。</p>{{/anyContractors}}
        </section>

        <h2>3. 記録の完全性</h2>
        <section>
        <table><thead><tr><th>端末</th><th>期間中の記録</th><th>欠番 (累計)</th><th>申告された欠落</th><th>分岐 (累計)</th><th>時刻の飛び</th><th>ログ不整合</th><th>最終連絡</th></tr></thead><tbody>
        {{#terminals}}<tr class="{{#trouble}}flag{{/trouble}}"><td>{{agent}}</td><td class="num">{{events}}</td><td class="num">{{gaps}}</td><td class="num">{{lost}}</td><td class="num">{{forks}}</td><td class="num">{{clockJumps}}</td><td class="num">{{inconsistent}}</td><td>{{lastSeen}}</td></tr>{{/terminals}}
        </tbody></table>
        </section>
        <section class="keep">
        <h3>この資料の基にしたチェックポイント</h3>
        {{#checkpoint.exists}}
        <table class="facts"><tbody>
        <tr><th>ログの名前 (origin)</th><td>{{checkpoint.origin}}</td></tr>
        <tr><th>記録の件数 (tree size)</th><td>{{checkpoint.size}}</td></tr>
        <tr><th>根 (root, SHA-256)</th><td class="mono">{{checkpoint.root}}</td></tr>
        <tr><th>ハブの鍵 ID</th><td class="mono">{{checkpoint.keyID}}</td></tr>
        <tr><th>発行</th><td>{{checkpoint.issued}}</td></tr>
        </tbody></table>
        <p>{{#checkpoint.cosigned}}会議の立会人が連署したチェックポイントです。署名と連署の全文:{{/checkpoint.cosigned}}{{^checkpoint.cosigned}}<strong>立会人の連署はまだありません。</strong>ハブの署名のみの全文:{{/checkpoint.cosigned}}</p>
        <pre class="note-text">{{checkpoint.text}}</pre>
        <p class="note">この資料の件数は、このチェックポイントに含まれる記録 ({{checkpoint.size}} 件まで) から数えています。{{#checkpoint.anyLater}}作成時点でそのあとに届いた {{checkpoint.later}} 件は含みません。{{/checkpoint.anyLater}}だれでも <code>kirokuctl log checkpoint --size {{checkpoint.size}}</code> で同じチェックポイントを取り寄せ、この紙と照合できます (署名の各行は「—」で始まります)。</p>
        {{/checkpoint.exists}}
        {{^checkpoint.exists}}<p>チェックポイントはまだ発行されていません。</p>{{/checkpoint.exists}}
        </section>

        <h2>4. 管理者の操作</h2>
        <section>
        {{#anyAfterTheFact}}<div class="alert-box"><p><strong>台帳の変更・再判定のあとで自動的に解決された重大な所見</strong> (経緯を確認してください)</p>
        <table><thead><tr><th>所見</th><th>内容</th><th>経過</th></tr></thead><tbody>
        {{#afterTheFact}}<tr><td>#{{id}} {{rule}}</td><td>{{summary}}</td><td>{{#history}}<div>{{at}} {{action}} {{by}}: {{reason}}</div>{{/history}}</td></tr>{{/afterTheFact}}
        </tbody></table></div>{{/anyAfterTheFact}}
        {{#anyAdministration}}<table><thead><tr><th>日時</th><th>操作</th><th>担当</th><th>対象</th><th>内容</th></tr></thead><tbody>
        {{#administration}}<tr><td>{{time}}</td><td>{{action}}</td><td>{{actor}}</td><td>{{subject}}</td><td class="detail">{{detail}}</td></tr>{{/administration}}
        </tbody></table>{{/anyAdministration}}{{^anyAdministration}}<p>期間中の管理者の操作はありません。</p>{{/anyAdministration}}
        {{#anyIdleRejudges}}<p class="note">このほか、変化のなかった再判定が {{idleRejudges}} 回あります。</p>{{/anyIdleRejudges}}
        {{#recordsCut}}<p class="alert-box">管理者の操作は最初の 10,000 件までを示しています。期間を分けて作成してください。</p>{{/recordsCut}}
        </section>

        <section class="seals keep">
        <h2>確認印</h2>
        <table class="seal"><thead><tr><th>議長</th><th>委員</th><th>委員</th><th>委員</th><th>委員</th></tr></thead>
        <tbody><tr><td></td><td></td><td></td><td></td><td></td></tr></tbody></table>
        </section>
        </body>
        </html>
        """

    static let reportCSS = """
        @page{size:A4 portrait;margin:18mm 15mm 20mm 15mm;@bottom-center{content:counter(page) " / " counter(pages);font-size:9pt;color:#444}@top-right{content:"取扱注意";font-size:8pt;color:#666}}
        .nowrap{white-space:nowrap}
        body{font-family:"IPAexGothic","IPAexMincho","Noto Sans CJK JP",sans-serif;font-size:10pt;color:#000;margin:0}
        h1{font-size:16pt;margin:0 0 6mm}h2{font-size:13pt;border-bottom:1.5pt solid #000;margin:8mm 0 3mm;break-after:avoid}h3{font-size:11pt;margin:4mm 0 2mm;break-after:avoid}
        .cover{margin-bottom:6mm}.secret{text-align:right;font-size:9pt}.period{font-size:12pt}
        table{border-collapse:collapse;width:100%;margin:2mm 0}th,td{border:0.5pt solid #555;padding:1mm 1.5mm;text-align:left;vertical-align:top;font-size:9pt}
        th{background:#eee}thead{display:table-header-group}tr{break-inside:avoid}td.num{text-align:right}
        section.article{break-inside:avoid;margin-bottom:3mm}.keep{break-inside:avoid}
        table.counts{width:auto}table.counts td,table.counts th{min-width:14mm}
        .note{color:#333;font-size:9pt}.mono,pre.note-text{font-family:"IPAexGothic",monospace;word-break:break-all}
        pre.note-text{white-space:pre-wrap;border:0.5pt solid #555;padding:2mm;font-size:7pt}
        tr.flag td{background:#fff3e0}.alert-box{border:1pt solid #b71c1c;padding:2mm;margin:2mm 0}td.detail{font-size:8pt;word-break:break-all}
        table.seal td{height:22mm}table.seal th{text-align:center;width:20%}
        @media screen{body{max-width:190mm;margin:10mm auto;padding:0 5mm}}
        """

    static let css = """
        body{font-family:"IPAexGothic","Noto Sans CJK JP","Hiragino Sans","Yu Gothic","Meiryo",sans-serif;margin:0;color:#1b1f23;background:#f6f7f9}
        header{background:#1f3a5f;color:#fff;padding:.6em 1.2em;display:flex;flex-wrap:wrap;gap:1em;align-items:center}
        header a{color:#fff;text-decoration:none}.brand{font-weight:bold;font-size:1.2em}.origin{opacity:.8;font-size:.9em}
        nav{display:flex;gap:.9em;flex-wrap:wrap}nav a{padding:.2em .4em;border-radius:3px}nav a:hover{background:#2f5a8f}
        .who{margin-left:auto;font-size:.9em}main{padding:1em 1.5em}h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin-top:1.6em}
        table{border-collapse:collapse;background:#fff;width:100%;font-size:.9em}th,td{border:1px solid #d0d7de;padding:.3em .5em;text-align:left;vertical-align:top}
        th{background:#eef2f6}td.num{text-align:right}td.time{white-space:nowrap}td.attrs{font-size:.85em;color:#444;word-break:break-all}
        .seq{color:#777;font-size:.85em;margin-left:.2em}.name{display:block;color:#555;font-size:.85em}
        .cards{display:flex;gap:1em;flex-wrap:wrap}.card{background:#fff;border:1px solid #d0d7de;border-radius:6px;padding:.8em 1em;min-width:12em}
        .card .label{color:#555;font-size:.9em}.card .figure{font-size:2em;font-weight:bold}.card .note{font-size:.85em;color:#555}.card.alert{border-color:#c62828;background:#fff5f5}
        .alert{color:#b71c1c}.ok{color:#1b5e20}.note{color:#555}tr.critical td{background:#fff5f5}tr.trouble td{background:#fff8e1}
        form.search,form.act{display:flex;flex-wrap:wrap;gap:.6em 1em;align-items:flex-end;background:#fff;border:1px solid #d0d7de;padding:.8em;border-radius:6px;margin-bottom:1em}
        form label{display:flex;flex-direction:column;font-size:.85em;color:#333}form input,form select{font-size:1em;padding:.25em}
        form.inline{display:flex;gap:.3em}button{font-size:1em;padding:.3em .9em}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:.3em 1em;background:#fff;border:1px solid #d0d7de;padding:.8em}dl.facts dt{color:#555}dl.facts dd{margin:0}
        .error{background:#fff5f5;border:1px solid #c62828;padding:.8em 1em;border-radius:6px}.detail{color:#555}
        pre.note-text,code.wrap{white-space:pre-wrap;word-break:break-all;background:#fff;border:1px solid #d0d7de;padding:.5em}
        footer{color:#666;font-size:.8em;padding:1em 1.5em}
        @media print{header nav,form{display:none}body{background:#fff}}
        """
}
