"""Media over HTTP and WebSocket with the real image child: uploads of real images in several
formats (generated here with libvips' `vips` command), EXIF orientation, metadata stripped,
refusals (truncated, a decompression bomb, random bytes, text named .jpg, too small, too
large), the quota, a killed and a hung child (restarted, the server keeps serving), ETag and
Cache-Control, who may see an image (the owner; an avatar follows its profile), listing and
deleting one's images (files shared by the same content stay until the last record goes), and an
upload onto a full disk (refused with the system's reason, no partial file, the next one works)."""

import os
import random
import re
import shutil
import signal
import sqlite3
import struct
import subprocess
import tempfile
import time
import unittest
import zlib

import base64
import json

from harness import BINARY, FAST_AUTH, Api, ParleyTestCase, wait_until

VIPS = shutil.which("vips") or "/usr/bin/vips"

MEDIA = """
[media]
max_upload_bytes = 2000000
restart_backoff_ms = 50
restart_backoff_max_ms = 200
"""


def vips(*args):
    subprocess.run([VIPS, *map(str, args)], check=True, capture_output=True, timeout=60)


class Images:
    """Test images made in a temporary directory."""

    def __init__(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="parley-media-images-")

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def make(self, name, width, height, bands=3):
        """A width x height image with some structure, in the format of name's suffix."""
        base = self.path(f"base-{width}x{height}-{bands}.v")
        if not os.path.exists(base):
            xyz = self.path("xyz.v")
            vips("xyz", xyz, width, height)
            vips("extract_band", xyz, self.path("x.v"), 0)
            joined = self.path("joined.v")
            vips("bandjoin", f"{self.path('x.v')} {self.path('x.v')} {self.path('x.v')}", joined)
            vips("extract_band", joined, self.path("banded.v"), 0, "--n", bands)
            vips("cast", self.path("banded.v"), base, "uchar")
        out = self.path(name)
        vips("copy", base, out)
        return self.read(name)

    def read(self, name):
        with open(self.path(name), "rb") as f:
            return f.read()


def with_exif_orientation(jpeg, orientation):
    """The JPEG with an APP1 Exif segment holding only an Orientation tag, after SOI."""
    tiff = b"MM\x00\x2a\x00\x00\x00\x08" + struct.pack(">H", 1)
    tiff += struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0) + struct.pack(">I", 0)
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    assert jpeg[:2] == b"\xff\xd8"
    return jpeg[:2] + app1 + jpeg[2:]


def png_bomb(width, height):
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's header)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 65536)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def jpeg_size(data):
    """(width, height) from a JPEG's SOF marker."""
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            h, w = struct.unpack(">HH", data[i + 5:i + 9])
            return w, h
        i += 2 + length
    raise AssertionError("no SOF marker")


