#!/usr/bin/env bash
# The whole Kiroku spine on one machine: a CA, a hub on the embedded SQLite default, three agents (two
# counter terminals and the server room) recording realistic 住基ネット events of every kind while the
# server room is offline for a while, then the consolidated record and per-agent health as a 管理者 sees them.
#
# Usage: Scripts/demo.sh [WORKDIR]   (default ./demo-run; rerunning starts afresh)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=${1:-$ROOT/demo-run}
export TZ=Asia/Tokyo

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

if ! dpkg -s libsqlite3-dev libssl-dev zlib1g-dev >/dev/null 2>&1; then
    step "Installing system libraries (libsqlite3-dev libssl-dev zlib1g-dev)"
    apt-get update -qq && apt-get install -y -qq libsqlite3-dev libssl-dev zlib1g-dev
fi

step "Building (debug; the first build takes several minutes)"
swift build 2>&1 | grep -E '^(error|warning: [^'"'"']|Build complete)' || true
BIN=$(swift build --show-bin-path)
for tool in kiroku-hub kiroku-agent kirokuctl; do test -x "$BIN/$tool" || { echo "build failed: $tool missing"; exit 1; }; done
PATH=$BIN:$PATH

PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

rm -rf "$WORK"; mkdir -p "$WORK"
step "A private CA for the city, and certificates for the hub, three agents and the 管理者"
kirokuctl pki init --dir "$WORK/pki" --name 稲城市
kirokuctl pki issue hub --dir "$WORK/pki" --id hub --dns localhost --ip 127.0.0.1 >/dev/null
for agent in counter-01 counter-02 serverroom; do kirokuctl pki issue agent --dir "$WORK/pki" --id $agent >/dev/null; done
kirokuctl pki issue person --dir "$WORK/pki" --id kanri01 --name "管理者 山田" >/dev/null
kirokuctl pki issue person --dir "$WORK/pki" --id kaigi01 --name "会議 委員 佐藤" >/dev/null
kirokuctl pki issue person --dir "$WORK/pki" --id P0101 --name "操作者 田中" >/dev/null
kirokuctl pki list --dir "$WORK/pki"

step "The hub (mutual TLS, SQLite record in $WORK/hub): its first start makes the record and the signing key"
HUB_SETTINGS=(--host 127.0.0.1 --port 0 --port-file "$WORK/hub.port" --database "$WORK/hub/record.sqlite"
    --ca "$WORK/pki/ca.crt" --cert "$WORK/pki/hub/hub.crt" --key "$WORK/pki/hub/hub.key"
    --revocation-list "$WORK/pki/revoked.txt")
kiroku-hub init "${HUB_SETTINGS[@]}"
kiroku-hub run "${HUB_SETTINGS[@]}" --log-level warning &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$WORK/hub.port" ] && break; sleep 0.1; done
PORT=$(cat "$WORK/hub.port"); HUB=https://localhost:$PORT
echo "hub listening on $HUB"

config() { # id site
    cat > "$WORK/$1.json" <<JSON
{"agent_id": "$1", "site": "$2", "journal": "$WORK/$1/journal.sqlite", "socket": "$WORK/$1/ingest.sock",
 "hub_url": "$HUB", "ca": "$WORK/pki/ca.crt", "certificate": "$WORK/pki/agents/$1.crt",
 "private_key": "$WORK/pki/agents/$1.key", "heartbeat_seconds": 2, "poll_seconds": 0.5}
JSON
}
config counter-01 "本庁舎 市民課 窓口1"
config counter-02 "本庁舎 市民課 窓口2"
config serverroom "本庁舎 電算室"

step "The 管理者 loads the registers kept in Excel: people and their roles, room permits (第12②), operator cards (第16)"
printf 'person_id,name,role,left\r\nkanri01,山田 管理者,管理者,\r\nkaigi01,佐藤 部長,会議,\r\nP0101,田中 一郎,操作者,\r\nP0102,佐藤 花子,操作者,\r\nP0012,高橋 次郎,操作者,\r\nP0201,鈴木 課長,暗証番号管理者;運用管理者,\r\n' > "$WORK/people.csv"
kirokuctl registers import people "$WORK/people.csv" --hub "$HUB" --pki "$WORK/pki" --as kanri01
printf 'permit_id,person,room,valid_from,valid_to\r\nR-2026-014,P0012,電算室,2026-04-01,2027-03-31\r\n' > "$WORK/permits.csv"
printf 'card_id,holder,state,since\r\nC-1001,P0101,active,2026-04-01\r\nC-1002,P0102,revoked,2026-11-01\r\n' > "$WORK/cards.csv"
kirokuctl registers import permits "$WORK/permits.csv" --hub "$HUB" --pki "$WORK/pki" --as kanri01
kirokuctl registers import cards "$WORK/cards.csv" --hub "$HUB" --pki "$WORK/pki" --as kanri01

