"""The set-up recipes of the docs, run as written, so that they cannot rot: mutual TLS between
managers (docs/tls.md, "Mutual TLS between managers") and the two-host backup walk-through
(docs/backups.md, "Setting up two hosts, step by step").

Every block the docs mark with `<!-- doc-test: NAME -->` is taken from the markdown: shell
blocks run in bash (`-euo pipefail`), TOML blocks become the configuration files they say. Only
the example's host names, addresses, port and absolute paths are mapped, in one pass, onto this
test's temporary directory (one tree per host: `ca`, `origin`, `vault`), and the `<…>`
placeholders are filled with what the earlier steps produced. Then two real `parley manager`
processes start from those files, talk mutual TLS, and a real server's data is backed up,
looked at and restored with the documented commands.
"""

import json
import os
import re
import sqlite3
import subprocess
import tempfile
import tomllib
import unittest

from harness import BINARY, FAST_AUTH, SOURCE_DIR, Api, free_port, wait_until
from test_backup import media_file
from test_manager import ManagerTestCase

MARKED = re.compile(r"<!-- doc-test: ([\w-]+) -->\n```(\w+)\n(.*?)\n```", re.S)
NO_BUS = {"DBUS_SYSTEM_BUS_ADDRESS": "unix:path=/nonexistent/bus"}


def marked_blocks(doc):
    """{name: (language, text)} of the blocks a doc marks for this test."""
    with open(os.path.join(SOURCE_DIR, "docs", doc)) as f:
        text = f.read()
    blocks = {}
    for m in MARKED.finditer(text):
        assert m.group(1) not in blocks, f"{doc}: two blocks named {m.group(1)}"
        blocks[m.group(1)] = (m.group(2), m.group(3))
    return blocks


