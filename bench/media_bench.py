#!/usr/bin/env python3
"""Image processing of a 4000x3000 JPEG, side by side in one run:

  child         parley imageproc alone: one request on its stdin to the answer on its stdout
                (decode once with shrink-on-load, fit 1920x1920, thumbnail 256 from the reduced
                image, JPEG Q85 without metadata, both files written and fsynced)
  vipsthumbnail the reference: two vipsthumbnail runs making the same two outputs
  convert       ImageMagick (/usr/bin/convert), one command writing both outputs
  whole path    POST /api/v1/media to the `media` event with state `ready` (upload, spool,
                fsync, child, SHA-256, rename, commit, event)

Figures are medians over --runs; the child's peak RSS is its VmHWM after the runs. Targets:
child <= 1.0x the two vipsthumbnail runs, and >= 3x faster than convert.

  bench/media_bench.py [--build build] [--runs 5]
"""

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import json

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from harness import Api, ParleyProcess  # noqa: E402


def run(*cmd):
    subprocess.run([str(c) for c in cmd], check=True, capture_output=True, timeout=300)


def make_photo(path, tmp):
    """A 4000x3000 JPEG (Q90) with photo-like detail: three Perlin noise bands plus grain."""
    bands = []
    for seed in (1, 2, 3):
        p, l, g, s = (os.path.join(tmp, f"{n}{seed}.v") for n in "plgs")
        run("vips", "perlin", p, 4000, 3000, "--cell-size", 96, "--seed", seed)
        run("vips", "linear", p, l, 90, 128)
        run("vips", "gaussnoise", g, 4000, 3000, "--sigma", 14, "--mean", 0, "--seed", seed)
        run("vips", "add", l, g, s)
        bands.append(s)
    joined = os.path.join(tmp, "joined.v")
    run("vips", "bandjoin", " ".join(bands), joined)
    cast = os.path.join(tmp, "cast.v")
    run("vips", "cast", joined, cast, "uchar")
    run("vips", "copy", cast, path + "[Q=90]")


def frame(kind, payload):
    return b"PX\x01" + bytes([kind]) + struct.pack(">I", len(payload)) + payload


def read_frame(f):
    header = f.read(8)
    n = struct.unpack(">I", header[4:8])[0]
    return header[3], json.loads(f.read(n))


def bench_child(build, photo, tmp, runs):
    cfg = os.path.join(tmp, "imageproc.toml")
    with open(cfg, "w") as f:
        f.write("[imageproc]\nworkers = 1\n")
    child = subprocess.Popen([os.path.join(build, "parley"), "imageproc", "--config", cfg,
                              "--data-dir", tmp, "--log-level", "warn"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    kind, hello = read_frame(child.stdout)
    assert kind == 1, hello
    times = []
    media = os.path.join(tmp, "media")  # the child works only under <data>/media/
    os.makedirs(media, exist_ok=True)
    shutil.copy(photo, os.path.join(media, "photo.jpg"))
    for i in range(runs):
        req = {"id": i + 1, "op": "process", "input": os.path.join(media, "photo.jpg"),
               "output": os.path.join(media, "c.jpg"), "thumbnail": os.path.join(media, "c.thumb.jpg"), "max_side": 1920, "thumb_side": 256,
               "min_side": 16, "quality": 85, "max_pixels": 50_000_000}
        started = time.perf_counter()
        child.stdin.write(frame(2, json.dumps(req).encode()))
        child.stdin.flush()
        kind, answer = read_frame(child.stdout)
        times.append(time.perf_counter() - started)
        assert answer["ok"], answer
    with open(f"/proc/{child.pid}/status") as f:
        hwm = next(int(line.split()[1]) for line in f if line.startswith("VmHWM"))
    child.stdin.close()
    child.wait(timeout=30)
    return statistics.median(times), hwm / 1024, answer


def timed(cmds, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for cmd in cmds:
            run(*cmd)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def bench_whole_path(build, photo, runs):
    with open(photo, "rb") as f:
        data = f.read()
    os.environ.setdefault("PARLEY_BINARY", os.path.join(build, "parley"))
    server = ParleyProcess("server", config="[auth]\nargon2_t_cost = 1\nargon2_m_cost_kib = 1024\n"
                           "[media]\nmax_upload_bytes = 50000000\nquota_bytes = 10000000000\n")
    try:
        server.wait_ready()
        server.wait_log("imageproc child pid", timeout=15)
        api = Api(server.port)
        s, ws = api.connected("bench")
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            status, _, body = api.call("POST", "/api/v1/media", token=s["access_token"], raw_body=data)
            assert status == 202, body
            event = ws.recv_until(lambda m: m.get("type") == "media" and m["content_id"] == body["content_id"],
                                  timeout=60)
            times.append(time.perf_counter() - started)
            assert event["state"] == "ready", event
        return statistics.median(times), len(data)
    finally:
        server.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--build", default="build")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    for tool in ("vips", "vipsthumbnail"):
        if not shutil.which(tool):
            sys.exit(f"media_bench: {tool} is missing (scripts/setup installs libvips-tools)")
    convert = "/usr/bin/convert"  # /usr/local/bin/convert may be a stand-in, not ImageMagick
    with tempfile.TemporaryDirectory(prefix="parley-media-bench-") as tmp:
        photo = os.path.join(tmp, "photo.jpg")
        make_photo(photo, tmp)
        size = os.path.getsize(photo)
        child, rss, answer = bench_child(build, photo, tmp, args.runs)
        vt = timed([["vipsthumbnail", photo, "-s", "1920x1920", "-o", os.path.join(tmp, "v1.jpg[Q=85,strip]")],
                    ["vipsthumbnail", photo, "-s", "256x256", "-o", os.path.join(tmp, "v2.jpg[Q=85,strip]")]],
                   args.runs)
        im = None
        if os.path.exists(convert):
            im = timed([[convert, photo, "-auto-orient", "-strip", "-resize", "1920x1920>", "-quality", "85",
                         "-write", os.path.join(tmp, "m1.jpg"), "-resize", "256x256>", os.path.join(tmp, "m2.jpg")]],
                       args.runs)
        whole, _ = bench_whole_path(build, photo, args.runs)

    print(f"input: 4000x3000 JPEG, {size / 1e6:.1f} MB; outputs {answer['width']}x{answer['height']} and "
          f"{answer['thumb_width']}x{answer['thumb_height']}, Q85; median of {args.runs} runs\n")
    print("| path | seconds | vs two vipsthumbnail runs |")
    print("|---|---|---|")
    print(f"| parley imageproc (child alone) | {child:.3f} | **{child / vt:.2f}x** |")
    print(f"| vipsthumbnail x2 (reference) | {vt:.3f} | 1.00x |")
    if im is not None:
        print(f"| ImageMagick convert | {im:.3f} | {im / vt:.2f}x |")
    print(f"| whole path: POST to `ready` event | {whole:.3f} | {whole / vt:.2f}x |")
    print()
    if im is not None:
        print(f"child vs convert: {im / child:.1f}x faster (target >= 3x)")
    print(f"child peak RSS (VmHWM): {rss:.0f} MiB")
    print(f"\nreproduce: bench/media_bench.py --build {args.build} --runs {args.runs}")


if __name__ == "__main__":
    main()