step "Two counter terminals start their agents; the server room's agent is offline"
for agent in counter-01 counter-02; do
    kiroku-agent run --config "$WORK/$agent.json" --log-level warning & PIDS+=($!)
done
for agent in counter-01 counter-02; do for _ in $(seq 100); do [ -S "$WORK/$agent/ingest.sock" ] && break; sleep 0.1; done; done

rec() { local agent=$1; shift; kiroku-agent record --config "$WORK/$agent.json" "$@" >/dev/null; }
sock() { # agent json-line: what a card reader or the terminal application does
    python3 - "$WORK/$1/ingest.sock" "$2" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.sendall(sys.argv[2].encode() + b"\n")
answer = s.makefile().readline(); s.close()
if '"ok":true' not in answer: sys.exit("refused: " + answer)
PY
}

step "Server room (offline): 入退室, maintenance, virus check, configuration change — journalled locally"
rec serverroom --kind access --action enter --actor P0012 --subject 電算室 --attr method=card_reader --attr permit=R-2026-014
rec serverroom --kind incident --action maintenance_start --actor V-NEC-03 --subject サーバー1 --attr instruction=指示書-2026-031
rec serverroom --kind malware --action scan --actor P0012 --subject USB-0007 --attr result=clean --attr engine=ClamAV
rec serverroom --kind config --action fw_backup --actor P0012 --subject ファイヤーウォール --attr file=fw-20261127.cfg
rec serverroom --kind config --action device_attached --actor P0012 --subject USB-0007 --attr vendor=0781 --attr product=5567
rec serverroom --kind incident --action maintenance_end --actor V-NEC-03 --subject サーバー1
rec serverroom --kind access --action exit --actor P0012 --subject 電算室 --attr method=card_reader
kiroku-agent status --config "$WORK/serverroom.json" | sed -n '1,5p'

step "Counter terminals: operator cards, lookups, 住基カード, a contractor audit — through the socket and 'record'"
sock counter-01 '{"kind":"card","action":"insert","actor":"C-1001","subject":"端末01","attrs":{"holder":"P0101"}}'
sock counter-01 '{"kind":"operation","action":"login","actor":"P0101","subject":"端末01"}'
for i in 1 2 3; do sock counter-01 "{\"kind\":\"operation\",\"action\":\"lookup\",\"actor\":\"P0101\",\"subject\":\"住民票コード 0000000000$i\",\"attrs\":{\"purpose\":\"転入届\"}}"; done
sock counter-01 '{"kind":"operation","action":"print","actor":"P0101","subject":"住民票コード 00000000001","attrs":{"copies":"1"}}'
sock counter-01 '{"kind":"operation","action":"logout","actor":"P0101","subject":"端末01"}'
sock counter-01 '{"kind":"card","action":"remove","actor":"C-1001","subject":"端末01"}'
sock counter-02 '{"kind":"operation","action":"auth_failure","actor":"P0102","subject":"端末02","attrs":{"reason":"wrong_pin"}}'
sock counter-02 '{"kind":"operation","action":"login","actor":"P0102","subject":"端末02"}'
rec counter-02 --kind residentcard --action stock_in --actor P0201 --subject 住基カード --attr count=50 --attr lot=2026-11
rec counter-02 --kind residentcard --action issue --actor P0102 --subject 住基カード-000123 --attr to=住民A
rec counter-02 --kind residentcard --action destroy --actor P0201 --subject 住基カード-000087 --attr method=裁断
rec counter-02 --kind card --action pin_change --actor P0201 --subject C-1002 --attr by=暗証番号管理者
rec counter-02 --kind contractor --action audit_submitted --actor 委託先-日本電算 --subject 2026年度上期 --attr report=audit-2026H1.pdf
sock counter-02 '{"kind":"operation","action":"logout","actor":"P0102","subject":"端末02"}'

