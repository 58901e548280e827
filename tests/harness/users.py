"""Real Linux users and groups for tests, and a way to run the toolkit as them.

Needs root (CI runs as root); otherwise tests that use it skip with the reason.
Names get a random suffix and are removed at the end of the session. The
toolkit is run from the venv under test when every folder on the way to it is
readable by others; otherwise from a non-editable install in a world-readable
fallback venv, built once per session.
"""

import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

TOOLS = ("useradd", "userdel", "groupadd", "groupdel", "setpriv")
SYSTEM_PYTHON = "/usr/bin/python3"


def others_can_read(path):
    """True if every folder from / down to path is r+x for others (and path itself readable)."""
    p = Path(os.path.realpath(path))
    for d in [*reversed(p.parents), p]:
        mode = d.stat().st_mode
        need = 0o005 if stat.S_ISDIR(mode) else 0o004
        if mode & need != need:
            return False
    return True


def skip_reason():
    if os.geteuid() != 0:
        return "needs root to create real Linux users and groups (CI runs as root)"
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        return f"missing user-management tools: {', '.join(missing)}"
    return None


def _sh(*argv):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode:
        raise RuntimeError(f"{' '.join(argv)}: exit {r.returncode}: {r.stderr.strip()}")
    return r.stdout


def _venv_usable_by_others(bindir):
    import typer

    import hdfs2s3kit

    exe = Path(bindir) / "python"
    needed = (exe, os.path.realpath(exe), Path(hdfs2s3kit.__file__), Path(typer.__file__),
              Path(bindir) / "authz-check")
    return all(p.exists() and others_can_read(p) for p in map(Path, needed))


def _checkout_root():
    import hdfs2s3kit

    root = Path(hdfs2s3kit.__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").exists() else None


def build_fallback_venv(base):
    """A venv others can run: /usr/bin/python3 -m venv + a non-editable pip install of the checkout
    and the local-AWS server."""
    src = _checkout_root()
    if src is None or not os.access(SYSTEM_PYTHON, os.X_OK):
        pytest.skip("the venv under test is not readable by other users and no fallback can be built "
                    f"(need {SYSTEM_PYTHON} and the source checkout)")
    venv = Path(base) / "venv"
    _sh(SYSTEM_PYTHON, "-m", "venv", str(venv))
    # the demo, run as a test user, starts its own moto_server: it needs the server and the
    # native checksums from the test extras, not pyspark (which would cost minutes here)
    _sh(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(src), "moto[server]", "awscrt", "crc32c")
    for d, dirs, files in os.walk(venv):
        for n in dirs + files:
            p = os.path.join(d, n)
            if not os.path.islink(p):
                os.chmod(p, os.stat(p).st_mode | (0o005 if os.path.isdir(p) else 0o004))
    return str(venv / "bin")


def _rename_group(old, new):
    """Rename a group in /etc/group and /etc/gshadow, to a name groupadd refuses (a space, all
    digits: names SSSD/AD hand out). Under the shadow suite's lock (lckpwdf), which
    useradd/groupadd take too, so tests running side by side cannot lose an entry."""
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.lckpwdf() != 0:
        raise RuntimeError("cannot lock the user database (lckpwdf)")
    try:
        for path in ("/etc/group", "/etc/gshadow"):
            if not os.path.exists(path):
                continue
            with open(path) as f:
                lines = f.read().splitlines(keepends=True)
            out = [new + ln[len(old):] if ln.startswith(old + ":") else ln for ln in lines]
            st = os.stat(path)
            tmp = path + ".h2s-tmp"
            with open(tmp, "w") as f:
                f.writelines(out)
            os.chown(tmp, st.st_uid, st.st_gid)
            os.chmod(tmp, st.st_mode)
            os.replace(tmp, path)
    finally:
        libc.ulckpwdf()


class LinuxUsers:
    """Create users/groups on demand by label; `name(label)` gives the real name."""

    def __init__(self, bindir, home):
        self.tag = secrets.token_hex(3)
        self.bindir = bindir
        self.home = home
        self._users, self._groups = {}, {}
        self._renamed = {}   # odd name -> the valid name it was created under

    def group(self, label):
        if label not in self._groups:
            name = f"h2s{self.tag}{label}"[:32]
            _sh("groupadd", name)
            self._groups[label] = name
        return self._groups[label]

    def odd_group(self, label, name, members=()):
        """A group whose real name is NAME exactly (spaces, digits allowed), with these members
        (user labels). groupadd refuses such names, so it is created valid, then renamed."""
        if label not in self._groups:
            valid = self.group(label + "x")
            for m in members:
                _sh("usermod", "-a", "-G", valid, self.user(m))
            _rename_group(valid, name)
            self._renamed[name] = valid
            self._groups[label] = name
            del self._groups[label + "x"]
        return self._groups[label]

    def user(self, label, groups=()):
        """A user (with its own primary group) in the given extra groups (labels)."""
        if label not in self._users:
            name = f"h2s{self.tag}{label}"[:32]
            extra = [self.group(g) for g in groups]
            _sh("useradd", "-M", "-N", "-g", self.group(f"{label}pg"), "-s", "/usr/sbin/nologin",
                *(["-G", ",".join(extra)] if extra else []), name)
            self._users[label] = name
        return self._users[label]

    def cmd(self, name):
        return os.path.join(self.bindir, name)

    def run(self, user, argv, *, input=None, env=None, timeout=300):
        """Run argv as a real user (its own uid, gid and supplementary groups from NSS)."""
        full_env = dict(os.environ, HOME=self.home)
        full_env.pop("HDFS2S3_CONFIG", None)
        full_env.update(env or {})
        name = self._users.get(user, user)
        return subprocess.run(["setpriv", f"--reuid={name}", f"--regid={self._primary(name)}", "--init-groups",
                               "--", *map(str, argv)], input=input, env=full_env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=timeout)

    @staticmethod
    def _primary(name):
        import pwd

        return pwd.getpwnam(name).pw_gid

    def cleanup(self):
        for name in self._users.values():
            subprocess.run(["userdel", name], stderr=subprocess.DEVNULL)
        for name in self._groups.values():
            if name in self._renamed:
                _rename_group(name, self._renamed[name])
                name = self._renamed[name]
            subprocess.run(["groupdel", name], stderr=subprocess.DEVNULL)


@pytest.fixture(scope="session")
def linux_users():
    why = skip_reason()
    if why:
        pytest.skip(why)
    base = tempfile.mkdtemp(prefix="h2s-users-")
    os.chmod(base, 0o755)
    home = os.path.join(base, "home")
    os.mkdir(home)
    os.chmod(home, 0o1777)
    bindir = os.path.dirname(sys.executable)
    if os.environ.get("HDFS2S3_TEST_FALLBACK_VENV") or not _venv_usable_by_others(bindir):
        bindir = build_fallback_venv(base)
    users = LinuxUsers(bindir, home)
    yield users
    users.cleanup()
    shutil.rmtree(base, ignore_errors=True)