class MediaTestBase(ParleyTestCase):
    config = FAST_AUTH + MEDIA

    @classmethod
    def setUpClass(cls):
        cls.images = Images()

    @classmethod
    def tearDownClass(cls):
        cls.images.tmp.cleanup()

    def setUp(self):
        super().setUp()
        self.server = self.start("server", config=self.config)
        self.api = Api(self.server.port)
        self.server.wait_log("imageproc child pid", timeout=15)

    def upload(self, token, data, expect=202):
        status, headers, body = self.api.call("POST", "/api/v1/media", token=token, raw_body=data,
                                              headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(status, expect, body)
        return body

    def processed(self, ws, content_id, timeout=30):
        return ws.recv_until(lambda m: m.get("type") == "media" and m.get("content_id") == content_id,
                             timeout=timeout)

    def upload_and_wait(self, token, ws, data):
        body = self.upload(token, data)
        self.assertEqual(body["state"], "processing")
        return self.processed(ws, body["content_id"])

    def child_pids(self):
        return [int(p) for p in re.findall(r"imageproc child started: pid (\d+)", self.server.log())]


class MediaTest(MediaTestBase):
    def test_formats_are_fitted_thumbnailed_and_stripped(self):
        s, ws = self.api.connected("alice")
        token = s["access_token"]
        cases = [("big.png", 3000, 1000, "png", (1920, 640), (256, 85)),
                 ("small.jpg", 400, 300, "jpeg", (400, 300), (256, 192)),
                 ("w.webp", 500, 1000, "webp", (500, 1000), (128, 256)),
                 ("g.gif", 300, 300, "gif", (300, 300), (256, 256))]
        for name, w, h, fmt, size, thumb in cases:
            with self.subTest(name):
                event = self.upload_and_wait(token, ws, self.images.make(name, w, h))
                self.assertEqual(event["state"], "ready", event)
                self.assertEqual(event["format"], fmt)
                self.assertEqual((event["width"], event["height"]), size)
                self.assertEqual((event["thumbnail"]["width"], event["thumbnail"]["height"]), thumb)
                cid = event["content_id"]
                status, headers, data = self.api.call("GET", f"/api/v1/media/{cid}", token=token)
                self.assertEqual(status, 200)
                self.assertEqual(headers["content-type"], "image/jpeg")
                self.assertEqual(jpeg_size(data), size)
                status, _, tdata = self.api.call("GET", f"/api/v1/media/{cid}/thumbnail", token=token)
                self.assertEqual(status, 200)
                self.assertEqual(jpeg_size(tdata), thumb)
                status, _, info = self.api.call("GET", f"/api/v1/media/{cid}/info", token=token)
                self.assertEqual(status, 200)
                self.assertEqual(info["state"], "ready")
                self.assertEqual(info["bytes"], len(data))
        # Content-addressed files under data/media/<aa>/<sha256>.jpg; no upload left behind.
        media_dir = os.path.join(self.server.data_dir, "media")
        stored = [f for d in os.listdir(media_dir) if len(d) == 2
                  for f in os.listdir(os.path.join(media_dir, d))]
        self.assertEqual(len(stored), 2 * len(cases))
        self.assertEqual(os.listdir(os.path.join(media_dir, "uploads")), [])

    def test_animated_gif_gives_its_first_frame(self):
        s, ws = self.api.connected("gwen")
        anim = self.images.path("anim.gif")
        # Three 300x200 frames: red, green, blue. Only the first (red) may come out.
        subprocess.run(["convert", "-delay", "10", "-size", "300x200", "xc:#ff0000", "xc:#00ff00",
                        "xc:#0000ff", "-loop", "0", anim], check=True, capture_output=True, timeout=60)
        event = self.upload_and_wait(s["access_token"], ws, self.images.read("anim.gif"))
        self.assertEqual(event["state"], "ready", event)
        self.assertEqual((event["format"], event["width"], event["height"]), ("gif", 300, 200))
        status, _, data = self.api.call("GET", f"/api/v1/media/{event['content_id']}", token=s["access_token"])
        self.assertEqual(jpeg_size(data), (300, 200), "one frame, not the pages stacked")
        out = self.images.path("anim-out.jpg")
        with open(out, "wb") as f:
            f.write(data)
        pixel = subprocess.run([VIPS, "getpoint", out, "150", "100"], check=True, capture_output=True,
                               text=True, timeout=60).stdout.split()
        r, g, b = (float(v) for v in pixel[:3])
        self.assertGreater(r, 200)
        self.assertLess(max(g, b), 60)

    def test_exif_orientation_applied_and_metadata_removed(self):
        s, ws = self.api.connected("olive")
        token = s["access_token"]
        jpeg = with_exif_orientation(self.images.make("landscape.jpg", 600, 400), 6)
        self.assertIn(b"Exif\x00\x00", jpeg)
        event = self.upload_and_wait(token, ws, jpeg)
        self.assertEqual(event["state"], "ready", event)
        self.assertEqual((event["width"], event["height"]), (400, 600), "rotated upright")
        _, _, data = self.api.call("GET", f"/api/v1/media/{event['content_id']}", token=token)
        self.assertEqual(jpeg_size(data), (400, 600))
        self.assertNotIn(b"Exif", data, "no EXIF in the output")
        self.assertNotIn(b"ICC_PROFILE", data)

    def test_bad_inputs_fail_with_clear_errors(self):
        s, ws = self.api.connected("bob")
        token = s["access_token"]
        full = self.images.make("full.jpg", 800, 600)
        rng = random.Random(5)
        cases = [
            ("truncated JPEG", full[: len(full) // 2], "corrupt"),
            ("decompression bomb", png_bomb(100_000, 100_000), "too_many_pixels"),
            ("random bytes", bytes(rng.getrandbits(8) for _ in range(20000)), "not_an_image"),
            ("text called .jpg", b"this is a text file, not a picture\n" * 20, "not_an_image"),
            ("too small", self.images.make("tiny.png", 8, 8), "too_small"),
        ]
        for what, data, code in cases:
            with self.subTest(what):
                event = self.upload_and_wait(token, ws, data)
                self.assertEqual(event["state"], "failed", event)
                self.assertEqual(event["error"], code, event)
                self.assertTrue(event["message"])
                status, _, body = self.api.call("GET", f"/api/v1/media/{event['content_id']}", token=token)
                self.assertEqual(status, 409)
        # The server and the child still work.
        event = self.upload_and_wait(token, ws, self.images.make("ok.jpg", 100, 100))
        self.assertEqual(event["state"], "ready")
        self.assertEqual(len(self.child_pids()), 1, "bad images do not cost a child restart")

    def test_upload_limits(self):
        s, ws = self.api.connected("carol")
        token = s["access_token"]
        body = self.upload(token, b"\x00" * 2_000_001, expect=413)
        self.assertEqual(body["error"], "too_large")
        body = self.upload(token, b"", expect=400)
        self.assertEqual(body["error"], "bad_request")
        status, _, body = self.api.call("POST", "/api/v1/media", raw_body=b"x")
        self.assertEqual(status, 401)

    def test_etag_cache_control_and_visibility(self):
        a, wa = self.api.connected("anna")
        b, wb = self.api.connected("ben")
        c, wc = self.api.connected("cleo")
        event = self.upload_and_wait(a["access_token"], wa, self.images.make("face.jpg", 300, 300))
        cid = event["content_id"]
        path = f"/api/v1/media/{cid}"
        status, headers, _ = self.api.call("GET", path, token=a["access_token"])
        self.assertEqual(status, 200)
        etag = headers["etag"]
        self.assertEqual(etag, f'"{event["etag"]}"')
        self.assertIn("private", headers["cache-control"])
        status, _, _ = self.api.call("GET", path, token=a["access_token"], headers={"If-None-Match": etag})
        self.assertEqual(status, 304)
        # Not an avatar: only the owner sees it.
        for suffix in ("", "/thumbnail", "/info"):
            status, _, body = self.api.call("GET", path + suffix, token=b["access_token"])
            self.assertEqual(status, 404, suffix)
        # Only one's own, processed image can be an avatar.
        status, _, body = self.api.call("PUT", "/api/v1/profiles/me", {"avatar": cid}, token=b["access_token"])
        self.assertEqual(status, 400, body)
        status, _, body = self.api.call("PUT", "/api/v1/profiles/me", {"avatar": "nosuchid"}, token=a["access_token"])
        self.assertEqual(status, 400, body)
        status, _, body = self.api.call("PUT", "/api/v1/profiles/me", {"avatar": cid}, token=a["access_token"])
        self.assertEqual(status, 200, body)
        # An avatar of a public profile: everyone.
        status, _, _ = self.api.call("GET", path + "/thumbnail", token=b["access_token"])
        self.assertEqual(status, 200)
        # The token may come in the query, for <img src>.
        status, _, _ = self.api.call("GET", f"{path}?token={b['access_token']}")
        self.assertEqual(status, 200)
        # Private profile: room-mates only.
        self.api.call("PUT", "/api/v1/profiles/me", {"visibility": "private"}, token=a["access_token"])
        status, _, _ = self.api.call("GET", path, token=b["access_token"])
        self.assertEqual(status, 404)
        db = sqlite3.connect(os.path.join(self.server.data_dir, "db", "current.db"), timeout=10)
        now = int(time.time() * 1000)
        db.execute("INSERT INTO rooms(id, kind, title, created_by, created_at) VALUES ('r1', 'group', 't', ?, ?)",
                   (a["account_id"], now))
        for acc in (a["account_id"], c["account_id"]):
            db.execute("INSERT INTO members(room_id, account_id, role, joined_at) VALUES ('r1', ?, 'member', ?)", (acc, now))
        db.commit()
        db.close()
        status, _, _ = self.api.call("GET", path, token=c["access_token"])
        self.assertEqual(status, 200, "a room-mate sees a private profile's avatar")
        status, _, _ = self.api.call("GET", path + "/info", token=b["access_token"])
        self.assertEqual(status, 404)


class MediaQuotaTest(MediaTestBase):
    config = FAST_AUTH + MEDIA + "quota_bytes = 8000\n"

    def test_quota(self):
        s, ws = self.api.connected("dora")
        token = s["access_token"]
        body = self.upload(token, os.urandom(9000), expect=403)
        self.assertEqual(body["error"], "quota_exceeded")
        used = 0
        for i in range(20):
            data = self.images.make(f"q{i}.jpg", 64 + i, 64)
            status, _, body = self.api.call("POST", "/api/v1/media", token=token, raw_body=data)
            if status == 403:
                self.assertEqual(body["error"], "quota_exceeded")
                break
            self.assertEqual(status, 202, body)
            event = self.processed(ws, body["content_id"])
            self.assertEqual(event["state"], "ready")
            used += event["bytes"] + event["thumbnail"]["bytes"]
        else:
            self.fail("the quota never applied")
        self.assertLessEqual(used, 8000)
        # Another account has its own quota.
        s2, ws2 = self.api.connected("emil")
        event = self.upload_and_wait(s2["access_token"], ws2, self.images.make("e.jpg", 64, 64))
        self.assertEqual(event["state"], "ready")
        # Deleting an image frees its space: the refused upload now passes.
        status, _, page = self.api.call("GET", "/api/v1/media", token=token)
        self.assertEqual(page["usage_bytes"], used)
        self.assertEqual(page["quota_bytes"], 8000)
        for victim in page["media"]:
            status, _, body = self.api.call("DELETE", f"/api/v1/media/{victim['content_id']}", token=token)
            self.assertEqual(status, 200, body)
            self.assertEqual(body["freed_bytes"], victim["bytes"] + victim["thumbnail"]["bytes"])
            used -= body["freed_bytes"]
            self.assertEqual(body["usage_bytes"], used)
        self.assertEqual(used, 0)
        event = self.upload_and_wait(token, ws, data)
        self.assertEqual(event["state"], "ready")


class MediaInMessagesTest(MediaTestBase):
    def room(self, owner, members=(), **extra):
        body = {"title": "pictures", "kind": "group", "members": list(members), **extra}
        status, _, r = self.api.call("POST", "/api/v1/rooms", body, token=owner["access_token"])
        self.assertEqual(status, 201, r)
        return r["room_id"]

    def test_an_image_in_a_message_is_seen_by_the_room_only(self):
        a, wa = self.api.connected("kim")
        b, wb = self.api.connected("lou")
        c, wc = self.api.connected("max")
        token = a["access_token"]
        photo = self.upload_and_wait(token, wa, self.images.make("photo.jpg", 320, 240))
        cid = photo["content_id"]
        rid = self.room(a, [b["account_id"]])
        path = f"/api/v1/media/{cid}/thumbnail"
        status, _, _ = self.api.call("GET", path, token=b["access_token"])
        self.assertEqual(status, 404, "not posted yet")

        # Over HTTP with a caption; over the socket alone (no text).
        status, _, sent = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                        {"text": "the view", "media": cid, "client_msg_id": "p1"}, token=token)
        self.assertEqual(status, 200, sent)
        wa.send_json({"type": "send", "id": 7, "room_id": rid, "media": cid, "client_msg_id": "p2"})
        self.assertEqual(wa.recv_until(lambda m: m.get("id") == 7)["type"], "ok")
        _, _, hist = self.api.call("GET", f"/api/v1/rooms/{rid}/messages", token=b["access_token"])
        self.assertEqual([(m["text"], m.get("media")) for m in hist["messages"]], [("the view", cid), ("", cid)])
        _, _, doc = self.api.call("GET", f"/api/v1/rooms/{rid}", token=b["access_token"])
        self.assertEqual([m.get("media") for m in doc["document"]["messages"]], [cid, cid])
        for suffix in ("/thumbnail", "", "/info"):
            status, _, _ = self.api.call("GET", f"/api/v1/media/{cid}{suffix}", token=b["access_token"])
            self.assertEqual(status, 200, f"a room member sees it ({suffix})")
        status, _, _ = self.api.call("GET", path, token=c["access_token"])
        self.assertEqual(status, 404, "someone outside the room does not")

        # Refused: someone else's image, an unknown one, one still processing, a failed one,
        # and neither text nor image.
        other = self.upload_and_wait(c["access_token"], wc, self.images.make("max.jpg", 100, 100))
        failed = self.upload_and_wait(token, wa, b"not a picture")
        refusals = [({"media": other["content_id"]}, "your own image"), ({"media": "nosuchimage"}, "your own image"),
                    ({"media": failed["content_id"]}, "finished processing"), ({"media": 5}, "content id"),
                    ({"text": ""}, "empty")]
        for i, (extra, why) in enumerate(refusals):
            status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                         {"client_msg_id": f"x{i}", **extra}, token=token)
            self.assertEqual((status, r["error"]), (400, "bad_request"), extra)
            self.assertIn(why, r["message"])
        pid = self.child_pids()[-1]
        os.kill(pid, signal.SIGSTOP)
        try:
            slow = self.upload(token, self.images.make("slow.jpg", 90, 90))
            status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                         {"media": slow["content_id"], "client_msg_id": "x9"}, token=token)
            self.assertEqual((status, r["error"]), (400, "bad_request"))
        finally:
            os.kill(pid, signal.SIGCONT)

        # Removing the messages takes the right to see it away again.
        for seq in (1, 2):
            status, _, r = self.api.call("DELETE", f"/api/v1/rooms/{rid}/messages/{seq}", token=token)
            self.assertEqual(status, 200, r)
        status, _, _ = self.api.call("GET", path, token=b["access_token"])
        self.assertEqual(status, 404)

    def test_signed_image_message_covers_the_content_id(self):
        a, wa = self.api.connected("ned")
        token = a["access_token"]
        cid = self.upload_and_wait(token, wa, self.images.make("signed.jpg", 120, 90))["content_id"]
        other = self.upload_and_wait(token, wa, self.images.make("other.jpg", 130, 90))["content_id"]
        with tempfile.TemporaryDirectory() as tmp:
            key = os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "genpkey", "-algorithm", "ed25519", "-out", key], check=True, capture_output=True)
            der = subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-outform", "DER"], check=True,
                                 capture_output=True).stdout
            rid = self.room(a, require_signatures=True)
            status, _, _ = self.api.call("POST", f"/api/v1/rooms/{rid}/join",
                                         {"public_key": base64.b64encode(der[-32:]).decode()}, token=token)
            self.assertEqual(status, 200)

            def sign(text, media):
                data = f"parley-message-v1\n{rid}\n{a['account_id']}\nm1\n{text}\n{media}".encode()
                msg = os.path.join(tmp, "msg")
                with open(msg, "wb") as f:
                    f.write(data)
                out = subprocess.run(["openssl", "pkeyutl", "-sign", "-inkey", key, "-rawin", "-in", msg],
                                     check=True, capture_output=True).stdout
                return base64.b64encode(out).decode()

            body = {"text": "signed picture", "media": cid, "client_msg_id": "m1"}
            # A signature over another image (the server could not swap the picture unnoticed).
            status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                         dict(body, signature=sign("signed picture", other)), token=token)
            self.assertEqual((status, r["error"]), (400, "invalid_signature"))
            status, _, r = self.api.call("POST", f"/api/v1/rooms/{rid}/messages",
                                         dict(body, signature=sign("signed picture", cid)), token=token)
            self.assertEqual(status, 200, r)


