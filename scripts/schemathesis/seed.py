#!/usr/bin/env python3
"""Sets up a fresh Alcove server through its API, as people would.

Usage: seed.py BASE_URL SETUP_LINK

Accepts the one-time setup link the server printed (the first admin:
password, then TOTP enrolment, RFC 6238 computed here from the secret the
server returns); the admin invites a clinician (password and TOTP too) and a
client, assigns the client to the clinician, and the clinician starts their
conversation. Prints, one per line, KEY=VALUE for ADMIN_TOKEN,
CLINICIAN_TOKEN (bearer tokens), CLIENT_USER_ID and CONVERSATION_ID.
Standard library only: it runs before anything is installed.
"""

import base64
import hashlib
import hmac
import json
import struct
import sys
import time
import urllib.error
import urllib.request


def totp(secret_b32, at=None):
    secret = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int((time.time() if at is None else at) // 30)
    mac = hmac.new(secret, struct.pack(">Q", step), hashlib.sha1).digest()
    offset = mac[-1] & 0x0F
    code = struct.unpack(">I", mac[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{code % 1_000_000:06d}"


def request(base, method, path, body=None, token=None):
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(
        base + path,
        data=None if body is None else json.dumps(body).encode(),
        headers=headers,
        method=method,
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else {}
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")


def expect(what, want, answer):
    status, body = answer
    if status != want:
        sys.exit(f"seed: {what} answered {status} (wanted {want}): {body}")
    return body


def staff(base, link, login, step_offset=0):
    """Accepts a staff invite and enrols TOTP; returns the bearer token."""
    accepted = expect(
        f"accepting the invite for {login}",
        201,
        request(
            base,
            "POST",
            "/api/v1/invites/accept",
            {
                "token": link.split("#", 1)[1],
                "login": login,
                "display_name": login.split("@")[0].title(),
                "password": f"a long schemathesis passphrase for {login}",
            },
        ),
    )
    signed = expect(
        f"TOTP enrolment of {login}",
        200,
        request(
            base,
            "POST",
            "/api/v1/auth/mfa/enroll",
            {
                "enrollment_token": accepted["enrollment_token"],
                "totp_code": totp(accepted["totp_secret"]),
                "device_name": "Schemathesis",
                "transport": "bearer",
            },
        ),
    )
    return signed["token"]


def main():
    base, link = sys.argv[1].rstrip("/"), sys.argv[2]
    admin = staff(base, link, "admin@schemathesis.example")
    invite = expect(
        "inviting a clinician",
        201,
        request(base, "POST", "/api/v1/invites", {"role": "clinician"}, admin),
    )
    clinician = staff(base, invite["link"], "clinician@schemathesis.example")
    invite = expect(
        "inviting a client",
        201,
        request(base, "POST", "/api/v1/invites", {"role": "client"}, admin),
    )
    client = expect(
        "accepting the client invite",
        201,
        request(
            base,
            "POST",
            "/api/v1/invites/accept",
            {
                "token": invite["link"].split("#", 1)[1],
                "login": "client@schemathesis.example",
                "display_name": "Client",
                "password": "a long schemathesis client passphrase",
                "device_name": "Phone",
                "transport": "bearer",
            },
        ),
    )
    clinician_me = expect("who the clinician is", 200, request(base, "GET", "/api/v1/me", token=clinician))
    expect(
        "assigning the client",
        204,
        request(
            base,
            "POST",
            "/api/v1/assignments",
            {"staff_user_id": clinician_me["user_id"], "client_user_id": client["user_id"]},
            admin,
        ),
    )
    conversation = expect(
        "starting the conversation",
        201,
        request(base, "POST", "/api/v1/conversations", {"with_user_id": client["user_id"]}, clinician),
    )
    print(f"ADMIN_TOKEN={admin}")
    print(f"CLINICIAN_TOKEN={clinician}")
    print(f"CLIENT_USER_ID={client['user_id']}")
    print(f"CONVERSATION_ID={conversation['id']}")


if __name__ == "__main__":
    main()
