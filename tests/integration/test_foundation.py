"""Foundation: the one binary in each mode — help, version, bad flags, bad configs, default
configs, the data-directory lock, graceful SIGTERM and the systemd notify protocol."""

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from harness import (BINARY, SOURCE_DIR, NotifySocket, ParleyTestCase, free_port, http_request,
                     run_parley)

MODES = ["server", "manager", "imageproc", "botclient"]


class CommandLineTest(ParleyTestCase):
    def test_help_for_every_mode(self):
        for mode in MODES:
            r = run_parley([mode, "--help"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(f"parley {mode}", r.stdout)
            self.assertIn("--config", r.stdout)
            self.assertIn("--data-dir", r.stdout)
        r = run_parley(["--help"])
        self.assertEqual(r.returncode, 0)
        for mode in MODES:
            self.assertIn(mode, r.stdout)

    def test_version(self):
        r = run_parley(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^parley \d+\.\d+\.\d+")

    def test_unknown_mode_and_flag_exit_2(self):
        r = run_parley(["serve"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown mode 'serve'", r.stderr)
        for mode in MODES:
            r = run_parley([mode, "--no-such-flag"])
            self.assertEqual(r.returncode, 2, mode)
            self.assertIn("--no-such-flag", r.stderr)
        r = run_parley([])
        self.assertEqual(r.returncode, 2)


class ConfigTest(ParleyTestCase):
    def test_bad_config_names_the_key_and_nothing_starts(self):
        port = 0
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.toml")
            with open(path, "w") as f:
                f.write('[server]\nport = "eighty"\nthreads = 2\n[http]\nread_timeout = 5\n')
            data = os.path.join(tmp, "data")
            r = run_parley(["server", "--config", path, "--data-dir", data])
            self.assertEqual(r.returncode, 3)
            self.assertIn("key 'server.port'", r.stderr)
            self.assertIn("key 'http.read_timeout': unknown key", r.stderr)
            self.assertFalse(os.path.exists(data), "a bad config must not start anything")
            with open(path, "w") as f:
                f.write("[server\nport = 1\n")
            r = run_parley(["server", "--config", path])
            self.assertEqual(r.returncode, 3)
            self.assertIn("line 1", r.stderr)
        del port

    def test_bad_config_for_each_mode(self):
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "bad.toml")
            with open(path, "w") as f:
                f.write('[log]\nlevel = "chatty"\n')
            for mode in MODES:
                r = run_parley([mode, "--config", path])
                self.assertEqual(r.returncode, 3, mode)
                self.assertIn("key 'log.level'", r.stderr)

    def test_default_config_of_every_mode_is_valid(self):
        for mode in MODES:
            r = run_parley([mode, "--print-default-config"])
            self.assertEqual(r.returncode, 0)
            self.assertIn("# ", r.stdout, "the default config is documented")
            self.assertIn("[log]", r.stdout)
            if mode == "imageproc":
                # imageproc reads stdin: with stdin closed it starts, finds EOF and exits 0.
                with tempfile.TemporaryDirectory() as tmp:
                    path = os.path.join(tmp, "default.toml")
                    with open(path, "w") as f:
                        f.write(r.stdout)
                    r2 = run_parley([mode, "--config", path], stdin=subprocess.DEVNULL)
                    self.assertEqual(r2.returncode, 0, r2.stderr)
                continue
            port = free_port()
            text = r.stdout.replace("port = 8080", f"port = {port}").replace("port = 8443", f"port = {port}")
            p = self.start(mode, config=text, port=port, wait=False)
            p.wait_log("started" if mode != "server" else "listening on")
            self.assertEqual(p.stop(), 0, p.log())


class ServerLifecycleTest(ParleyTestCase):
    def test_health(self):
        p = self.start("server")
        status, headers, body = http_request("GET", p.port, "/api/v1/health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")
        self.assertIn("version", body)
        self.assertTrue(headers["content-type"].startswith("application/json"))

    def test_second_server_on_same_data_dir_refused(self):
        first = self.start("server")
        second = self.start("server", data_dir=first.data_dir, wait=False)
        self.assertEqual(second.proc.wait(15), 1)
        self.assertIn("is in use by another parley process", second.log())
        self.assertIn(str(first.proc.pid), second.log())
        status, _, _ = http_request("GET", first.port, "/api/v1/health")
        self.assertEqual(status, 200, "the first server keeps serving")
        # Once the first is gone, the directory is free again.
        self.assertEqual(first.stop(), 0)
        third = self.start("server", data_dir=first.data_dir)
        self.assertEqual(third.stop(), 0)

    def test_sigterm_with_idle_keepalive_connection_exits_0_quickly(self):
        p = self.start("server", config="[http]\nidle_timeout_ms = 600000\n")
        idle = socket.create_connection(("127.0.0.1", p.port))
        idle.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
        self.assertIn(b"200 OK", idle.recv(4096))
        started = time.monotonic()
        self.assertEqual(p.stop(signal.SIGTERM), 0, p.log())
        self.assertLess(time.monotonic() - started, 5.0, "idle connections must not delay shutdown")
        self.assertIn("shutting down gracefully", p.log())
        self.assertIn("parley server stopped", p.log())
        idle.close()
        # The listener is closed.
        with self.assertRaises(OSError):
            socket.create_connection(("127.0.0.1", p.port), timeout=1).close()

    def test_sigint_also_stops_cleanly(self):
        p = self.start("server")
        self.assertEqual(p.stop(signal.SIGINT), 0, p.log())

    def test_sigterm_during_requests(self):
        p = self.start("server")
        conns = []
        for _ in range(20):
            s = socket.create_connection(("127.0.0.1", p.port))
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
            conns.append(s)
        p.send_signal(signal.SIGTERM)
        for s in conns:
            # An accepted request is answered; one still in the listen backlog when the
            # listener closes is reset by the kernel.
            try:
                data = s.recv(4096)
                self.assertTrue(data == b"" or b"200 OK" in data, data)
            except ConnectionResetError:
                pass
            s.close()
        self.assertEqual(p.proc.wait(10), 0, p.log())

    def test_other_modes_stop_cleanly_on_sigterm(self):
        for mode in ["manager", "botclient"]:
            p = self.start(mode, wait=False)
            p.wait_log("started")
            self.assertEqual(p.stop(), 0, p.log())
            self.assertIn("stopped", p.log())


class SystemdNotifyTest(ParleyTestCase):
    def check_notify(self, mode):
        notify = NotifySocket()
        try:
            env = {"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"}
            p = self.start(mode, wait=False, env=env)
            notify.wait_for("READY=1")
            # WATCHDOG=1 every half of WATCHDOG_USEC (100 ms): expect several within a second.
            count = 0
            deadline = time.monotonic() + 1.0
            while time.monotonic() < deadline:
                try:
                    if "WATCHDOG=1" in notify.receive(0.3).split("\n"):
                        count += 1
                except socket.timeout:
                    break
            self.assertGreaterEqual(count, 5, f"{mode}: watchdog pings in 1 s: {notify.messages}")
            p.send_signal(signal.SIGTERM)
            notify.wait_for("STOPPING=1")
            self.assertEqual(p.proc.wait(10), 0, p.log())
        finally:
            notify.close()

    def test_server_notify(self):
        self.check_notify("server")

    def test_manager_notify(self):
        self.check_notify("manager")

    def test_no_watchdog_when_not_asked(self):
        notify = NotifySocket()
        try:
            p = self.start("server", wait=False, env={"NOTIFY_SOCKET": notify.path})
            notify.wait_for("READY=1")
            with self.assertRaises(socket.timeout):
                while True:
                    msg = notify.receive(0.5)
                    self.assertNotIn("WATCHDOG=1", msg)
            p.stop()
        finally:
            notify.close()


class SystemdUnitsTest(unittest.TestCase):
    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is not installed")
    def test_units_verify(self):
        with tempfile.TemporaryDirectory() as tmp:
            paths = []
            for unit in ["parley-server.service", "parley-manager.service"]:
                with open(os.path.join(SOURCE_DIR, "systemd", unit)) as f:
                    text = f.read()
                for key in ["Type=notify", "WatchdogSec=", "Restart=on-failure", "User=",
                            "StateDirectory=", "NoNewPrivileges=yes", "ProtectSystem=strict",
                            "ProtectHome=yes", "PrivateTmp=yes"]:
                    self.assertIn(key, text, f"{unit} lacks {key}")
                # verify checks that ExecStart exists: point it at the binary under test.
                text = text.replace("/usr/bin/parley", os.path.abspath(BINARY))
                path = os.path.join(tmp, unit)
                with open(path, "w") as f:
                    f.write(text)
                paths.append(path)
            r = subprocess.run(["systemd-analyze", "verify"] + paths, capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stderr.strip(), "", "systemd-analyze printed warnings")


    @unittest.skipUnless(shutil.which("systemd-sysusers") and shutil.which("systemd-tmpfiles"),
                         "systemd-sysusers or systemd-tmpfiles is not installed")
    @unittest.skipUnless(os.geteuid() == 0, "creating directories owned by other users needs root")
    def test_sysusers_and_tmpfiles_apply_to_a_fresh_root(self):
        # The units run as parley and parley-manager: the entries must create both users and
        # groups and the state directories, readable by nobody else.
        with tempfile.TemporaryDirectory() as root:
            for name in ["sysusers", "tmpfiles"]:
                os.makedirs(os.path.join(root, f"usr/lib/{name}.d"))
                shutil.copy(os.path.join(SOURCE_DIR, "systemd", f"parley.{name}"),
                            os.path.join(root, f"usr/lib/{name}.d/parley.conf"))
            os.makedirs(os.path.join(root, "etc"))
            for name in ["passwd", "group"]:
                open(os.path.join(root, "etc", name), "w").close()
            r = subprocess.run(["systemd-sysusers", f"--root={root}", "parley.conf"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            with open(os.path.join(root, "etc/passwd")) as f:
                users = {line.split(":")[0]: line.split(":") for line in f if line.strip()}
            with open(os.path.join(root, "etc/group")) as f:
                groups = {line.split(":")[0] for line in f if line.strip()}
            for name in ["parley", "parley-manager"]:
                self.assertIn(name, users)
                self.assertIn(name, groups)
                self.assertEqual(users[name][5], f"/var/lib/{name}")
            r = subprocess.run(["systemd-tmpfiles", f"--root={root}", "--create", "parley.conf"],
                               capture_output=True, text=True)
            self.assertEqual(r.returncode, 0, r.stderr)
            for name in ["parley", "parley-manager"]:
                st = os.stat(os.path.join(root, "var/lib", name))
                self.assertEqual(st.st_mode & 0o777, 0o750)
                self.assertEqual(st.st_uid, int(users[name][2]))


if __name__ == "__main__":
    unittest.main()
