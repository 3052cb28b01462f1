#!/usr/bin/env python3
"""WebSocket benchmarks of the Parley server against a Node.js `ws` broadcast server
(bench/reference/broadcast-server.js), side by side in one run, driven by the native load client
(`parley botclient --load PLAN`, botclient/load/):

  fanout   1 room x 200 members, and 200 rooms x 5 members. Senders keep `window` messages in
           flight each (a message leaves the window when its sender receives it back); every
           member counts deliveries and the send-to-receive latency. Parley commits every
           message to SQLite before it broadcasts it (persistence on); the reference keeps
           nothing. Figure: deliveries per second, p50/p99 latency, Parley / reference ratio.
  ladder   (--only ladder) the same two shapes open-loop at offered rates rising by x1.3: the
           highest message rate with p99 < 50 ms and every message delivered to every member,
           and p99 at 1,000 messages/s; Parley / reference ratio of the sustained rates.
  idle     N authenticated sockets held open (15,000 by default; open files are capped at
           20,000 per process here). Figure: server RSS growth per connection.
  cluster  (--cluster) the 200 rooms x 5 fan-out through cluster mode (docs/cluster.md): Redis,
           a primary and one edge; each room's sender on the primary, its other members on the
           edge; against a single node in the same run. Figures: deliveries/s, p50/p99, the
           edge's CPU time per delivery against the single node's, and the p99 added by the bus.
           With --rate N the senders send N messages/s together (open loop) instead of keeping
           --window messages in flight: a moderate load, for the bus's added latency.

  With --deflate, Parley allows permessage-deflate and the load client offers it on every
  socket (the reference does not compress): run with and without it to compare Parley's CPU
  time per delivery. A compressing load client reads more slowly, which changes how much the
  server batches per write: compare at one offered rate (--rate N, open loop, as in --cluster).

  bench/ws_bench.py [--build build] [--only fanout|idle|ladder] [--seconds 10] [--idle 15000]
  bench/ws_bench.py --cluster [--seconds 10] [--rate 200]

Each run also reports the server's CPU time per delivery (/proc), which shared machines disturb
far less than deliveries/s.

Absolute numbers on a shared machine are noise; the ratios are the figures to compare. Both
servers are pinned to CPU 0 and the load client to CPU 1, so each server has one core and the
client never takes it from them.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
import harness  # noqa: E402
from harness import Api, ParleyProcess, free_port  # noqa: E402

REFERENCE_DIR = os.path.join(HERE, "reference")
# Both servers get CPU 0 and the load client CPU 1 (on a machine with at least two), so the
# client never competes with the server it measures and both servers have the same core.
SERVER_CPUS = {0}
CLIENT_CPUS = {1}

SERVER_CONFIG = """
[server]
port = {port}
threads = {threads}
[log]
level = "warn"
[auth]
argon2_t_cost = 1
argon2_m_cost_kib = 1024
register_per_minute = 100000
[http]
max_connections = 19000
[websocket]
max_connections_per_account = 200
rate_per_second = 100000
rate_burst = 100000
[chat]
rooms_per_account = 1000
"""


def with_settings(config, settings):
    """`config` with each "section.key=value" of `settings` (TOML values) set in it."""
    for setting in settings or []:
        name, _, value = setting.partition("=")
        section, _, key = name.strip().rpartition(".")
        if not section or not key or not value:
            raise SystemExit(f"--set wants section.key=value, not {setting!r}")
        line = f"{key} = {value.strip()}\n"
        header = f"[{section}]\n"
        if header not in config:
            config += header + line
            continue
        # A key the section already has is replaced (TOML refuses a key set twice).
        start = config.index(header) + len(header)
        end = config.find("\n[", start - 1)
        end = len(config) if end < 0 else end + 1
        body = re.sub(rf"^{re.escape(key)}\s*=.*\n", "", config[start:end], flags=re.M)
        config = config[:start] + line + body + config[end:]
    return config


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class NodeReference:
    """bench/reference/broadcast-server.js on a free port (npm ci on first use)."""

    def __init__(self):
        if not os.path.isdir(os.path.join(REFERENCE_DIR, "node_modules", "ws")):
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=REFERENCE_DIR,
                           check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        self.proc = subprocess.Popen(["node", os.path.join(REFERENCE_DIR, "broadcast-server.js"), str(self.port)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        if not line.startswith("listening"):
            raise RuntimeError(f"the reference server did not start: {line!r}")

    def close(self):
        self.proc.kill()
        self.proc.wait()


def cpu_times(pid):
    """(user, system) CPU seconds `pid` has used so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def context_switches(pid):
    """{thread name: [voluntary, involuntary]} context switches of `pid`'s threads so far
    (threads of the same name added up)."""
    counts = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                status = dict(line.split(":", 1) for line in f if ":" in line)
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        entry = counts.setdefault(name, [0, 0])
        entry[0] += int(status["voluntary_ctxt_switches"])
        entry[1] += int(status["nonvoluntary_ctxt_switches"])
    return counts