class MediaDeleteTest(MediaTestBase):
    def stored(self, sha):
        return os.path.exists(os.path.join(self.server.data_dir, "media", sha[:2], sha + ".jpg"))

    def test_list_pages_and_delete(self):
        s, ws = self.api.connected("hana")
        token = s["access_token"]
        same = self.images.make("same.jpg", 200, 150)
        first = self.upload_and_wait(token, ws, same)
        twin = self.upload_and_wait(token, ws, same)  # the same content: stored once
        other = self.upload_and_wait(token, ws, self.images.make("other.png", 180, 120))
        failed = self.upload_and_wait(token, ws, b"not a picture at all")
        self.assertEqual(twin["etag"], first["etag"])
        self.assertEqual(failed["state"], "failed")
        # Newest first, two a page, no gaps or repeats; nobody else's.
        b, wb = self.api.connected("ivan")
        self.upload_and_wait(b["access_token"], wb, self.images.make("ivan.jpg", 100, 100))
        seen, cursor = [], None
        while True:
            query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
            status, _, page = self.api.call("GET", "/api/v1/media" + query, token=token)
            self.assertEqual(status, 200, page)
            seen += [m["content_id"] for m in page["media"]]
            cursor = page["next"]
            if cursor is None:
                break
        self.assertEqual(seen, [e["content_id"] for e in (failed, other, twin, first)])
        for bad in ("?limit=0", "?limit=201", "?limit=x", "?cursor=nonsense", "?cursor=12."):
            status, _, body = self.api.call("GET", "/api/v1/media" + bad, token=token)
            self.assertEqual((status, body["error"]), (400, "bad_request"), bad)

        # One of two records of the same content: the file stays for the other.
        status, _, body = self.api.call("DELETE", f"/api/v1/media/{first['content_id']}", token=token)
        self.assertEqual(status, 200, body)
        deleted = ws.recv_until(lambda m: m.get("type") == "media" and m.get("state") == "deleted")
        self.assertEqual(deleted["content_id"], first["content_id"])
        self.assertTrue(self.stored(first["etag"]))
        status, _, _ = self.api.call("GET", f"/api/v1/media/{first['content_id']}/info", token=token)
        self.assertEqual(status, 404)
        status, _, body = self.api.call("DELETE", f"/api/v1/media/{first['content_id']}", token=token)
        self.assertEqual(status, 404, "deleted once only")
        status, _, _ = self.api.call("GET", f"/api/v1/media/{twin['content_id']}", token=token)
        self.assertEqual(status, 200)
        # The last record of it: both files go.
        status, _, body = self.api.call("DELETE", f"/api/v1/media/{twin['content_id']}", token=token)
        self.assertEqual(status, 200, body)
        self.assertFalse(self.stored(twin["etag"]))
        self.assertFalse(self.stored(twin["thumbnail"]["etag"]))
        self.server.wait_log(f"media {twin['content_id']} of account {s['account_id']}: deleted")
        # A failed one frees nothing but goes from the list.
        status, _, body = self.api.call("DELETE", f"/api/v1/media/{failed['content_id']}", token=token)
        self.assertEqual((status, body["freed_bytes"]), (200, 0))

        # Someone else's: unknown unless visible; an avatar they see is forbidden to delete.
        path = f"/api/v1/media/{other['content_id']}"
        status, _, body = self.api.call("DELETE", path, token=b["access_token"])
        self.assertEqual((status, body["error"]), (404, "not_found"))
        status, _, body = self.api.call("PUT", "/api/v1/profiles/me", {"avatar": other["content_id"]}, token=token)
        self.assertEqual(status, 200, body)
        status, _, body = self.api.call("DELETE", path, token=b["access_token"])
        self.assertEqual((status, body["error"]), (403, "forbidden"))
        # One's own avatar: set another (or none) first.
        status, _, body = self.api.call("DELETE", path, token=token)
        self.assertEqual((status, body["error"]), (409, "conflict"))
        self.assertIn("avatar", body["message"])
        self.api.call("PUT", "/api/v1/profiles/me", {"avatar": None}, token=token)
        status, _, body = self.api.call("DELETE", path, token=token)
        self.assertEqual(status, 200, body)
        status, _, page = self.api.call("GET", "/api/v1/media", token=token)
        self.assertEqual((page["media"], page["next"], page["usage_bytes"]), ([], None, 0))

    def test_processing_is_not_deleted_and_unnamed_files_go_at_restart(self):
        s, ws = self.api.connected("jules")
        token = s["access_token"]
        wait_until(lambda: "ready" in self.server.log(), what="child ready")
        pid = self.child_pids()[-1]
        os.kill(pid, signal.SIGSTOP)
        try:
            body = self.upload(token, self.images.make("slow.jpg", 120, 120))
            status, _, refusal = self.api.call("DELETE", f"/api/v1/media/{body['content_id']}", token=token)
            self.assertEqual((status, refusal["error"]), (409, "conflict"))
            self.assertIn("processed", refusal["message"])
        finally:
            os.kill(pid, signal.SIGCONT)
        self.assertEqual(self.processed(ws, body["content_id"])["state"], "ready")
        # A file no record names (a crash between deleting a record and its files) goes at the
        # next start; files that are not media files are left alone.
        media = os.path.join(self.server.data_dir, "media")
        orphan = os.path.join(media, "ab", "ab" + "0" * 62 + ".jpg")
        stranger = os.path.join(media, "ab", "notes.txt")
        os.makedirs(os.path.dirname(orphan), exist_ok=True)
        for path in (orphan, stranger):
            with open(path, "wb") as f:
                f.write(b"x")
        self.server.stop()
        again = self.start("server", config=self.config, data_dir=self.server.data_dir, port=self.server.port)
        again.wait_log("removed 1 stored files that no record names")
        self.assertFalse(os.path.exists(orphan))
        self.assertTrue(os.path.exists(stranger))
        api = Api(again.port)
        s2, _ = api.connected("jules", register=False)
        status, _, _ = api.call("GET", f"/api/v1/media/{body['content_id']}", token=s2["access_token"])
        self.assertEqual(status, 200, "the named files stayed")


