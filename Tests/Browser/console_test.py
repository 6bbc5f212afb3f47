#!/usr/bin/env python3
"""The web console in a real browser: Debian's Chromium, driven by Playwright, presenting each person's
PKCS#12 (as written by `kirokuctl pki export-p12`) to a hub the Swift test started and seeded.

Usage: console_test.py HUB_URL PKI_P12_DIR PASSPHRASE SCREENSHOT_DIR
Prints one `ok …` line per check and exits 1 at the first failure, saying what it saw.
"""
import http.server
import json
import os
import re
import sys
import threading

from playwright.sync_api import sync_playwright

hub, p12_dir, passphrase, shots = sys.argv[1:5]
os.makedirs(shots, exist_ok=True)


def check(condition, what, seen=""):
    if not condition:
        print(f"FAILED: {what}\n--- seen ---\n{seen[:3000]}")
        sys.exit(1)
    print(f"ok {what}")


def context_for(browser, person):
    return browser.new_context(
        # The hub's certificate comes from the city's own CA, which this throwaway profile does not trust;
        # the person's certificate is what is under test.
        ignore_https_errors=True,
        client_certificates=[{"origin": hub, "pfxPath": f"{p12_dir}/{person}.p12", "passphrase": passphrase}],
        locale="ja-JP",
        timezone_id="Asia/Tokyo",
        viewport={"width": 1280, "height": 900},
    )


def shot(page, name):
    page.screenshot(path=f"{shots}/{name}.png", full_page=True)


# Another site, on another port: its pages post a form to the hub as soon as they load (a browser attaches
# the person's certificate to such a request). One aims at a console page, one at the API.
attacker_pages = {
    "/page": f"""<form method="post" action="{hub}/holds"><input name="reason" value="forged by another site"><input name="token" value="x"></form>""",
    "/api": f"""<form method="post" action="{hub}/v1/holds" enctype="text/plain"><input name='{{"reason":"forged by another site","x":"' value='"}}'></form>""",
}


class Attacker(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.end_headers()
        form = attacker_pages.get(self.path, "")
        self.wfile.write(f"<!DOCTYPE html><html><body>{form}<script>document.forms[0].submit()</script></body></html>".encode())

    def log_message(self, *args):
        pass


attacker = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Attacker)
threading.Thread(target=attacker.serve_forever, daemon=True).start()

