"""Guest side of the system test (tests/system/run): the public API checks that need a live
WebSocket (the live-socket rule, docs/api.md), using the integration tests' standard-library
client (tests/integration/harness.py, carried in beside this file).

  python3 guest-api.py image   an account uploads a PNG; exits 0 when it reaches "ready"
  python3 guest-api.py bots    a local bot is listed by GET /api/v1/bots
  python3 guest-api.py kept    the account made by "image" still exists and logs in
  python3 guest-api.py snapshot FILE   prints the snapshot id of a `backup.run wait=true` answer
  python3 guest-api.py drilled ID      `backup.status` on stdin: the drill of snapshot ID passed
"""

import json
import os
import struct
import sys
import time
import zlib

from harness import Api

PORT = int(os.environ.get("PARLEY_PORT", "8080"))
USER = "systemtest"


def png(w=64, h=64):
    raw = b"".join(b"\x00" + bytes(v for x in range(w) for v in (x * 4, y * 4, 128)) for y in range(h))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def connected(api):
    status, _, _ = api.call("POST", "/api/v1/accounts", {"username": USER, "password": "correct horse"})
    assert status in (201, 409), status
    return api.connected(USER, register=False)


def image(api):
    session, ws = connected(api)
    token = session["access_token"]
    status, _, body = api.call("POST", "/api/v1/media", token=token, raw_body=png())
    print("upload:", status, body, file=sys.stderr)
    if status != 202:
        return False
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        status, _, info = api.call("GET", f"/api/v1/media/{body['content_id']}/info", token=token)
        if status == 200 and info.get("state") != "processing":
            print("info:", info, file=sys.stderr)
            return info.get("state") == "ready"
        time.sleep(1)
    ws.close()
    return False


def bots(api):
    session, ws = connected(api)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status, _, body = api.call("GET", "/api/v1/bots", token=session["access_token"])
        if status == 200 and any(b.get("kind") == "local" for b in body.get("bots", [])):
            print("bots:", body, file=sys.stderr)
            return True
        time.sleep(1)
    ws.close()
    return False


def kept(api):
    status, _, body = api.call("POST", "/api/v1/accounts", {"username": USER, "password": "correct horse"})
    print("register again:", status, body, file=sys.stderr)
    if status != 409:
        return False
    session, ws = api.connected(USER, register=False)
    status, _, body = api.call("GET", "/api/v1/media", token=session["access_token"])
    print("media:", status, body, file=sys.stderr)
    ws.close()
    return status == 200 and any(m.get("state") == "ready" for m in body.get("media", []))


def manager_answer(text):
    """The JSON answer `parley manager-api` printed (pretty-printed, possibly followed by a line)."""
    return json.loads(text[:text.rindex("}") + 1])


def snapshot(path):
    """Prints the snapshot id of a finished `backup.run wait=true` answer that sent media."""
    with open(path) as f:
        answer = manager_answer(f.read())
    result = answer.get("result", {})
    if not answer.get("ok") or result.get("state") != "done" or result["media"]["sent_files"] < 1:
        print("backup.run:", answer, file=sys.stderr)
        return False
    print(result["snapshot"])
    return True


def drilled(snapshot_id):
    """`backup.status` on stdin: the restore drill of this snapshot passed."""
    drill = manager_answer(sys.stdin.read()).get("result", {}).get("last_drill") or {}
    print("last_drill:", drill, file=sys.stderr)
    return drill.get("snapshot") == snapshot_id and drill.get("ok") is True


if __name__ == "__main__":
    if sys.argv[1] == "snapshot":
        sys.exit(0 if snapshot(sys.argv[2]) else 1)
    if sys.argv[1] == "drilled":
        sys.exit(0 if drilled(sys.argv[2]) else 1)
    ok = {"image": image, "bots": bots, "kept": kept}[sys.argv[1]](Api(PORT))
    sys.exit(0 if ok else 1)
