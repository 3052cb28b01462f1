"""The Debian package (make deb, docs/deploy.md): runs cpack on the existing build into a temporary
directory and inspects the .deb and its -dbgsym with dpkg-deb: contents, control fields, conffiles,
maintainer scripts, the stripped binary and its split debug symbols, the generated configuration.
Installing it under a real systemd is the system test's job (tests/system/run).
"""

import os
import re
import shutil
import subprocess
import tempfile
import tomllib
import unittest

from harness import BINARY, SOURCE_DIR

BUILD_DIR = os.path.dirname(os.path.abspath(BINARY))

EXPECTED_FILES = {
    "/usr/bin/parley",
    "/lib/systemd/system/parley-server.service",
    "/lib/systemd/system/parley-manager.service",
    "/usr/lib/sysusers.d/parley.conf",
    "/usr/lib/tmpfiles.d/parley.conf",
    "/usr/share/polkit-1/rules.d/50-parley-manager.rules",
    "/etc/parley/server.toml",
    "/etc/parley/manager.toml",
    "/usr/share/doc/parley/README.md",
    "/usr/share/doc/parley/copyright",
    "/usr/share/doc/parley/changelog.gz",
    "/usr/share/doc/parley/docs/api.md",
    "/usr/share/doc/parley/docs/deploy.md",
    "/usr/share/man/man1/parley.1.gz",
}


def run(args, **kwargs):
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=300, **kwargs)


def elf_sections(path):
    return run(["readelf", "-S", "-W", path]).stdout


def build_id(path):
    m = re.search(r"Build ID: ([0-9a-f]+)", run(["readelf", "-n", path]).stdout)
    return m.group(1) if m else None


class DebianPackageTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="parley-package-")
        out = os.path.join(cls.tmp.name, "out")
        # zstd: the -dbgsym holds ~90 MB of DWARF, and gzip or xz would take most of a minute here.
        run(["cpack", "-G", "DEB", "-B", out, "-D", "CPACK_DEBIAN_COMPRESSION_TYPE=zstd",
             "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake")], cwd=BUILD_DIR)
        debs = [f for f in os.listdir(out) if f.endswith(".deb")]
        ddebs = [f for f in os.listdir(out) if f.endswith(".ddeb")]
        assert len(debs) == 1 and len(ddebs) == 1, os.listdir(out)
        cls.deb = os.path.join(out, debs[0])
        cls.ddeb = os.path.join(out, ddebs[0])
        cls.root = os.path.join(cls.tmp.name, "root")
        cls.control = os.path.join(cls.tmp.name, "control")
        run(["dpkg-deb", "-R", cls.deb, cls.root])
        os.rename(os.path.join(cls.root, "DEBIAN"), cls.control)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def field(self, name, deb=None):
        return run(["dpkg-deb", "-f", deb or self.deb, name]).stdout.strip()

    def test_file_name_and_control_fields(self):
        version = run([BINARY, "--version"]).stdout.split()[-1]
        self.assertEqual(os.path.basename(self.deb), f"parley_{version}_amd64.deb")
        self.assertEqual(self.field("Package"), "parley")
        self.assertEqual(self.field("Version"), version)
        depends = self.field("Depends")
        for lib in ("systemd", "libsqlite3-0", "libssl3", "libvips42", "libsdbus-c++1", "libc6"):
            self.assertRegex(depends, rf"(^|, ){re.escape(lib)}( |,|$)")
        self.assertEqual(self.field("Recommends"), "polkitd")

    def test_contents(self):
        listing = run(["dpkg-deb", "-c", self.deb]).stdout
        paths = set()
        for line in listing.splitlines():
            owner, path = line.split()[1], line.split()[5]
            self.assertEqual(owner, "root/root", line)
            if not path.endswith("/"):
                paths.add(path[1:])
        missing = EXPECTED_FILES - paths
        self.assertFalse(missing, f"missing from the package: {sorted(missing)}")
        # Nothing outside the directories a Debian package may own.
        for path in paths:
            self.assertRegex(path, r"^/(usr|etc/parley|lib/systemd/system)/", path)
        # Every doc the README and the units point at is there.
        docs = {os.path.basename(p) for p in paths if p.startswith("/usr/share/doc/parley/docs/")}
        self.assertEqual(docs, {f for f in os.listdir(os.path.join(SOURCE_DIR, "docs")) if f.endswith(".md")})

    def test_conffiles_and_maintainer_scripts(self):
        with open(os.path.join(self.control, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/parley/server.toml", "/etc/parley/manager.toml"])
        for script in ("postinst", "prerm", "postrm"):
            path = os.path.join(self.control, script)
            self.assertTrue(os.access(path, os.X_OK), script)
            run(["sh", "-n", path])
        with open(os.path.join(self.control, "postinst")) as f:
            postinst = f.read()
        self.assertIn("systemd-sysusers /usr/lib/sysusers.d/parley.conf", postinst)
        self.assertIn("systemd-tmpfiles --create /usr/lib/tmpfiles.d/parley.conf", postinst)
        # The server is enabled, the manager only tracked: it must be configured first.
        self.assertIn("deb-systemd-helper enable parley-server.service", postinst)
        self.assertNotIn("enable parley-manager", postinst)
        with open(os.path.join(self.control, "postrm")) as f:
            postrm = f.read()
        self.assertIn('if [ "${PARLEY_PURGE_DATA:-}" = yes ]', postrm)

    def test_binary_is_stripped_and_debug_symbols_are_split_off(self):
        binary = os.path.join(self.root, "usr/bin/parley")
        sections = elf_sections(binary)
        self.assertNotIn(".debug_info", sections)
        self.assertNotIn(".symtab", sections)
        self.assertIn(".gnu_debuglink", sections)
        # Smaller than the built binary; by how much depends on the build (a sanitizer build's
        # code alone is over half of it), so the sections above are the real check.
        self.assertLess(os.path.getsize(binary), os.path.getsize(BINARY))
        self.assertEqual(run([binary, "--version"]).stdout, run([BINARY, "--version"]).stdout)

        self.assertEqual(self.field("Package", self.ddeb), "parley-dbgsym")
        self.assertEqual(self.field("Version", self.ddeb), self.field("Version"))
        bid = build_id(binary)
        self.assertTrue(bid)
        debug_file = f"./usr/lib/debug/.build-id/{bid[:2]}/{bid[2:]}.debug"
        debug_listing = run(["dpkg-deb", "-c", self.ddeb]).stdout
        self.assertIn(debug_file, debug_listing)
        droot = os.path.join(self.tmp.name, "dbgsym")
        run(["dpkg-deb", "-R", self.ddeb, droot])
        self.assertIn(".debug_info", elf_sections(os.path.join(droot, debug_file)))
        # md5sums names the file by its path in the package (cmake/fix_dbgsym.cmake), with its sum.
        with open(os.path.join(droot, "DEBIAN", "md5sums")) as f:
            md5sums = f.read().split()
        self.assertEqual(md5sums[1::2], [debug_file[2:]])
        self.assertEqual(md5sums[0], run(["md5sum", os.path.join(droot, debug_file)]).stdout.split()[0])
        self.assertEqual(os.readlink(os.path.join(droot, "usr/share/doc/parley-dbgsym")), "parley")

    def test_default_configuration_files(self):
        for mode in ("server", "manager"):
            with open(os.path.join(self.root, f"etc/parley/{mode}.toml")) as f:
                text = f.read()
            printed = run([BINARY, mode, "--print-default-config"]).stdout
            # Every setting printed, as a comment: the built-in defaults apply.
            commented = "\n".join(line if not line or line.startswith("#") else "#" + line
                                   for line in printed.split("\n"))
            self.assertTrue(text.endswith(commented), mode)
            self.assertIn(f"parley-{mode}.service", text.split("\n", 1)[0])
            self.assertEqual(tomllib.loads(text), {}, mode)
            # The binary accepts the installed file, also with tables added at its end as the
            # docs do (a table already set in the file could not be added again).
            added = {"server": '\n[server]\nport = 9000\n\n[bots]\nlocal = 1\nbehaviours = ["echo"]\n',
                     "manager": '\n[manager]\nname = "vault"\n\n[manager.backup]\nkeep_daily = 7\n'}
            with tempfile.NamedTemporaryFile("w", suffix=".toml") as edited:
                edited.write(text + added[mode])
                edited.flush()
                for path in (os.path.join(self.root, f"etc/parley/{mode}.toml"), edited.name):
                    check = subprocess.run([BINARY, mode, "--config", path, "--check-config"],
                                           capture_output=True, text=True, timeout=30)
                    self.assertEqual(check.returncode, 0, check.stdout + check.stderr)
                    self.assertIn("ok", check.stdout)
            # The check does find a clash: the settings printed uncommented, then the same tables.
            with tempfile.NamedTemporaryFile("w", suffix=".toml") as clash:
                clash.write(printed + added[mode])
                clash.flush()
                check = subprocess.run([BINARY, mode, "--config", clash.name, "--check-config"],
                                       capture_output=True, text=True, timeout=30)
                self.assertEqual(check.returncode, 3, check.stdout + check.stderr)
                self.assertIn("redefine", check.stderr)

    def test_units_polkit_rule_and_docs_match_the_tree(self):
        pairs = {
            "lib/systemd/system/parley-server.service": "systemd/parley-server.service",
            "lib/systemd/system/parley-manager.service": "systemd/parley-manager.service",
            "usr/lib/sysusers.d/parley.conf": "systemd/parley.sysusers",
            "usr/lib/tmpfiles.d/parley.conf": "systemd/parley.tmpfiles",
            "usr/share/polkit-1/rules.d/50-parley-manager.rules": "systemd/parley-manager.rules",
            "usr/share/doc/parley/README.md": "README.md",
        }
        for packaged, source in pairs.items():
            with open(os.path.join(self.root, packaged), "rb") as a, open(os.path.join(SOURCE_DIR, source), "rb") as b:
                self.assertEqual(a.read(), b.read(), packaged)
        for unit in ("parley-server.service", "parley-manager.service"):
            with open(os.path.join(self.root, "lib/systemd/system", unit)) as f:
                text = f.read()
            self.assertIn("ExecStart=/usr/bin/parley ", text)
            self.assertIn("Documentation=file:///usr/share/doc/parley/README.md", text)
        with open(os.path.join(self.root, "usr/share/polkit-1/rules.d/50-parley-manager.rules")) as f:
            rule = f.read()
        action_ids = set(re.findall(r'"(org\.freedesktop\.[a-z0-9.-]+)"', rule))
        self.assertEqual(action_ids, {"org.freedesktop.systemd1.manage-units",
                                      "org.freedesktop.login1.reboot",
                                      "org.freedesktop.login1.reboot-multiple-sessions"})


if __name__ == "__main__":
    unittest.main()
