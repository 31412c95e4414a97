#!/usr/bin/env python3
"""Writes docs/vectors/audit.json: golden vectors for the audit log's
canonical entry encoding, leaf hash and RFC 9162 inclusion proofs.

Written from the specification (docs/audit.md, "Canonical entry encoding";
RFC 9162 2.1.1 and 2.1.3), not from the server's code, so that the Rust
verifier (server/src/audit/canonical.rs tests) and the browser's in-page
check (client-web/static/js/pages/audit.js, tested in Chromium by
tests/browser/tests/audit.test.mjs) are each held to a third
implementation. Run: python3 docs/vectors/audit.py > docs/vectors/audit.json
"""
import hashlib
import json
import struct

FIELDS = ["practice_id", "actor_user_id", "actor_device_id", "action",
          "target_user_id", "target_device_id", "target_conversation_id",
          "outcome", "request_id", "ip", "detail"]


def canonical(e):
    out = bytes([1]) + struct.pack(">Q", e["seq"] % 2**64) + struct.pack(">q", e["at"])
    for f in FIELDS:
        v = e.get(f)
        if v is None:
            out += b"\x00"
        else:
            b = v.encode("utf-8")
            out += b"\x01" + struct.pack(">I", len(b)) + b
    return out


def leaf(data):
    return hashlib.sha256(b"\x00" + data).digest()


def node(l, r):
    return hashlib.sha256(b"\x01" + l + r).digest()


def mth(leaves):
    n = len(leaves)
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node(mth(leaves[:k]), mth(leaves[k:]))


def path(m, leaves):
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return path(m, leaves[:k]) + [mth(leaves[k:])]
    return path(m - k, leaves[k:]) + [mth(leaves[:k])]


P = "6f1c2a8e-3b7d-4c1e-9a0f-2d5e8b7c4a10"
U = "0b9e4f2a-6c3d-4e8b-a1f7-5d2c9e8b3a64"
D = "a3c5e7f9-1b2d-4f6a-8c0e-2a4c6e8f0b12"
entries = [
    {"name": "every optional field null",
     "entry": {"practice_id": P, "seq": 1, "at": 1764979200, "action": "practice.created",
               "outcome": "success"}},
    {"name": "every field present, detail as stored JSON text",
     "entry": {"practice_id": P, "seq": 42, "at": 1764979321, "actor_user_id": U,
               "actor_device_id": D, "action": "device.revoked", "target_user_id": U,
               "target_device_id": D, "target_conversation_id": "c-7", "outcome": "success",
               "request_id": "req-0001", "ip": "192.0.2.0/24",
               "detail": "{\"reason\":\"lost\",\"devices\":[\"" + D + "\"]}"}},
    {"name": "an empty text is not a null",
     "entry": {"practice_id": P, "seq": 2, "at": 0, "action": "auth.login", "outcome": "failure",
               "request_id": "", "ip": "2001:db8:1::/48"}},
    {"name": "lengths count UTF-8 bytes, not characters",
     "entry": {"practice_id": P, "seq": 3, "at": 1764979200, "action": "audit.viewed",
               "outcome": "success", "detail": "{\"note\":\"caf\u00e9 \u2713 \U0001F510\"}"}},
    {"name": "a time before 1970 and a large sequence number",
     "entry": {"practice_id": P, "seq": 4294967297, "at": -86400,
               "action": "audit.exported", "outcome": "success"}},
]
for v in entries:
    c = canonical(v["entry"])
    v["canonical_hex"] = c.hex()
    v["leaf_hash"] = leaf(c).hex()

# Inclusion proofs over a tree of 7 leaves (the last entry's leaf hashes of
# seq 1..7 of a made-up log): every index, so uneven subtrees are covered.
tree_entries = [{"practice_id": P, "seq": s, "at": 1764979200 + s,
                 "action": "message.accepted", "outcome": "success"} for s in range(1, 8)]
tree_leaves = [leaf(canonical(e)) for e in tree_entries]
proofs = []
for size in (1, 2, 3, 7):
    for i in range(size):
        proofs.append({"tree_size": size, "leaf_index": i, "entry": tree_entries[i],
                       "leaf_hash": tree_leaves[i].hex(),
                       "proof": [h.hex() for h in path(i, tree_leaves[:size])],
                       "root_hash": mth(tree_leaves[:size]).hex()})

print(json.dumps({"about": "Golden vectors of the audit log: canonical entry encoding, leaf hash, "
                           "RFC 9162 inclusion proofs. Written by docs/vectors/audit.py from "
                           "the specification, not from the server's code.",
                  "entries": entries, "inclusion": proofs}, indent=1, ensure_ascii=False))
