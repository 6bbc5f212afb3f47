#!/usr/bin/env python3
"""Independent verifier of a Kiroku evidence bundle (PROTOCOL.md §7), with only the Python standard library.

Written from PROTOCOL.md alone, so that the 会議 or any auditor need not trust Kiroku's own code: it
recomputes each event's hash from its content (RFC 8785 canonical JSON, SHA-256), checks each event's
RFC 6962 inclusion proof against the checkpoint's root, the hub's Ed25519 signature on the checkpoint
(C2SP signed note), and each named witness's cosignature (C2SP tlog-cosignature).

    verify_evidence.py BUNDLE --hub-key BASE64 [--hub-key OLD ...] (--witness NAME+KEYID+BASE64 ... | --no-witness)
                       [--no-completeness]

The hub's key must be given (confirmed on paper): the key a bundle names is never used, since a forged
bundle names its forger's key. A witness is required unless --no-witness is said, and then the verdict
says so. JSON objects with a duplicated member are refused; a signed note's body ends at its last blank
line, and a signature line by a known key that does not verify rejects the note (C2SP signed-note).

Exit status 0 and a line starting VERIFIED when everything holds; 1 and NOT VERIFIED otherwise; 2 when
it cannot judge (no hub key, no witness, not a bundle).
"""
import base64
import hashlib
import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from check_vectors import canonical, event_hash  # noqa: E402  (the same canonical form as the vectors)

# --- Ed25519 verification (RFC 8032 §5.1.7, after its §6 reference code) -------------------------------

