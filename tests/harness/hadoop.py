"""A real `hadoop fs`: Hadoop's FsShell from pyspark's jars, with HDFS-style paths mapped
onto a temporary folder through viewfs (`/user/...` -> TMP/root/user/...).

The `hadoop` wrapper script here is test-only (never shipped): it maps
`hadoop fs ARGS` onto the java command and appends one line per launch to a
counter file, so tests can assert how many JVMs a batch cost. Everything lives
in a world-traversable temp folder so the real test users can run it too.
"""

import importlib.util
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from .users import linux_users, others_can_read  # noqa: F401 - one import line in conftest

JAR_PREFIXES = ("hadoop-client-api-", "hadoop-client-runtime-", "slf4j-api-", "log4j-api-", "log4j-core-",
                "log4j-slf4j2-impl-", "log4j-1.2-api-")
JAVA_OPTS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xshare:auto", "-XX:-UsePerfData")

CORE_SITE = """<?xml version="1.0"?>
<configuration>
  <property><name>fs.defaultFS</name><value>viewfs://c/</value></property>
  <property><name>fs.viewfs.mounttable.c.link./user</name><value>file://{root}/user</value></property>
</configuration>
"""
# Like a real installation: log WARN and above to stderr, so noise is there to be filtered.
LOG4J2 = """status = error
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yy/MM/dd HH:mm:ss} %p %c{2}: %m%n
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
"""
WRAPPER = """#!/bin/bash
# test harness: `hadoop fs ARGS` -> Hadoop FsShell on the JVM; counts launches.
printf '%s\\n' "$$" >> {count}
if [ "$1" != fs ]; then echo "hadoop (test wrapper): only 'hadoop fs' is supported" >&2; exit 1; fi
shift
exec {java} {opts} -cp {cp} org.apache.hadoop.fs.FsShell "$@"
"""


def jars_dir():
    spec = importlib.util.find_spec("pyspark")
    if spec is None or not spec.submodule_search_locations:
        return None
    d = Path(list(spec.submodule_search_locations)[0]) / "jars"
    return d if d.is_dir() else None


def skip_reason():
    if shutil.which("java") is None:
        return "java not installed (make test installs default-jre-headless)"
    d = jars_dir()
    if d is None:
        return "pyspark not installed (pip install -e '.[test]'): no Hadoop client jars"
    missing = [p for p in JAR_PREFIXES if not any(d.glob(p + "*.jar"))]
    if missing:
        return f"pyspark jars lack {missing}"
    return None


class Hadoop:
    """The harness: `cmd` is the wrapper to put in HADOOP_CMD; `root` is the local folder
    behind viewfs, so /user/x is root/user/x."""

    def __init__(self, base, core_site=True):
        self.base = Path(base)
        self.root = self.base / "root"
        self.conf = self.base / ("conf" if core_site else "conf-empty")
        self.count_file = self.base / "launches"
        self.cmd = str(self.base / ("hadoop" if core_site else "hadoop-broken"))

    @classmethod
    def build(cls, base, core_site=True):
        h = cls(base, core_site)
        src = jars_dir()
        jars = [next(src.glob(p + "*.jar")) for p in JAR_PREFIXES]
        libdir = h.base / "jars"
        if not libdir.exists():
            libdir.mkdir()
            for j in jars:
                # Link when the test users can already read the venv; copy when they cannot.
                if others_can_read(j):
                    os.symlink(j, libdir / j.name)
                else:
                    shutil.copy(j, libdir / j.name)
                    os.chmod(libdir / j.name, 0o644)
        (h.root / "user").mkdir(parents=True, exist_ok=True)
        os.chmod(h.root, 0o755)
        os.chmod(h.root / "user", 0o1777)
        h.conf.mkdir(exist_ok=True)
        if core_site:
            (h.conf / "core-site.xml").write_text(CORE_SITE.format(root=h.root))
        (h.conf / "log4j2.properties").write_text(LOG4J2)
        h.count_file.touch()
        os.chmod(h.count_file, 0o666)
        cp = ":".join([str(h.conf)] + [str(libdir / j.name) for j in jars])
        Path(h.cmd).write_text(WRAPPER.format(count=h.count_file, java=shutil.which("java"),
                                              opts=" ".join(JAVA_OPTS), cp=cp))
        os.chmod(h.cmd, 0o755)
        return h

    def env(self):
        return {"HADOOP_CMD": self.cmd}

    def launches(self):
        return len(self.count_file.read_text().splitlines())

    def local(self, hdfs_path):
        assert hdfs_path.startswith("/user/")
        return self.root / hdfs_path.lstrip("/")

    def fs(self, *args):
        """Run the real `hadoop fs ARGS` through the wrapper (for cross-checks)."""
        return subprocess.run([self.cmd, "fs", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


_STALLING = """#!/bin/bash
if [ "$1" = fs ] && [ "$2" = -cat ]; then
  "{real}" "$@" | head -c {cut}
  sleep 90
  exit 0
fi
exec "{real}" "$@"
"""


def stalling_hadoop(hadoop, directory, cut):
    """A `hadoop` whose `fs -cat` writes `cut` bytes and then hangs, so the reader is
    stuck with an upload open (parts already sent) when the test signals."""
    path = Path(directory) / "hadoop-stalling"
    path.write_text(_STALLING.format(real=hadoop.cmd, cut=cut))
    path.chmod(0o755)
    return str(path)


def sigterm_once_an_upload_is_open(argv, env, open_uploads, timeout=60, sig=signal.SIGTERM):
    """Run argv, signal it (SIGTERM) as soon as open_uploads() is non-empty; -> (returncode, stdout, stderr)."""
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not open_uploads():
        assert p.poll() is None and time.monotonic() < deadline, p.communicate()
        time.sleep(0.2)
    p.send_signal(sig)
    out, err = p.communicate(timeout=timeout)
    return p.returncode, out, err


def world_tmp(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)  # test users must traverse it
    return d


def site_file(text, owner=None):
    """A site policy file (sitepolicy) holding TEXT, mode 644 in a folder test users can traverse;
    owned by root (the caller, in CI) unless OWNER (a uid) is given, which makes it untrusted."""
    p = os.path.join(world_tmp("h2s-site-"), "site.conf")
    with open(p, "w") as f:
        f.write(text)
    os.chmod(p, 0o644)
    if owner is not None:
        os.chown(p, owner, -1)
    return p


@pytest.fixture(scope="session")
def hadoop():
    why = skip_reason()
    if why:
        pytest.skip(why)
    base = world_tmp("h2s-hadoop-")
    h = Hadoop.build(base)
    yield h
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def hdfs_dir(hadoop, request):
    """A fresh /user/<test> folder (world-writable, so test users can own files in it)."""
    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    local = hadoop.root / "user" / name
    if local.exists():
        shutil.rmtree(local)
    local.mkdir()
    os.chmod(local, 0o777)
    return f"/user/{name}", local