class DocRecipesTest(ManagerTestCase):
    def setUp(self):
        super().setUp()
        self.require_tls()
        self.work = tempfile.TemporaryDirectory(prefix="parley-doc-")
        self.addCleanup(self.work.cleanup)
        self.root = self.work.name
        self.vault_port = free_port()
        self.blocks = {**marked_blocks("tls.md"), **marked_blocks("backups.md")}
        self.placeholders = {}
        # `parley` on the PATH, as on an installed host.
        bin_dir = os.path.join(self.root, "bin")
        os.makedirs(bin_dir)
        os.symlink(os.path.abspath(BINARY), os.path.join(bin_dir, "parley"))
        self.env = dict(os.environ, PATH=bin_dir + os.pathsep + os.environ["PATH"])
        for host in ("ca", "origin", "vault"):
            os.makedirs(os.path.join(self.root, host))

    def host_path(self, host, path):
        return os.path.join(self.root, host) + path

    def mapped(self, host, text):
        """The example's names, addresses, port and absolute paths, as this test has them."""
        table = {
            "/etc/parley": self.host_path(host, "/etc/parley"),
            "/var/lib/parley-manager": self.host_path(host, "/var/lib/parley-manager"),
            "/var/lib/parley": self.host_path(host, "/var/lib/parley"),
            "/tmp/parley-restore": self.host_path(host, "/tmp/parley-restore"),
            "vault.example.org": "localhost",
            "chat.example.org": "localhost",
            "192.0.2.20": "127.0.0.1",
            "192.0.2.10": "127.0.0.1",
            "8443": str(self.vault_port),
        }
        keys = sorted(table, key=len, reverse=True)

        def replace(m):
            found = m.group(0)
            if not found.startswith("<"):
                return table[found]
            if found in self.placeholders:
                return self.placeholders[found]
            line = re.fullmatch(r"<the line of (\S+) on the (\w+)>", found)
            self.assertIsNotNone(line, f"no value for the placeholder {found}")
            with open(self.host_path(line.group(2), line.group(1))) as f:
                return f.read().strip()
        # One pass: nothing put in is looked at again (a hash may well contain "8443").
        pattern = r"<the [^<>\n]+>|" + "|".join(re.escape(k) for k in keys)
        return re.sub(pattern, replace, text)

    def block(self, name, language):
        self.assertIn(name, self.blocks, "a block the docs should mark with <!-- doc-test -->")
        lang, text = self.blocks[name]
        self.assertEqual(lang, language, name)
        return text

    def sh(self, name, host, cwd=None):
        script = self.mapped(host, self.block(name, "sh"))
        r = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd or os.path.join(self.root, host),
                           env=self.env, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
        self.assertEqual(r.returncode, 0, f"{name} on {host}:\n{script}\n--- stdout:\n{r.stdout}\n--- stderr:\n{r.stderr}")
        return r.stdout + r.stderr

    def toml(self, name, host, path, append=False):
        text = self.mapped(host, self.block(name, "toml"))
        target = self.host_path(host, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "a" if append else "w") as f:
            f.write(("\n" if append else "") + text + "\n")
        return target

    def packaged_config(self, host, mode):
        """Puts the package's /etc/parley/<mode>.toml (generated by the build) on the host."""
        packaged = os.path.join(os.path.dirname(os.path.abspath(BINARY)), "packaging", "etc", f"{mode}.toml")
        target = self.host_path(host, f"/etc/parley/{mode}.toml")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(packaged) as f, open(target, "w") as out:
            out.write(f.read())

    def start_manager_of(self, host, port=0):
        with open(self.host_path(host, "/etc/parley/manager.toml")) as f:
            config = f.read()
        p = self.start("manager", config=config, wait=False, env=NO_BUS, port=port,
                       data_dir=self.host_path(host, "/var/lib/parley-manager"))
        p.wait_log("manager api listening on")
        return p

    def test_mutual_tls_and_a_backup_between_two_hosts_as_the_docs_say(self):
        ca = os.path.join(self.root, "ca")
        # tls.md: the CA, a certificate per manager, installed on its host, configured.
        self.sh("mtls-ca", "ca")
        out = self.sh("mtls-certs", "ca")
        self.assertIn("vault.pem: OK", out)
        self.assertIn("origin.pem: OK", out)
        self.assertIn("TLS Web Client Authentication", out)
        self.sh("mtls-install-vault", "vault", cwd=ca)
        self.sh("mtls-install-origin", "origin", cwd=ca)
        # Each host starts from the file the package installs, and the docs' tables are added.
        for host in ("vault", "origin"):
            self.packaged_config(host, "manager")
        vault_toml = self.toml("mtls-config-vault", "vault", "/etc/parley/manager.toml", append=True)
        self.toml("mtls-config-origin", "origin", "/etc/parley/manager.toml", append=True)

        # backups.md: keys, the rest of both configurations, the server's part.
        self.sh("backup-keys-origin", "origin")
        self.sh("backup-keys-vault", "vault")
        self.toml("backup-config-vault", "vault", "/etc/parley/manager.toml", append=True)
        self.toml("backup-config-origin", "origin", "/etc/parley/manager.toml", append=True)
        with open(vault_toml, "rb") as f:
            self.assertNotIn("peers", tomllib.load(f)["manager"], "the target needs no peer entry for the source")

        vault = self.start_manager_of("vault", port=self.vault_port)
        out = self.sh("mtls-check", "origin")
        self.assertIn("Verification: OK", out)
        self.assertIn("TLSv1.3", out)
        origin = self.start_manager_of("origin")

        server_block = self.mapped("origin", self.block("backup-config-server", "toml"))
        server = self.start("server", config=FAST_AUTH + server_block,
                            data_dir=self.host_path("origin", "/var/lib/parley"))
        server.wait_log("manager client: connected to the manager at")
        server.wait_log("next daily backup at")
        api = Api(server.port)
        alice, ws = api.connected("alice")
        _, _, room = api.call("POST", "/api/v1/rooms", {"title": "kept"}, token=alice["access_token"])
        ws.send_json({"type": "send", "id": 1, "room_id": room["room_id"], "text": "worth keeping",
                      "client_msg_id": "k1"})
        self.assertEqual(ws.recv_until(lambda m: m.get("id") == 1)["type"], "ok")
        digest = media_file(server.data_dir, os.urandom(3000))

        # Run one: the origin dials the vault over mutual TLS with its admin key there.
        out = self.sh("backup-run", "origin")
        answer = json.loads(out[:out.rindex("}") + 1])
        self.assertTrue(answer["ok"], out)
        result = answer["result"]
        self.assertEqual(result["state"], "done", out)
        snapshot = result["snapshot"]
        self.assertEqual(result["media"]["sent_files"], 1)
        self.assertRegex(vault.log(), r"cn=origin")

        out = self.sh("backup-look", "vault")
        self.assertIn(snapshot, out)
        self.assertIn(snapshot + ".db", out)
        self.assertIn(digest[:2], out)
        backups = self.host_path("vault", "/var/lib/parley-manager/backups/origin")
        self.assertTrue(os.path.exists(os.path.join(backups, "media", digest[:2], digest + ".jpg")))

        # And bring it back, into a scratch directory.
        self.placeholders["<the snapshot id>"] = snapshot
        self.sh("backup-restore", "vault")
        restored = self.host_path("vault", "/tmp/parley-restore")
        db = sqlite3.connect(f"file:{restored}/db/current.db?mode=ro", uri=True)
        texts = [r[0] for r in db.execute("SELECT text FROM all_messages")]
        db.close()
        self.assertEqual(texts, ["worth keeping"])
        self.assertTrue(os.path.exists(os.path.join(restored, "media", digest[:2], digest + ".jpg")))
        ws.close()
        self.assertEqual(origin.stop(), 0)
        self.assertEqual(vault.stop(), 0)


if __name__ == "__main__":
    unittest.main()