P = 2**255 - 19
L = 2**252 + 27742317777372353535851937790883648493
D = -121665 * pow(121666, P - 2, P) % P
SQRT_M1 = pow(2, (P - 1) // 4, P)


def _add(a, b):
    x = (a[1] - a[0]) * (b[1] - b[0]) % P
    y = (a[1] + a[0]) * (b[1] + b[0]) % P
    c = 2 * a[3] * b[3] * D % P
    z = 2 * a[2] * b[2] % P
    e, f, g, h = y - x, z - c, z + c, y + x
    return (e * f % P, g * h % P, f * g % P, e * h % P)


def _mul(s, point):
    result = (0, 1, 1, 0)
    while s > 0:
        if s & 1:
            result = _add(result, point)
        point = _add(point, point)
        s >>= 1
    return result


def _equal(a, b):
    return (a[0] * b[2] - b[0] * a[2]) % P == 0 and (a[1] * b[2] - b[1] * a[2]) % P == 0


def _recover_x(y, sign):
    if y >= P:
        return None
    x2 = (y * y - 1) * pow(D * y * y + 1, P - 2, P)
    if x2 == 0:
        return None if sign else 0
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P != 0:
        x = x * SQRT_M1 % P
    if (x * x - x2) % P != 0:
        return None
    if (x & 1) != sign:
        x = P - x
    return x


def _decompress(data):
    if len(data) != 32:
        return None
    y = int.from_bytes(data, "little")
    sign, y = y >> 255, y & ((1 << 255) - 1)
    x = _recover_x(y, sign)
    return None if x is None else (x, y, 1, x * y % P)


_GY = 4 * pow(5, P - 2, P) % P
_G = (_recover_x(_GY, 0), _GY, 1, _recover_x(_GY, 0) * _GY % P)


def ed25519_verify(public, message, signature):
    if len(public) != 32 or len(signature) != 64:
        return False
    a, r = _decompress(public), _decompress(signature[:32])
    s = int.from_bytes(signature[32:], "little")
    if a is None or r is None or s >= L:
        return False
    h = int.from_bytes(hashlib.sha512(signature[:32] + public + message).digest(), "little") % L
    return _equal(_mul(s, _G), _add(r, _mul(h, a)))


# --- RFC 6962 / RFC 9162 ------------------------------------------------------------------------------


def leaf_hash(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_inclusion(leaf, index, size, proof, root):
    """RFC 9162 §2.1.3.2."""
    if not 0 <= index < size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


# --- C2SP signed notes ----------------------------------------------------------------------------------


def key_id(name, kind, public):
    return hashlib.sha256(name.encode() + b"\n" + bytes([kind]) + public).digest()[:4]


def parse_note(text):
    body, sep, rest = text.rpartition("\n\n")  # the body ends at the LAST blank line
    if not sep or not rest.endswith("\n"):
        raise ValueError("not a signed note")
    lines = []
    for line in rest[:-1].split("\n"):
        dash, name, blob = line.split(" ")
        if dash != "\u2014":
            raise ValueError("not a signature line")
        lines.append((name, base64.b64decode(blob, validate=True)))
    return body + "\n", lines


def parse_checkpoint(body):
    origin, size, root, end = body.split("\n")
    if end != "" or str(int(size)) != size:
        raise ValueError("not a checkpoint")
    return origin, int(size), base64.b64decode(root, validate=True)


def no_duplicates(pairs):
    """json object_pairs_hook: a member given twice (a fake value first, the real one last) is refused."""
    seen = {}
    for name, value in pairs:
        if name in seen:
            raise ValueError(f"duplicated member {name!r}")
        seen[name] = value
    return seen


def hub_signature(body, signatures, origin, keys):
    """'valid' if a known key signed and every line by a known key verifies; 'invalid' if one does not;
    'absent' if no known key signed."""
    verdict = "absent"
    for key in keys:
        wanted = key_id(origin, 1, key)
        for name, blob in signatures:
            if name == origin and blob[:4] == wanted:
                if len(blob) != 68 or not ed25519_verify(key, body.encode(), blob[4:]):
                    return "invalid"
                verdict = "valid"
    return verdict


def cosigned(body, signatures, name, public):
    """True if the witness cosigned and every line by its key verifies."""
    wanted, ok = key_id(name, 4, public), False
    for n, b in signatures:
        if n == name and b[:4] == wanted:
            if len(b) != 76:
                return False
            t = int.from_bytes(b[4:12], "big")
            if not ed25519_verify(public, b"cosignature/v1\ntime %d\n" % t + body.encode(), b[12:]):
                return False
            ok = True
    return ok


STATEMENT = "kiroku-evidence-statement/v1"


def parse_statement(body):
    """PROTOCOL.md §7: the hub's signed word on one page of a bundle."""
    lines = body.split("\n")
    names = ["origin", "tree", "query", "matching", "offset", "entries", "digest", "links"]
    if len(lines) != 10 or lines[0] != STATEMENT or lines[9] != "":
        raise ValueError("not an evidence statement")
    values = {}
    for name, line in zip(names, lines[1:9]):
        if not line.startswith(name + " "):
            raise ValueError(f"evidence statement: expected '{name} …'")
        values[name] = line[len(name) + 1:]
    for name in ("tree", "matching", "offset", "entries"):
        if not values[name].isdigit() or str(int(values[name])) != values[name]:
            raise ValueError(f"evidence statement: {name} is not a whole number")
        values[name] = int(values[name])
    values["query"] = json.loads(values["query"], object_pairs_hook=no_duplicates)
    if canonical(values["query"]) != lines[3][len("query "):] or len(values["digest"]) != 64 or len(values["links"]) != 64:
        raise ValueError("evidence statement: not in its canonical form")
    return values


def check_links(page, entries, problems):
    """Every event of the page sits in its agent's signed chain stretch; a full event's prev is the link before it."""
    if page["runs"] is None:
        problems.append("a page has no chain links beside its statement")
        return
    runs = []
    digest = hashlib.sha256()
    for run in page["runs"]:
        raw = base64.b64decode(run["hashes"], validate=True)
        if not raw or len(raw) % 32:
            raise ValueError("a link run's hashes are not 32-byte hashes")
        hashes = [raw[i:i + 32].hex() for i in range(0, len(raw), 32)]
        for offset, h in enumerate(hashes):
            digest.update(f"{run['agent']} {run['from_seq'] + offset} {h}\n".encode())
        runs.append((run["agent"], run["from_seq"], hashes))
    if digest.hexdigest() != page["links"]:
        problems.append("a page's chain links are not the ones the hub signed")
        return

    def link(agent, seq):
        for a, start, hashes in runs:
            if a == agent and start <= seq < start + len(hashes):
                return hashes[seq - start]
        return None

    for entry in entries:
        item = entry["purged"] if "purged" in entry else entry["event"]
        if link(item["agent"], item["seq"]) != item["hash"]:
            problems.append(f"{item['agent']} seq {item['seq']} is not where the signed chain links put it")
        elif link(item["agent"], item["seq"] - 1) not in (None, item.get("prev")):
            problems.append(f"{item['agent']} seq {item['seq']}'s prev is not the link before it")


def completeness(bundle, origin, size, keys, problems, allow_incomplete=False):
    """Returns a line to print: the pages tile the matching events, each page's digest holds."""
    statements = bundle.get("statements")
    if not statements:
        if allow_incomplete:
            return "note: no signed statement of the query: this bundle proves the events it shows, not that it shows every event"
        problems.append("no signed statement of the query: events may have been taken out (--no-completeness for older bundles)")
        return None
    pages = []
    for number, text in enumerate(statements, 1):
        body, signatures = parse_note(text)
        page = parse_statement(body)
        if hub_signature(body, signatures, page["origin"], keys) != "valid":
            problems.append(f"statement {number} is not signed by the hub key")
            return None
        pages.append(page)
    links = bundle.get("links", [])
    for page, runs in zip(pages, links + [None] * (len(pages) - len(links))):
        page["runs"] = runs
    first = pages[0]
    if any(p["origin"] != origin or p["tree"] != size for p in pages):
        problems.append("a statement is about another log or tree than the checkpoint")
    if any(p["query"] != first["query"] or p["matching"] != first["matching"] for p in pages):
        problems.append("the statements are about different queries or counts")
    events = bundle["events"]
    at = 0
    for page in sorted(pages, key=lambda p: p["offset"]):
        if page["offset"] != at:
            problems.append("a page is missing or two pages overlap")
            return None
        entries = events[at:at + page["entries"]]
        if len(entries) != page["entries"]:
            problems.append("the bundle ends before a page's last event: events were removed")
            return None
        digest = hashlib.sha256()
        for entry in entries:
            item = entry["purged"] if "purged" in entry else entry["event"]
            marker = " purged" if "purged" in entry else ""
            digest.update(f"{entry['leaf_index']} {item['hash']}{marker}\n".encode())
        if digest.hexdigest() != page["digest"]:
            problems.append(f"events {at + 1}–{at + page['entries']} are not the ones the hub listed for that page")
        check_links(page, entries, problems)
        at += page["entries"]
    if at != first["matching"]:
        problems.append(f"the hub counted {first['matching']} matching event(s); the pages hold {at}: cut short")
    elif len(events) != at:
        problems.append(f"the bundle holds {len(events)} event(s) but its pages list {at}: events were added")
    return f"complete: all {first['matching']} event(s) the hub signed as matching {canonical(first['query'])} are here"


def main(argv):
    args, hub_keys, witnesses, no_witness, allow_incomplete = [], [], [], False, False
    i = 0
    while i < len(argv):
        if argv[i] == "--hub-key":  # repeatable: the keys of earlier rotations
            hub_keys.append(base64.b64decode(argv[i + 1]))
            i += 2
        elif argv[i] == "--no-witness":
            no_witness = True
            i += 1
        elif argv[i] == "--no-completeness":  # a bundle made before the hub signed statements
            allow_incomplete = True
            i += 1
        elif argv[i] == "--witness":
            name, kid, blob = argv[i + 1].split("+", 2)
            raw = base64.b64decode(blob)
            if raw[0] != 4 or key_id(name, 4, raw[1:]).hex() != kid:
                print("bad witness key", argv[i + 1])
                return 2
            witnesses.append((name, raw[1:]))
            i += 2
        else:
            args.append(argv[i])
            i += 1
    if len(args) != 1:
        print(__doc__)
        return 2
    if not hub_keys:
        print("give the hub's key with --hub-key: get it from the 管理者 (kirokuctl log key) and confirm it on paper;"
              " a key written inside the bundle proves nothing")
        return 2
    if not witnesses and not no_witness:
        print("give the 会議's witness key with --witness NAME+ID+KEY, or say --no-witness to judge without one")
        return 2
    try:
        bundle = json.loads(pathlib.Path(args[0]).read_text(encoding="utf-8"), object_pairs_hook=no_duplicates)
    except ValueError as error:
        print(f"NOT VERIFIED: the bundle is not valid JSON ({error})")
        return 1
    problems = []
    if bundle.get("format") != "kiroku-evidence/1":
        problems.append("not a kiroku-evidence/1 bundle")
    body, signatures = parse_note(bundle["checkpoint"])
    origin, size, root = parse_checkpoint(body)
    signed = hub_signature(body, signatures, origin, hub_keys)
    if signed == "invalid":
        problems.append("a signature line by a given hub key does not verify: the checkpoint was altered")
    elif signed != "valid":
        problems.append("the checkpoint is not signed by the hub key")
    for name, public in witnesses:
        if not cosigned(body, signatures, name, public):
            problems.append(f"not cosigned by witness {name}")
    # Exactly one of "event" and "purged" per entry: two readers must not see two different entries.
    for n, entry in enumerate(bundle["events"], 1):
        if ("event" in entry) == ("purged" in entry):
            problems.append(f"entry {n} must hold either event or purged, not both or neither")
    try:
        complete = completeness(bundle, origin, size, hub_keys, problems, allow_incomplete)
    except (ValueError, KeyError) as error:
        problems.append(f"a statement cannot be read: {error}")
        complete = None
    purged = 0
    for n, entry in enumerate(bundle["events"], 1):
        if "purged" in entry:  # retention removed the content; the hash must still be the leaf
            rest = entry["purged"]
            proof = [bytes.fromhex(h) for h in entry["inclusion"]]
            if not verify_inclusion(leaf_hash(bytes.fromhex(rest["hash"])), entry["leaf_index"], size, proof, root):
                problems.append(f"event {n} ({rest['agent']} seq {rest['seq']}, purged): not in the checkpoint's tree")
            purged += 1
            continue
        if "event" not in entry:
            continue  # counted as a problem above
        event = entry["event"]
        if event_hash(event) != event.get("hash"):
            problems.append(f"event {n}: its hash does not match its content")
            continue
        proof = [bytes.fromhex(h) for h in entry["inclusion"]]
        if not verify_inclusion(leaf_hash(bytes.fromhex(event["hash"])), entry["leaf_index"], size, proof, root):
            problems.append(f"event {n} ({event['agent']} seq {event['seq']}): not in the checkpoint's tree")
    for problem in problems[:20]:
        print("FAIL ", problem)
    if problems:
        print(f"NOT VERIFIED: {len(problems)} problem(s)")
        return 1
    if complete:
        print(complete)
    proven = len(bundle["events"]) - purged
    counted = (f"{proven} event(s) proven and {purged} purged (content removed under the retention policy;"
               " inclusion proven, fields not authenticated)") if purged else f"{proven} event(s) proven"
    print(f"VERIFIED: {counted} in {origin} tree size {size}, signed by the hub, "
          + (f"cosigned by {len(witnesses)} witness(es)" if witnesses else
             "WITHOUT A WITNESS (a hub that rewrote its own log could have made this bundle)")
          + ("" if bundle.get("statements") else ", WITHOUT COMPLETENESS"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
