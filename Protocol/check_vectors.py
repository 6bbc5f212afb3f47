#!/usr/bin/env python3
"""Independent check of Kiroku's protocol v1 golden vectors (Protocol/vectors/*.json).

Written from PROTOCOL.md alone, with only the Python standard library, to show the canonical form, the
hash chain and the log are language-neutral: it re-derives the canonical bytes and SHA-256 of every vector
event and checks each chain link; and for log.json it re-derives every leaf, root and proof of the tree
over chain.json's events, the key IDs and the witness key's text form, and verifies the checkpoint's
signature, the cosignature, the receipt (canonical bytes and signature) and the evidence bundle.
Exit status 0 and a '... passed, 0 failed' line when all agree.
"""
import hashlib
import json
import pathlib
import re
import sys

GENESIS = "0" * 64
FIELDS = {"v", "agent", "seq", "time", "kind", "action", "actor", "subject", "site", "attrs", "salt", "prev", "hash"}
TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|[+-]\d{2}:\d{2})$")


def jcs_string(text):
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\b":
            out.append("\\b")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\f":
            out.append("\\f")
        elif ch == "\r":
            out.append("\\r")
        elif code < 0x20:
            out.append("\\u%04x" % code)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def canonical(value):
    """RFC 8785 for the integer-only values Kiroku uses."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        raise ValueError("floats are not allowed in Kiroku's canonical JSON")
    if isinstance(value, str):
        return jcs_string(value)
    if isinstance(value, list):
        return "[" + ",".join(canonical(v) for v in value) + "]"
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: k.encode("utf-16-be"))  # UTF-16 code unit order
        return "{" + ",".join(jcs_string(k) + ":" + canonical(value[k]) for k in keys) + "}"
    raise TypeError(type(value))


def event_hash(event):
    body = {k: v for k, v in event.items() if k != "hash"}
    return hashlib.sha256(canonical(body).encode("utf-8")).hexdigest()


def tree_root(leaves):
    """RFC 9162 §2.1.1 MTH."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1 << ((len(leaves) - 1).bit_length() - 1)  # the largest power of two below n
    return hashlib.sha256(b"\x01" + tree_root(leaves[:k]) + tree_root(leaves[k:])).digest()


def verify_consistency(first, second, proof, first_root, second_root):
    """RFC 9162 §2.1.4.2."""
    node = lambda left, right: hashlib.sha256(b"\x01" + left + right).digest()  # noqa: E731
    if not 0 < first <= second:
        return False
    if first == second:
        return not proof and first_root == second_root
    if first & (first - 1) == 0:  # a power of two: the first tree is a subtree of the second
        proof = [first_root] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node(c, fr), node(c, sr)
            while not fn & 1 and fn != 0:
                fn >>= 1
                sn >>= 1
        else:
            sr = node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_root and sr == second_root