class MediaChildFailureTest(MediaTestBase):
    config = FAST_AUTH + MEDIA + "request_timeout_ms = 1500\n"

    def wait_ready_child(self, count):
        wait_until(lambda: len(re.findall(r"imageproc child pid \d+ ready", self.server.log())) >= count,
                   timeout=30, what=f"{count} imageproc children ready")
        return self.child_pids()[-1]

    def test_child_killed_mid_request_and_hung_child(self):
        s, ws = self.api.connected("fred")
        token = s["access_token"]
        image = self.images.make("k.jpg", 500, 500)
        # Killed: stop the child so the request is surely in it, then kill it.
        pid = self.wait_ready_child(1)
        os.kill(pid, signal.SIGSTOP)
        body = self.upload(token, image)
        self.server.wait_log("accepted, processing")
        time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)
        event = self.processed(ws, body["content_id"])
        self.assertEqual(event["state"], "failed")
        self.assertEqual(event["error"], "child_failed")
        # A new child takes the next image; the server kept serving meanwhile.
        pid2 = self.wait_ready_child(2)
        self.assertNotEqual(pid, pid2)
        event = self.upload_and_wait(token, ws, image)
        self.assertEqual(event["state"], "ready")

        # Hung: a stopped child times the request out; it is killed and replaced.
        os.kill(pid2, signal.SIGSTOP)
        started = time.monotonic()
        body = self.upload(token, image)
        status, _, health = self.api.call("GET", "/api/v1/health")
        self.assertEqual(status, 200)
        event = self.processed(ws, body["content_id"])
        self.assertEqual(event["error"], "timeout")
        self.assertGreaterEqual(time.monotonic() - started, 1.0)
        pid3 = self.wait_ready_child(3)
        self.assertNotIn(pid3, (pid, pid2))
        event = self.upload_and_wait(token, ws, image)
        self.assertEqual(event["state"], "ready")
        self.assertFalse(os.path.exists(f"/proc/{pid2}/status") and
                         "zombie" not in open(f"/proc/{pid2}/status").read(), "the hung child is gone")


