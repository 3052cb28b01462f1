#!/usr/bin/env python3
"""HTTP throughput of the Parley server with wrk, side by side in one run:

  health        GET /api/v1/health           the HTTP stack alone (the reference for reads)
  profile-read  GET /api/v1/profiles/{id}    auth (token hash + live-socket check) + cache read
  login         POST /api/v1/sessions        argon2id verify + a committed session row

Ratios: profile-read / health, and login / raw argon2id verifications (password_hash_bench,
same parameters, same thread count). Absolute numbers on a shared machine are noise; the ratios
are the figures to compare.

  bench/http_bench.py [--build build] [--seconds 10] [--connections 32]
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from harness import Api, ParleyProcess  # noqa: E402


def wrk(url, seconds, connections, script=None, headers=()):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for h in headers:
        cmd += ["-H", h]
    if script:
        cmd += ["-s", script]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+(\S+)", out).group(1)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return rps, p99, int(errors.group(1)) if errors else 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    os.environ["PARLEY_BINARY"] = harness.BINARY = os.path.join(args.build, "parley")

    with ParleyProcess("server", config="[log]\nlevel = \"warn\"\n") as server:
        server.wait_ready()
        api = Api(server.port)
        session, ws = api.connected("benchuser")
        base = f"http://127.0.0.1:{server.port}"
        results = {}
        results["health"] = wrk(f"{base}/api/v1/health", args.seconds, args.connections)
        results["profile-read"] = wrk(f"{base}/api/v1/profiles/{session['account_id']}", args.seconds,
                                      args.connections, headers=[f"Authorization: Bearer {session['access_token']}"])
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as lua:
            lua.write('wrk.method = "POST"\n'
                      'wrk.body = \'{"username":"benchuser","password":"correct horse"}\'\n'
                      'wrk.headers["Content-Type"] = "application/json"\n')
        try:
            results["login"] = wrk(f"{base}/api/v1/sessions", args.seconds, args.connections, script=lua.name)
        finally:
            os.unlink(lua.name)
        ws.close()

    raw = subprocess.run([os.path.join(args.build, "bench", "password_hash_bench"), "--seconds", str(args.seconds)],
                         capture_output=True, text=True, check=True).stdout
    raw_rate = float(re.search(r"([\d.]+) per second", raw).group(1))

    print(f"{'workload':<14} {'req/s':>10} {'p99':>10} {'non-2xx':>8}")
    for name, (rps, p99, errors) in results.items():
        print(f"{name:<14} {rps:>10.1f} {p99:>10} {errors:>8}")
    print(f"raw argon2id verify: {raw_rate:.1f}/s")
    print(f"ratio profile-read / health: {results['profile-read'][0] / results['health'][0]:.2f}")
    print(f"ratio login / raw argon2id verify: {results['login'][0] / raw_rate:.2f}")
    print(f"machine: {os.cpu_count()} cores; reproduce: bench/http_bench.py --seconds {args.seconds} "
          f"--connections {args.connections}")


if __name__ == "__main__":
    main()
