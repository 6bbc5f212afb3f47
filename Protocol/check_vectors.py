#!/usr/bin/env python3
"""Independent check of Kiroku's protocol v1 golden vectors (Protocol/vectors/*.json).

Written from PROTOCOL.md alone, with only the Python standard library, to show the canonical form and
hash chain are language-neutral: it re-derives the canonical bytes and SHA-256 of every vector event and
checks each chain link. Exit status 0 and a '... passed, 0 failed' line when all agree.
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