def check_log(document, chain, check):
    import base64
    import os
    import tempfile
    import verify_evidence as v  # the independent verifier, itself written from PROTOCOL.md

    hashes = [vector["event"]["hash"] for vector in chain["vectors"]]
    leaves = [v.leaf_hash(bytes.fromhex(h)) for h in hashes]
    for leaf, given in zip(leaves, document["leaves"]):
        check(given["leaf_hash"] == leaf.hex() and given["event_hash"] in hashes, f"log.json: leaf of {given['event_hash'][:8]}")
    roots = {r["size"]: bytes.fromhex(r["root"]) for r in document["roots"]}
    for size, root in roots.items():
        check(tree_root(leaves[:size]) == root, f"log.json: root of size {size}")
    for p in document["inclusion"]:
        proof = [bytes.fromhex(h) for h in p["proof"]]
        index, size = p["leaf_index"], p["tree_size"]
        check(v.verify_inclusion(leaves[index], index, size, proof, roots[size]), f"log.json: inclusion {index} in {size}")
    for p in document["consistency"]:
        proof = [bytes.fromhex(h) for h in p["proof"]]
        check(verify_consistency(p["from"], p["to"], proof, roots[p["from"]], roots[p["to"]]),
              f"log.json: consistency {p['from']} → {p['to']}")

    origin = document["origin"]
    hub = base64.b64decode(document["hub"]["public_key"])
    check(v.key_id(origin, 1, hub).hex() == document["hub"]["note_key_id"], "log.json: the hub's note key ID")
    check(hashlib.sha256(hub).hexdigest()[:16] == document["hub"]["receipt_key_id"], "log.json: the receipt key ID")
    witness = document["witness"]
    name, kid, blob = witness["verifier_key"].split("+", 2)
    raw = base64.b64decode(blob, validate=True)
    check(name == witness["name"] and len(kid) == 8 and raw[0] == 4 and v.key_id(name, 4, raw[1:]).hex() == kid,
          "log.json: the witness key's text form")

    checkpoint = document["checkpoint"]
    size = len(leaves)
    check(checkpoint["body"] == f"{origin}\n{size}\n{base64.b64encode(roots[size]).decode()}\n", "log.json: checkpoint body")
    for which in ("signed", "cosigned"):
        body, signatures = v.parse_note(checkpoint[which])
        check(body == checkpoint["body"], f"log.json: {which} note's body")
        check(v.hub_signature(body, signatures, origin, [hub]) == "valid", f"log.json: {which} note's hub signature")
    body, signatures = v.parse_note(checkpoint["cosigned"])
    check(v.cosigned(body, signatures, name, raw[1:]), "log.json: the cosignature")
    stamp = [b for n, b in signatures if n == name][0][4:12]
    check(int.from_bytes(stamp, "big") == witness["time"], "log.json: the cosignature's time")

    receipt = document["receipt"]
    check(canonical(receipt["receipt"]) == receipt["signed_bytes"], "log.json: the receipt's canonical bytes")
    check(v.ed25519_verify(hub, receipt["signed_bytes"].encode(), base64.b64decode(receipt["signature"])),
          "log.json: the receipt's signature")
    log = receipt["receipt"]["log"]
    check(log["checkpoint"] == checkpoint["signed"] and log["root"] == roots[log["tree_size"]].hex()
          and v.verify_inclusion(leaves[log["leaf_index"]], log["leaf_index"], log["tree_size"],
                                 [bytes.fromhex(h) for h in log["inclusion"]], roots[log["tree_size"]]),
          "log.json: the receipt's inclusion proof")

    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False, encoding="utf-8") as handle:
        json.dump(document["bundle"], handle, ensure_ascii=False)
    try:
        import contextlib
        import io
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            status = v.main([handle.name, "--hub-key", document["hub"]["public_key"], "--witness", witness["verifier_key"]])
        check(status == 0 and "5 event(s) proven and 1 purged" in out.getvalue() and "complete: all 6 event(s)" in out.getvalue(),
              f"log.json: the bundle verifies, complete ({out.getvalue().strip()})")
    finally:
        os.unlink(handle.name)


def main():
    folder = pathlib.Path(__file__).resolve().parent / "vectors"
    passed = failed = 0

    def check(ok, what):
        nonlocal passed, failed
        if ok:
            passed += 1
        else:
            failed += 1
            print("FAIL:", what)

    for path in sorted(folder.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        if path.name == "log.json":
            check_log(document, json.loads((folder / "chain.json").read_text(encoding="utf-8")), check)
            continue
        check(document["genesis"] == GENESIS, f"{path.name}: genesis value")
        previous = None
        for vector in document["vectors"]:
            event, name = vector["event"], f"{path.name}:{vector['name']}"
            check(set(event) == FIELDS, f"{name}: members")
            check(TIME.match(event["time"]) is not None, f"{name}: time format")
            body = {k: v for k, v in event.items() if k != "hash"}
            check(canonical(body) == vector["canonical"], f"{name}: canonical bytes without hash")
            check(canonical(event) == vector["canonical_with_hash"], f"{name}: canonical bytes with hash")
            check(event_hash(event) == vector["hash"] == event["hash"], f"{name}: SHA-256")
            if path.name == "chain.json":
                if previous is None:
                    check(event["seq"] == 1 and event["prev"] == GENESIS, f"{name}: chain starts at genesis")
                else:
                    check(event["seq"] == previous["seq"] + 1, f"{name}: seq follows")
                    check(event["prev"] == previous["hash"], f"{name}: prev links")
                previous = event
    print(f"vectors: {passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