step "What the 会議 must hear about: a night entry without a permit, a late-night lookup, repeated lookups, PIN guessing, a card pulled mid-session, a revoked card, a virus not cut off"
YESTERDAY=$(TZ=Asia/Tokyo date -d yesterday +%F)
stamp() { TZ=Asia/Tokyo date -d "$1" +%Y-%m-%dT%H:%M:%S.000+09:00; }
rec serverroom --kind access --action enter --actor P0034 --subject 電算室 --attr method=card_reader --time "${YESTERDAY}T21:40:00.000+09:00"
sock counter-02 "{\"kind\":\"operation\",\"action\":\"lookup\",\"actor\":\"P0102\",\"subject\":\"住民票コード 00000000042\",\"time\":\"${YESTERDAY}T22:15:00.000+09:00\"}"
for i in 1 2 3 4 5 6; do sock counter-02 '{"kind":"operation","action":"lookup","actor":"P0102","subject":"住民票コード 00000000077"}'; done
for i in 1 2 3 4 5; do sock counter-02 '{"kind":"operation","action":"auth_failure","actor":"P0199","subject":"端末02","attrs":{"reason":"wrong_pin"}}'; done
sock counter-01 '{"kind":"card","action":"insert","actor":"C-1001","subject":"端末01","attrs":{"holder":"P0101"}}'
sock counter-01 '{"kind":"card","action":"remove","actor":"C-1001","subject":"端末01"}'
sock counter-01 '{"kind":"operation","action":"lookup","actor":"P0101","subject":"住民票コード 00000000008"}'
sock counter-02 '{"kind":"card","action":"insert","actor":"C-1002","subject":"端末02","attrs":{"holder":"P0102"}}'
rec serverroom --kind malware --action detected --actor ClamAV --subject USB-0009 --attr virus=Eicar-Test-Signature --time "$(stamp '2 hours ago')"
rec serverroom --kind malware --action reported --actor P0012 --subject 管理者 --time "$(stamp '100 minutes ago')"

step "The server room comes back online and catches up"
kiroku-agent run --config "$WORK/serverroom.json" --log-level warning & PIDS+=($!)
for _ in $(seq 300); do
    done_all=1
    for agent in counter-01 counter-02 serverroom; do
        backlog=$(kiroku-agent status --config "$WORK/$agent.json" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["backlog"])')
        [ "$backlog" = 0 ] || done_all=0
    done
    [ $done_all = 1 ] && break; sleep 0.2
done
kiroku-agent status --config "$WORK/serverroom.json"

export KIROKU_HUB=$HUB
step "The consolidated record (kirokuctl query, as the 管理者 kanri01)"
kirokuctl query --pki "$WORK/pki" --as kanri01 --all | grep -v 'agent/heartbeat'
step "Only the server room's 入退室 (kirokuctl query --kind access --agent serverroom)"
kirokuctl query --pki "$WORK/pki" --as kanri01 --kind access --agent serverroom
step "CSV for Excel (UTF-8 with BOM, CRLF): $WORK/record.csv"
kirokuctl query --pki "$WORK/pki" --as kanri01 --all --format csv > "$WORK/record.csv"
head -3 "$WORK/record.csv" | sed -e '1s/^\xEF\xBB\xBF/[BOM]/' -e 's/\r$/[CRLF]/' | cut -c1-160
step "An 操作者 sees only their own record (kirokuctl whoami / query --as P0101)"
kirokuctl whoami --pki "$WORK/pki" --as P0101
kirokuctl query --pki "$WORK/pki" --as P0101 --all
kirokuctl agents --pki "$WORK/pki" --as P0101 || true
step "Per-agent health (kirokuctl agents)"
kirokuctl agents --pki "$WORK/pki" --as kanri01
step "Findings: where the record shows the standard was not met (kirokuctl findings)"
for _ in $(seq 100); do
    n=$(kirokuctl findings --json --pki "$WORK/pki" --as kanri01 | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
    [ "$n" -ge 6 ] && break; sleep 0.2
done
kirokuctl findings --pki "$WORK/pki" --as kanri01

step "The 会議 checks the record: its witness cosigns, evidence of P0101's lookups verified offline"
HUB_KEY=$(kirokuctl log key --pki "$WORK/pki" --as kanri01 | cut -d' ' -f1)
WITNESS_KEY=$(kirokuctl witness init --dir "$WORK/kaigi-witness" --name kaigi.demo/witness | tail -1)
kirokuctl log checkpoint --publish --pki "$WORK/pki" --as kanri01 > /dev/null
kirokuctl witness run --dir "$WORK/kaigi-witness" --hub-key "$HUB_KEY" --pki "$WORK/pki" --as kaigi01
kirokuctl export --evidence "$WORK/evidence-P0101.json" --actor P0101 --pki "$WORK/pki" --as kaigi01
kirokuctl verify "$WORK/evidence-P0101.json" --hub-key "$HUB_KEY" --witness "$WITNESS_KEY"
python3 "$ROOT/Protocol/verify_evidence.py" "$WORK/evidence-P0101.json" --hub-key "$HUB_KEY" --witness "$WITNESS_KEY"

step "The web console: the 管理者's browser certificate (kirokuctl pki export-p12)"
kirokuctl pki export-p12 --dir "$WORK/pki" --id kanri01 --out "$WORK/kanri01.p12"
echo
echo "Done. Everything is in $WORK; the hub's record is $WORK/hub/record.sqlite."
echo "The console: $HUB/  (import $WORK/kanri01.p12 with the passphrase above into the browser, and $WORK/pki/ca.crt as a trusted CA)"
if [ -t 0 ]; then
    read -r -p "The hub keeps running for the console; press Enter to stop it. " _
fi