def cpu_seconds(pid):
    """User + system CPU time `pid` has used so far."""
    return sum(cpu_times(pid))


def run_deliveries(report):
    """Deliveries over the whole run, warm-up included: what the server's CPU time measured
    around the run was spent on."""
    return report["deliveries_per_s"] * (report["seconds"] + report.get("warmup_s", 0))


def measured(build, plan, pid, cpus):
    """Runs `plan` and adds the server's CPU time per delivery (microseconds) to the report:
    unlike deliveries/s it hardly moves when other work shares the machine."""
    user0, sys0 = cpu_times(pid)
    switches0 = context_switches(pid)
    report = run_load(build, plan, cpus=cpus)
    user1, sys1 = cpu_times(pid)
    switches1 = context_switches(pid)
    # Per thread name: (voluntary, involuntary) switches over the run, warm-up included.
    report["context_switches"] = {
        name: tuple(after - before for after, before in zip(counts, switches0.get(name, [0, 0])))
        for name, counts in switches1.items()}
    total = run_deliveries(report)
    report["cpu_us_per_delivery"] = (user1 - user0 + sys1 - sys0) * 1e6 / max(total, 1)
    # The split: user space is the server's own code (and its libraries'); system is the kernel's
    # sockets and file writes, which the reference pays for its sockets too.
    report["user_us_per_delivery"] = (user1 - user0) * 1e6 / max(total, 1)
    report["sys_us_per_delivery"] = (sys1 - sys0) * 1e6 / max(total, 1)
    # The load client's own CPU per delivery over the measured window (its one thread): near
    # 1e6 / deliveries_per_s it is the limit, not the server.
    if "client_user_s" in report:
        window = report["deliveries_per_s"] * report["seconds"]
        report["client_us_per_delivery"] = (report["client_user_s"] + report["client_sys_s"]) * 1e6 / max(window, 1)
    return report


SYSCALLS = ["read", "readv", "recvfrom", "recvmsg", "write", "writev", "sendto", "sendmsg", "pwrite64",
            "pread64", "fdatasync", "fsync", "epoll_wait", "epoll_pwait", "epoll_ctl", "futex"]


def count_syscalls(pid):
    """Starts counting the system calls of `pid` (all threads); stop() returns {name: count}."""
    events = ",".join(f"syscalls:sys_enter_{name}" for name in SYSCALLS)
    out = tempfile.NamedTemporaryFile("r", suffix=".txt", delete=False)
    perf = subprocess.Popen(["perf", "stat", "-x", ",", "-e", events, "-p", str(pid), "-o", out.name],
                            stderr=subprocess.DEVNULL)

    def stop():
        perf.send_signal(2)
        perf.wait()
        counts = {}
        for line in open(out.name):
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2].startswith("syscalls:sys_enter_") and fields[0].isdigit():
                counts[fields[2][len("syscalls:sys_enter_"):]] = int(fields[0])
        os.unlink(out.name)
        return counts
    return stop


def writer_counts(port):
    """(commits, committed writes) from Parley's /metrics: their ratio is the group-commit size."""
    import urllib.request
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    commits = writes = 0
    for line in text.splitlines():
        if line.startswith("parley_db_commit_seconds_count "):
            commits = float(line.split()[1])
        elif line.startswith('parley_db_writes_total{outcome="committed"} '):
            writes = float(line.split()[1])
    return commits, writes


def pin(pid, cpus):
    """Moves every thread of `pid` onto `cpus` (no-op when the machine has fewer)."""
    if not cpus or max(cpus) >= os.cpu_count():
        return
    if pid == 0:
        os.sched_setaffinity(0, cpus)
        return
    for tid in os.listdir(f"/proc/{pid}/task"):
        os.sched_setaffinity(int(tid), cpus)