with sync_playwright() as playwright:
    browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])

    # --- the 管理者 ---
    admin = context_for(browser, "kanri01")
    page = admin.new_page()
    response = page.goto(f"{hub}/")
    text = page.inner_text("body")
    check(response.status == 200 and "ダッシュボード" in text, "管理者: the dashboard opens with the certificate as login", text)
    check("未対応の所見 (重大)" in text and "第22" in text and "第20" in text, "管理者: open findings by article on the dashboard", text)
    check("本日の記録" in text and "最新のチェックポイント" in text, "管理者: events today and the newest checkpoint", text)
    check("髙﨑" in text, "管理者: the viewer's name from the people register (髙﨑)", text)
    headers = response.headers
    check("default-src 'none'" in headers.get("content-security-policy", "") and headers.get("x-frame-options") == "DENY"
          and headers.get("cache-control") == "no-store", "pages are sent with CSP, no framing, no caching", json.dumps(headers))
    shot(page, "01-dashboard")
    # The 点検 of the record (第20②) from the dashboard: through yesterday by default, with a note.
    check("まだ点検の記録はありません" in text, "管理者: no review yet on the dashboard", text)
    page.fill("form[action='/reviews'] input[name=note]", "11月分 異常なし")
    page.click("form[action='/reviews'] button")
    text = page.inner_text("body")
    check("最後の点検" in text and "まで · 髙﨑 一郎" in text and "11月分 異常なし" in text, "管理者: a review recorded from the dashboard, with who", text)
    shot(page, "01b-dashboard-review")
    page.fill("form[action='/reviews'] input[name=through]", "2099/1/1")
    page.click("form[action='/reviews'] button")
    text = page.inner_text("body")
    check("has not come yet" in text and "2099" in text, "管理者: a review of a day to come is refused with the reason", text)
    page.goto(f"{hub}/")

    page.goto(f"{hub}/events")
    page.fill("input[name=subject]", "住民票コード 9")
    page.select_option("select[name=subject_match]", "prefix")
    page.fill("input[name=from]", "2026/11/1")
    page.click("button[type=submit]")
    text = page.inner_text("body")
    rows = page.locator("table.events tbody tr").count()
    check(rows == 2 and "住民票コード 90" in text and "住民票コード 91" in text, "管理者: search by the beginning of a subject, dates as typed", page.url + "\n" + text)
    shot(page, "02-search")
    page.goto(f"{hub}/events?subject=%E3%82%B3%E3%83%BC%E3%83%89+9&subject_match=contains")
    check(page.locator("table.events tbody tr").count() == 2, "管理者: search by part of a subject", page.inner_text("body"))
    csv_link = page.locator("a", has_text="CSV (UTF-8)").get_attribute("href")
    csv = page.request.get(f"{hub}{csv_link}")
    body = csv.body()
    check(csv.status == 200 and body.startswith(b"\xef\xbb\xbf") and "日時(JST),端末" in body.decode("utf-8-sig")
          and body.count(b"\r\n") == 3, "管理者: one click to CSV (UTF-8 with BOM, Japanese header, the rows shown)", body.decode("utf-8", "replace"))
    evidence_link = page.locator("a", has_text="証拠バンドル").get_attribute("href")
    bundle = page.request.get(f"{hub}{evidence_link}").json()
    check(bundle["format"] == "kiroku-evidence/1" and len(bundle["events"]) == 2, "管理者: one click to the evidence bundle of exactly what is shown", json.dumps(bundle)[:500])

    page.goto(f"{hub}/findings?status=open&severity=critical")
    text = page.inner_text("body")
    check("auth_failure_burst" in text and "第22" in text, "管理者: findings filtered by status and severity", text)
    page.locator("table tbody tr a").first.click()
    text = page.inner_text("body")
    check("証拠の記録" in text and text.count("auth_failure") >= 6 and "まだ対応の記録はありません" in text, "管理者: a finding's page with its evidence events and history", text)
    shot(page, "03-finding")
    page.fill("form[action$=acknowledge] input[name=reason]", "本人に確認、パスワード失念")
    page.click("form[action$=acknowledge] button")
    text = page.inner_text("body")
    check("確認済" in text and "本人に確認、パスワード失念" in text and "kanri01" in text, "管理者: acknowledged through the form, who and why recorded", text)
    admin_token = page.locator("input[name=token]").first.get_attribute("value")
    finding_url = page.url

    for path, expected, name in [
        ("/agents", "counter-01", "04-agents"), ("/agents/counter-01", "最近の記録", "05-agent"), ("/registers", "people", "06-registers"),
        ("/registers/people", "髙﨑 一郎", "07-register"), ("/retention", "保全を設定する", "08-retention"),
        ("/integrity", "ハブの署名鍵", "09-integrity"),
    ]:
        response = page.goto(f"{hub}{path}")
        text = page.inner_text("body")
        check(response.status == 200 and expected in text, f"管理者: {path} shows {expected}", text)
        shot(page, name)

    # The 会議's report in the browser: its own style is allowed by its hash (no CSP refusal), A4 layout.
    refused_styles = []
    page.on("console", lambda message: refused_styles.append(message.text) if "Content Security Policy" in message.text else None)
    page.goto(f"{hub}/reports")
    page.fill("input[name=month]", "2026-11")
    page.click("text=月の資料")
    text = page.inner_text("body")
    border = page.evaluate("getComputedStyle(document.querySelector('h2')).borderBottomStyle")
    check("住民基本台帳ネットワークシステム セキュリティ会議 資料" in text and "第31 委任" in text and border == "solid" and not refused_styles,
          "管理者: the report opens from 会議資料, styled (its style allowed by hash)", f"border={border} csp={refused_styles}\n{text[:500]}")
    shot(page, "16-report")

    # The people register from CSV: a file with mistakes is previewed with every refused line and cannot
    # be committed; the corrected file, in Shift_JIS as Excel writes it, shows what it adds and changes.
    people = "person_id,name,role,left\r\nkanri01,髙﨑 一郎,管理者,\r\nkaigi01,佐藤 花子,会議,\r\nsousa01,山田 太郎,操作者,\r\nitaku01,日本電算 佐々木,受託者,\r\n"
    bad = people + "boss01,誰か,社長,\r\nsousa03,高橋 三郎,操作者,2026/13/01\r\n"
    page.goto(f"{hub}/registers/people")
    page.set_input_files("input[type=file]", files=[{"name": "職員.csv", "mimeType": "text/csv", "buffer": bad.encode("utf-8-sig")}])
    page.click("form.act button")
    text = page.inner_text("body")
    check("受け付けられない行 2" in text and "6 行目" in text and "7 行目" in text and "社長" in text
          and page.locator("text=この内容で取り込む").count() == 0, "管理者: a register CSV with mistakes: every refused line shown, nothing to commit", text)
    shot(page, "14-register-refused")
    good = people.replace("佐藤 花子,会議", "佐藤 華子,会議") + "sousa02,鈴木 次郎,操作者,\r\n"
    page.goto(f"{hub}/registers/people")
    page.set_input_files("input[type=file]", files=[{"name": "職員.csv", "mimeType": "text/csv", "buffer": good.encode("cp932")}])
    page.click("form.act button")
    text = page.inner_text("body")
    check("追加 1" in text and "変更 1" in text and "削除 0" in text and "鈴木 次郎" in text and "佐藤 華子" in text,
          "管理者: the corrected CSV (Shift_JIS) previewed: one added, one changed", text)
    shot(page, "15-register-preview")
    page.click("text=この内容で取り込む")
    text = page.inner_text("body")
    check("取り込みました: 追加 1 行 · 変更 1 行 · 削除 0 行" in text and "鈴木 次郎" in text, "管理者: imported after the preview", text)

    page.goto(f"{hub}/retention")
    page.fill("form.act input[name=subject]", "住民票コード 90")
    page.fill("form.act input[name=from]", "令和8年11月1日")
    page.fill("form.act input[name=reason]", "監査のため保全")
    page.click("form.act button")
    text = page.inner_text("body")
    check("監査のため保全" in text and "住民票コード 90" in text, "管理者: a legal hold placed through the form (date typed in 和暦)", text)
    page.fill("form.inline input[name=reason]", "監査終了")
    page.click("form.inline button")
    check("監査終了" in page.inner_text("body"), "管理者: the hold lifted with a reason", page.inner_text("body"))

    # --- the 会議: reads everything, changes nothing ---
    kaigi = context_for(browser, "kaigi01")
    page = kaigi.new_page()
    page.goto(finding_url)
    text = page.inner_text("body")
    check("証拠の記録" in text and "対応を記録する" not in text, "会議: reads the finding, is offered no form", text)
    page.goto(f"{hub}/retention")
    check("保全を設定する" not in page.inner_text("body"), "会議: no hold form", page.inner_text("body"))
    page.goto(f"{hub}/")
    text = page.inner_text("body")
    check("11月分 異常なし" in text and "点検を記録する" not in text, "会議: sees the last review, is offered no review form", text)
    # Another person's token is bound to their certificate: refused before anything is judged.
    forged = page.request.post(finding_url + "/resolve", form={"reason": "会議が解決", "token": admin_token},
                               headers={"Origin": hub, "Sec-Fetch-Site": "same-origin"})
    check(forged.status == 403 and "cross_site_request" in forged.text(), "会議: the 管理者's form token does not work with another certificate", forged.text())
    shot(page, "10-kaigi-finding")

    # --- an 操作者: their own record only ---
    sousa = context_for(browser, "sousa01")
    page = sousa.new_page()
    page.goto(f"{hub}/")
    text = page.inner_text("body")
    check(page.url.endswith("/events") and "わたしの記録" in text and "sousa01" in text, "操作者: sent to their own record", text)
    actors = set(page.locator("table.events tbody tr td:nth-child(5)").all_inner_texts())
    check(actors and all(a.startswith("sousa01") for a in actors), "操作者: sees only events where they are the actor", str(actors))
    shot(page, "11-operator")
    response = page.goto(f"{hub}/findings")
    text = page.inner_text("body")
    check(response.status == 403 and "許可されていません" in text and "not_permitted" in text, "操作者: the findings page is refused in Japanese", text)
    response = page.goto(f"{hub}/events?actor=sou&actor_match=prefix")
    check(response.status == 403, "操作者: a prefix search cannot reach colleagues", page.inner_text("body"))
    shot(page, "12-operator-refused")

    # --- a 受託者 submits a report through the page; the 管理者 returns it with a reason ---
    itaku = context_for(browser, "itaku01")
    page = itaku.new_page()
    page.goto(f"{hub}/")
    page.click("text=委託の提出")
    text = page.inner_text("body")
    check("提出する" in text and "C-1" in text and "C-2" not in text and "所見" not in page.inner_text("nav"),
          "受託者: the submissions page offers only the contracts that name them", text)
    pdf = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n"
    page.select_option("select[name=type]", "site_audit")
    page.fill("input[name=note]", "令和8年度上期 実施状況報告")
    page.set_input_files("input[type=file]", files=[
        {"name": "実施状況報告.pdf", "mimeType": "application/pdf", "buffer": pdf},
        {"name": "点検表.csv", "mimeType": "text/csv", "buffer": "項目,結果\r\n入退室,良\r\n".encode("cp932")},
    ])
    page.click("form.act button")
    text = page.inner_text("body")
    digest = __import__("hashlib").sha256(pdf).hexdigest()
    check(re.search(r"/submissions/\d+$", page.url) and "確認待ち" in text and digest in text and "点検表.csv" in text,
          "受託者: submitted two files through the form; the page shows each file's SHA-256", text)
    shot(page, "17-contractor-submitted")
    submission_url = page.url
    fake = page.goto(f"{hub}/submissions")
    page.set_input_files("input[type=file]", files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"\x7fELF\x02\x01\x01\x00"}])
    page.fill("input[name=note]", "偽物")
    page.click("form.act button")
    text = page.inner_text("body")
    check("unsupported_document" in text and "受け付けられないファイル" in text, "受託者: a program named report.pdf is refused by its content, in Japanese", text)
    page.goto(f"{hub}/events?actor=kanri01")
    check("not_permitted" in page.inner_text("body"), "受託者: others' record refused", page.inner_text("body"))
    page = admin.new_page()
    page.goto(submission_url)
    page.fill("form:has(input[value=return]) input[name=reason]", "責任者の押印がない")
    page.click("button:has-text('差し戻す')")
    text = page.inner_text("body")
    history = " ".join(page.locator("table").last.inner_text().split())
    check("差戻し" in history and "責任者の押印がない" in history and "kanri01" in history and "確認する" not in text, "管理者: returned the submission with a reason, shown in its history", text)
    shot(page, "18-submission-returned")

    # --- another site's page posts to the hub with the 管理者's certificate ---
    for path in ["/page", "/api"]:
        page = admin.new_page()
        page.goto(f"http://127.0.0.1:{attacker.server_address[1]}{path}")
        page.wait_for_url(f"{hub}/**")
        page.wait_for_load_state()
        text = page.content()
        check("cross_site_request" in text, f"another site: its form POST to {'a console page' if path == '/page' else 'the API'} is refused", text)
        if path == "/page":
            shot(page, "13-cross-site-refused")
    holds = admin.request.get(f"{hub}/v1/holds").json()
    check(all("forged" not in h["reason"] for h in holds), "another site: nothing changed", json.dumps(holds, ensure_ascii=False))

    browser.close()
attacker.shutdown()
print("console: all checks passed")