class MediaFullDiskTest(MediaTestBase):
    """An upload onto a data directory whose file system is full (a real tmpfs, so root only)."""

    def setUp(self):
        self.mount = tempfile.mkdtemp(prefix="parley-full-disk-")
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", self.mount],
                                 capture_output=True)
        if mounted.returncode != 0:
            os.rmdir(self.mount)
            raise unittest.SkipTest("cannot mount a tmpfs here (needs root)")
        # Cleanups run after tearDown(), once the server has stopped.
        self.addCleanup(os.rmdir, self.mount)
        self.addCleanup(subprocess.run, ["umount", self.mount])
        ParleyTestCase.setUp(self)
        self.server = self.start("server", config=self.config,
                                 data_dir=os.path.join(self.mount, "data"))
        self.api = Api(self.server.port)
        self.server.wait_log("imageproc child pid", timeout=15)

    def fill_disk(self, leave):
        """Fills the file system but for `leave` bytes; the filler's path."""
        st = os.statvfs(self.mount)
        filler = os.path.join(self.mount, "filler")
        with open(filler, "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
        return filler

    def media_files(self):
        out = []
        for root, _, files in os.walk(os.path.join(self.mount, "data", "media")):
            out += [os.path.join(root, f) for f in files if f != "imageproc.toml"]
        return sorted(out)

    def test_an_upload_on_a_full_disk_leaves_nothing_and_the_next_one_works(self):
        s, ws = self.api.connected("dora")
        token = s["access_token"]
        filler = self.fill_disk(leave=300_000)
        status, _, body = self.api.call("POST", "/api/v1/media", token=token,
                                        raw_body=os.urandom(1_000_000),
                                        headers={"Content-Type": "application/octet-stream"})
        # The server's disk, not the request: 507, never a 400.
        self.assertEqual(status, 507, body)
        self.assertEqual(body.get("error"), "insufficient_storage", body)
        # The partial spool file goes with the request.
        wait_until(lambda: self.media_files() == [], timeout=10, what="no partial media file")
        status, _, body = self.api.call("GET", "/api/v1/media", token=token)
        self.assertEqual(status, 200, body)
        self.assertEqual(body["media"], [], body)
        self.assertEqual(body["usage_bytes"], 0, body)
        # Space again: the server did not need a restart.
        os.remove(filler)
        event = self.upload_and_wait(token, ws, self.images.make("after.jpg", 120, 90))
        self.assertEqual(event["state"], "ready", event)


class ImageprocChildTest(unittest.TestCase):
    """parley imageproc alone, on its stdin and stdout."""

    def frame(self, kind, payload):
        return b"PX\x01" + bytes([kind]) + struct.pack(">I", len(payload)) + payload

    def read_frame(self, f):
        header = f.read(8)
        self.assertEqual(header[:3], b"PX\x01")
        return header[3], json.loads(f.read(struct.unpack(">I", header[4:])[0]))

    def test_paths_outside_media_and_protocol_errors(self):
        with tempfile.TemporaryDirectory() as data:
            child = subprocess.Popen([BINARY, "imageproc", "--data-dir", data], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                kind, hello = self.read_frame(child.stdout)
                self.assertEqual((kind, hello["version"]), (1, 1))
                media = os.path.join(data, "media")
                req = {"id": 3, "op": "process", "input": "/etc/passwd", "output": f"{media}/o.jpg",
                       "thumbnail": f"{media}/t.jpg", "max_side": 1920, "thumb_side": 256, "min_side": 16,
                       "quality": 85, "max_pixels": 1000000}
                child.stdin.write(self.frame(2, json.dumps(req).encode()))
                child.stdin.flush()
                kind, answer = self.read_frame(child.stdout)
                self.assertEqual((answer["id"], answer["ok"], answer["error"]), (3, False, "bad_request"))
                req.update(id=4, input=f"{media}/in", quality=0)
                child.stdin.write(self.frame(2, json.dumps(req).encode()))
                child.stdin.flush()
                kind, answer = self.read_frame(child.stdout)
                self.assertEqual((answer["id"], answer["error"]), (4, "bad_request"))
                # A frame over the limit ends the child: the stream is out of step.
                child.stdin.write(b"PX\x01\x02" + struct.pack(">I", 1 << 30))
                child.stdin.flush()
                self.assertEqual(child.wait(timeout=10), 2)
                self.assertIn(b"over the limit", child.stderr.read())
            finally:
                child.kill()
                child.wait()


class MediaRestartTest(MediaTestBase):
    def test_upload_in_processing_survives_a_restart(self):
        s, ws = self.api.connected("gina")
        image = self.images.make("r.jpg", 300, 200)
        pid = self.child_pids()[-1]
        wait_until(lambda: "ready" in self.server.log(), what="child ready")
        os.kill(pid, signal.SIGSTOP)  # the upload stays `processing`
        body = self.upload(s["access_token"], image)
        self.server.wait_log("accepted, processing")
        status, _, info = self.api.call("GET", f"/api/v1/media/{body['content_id']}/info", token=s["access_token"])
        self.assertEqual(info["state"], "processing")
        status, _, metrics = self.api.call("GET", "/metrics")
        self.assertIn(b"parley_imageproc_up 1", metrics)
        self.server.stop()
        self.assertFalse(os.path.exists(f"/proc/{pid}/cmdline") and open(f"/proc/{pid}/cmdline", "rb").read(),
                         "the child ended with the server")
        again = self.start("server", config=self.config, data_dir=self.server.data_dir, port=self.server.port)
        again.wait_log("processing again after a restart")
        api = Api(again.port)
        s2, ws2 = api.connected("gina", register=False)
        def ready():
            _, _, info = api.call("GET", f"/api/v1/media/{body['content_id']}/info", token=s2["access_token"])
            return info["state"] == "ready" and info
        info = wait_until(ready, timeout=20, what="the resumed upload processed")
        self.assertEqual((info["width"], info["height"]), (300, 200))
        self.assertEqual(os.listdir(os.path.join(again.data_dir, "media", "uploads")), [])


if __name__ == "__main__":
    unittest.main()