def run_load(build, plan, on_ready=None, cpus=None):
    """Runs the load client on `plan`; returns its final JSON report. For the idle scenario
    `on_ready(report)` is called once every socket is open; the sockets close when it returns."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(plan, f)
    try:
        proc = subprocess.Popen([os.path.join(build, "parley"), "botclient", "--load", f.name, "--log-level", "warn"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                preexec_fn=(lambda: pin(0, cpus)) if cpus else None)
        if plan["scenario"] == "idle" or plan.get("pause_when_ready"):
            ready = json.loads(proc.stdout.readline())
            if on_ready:
                on_ready(ready)
            if plan.get("pause_when_ready"):
                proc.stdin.write("go\n")
                proc.stdin.flush()
            proc.stdin.close()  # ends the hold
            out = proc.stdout.read()
            proc.wait(timeout=600)
        else:
            out, _ = proc.communicate(timeout=600)
        return json.loads(out.strip().splitlines()[-1])
    finally:
        os.unlink(f.name)


class ParleySetup:
    """Accounts, tokens and rooms made over the public API before the load starts."""

    def __init__(self, server, accounts):
        self.api = Api(server.port)
        self.port = server.port
        self.owner, self.owner_ws = self.api.connected("bench-owner")
        self.users = []
        lock = threading.Lock()

        def make(i):
            s = self.api.user(f"bench{i:05d}")
            with lock:
                self.users.append(s)

        threads = [threading.Thread(target=lambda k=k: [make(i) for i in range(k, accounts, 8)]) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.users.sort(key=lambda s: s["account_id"])

    def room(self, members):
        status, _, r = self.api.call("POST", "/api/v1/rooms",
                                     {"title": "bench", "kind": "group", "members": [m["account_id"] for m in members]},
                                     token=self.owner["access_token"])
        assert status == 201, r
        return r["room_id"]

    def url(self, user):
        return f"ws://127.0.0.1:{self.port}/api/v1/ws?token={user['access_token']}"


def fanout_plans(setup, ref_port, rooms, members, senders_per_room, window, seconds, client_threads=1,
                 deflate=False):
    """The same load twice: against Parley (setup's rooms and tokens) and the reference."""
    users = setup.users
    conns_p, conns_r, senders = [], [], []
    for r in range(rooms):
        room_members = [users[(r * members + k) % len(users)] for k in range(members)]
        rid = setup.room(room_members)
        for k, user in enumerate(room_members):
            if k < senders_per_room:
                senders.append({"connection": len(conns_p), "room_id": rid})
            conns_p.append({"url": setup.url(user), "subscribe": [f"room:{rid}:chat"]})
            conns_r.append({"url": f"ws://127.0.0.1:{ref_port}/", "subscribe": [f"room:{rid}:chat"]})
    base = {"scenario": "fanout", "threads": client_threads, "window": window, "warmup_s": 2, "seconds": seconds,
            "text_bytes": 64, "senders": senders}
    return dict(base, connections=conns_p, deflate=deflate), dict(base, connections=conns_r)


def fmt_ms(us):
    return f"{us / 1000:.2f}"


def bench_fanout(args, server, setup, ref):
    rows = []
    shapes = [("1 room x 200", 1, 200, args.senders_big), ("200 rooms x 5", 200, 5, 1)]
    if args.shape:
        shapes = [s for s in shapes if s[0].startswith(args.shape)]
    for name, rooms, members, senders in shapes:
        plan_p, plan_r = fanout_plans(setup, ref.port, rooms, members, senders, args.window, args.seconds,
                                      args.client_threads, deflate=args.deflate)
        at_rate(plan_p, args.rate)
        at_rate(plan_r, args.rate)
        perf = None
        if args.profile:
            perf = subprocess.Popen(["perf", "record", "-F", "499", "--call-graph", "dwarf,16384", "-o", "/tmp/parley-ws-bench.perf",
                                     "-p", str(server.proc.pid)], stderr=subprocess.DEVNULL)
        commits0, writes0 = writer_counts(server.port)
        stop_p = count_syscalls(server.proc.pid) if args.syscalls else None
        rp = measured(args.build, plan_p, server.proc.pid, CLIENT_CPUS)
        rp["syscalls"] = stop_p() if stop_p else {}
        commits1, writes1 = writer_counts(server.port)
        rp["writes_per_commit"] = (writes1 - writes0) / max(commits1 - commits0, 1)
        if perf:
            perf.send_signal(2)
            perf.wait()
        stop_r = count_syscalls(ref.proc.pid) if args.syscalls else None
        rr = measured(args.build, plan_r, ref.proc.pid, CLIENT_CPUS)
        rr["syscalls"] = stop_r() if stop_r else {}
        rows.append((name, senders * rooms, rp, rr, members))
    print(f"{'fan-out':<15} {'target':<10} {'senders':>7} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'errors':>6} {'CPU us/deliv':>12} {'user us/msg':>11} {'sys us/msg':>10} {'client us/deliv':>15}")
    for name, senders, rp, rr, members in rows:
        for target, r in (("parley", rp), ("node-ws", rr)):
            print(f"{name:<15} {target:<10} {senders:>7} {r['deliveries_per_s']:>13.0f} "
                  f"{fmt_ms(r['latency_us']['p50']):>8} {fmt_ms(r['latency_us']['p99']):>8} {r['errors']:>6} "
                  f"{r['cpu_us_per_delivery']:>12.2f} {r['user_us_per_delivery'] * members:>11.1f} "
                  f"{r['sys_us_per_delivery'] * members:>10.1f} {r.get('client_us_per_delivery', 0):>15.2f}")
            if r.get("first_error"):
                print(f"    first error: {r['first_error']}")
    for name, _, rp, rr, members in rows:
        for target, r in (("parley", rp), ("node-ws", rr)):
            if not r["syscalls"]:
                continue
            messages = run_deliveries(r) / members
            calls = ", ".join(f"{k} {v / max(messages, 1):.2f}" for k, v in
                              sorted(r["syscalls"].items(), key=lambda kv: -kv[1]) if v)
            print(f"system calls per message, {name}, {target}: {calls}")
    for name, _, rp, rr, members in rows:
        for target, r in (("parley", rp), ("node-ws", rr)):
            messages = run_deliveries(r) / members
            threads = ", ".join(f"{thread} {v / max(messages, 1):.3f}/{i / max(messages, 1):.3f}"
                                for thread, (v, i) in sorted(r["context_switches"].items(),
                                                             key=lambda kv: -sum(kv[1])) if v + i)
            print(f"context switches per message (voluntary/involuntary), {name}, {target}: {threads}")
    for name, _, rp, rr, _ in rows:
        ratio = rp["deliveries_per_s"] / max(rr["deliveries_per_s"], 1)
        lower = rp["latency_us"]["p99"] < rr["latency_us"]["p99"]
        cpu = rr["cpu_us_per_delivery"] / max(rp["cpu_us_per_delivery"], 1e-9)
        print(f"parley group commit, {name}: {rp['writes_per_commit']:.1f} writes per commit")
        print(f"ratio parley / node-ws, {name}: {ratio:.2f}x deliveries/s, {cpu:.2f}x deliveries per CPU second; "
              f"p99 {'lower' if lower else 'HIGHER'} ({fmt_ms(rp['latency_us']['p99'])} vs "
              f"{fmt_ms(rr['latency_us']['p99'])} ms)")


def callgrind_run(args):
    """The server's user-space instructions per message and per delivery, counted by callgrind
    over the 200 rooms x 5 fan-out (collection switched on only around the load). Instruction
    counts do not move with whatever else the machine runs, so this compares two builds of
    Parley on a busy machine; it leaves out the kernel (the socket calls are the same for both)."""
    out = tempfile.mkdtemp(prefix="parley-callgrind-")
    port = free_port()
    config = with_settings(SERVER_CONFIG.format(port=port, threads=1), args.set)
    wrapper = ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={out}/cg.out"]
    with ParleyProcess("server", config=config, port=port, wrapper=wrapper) as server:
        server.wait_ready(timeout=120)
        setup = ParleySetup(server, 200)
        ref_port = free_port()  # unused: only Parley's plan runs
        plan_p, _ = fanout_plans(setup, ref_port, 200, 5, 1, args.window, args.seconds, args.client_threads)
        # Every message sent in the window is counted with all its deliveries: the drain waits
        # for the backlog a server slowed down by callgrind builds up.
        plan_p.update(warmup_s=0, drain_s=10, pause_when_ready=True)
        pid = str(server.proc.pid)

        def when_ready(_):
            subprocess.run(["callgrind_control", "-i", "on", pid], check=True, stdout=subprocess.DEVNULL)

        report = run_load(args.build, plan_p, on_ready=when_ready, cpus=CLIENT_CPUS)
        subprocess.run(["callgrind_control", "-i", "off", pid], check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["callgrind_control", "-d", pid], check=True, stdout=subprocess.DEVNULL)
        time.sleep(1)
    total = 0
    for name in os.listdir(out):
        with open(os.path.join(out, name)) as f:
            for line in f:
                if line.startswith("summary:") or line.startswith("totals:"):
                    total = max(total, int(line.split()[1]))
    messages = report["sent"]
    deliveries = report["window_delivered"]
    if deliveries < messages * 5:
        print(f"warning: {messages * 5 - deliveries} deliveries missing at the end of the drain")
    print(f"callgrind, 200 rooms x 5: {messages} messages, {deliveries} deliveries counted; "
          f"{total / max(messages, 1):,.0f} instructions per message, {total / max(deliveries, 1):,.0f} per delivery "
          f"(user space, all threads; profile files in {out})")
    print(f"reproduce: bench/ws_bench.py --callgrind --seconds {args.seconds:g} --window {args.window}")


LADDER_P99_US = 50_000


def rate_passes(report, members):
    """An open-loop step passes when p99 < 50 ms and every message sent in the window reached
    every member of its room, with no error and no connection lost."""
    expected = report["window_sent"] * members
    return (report["latency_us"]["p99"] < LADDER_P99_US and report["window_delivered"] >= expected
            and report["errors"] == 0 and report.get("lost", 0) == 0 and report["window_sent"] > 0)


def client_busy(report, threads):
    """The share of its cores the load client used over the measured window."""
    cpu = report.get("client_user_s", 0) + report.get("client_sys_s", 0)
    return cpu / report["seconds"] / max(threads, 1)


# A failing step with the load client this busy may be the client's limit, not the server's.
CLIENT_BOUND = 0.85


def print_step(r, members, client_threads, kind="step"):
    print(f"  {kind} {r['rate_per_s']:>7} msg/s: p99 {fmt_ms(r['latency_us']['p99'])} ms, delivered "
          f"{r['window_delivered']}/{r['window_sent'] * members}, errors {r['errors']}, lost {r.get('lost', 0)}, "
          f"CPU us/deliv {r['cpu_us_per_delivery']:.2f}, client's {r.get('client_us_per_delivery', 0):.2f} "
          f"(client busy {client_busy(r, client_threads):.0%})", flush=True)


def ladder(args, plan, pid, members, start):
    """Offered rates from `start` up by x1.3 until two steps fail, then two bisection steps
    between the best pass and the first failure. Returns (best passing report or None, steps)."""
    steps, best, failures = [], None, []
    rate, fails = start, 0
    while fails < 2 and rate < 1e6:
        r = measured(args.build, dict(plan, rate_per_s=rate), pid, CLIENT_CPUS)
        r["rate_per_s"] = rate
        steps.append(r)
        print_step(r, members, args.client_threads)
        if rate_passes(r, members):
            best, fails = r, 0
        else:
            fails += 1
            failures.append(rate)
        rate = round(rate * 1.3)
    # Bisect between the best pass and the first failure above it (a noisy early step that
    # failed below the best pass is not a bound).
    lo = best["rate_per_s"] if best else 0
    hi = min((f for f in failures if f > lo), default=None)
    for _ in range(2 if hi and best else 0):
        mid = round((lo + hi) / 2)
        r = measured(args.build, dict(plan, rate_per_s=mid), pid, CLIENT_CPUS)
        r["rate_per_s"] = mid
        steps.append(r)
        print_step(r, members, args.client_threads, "bisect")
        if rate_passes(r, members):
            best, lo = r, mid
        else:
            hi = mid
    return best, steps


def best_rate(report):
    return report["rate_per_s"] if report else 0


def bench_ladder(args, server, setup, ref):
    """The shape of the product goal: the highest offered message rate each server sustains with
    p99 < 50 ms and every message delivered, and p99 at 1,000 messages/s."""
    shapes = [("1 room x 200", 1, 200, args.senders_big, 100), ("200 rooms x 5", 200, 5, 1, 1000)]
    if args.shape:
        shapes = [s for s in shapes if s[0].startswith(args.shape)]
    print(f"{'ladder':<15} {'target':<8} {'best msg/s':>10} {'deliveries/s':>13} {'p99 ms':>7} "
          f"{'CPU us/deliv':>12} {'p99 ms at 1000 msg/s':>21}")
    results, steps_of = {}, {}
    for name, rooms, members, senders, start in shapes:
        plan_p, plan_r = fanout_plans(setup, ref.port, rooms, members, senders, args.window, args.seconds,
                                      args.client_threads, deflate=args.deflate)
        at_rate(plan_p, args.rate)
        at_rate(plan_r, args.rate)
        for target, plan, pid in (("parley", plan_p, server.proc.pid), ("node-ws", plan_r, ref.proc.pid)):
            plan = dict(plan, scenario="rate", warmup_s=1)
            at_1000 = measured(args.build, dict(plan, rate_per_s=1000), pid, CLIENT_CPUS)
            best, steps = ladder(args, plan, pid, members, start)
            results[(name, target)] = best
            steps_of[(name, target)] = steps
            if best:
                print(f"{name:<15} {target:<8} {best['rate_per_s']:>10} {best['deliveries_per_s']:>13.0f} "
                      f"{fmt_ms(best['latency_us']['p99']):>7} {best['cpu_us_per_delivery']:>12.2f} "
                      f"{fmt_ms(at_1000['latency_us']['p99']):>21}")
            else:
                print(f"{name:<15} {target:<8} {'none':>10} (no step passed; p99 at 1000 msg/s "
                      f"{fmt_ms(at_1000['latency_us']['p99'])} ms)")
    for name, _, members, *_ in shapes:
        p, r = results.get((name, "parley")), results.get((name, "node-ws"))
        if p and r:
            print(f"ratio parley / node-ws, {name}: {p['rate_per_s'] / r['rate_per_s']:.2f}x sustained messages/s "
                  f"(p99 < 50 ms, all delivered); CPU per delivery at the best steps, node-ws / parley: "
                  f"{r['cpu_us_per_delivery'] / max(p['cpu_us_per_delivery'], 1e-9):.2f}x")
        for target in ("parley", "node-ws"):
            above = [s for s in steps_of.get((name, target), [])
                     if s["rate_per_s"] > best_rate(results.get((name, target))) and not rate_passes(s, members)]
            failed = min(above, key=lambda s: s["rate_per_s"], default=None)
            if failed and client_busy(failed, args.client_threads) >= CLIENT_BOUND:
                print(f"  note: {target}'s first failing step ({failed['rate_per_s']} msg/s) had the load client "
                      f"{client_busy(failed, args.client_threads):.0%} busy: that bound may be the client's, "
                      f"not the server's (compare CPU per delivery; give the client more cores)")


def idle_plan(url_for, n):
    return {"scenario": "idle", "threads": 1, "connect_concurrency": 256, "hold_s": 600,
            "connections": [{"url": url_for(i)} for i in range(n)]}


def measure_idle(args, pid, plan):
    before = rss_kib(pid)
    seen = {}

    def on_ready(ready):
        time.sleep(2)  # let the server settle (allocator, queues)
        seen["after"] = rss_kib(pid)
        seen["ready"] = ready["ready"]

    report = run_load(args.build, plan, on_ready, cpus=CLIENT_CPUS)
    growth = (seen["after"] - before) / max(seen["ready"], 1)
    return before, seen["after"], seen["ready"], report, growth


def bench_idle(args, server, setup, ref):
    per_account = 100
    tokens = [u["access_token"] for u in setup.users[: (args.idle + per_account - 1) // per_account]]
    plan_p = idle_plan(lambda i: f"ws://127.0.0.1:{server.port}/api/v1/ws?token={tokens[i // per_account]}", args.idle)
    plan_r = idle_plan(lambda i: f"ws://127.0.0.1:{ref.port}/", args.idle)
    results = [("parley", *measure_idle(args, server.proc.pid, plan_p)),
               ("node-ws", *measure_idle(args, ref.proc.pid, plan_r))]
    print(f"{'idle sockets':<12} {'open':>6} {'lost':>5} {'RSS before':>11} {'RSS after':>10} {'per socket':>11}")
    for target, before, after, ready, report, growth in results:
        print(f"{target:<12} {ready:>6} {report.get('lost', 0):>5} {before / 1024:>9.1f}Mi {after / 1024:>8.1f}Mi "
              f"{growth:>8.2f}KiB")
    print(f"ratio parley / node-ws RSS per socket: {results[0][-1] / max(results[1][-1], 0.001):.2f} "
          f"(target: parley <= 4 KiB and <= node-ws)")


def at_rate(plan, rate):
    """An open-loop plan sending `rate` messages/s from all senders together (no window)."""
    if rate:
        plan["scenario"] = "rate"
        plan["rate_per_s"] = rate
        plan.pop("window", None)


def bench_cluster(args):
    """Single node, then primary + edge on Redis, with the same 200 rooms x 5 load."""
    from test_cluster import Redis  # the integration test's redis-server runner
    rooms, members, senders = 200, 5, 1
    rows = []
    port = free_port()
    with ParleyProcess("server", config=SERVER_CONFIG.format(port=port, threads=args.threads), port=port) as single:
        single.wait_ready()
        setup = ParleySetup(single, 200)
        pin(single.proc.pid, SERVER_CPUS)
        plan, _ = fanout_plans(setup, 0, rooms, members, senders, args.window, args.seconds, args.client_threads)
        at_rate(plan, args.rate)
        report = measured(args.build, plan, single.proc.pid, CLIENT_CPUS)
        rows.append(("single node", report, report["cpu_us_per_delivery"]))

    redis = Redis()
    redis.start()
    tmp = tempfile.TemporaryDirectory(prefix="parley-bench-cluster-")
    secret = os.path.join(tmp.name, "secret")
    fd = os.open(secret, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, os.urandom(24).hex().encode())
    os.close(fd)
    cluster = (f"[cluster]\nredis = \"127.0.0.1:{redis.port}\"\nsecret_file = \"{secret}\"\n"
               "redis_command_timeout_ms = 5000\n")
    pport, eport = free_port(), free_port()
    try:
        with ParleyProcess("server", port=pport, config=SERVER_CONFIG.format(port=pport, threads=args.threads)
                           + cluster + 'role = "primary"\n') as primary, \
             ParleyProcess("server", port=eport, config=SERVER_CONFIG.format(port=eport, threads=args.threads)
                           + cluster + f'role = "edge"\nprimary = "http://127.0.0.1:{pport}"\n') as edge:
            primary.wait_ready()
            edge.wait_ready()
            setup = ParleySetup(primary, 200)
            # The primary and Redis share CPU 0 with the edge: the edge's CPU per delivery is
            # measured on its own process either way.
            for pid in (primary.proc.pid, edge.proc.pid, redis.proc.pid):
                pin(pid, SERVER_CPUS)
            plan, _ = fanout_plans(setup, 0, rooms, members, senders, args.window, args.seconds, args.client_threads)
            at_rate(plan, args.rate)
            # Senders stay on the primary; every other member reads through the edge.
            for i, c in enumerate(plan["connections"]):
                if i % members >= senders:
                    c["url"] = c["url"].replace(f":{pport}/", f":{eport}/")
            e0, p0 = cpu_seconds(edge.proc.pid), cpu_seconds(primary.proc.pid)
            report = run_load(args.build, plan, cpus=CLIENT_CPUS)
            e1, p1 = cpu_seconds(edge.proc.pid), cpu_seconds(primary.proc.pid)
            total = run_deliveries(report)
            on_edge = total * (members - senders) / members
            report["cpu_us_per_delivery"] = (e1 - e0) * 1e6 / max(on_edge, 1)
            report["primary_cpu_us_per_message"] = (p1 - p0) * 1e6 / max(total / members, 1)
            rows.append(("primary + 1 edge", report, report["cpu_us_per_delivery"]))
    finally:
        redis.close()
        tmp.cleanup()

    print(f"{'200 rooms x 5':<18} {'deliveries/s':>13} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} {'CPU us/deliv':>12}")
    for name, r, cpu in rows:
        print(f"{name:<18} {r['deliveries_per_s']:>13.0f} {fmt_ms(r['latency_us']['p50']):>8} "
              f"{fmt_ms(r['latency_us']['p99']):>8} {r['errors']:>6} {cpu:>12.2f}")
        if r.get("first_error"):
            print(f"    first error: {r['first_error']}")
    single_r, cluster_r = rows[0][1], rows[1][1]
    print(f"edge CPU per delivery / single node: {rows[1][2] / max(rows[0][2], 1e-9):.2f}x (goal <= 1.2x); "
          f"primary CPU per message in the cluster run: {cluster_r['primary_cpu_us_per_message']:.1f} us")
    print(f"p99 added by the bus: {(cluster_r['latency_us']['p99'] - single_r['latency_us']['p99']) / 1000:.2f} ms "
          f"(goal <= 5 ms at moderate load; "
          + (f"open loop at {args.rate:g} messages/s)" if args.rate else f"closed loop with window {args.window})"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--only", choices=["fanout", "idle", "ladder"])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--window", type=int, default=8)
    ap.add_argument("--rate", type=float, default=0,
                    help="messages/s from all senders together, open loop (0: closed loop with --window)")
    ap.add_argument("--senders-big", type=int, default=20, help="senders in the 200-member room")
    ap.add_argument("--idle", type=int, default=15000)
    ap.add_argument("--threads", type=int, default=1, help="Parley's event-loop threads")
    ap.add_argument("--server-cpus", default="0", help="CPUs both servers are pinned to (e.g. 0,1)")
    ap.add_argument("--client-cpus", default="1", help="CPUs the load client is pinned to")
    ap.add_argument("--client-threads", type=int, default=1, help="the load client's event-loop threads")
    ap.add_argument("--shape", choices=["1 room", "200 rooms"], help="only this fan-out shape")
    ap.add_argument("--deflate", action="store_true",
                    help="permessage-deflate on Parley's fan-out sockets (server allows it, client offers it)")
    ap.add_argument("--set", action="append", metavar="SECTION.KEY=VALUE",
                    help="a setting for the Parley server, as TOML (e.g. db.message_log_rows=16384); repeatable")
    ap.add_argument("--profile", action="store_true", help="perf record the server during the Parley runs")
    ap.add_argument("--server-binary", help="another parley binary to serve (an older build, to compare); "
                    "the load client stays the one of --build")
    ap.add_argument("--syscalls", action="store_true",
                    help="count the servers' system calls per message (perf stat tracepoints)")
    ap.add_argument("--callgrind", action="store_true",
                    help="only Parley, under callgrind: instructions per message (stable on a busy machine)")
    ap.add_argument("--server-preload", metavar="LIB",
                    help="LD_PRELOAD for the Parley server only (e.g. another malloc, to compare)")
    ap.add_argument("--server-log", metavar="FILE",
                    help="write the (single-node) server's log, at debug level, to FILE")
    ap.add_argument("--cluster", action="store_true",
                    help="only the 200 rooms x 5 fan-out: single node vs primary + 1 edge on Redis")
    args = ap.parse_args()
    args.build = os.path.abspath(args.build)
    global SERVER_CPUS, CLIENT_CPUS
    SERVER_CPUS = {int(c) for c in args.server_cpus.split(",") if c != ""}
    CLIENT_CPUS = {int(c) for c in args.client_cpus.split(",") if c != ""}
    os.environ["PARLEY_BINARY"] = harness.BINARY = os.path.abspath(args.server_binary or os.path.join(args.build, "parley"))
    if args.callgrind:
        callgrind_run(args)
        return
    if args.cluster:
        bench_cluster(args)
        return

    accounts = max(200, (args.idle + 99) // 100) if args.only != "fanout" else 200
    port = free_port()
    config = SERVER_CONFIG.format(port=port, threads=args.threads)
    if args.deflate:
        config = config.replace("[websocket]\n", "[websocket]\npermessage_deflate = true\n")
    # The log at debug level is one more setting; an explicit --set log.level wins.
    config = with_settings(config, (['log.level="debug"'] if args.server_log else []) + (args.set or []))
    env = {"LD_PRELOAD": args.server_preload} if args.server_preload else None
    with ParleyProcess("server", config=config, port=port, env=env) as server:
        server.wait_ready()
        setup = ParleySetup(server, accounts)
        ref = NodeReference()
        pin(server.proc.pid, SERVER_CPUS)
        pin(ref.proc.pid, SERVER_CPUS)
        try:
            if args.only in (None, "fanout"):
                bench_fanout(args, server, setup, ref)
            if args.only == "ladder":
                bench_ladder(args, server, setup, ref)
            if args.only in (None, "idle"):
                bench_idle(args, server, setup, ref)
        finally:
            ref.close()
            if args.server_log:
                shutil.copyfile(server.log_path, args.server_log)
    print(f"machine: {os.cpu_count()} cores; servers on CPUs {args.server_cpus}, client on {args.client_cpus}; "
          f"reproduce: bench/ws_bench.py --seconds {args.seconds:g} --window {args.window} "
          f"--senders-big {args.senders_big} --idle {args.idle} --threads {args.threads} "
          f"--server-cpus {args.server_cpus} --client-cpus {args.client_cpus}"
          + (f" --rate {args.rate:g}" if args.rate else "") + (" --deflate" if args.deflate else "")
          + (f" --only {args.only}" if args.only else "") + (f" --shape {shlex.quote(args.shape)}" if args.shape else "")
          + "".join(f" --set {shlex.quote(setting)}" for setting in args.set or []))


if __name__ == "__main__":
    main()
