"""A real HDFS (and YARN, started on first use) for the tests: tests/minicluster's launcher.

Tier: what the viewfs emulation in harness/hadoop.py cannot show — the NameNode's
own permission checks and group mapping, hdfs:// URIs, DataNodes that go away,
HDFS checksums, Hadoop Streaming on YARN — is proven here. One cluster per test
session (start-up costs ~15–30 s); YARN joins the same JVM when the first test that
needs it asks (`minicluster_yarn`).

The client is Hadoop's own FsShell / RunJar (the launcher's bin/hadoop) on the
cluster's config, run by the real test users through `LinuxUsers.run`. Set-up as
the superuser goes through the launcher's in-JVM `fs` command (no JVM start per step).
"""

import json
import os
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .hadoop import world_tmp  # noqa: F401 - also used by bench/bench_hadoop.py
from .users import others_can_read

CHECKOUT = Path(__file__).resolve().parent.parent.parent
PROJECT = CHECKOUT / "tests" / "minicluster"
TARGET = PROJECT / "target"
MAIN_CLASS = "hdfs2s3kit.minicluster.MiniCluster"
# C1 only and the serial collector: the cluster starts in about half the time on 2 cores.
LAUNCHER_JAVA_OPTS = ("-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx1536m", "-XX:-UsePerfData")
START_TIMEOUT_S = 300

COUNTING = """#!/bin/bash
# test harness: counts `hadoop` launches (one line each), then runs the cluster's client.
printf '%s\\n' "$$" >> {count}
exec {real} "$@"
"""


def built():
    return (TARGET / "classes" / "hdfs2s3kit" / "minicluster" / "MiniCluster.class").exists() and \
        (TARGET / "lib").is_dir() and (TARGET / "hadoop-streaming.jar").exists()


def build():
    """`mvn compile` of tests/minicluster (what `make minicluster-build` runs), ~/.m2 as the cache."""
    r = subprocess.run(["mvn", "-B", "-q", "compile"], cwd=PROJECT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode:
        raise RuntimeError(f"building the mini cluster failed (mvn exit {r.returncode}):\n{r.stdout[-4000:]}")


def skip_reason():
    if shutil.which("java") is None:
        return "java not installed (make test installs default-jre-headless)"
    if not built() and shutil.which("mvn") is None:
        return "tests/minicluster is not built and mvn is missing (make test installs maven and builds it)"
    return None


def _readable_lib(base):
    """The jars as the test users can read them: in place if they can, else a copy."""
    lib = TARGET / "lib"
    if others_can_read(lib) and all(others_can_read(j) for j in lib.iterdir()):
        return lib
    copy = Path(base) / "lib"
    shutil.copytree(lib, copy)
    for j in copy.iterdir():
        j.chmod(0o644)
    copy.chmod(0o755)
    return copy


class MiniHadoop:
    """A running launcher. `cmd` is the `hadoop` to put in HADOOP_CMD (counts launches)."""

    def __init__(self, base, proc, ready, log):
        self.base = Path(base)
        self.proc = proc
        self.log = log
        self.ready = ready
        self.conf_dir = ready["conf_dir"]
        self.real_cmd = ready["hadoop"]
        self.fs_uri = ready["fs"]                     # hdfs://localhost:PORT
        self.superuser = ready["user"]
        self.count_file = self.base / "launches"
        self.count_file.touch()
        self.count_file.chmod(0o666)
        self.cmd = str(self.base / "bin-count" / "hadoop")
        Path(self.cmd).parent.mkdir(exist_ok=True)
        Path(self.cmd).parent.chmod(0o755)
        Path(self.cmd).write_text(COUNTING.format(count=self.count_file, real=self.real_cmd))
        os.chmod(self.cmd, 0o755)
        self.streaming_jar = str(TARGET / "hadoop-streaming.jar")
        self._lock = threading.Lock()
        self.yarn = ready.get("yarn", False)

    # --- the launcher's stdin protocol -------------------------------------------------
    def command(self, *words, timeout=180):
        """One command line; returns what follows OK, raises on ERR or a dead launcher."""
        words = [str(w) for w in words]
        line = ("\t" if any(" " in w for w in words) else " ").join(words)
        with self._lock:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mini cluster exited ({self.proc.returncode}); log: {self.log}")
            self.proc.stdin.write(line + "\n")
            self.proc.stdin.flush()
            reply = _readline(self.proc, timeout)
        if reply is None:
            raise RuntimeError(f"mini cluster did not answer {words[0]!r}; log: {self.log}")
        if not reply.startswith("OK"):
            raise RuntimeError(f"mini cluster: {line}: {reply}")
        return reply[2:].strip()

    def su_fs(self, *args):
        """`hadoop fs ARGS` as the HDFS superuser, inside the launcher's JVM."""
        self.command("fs", *args)

    def stop_datanode(self, i):
        self.command("stop-datanode", i)

    def restart_datanode(self, i):
        self.command("restart-datanode", i)

    def put_on(self, i, local, path):
        """Copy a local file to PATH with its only replica on DataNode i (1 MiB blocks)."""
        self.command("put-on", i, local, path)

    def locate(self, path):
        return [int(x) for x in self.command("locate", path).split(",") if x]

    def start_yarn(self):
        if not self.yarn:
            self.command("start-yarn", timeout=START_TIMEOUT_S)
            self.yarn = True

    # --- clients ---------------------------------------------------------------------
    def env(self):
        return {"HADOOP_CMD": self.cmd, "HADOOP_CONF_DIR": self.conf_dir}

    def launches(self):
        return len(self.count_file.read_text().splitlines())

    def uri(self, path):
        """hdfs://localhost:PORT/path"""
        return self.fs_uri + path

    def fs(self, *args, user=None, users=None, env=None):
        """Hadoop's real `hadoop fs ARGS` (a JVM), as the superuser or as a real test user."""
        if user is not None:
            return users.run(user, [self.real_cmd, "fs", *args], env=dict(self.env(), **(env or {})))
        return subprocess.run([self.real_cmd, "fs", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              env=dict(os.environ, **self.env(), **(env or {})))

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()            # EOF: the launcher shuts down cleanly
                self.proc.wait(60)
            except (subprocess.TimeoutExpired, BrokenPipeError, OSError):
                self.proc.terminate()
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()


def _readline(proc, timeout):
    """A line from the launcher's stdout within timeout (None if it closed or timed out)."""
    box = []
    t = threading.Thread(target=lambda: box.append(proc.stdout.readline()), daemon=True)
    t.start()
    t.join(timeout)
    if not box or not box[0]:
        return None
    return box[0].rstrip("\n")


def launcher_argv(base, lib, *, yarn=False, datanodes=2, kerberos=False):
    """The java command line of the launcher (also what `make minicluster` runs)."""
    java = shutil.which("java")
    cp = f"{TARGET / 'classes'}:{TARGET / 'lib'}/*"
    argv = [java, *LAUNCHER_JAVA_OPTS, "-cp", cp, MAIN_CLASS, "--dir", str(base),
            "--datanodes", str(datanodes), "--client-classpath", f"{lib}/*"]
    return argv + ([] if yarn else ["--no-yarn"]) + (["--kerberos"] if kerberos else [])


def start(base, *, env=None, yarn=False, datanodes=2, kerberos=False):
    """Start the launcher in base (its working folder too) and wait for READY."""
    if not built():
        build()
    base = Path(base)
    lib = _readable_lib(base)
    log_path = base / "minicluster.log"
    log = open(log_path, "w")
    full_env = dict(os.environ, **(env or {}))
    # A node has `hadoop` on its PATH; YARN containers get a PATH of their own, so the NodeManager
    # (the launcher) hands them HADOOP_CMD instead (its env whitelist, like the AWS variables).
    full_env["PATH"] = f"{base / 'bin'}:{full_env.get('PATH', '/usr/bin:/bin')}"
    full_env["HADOOP_CMD"] = str(base / "bin" / "hadoop")
    proc = subprocess.Popen(launcher_argv(base, lib, yarn=yarn, datanodes=datanodes, kerberos=kerberos), cwd=base, env=full_env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log)
    log.close()
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        line = _readline(proc, max(1, deadline - time.monotonic()))
        if line is None:
            proc.kill()
            proc.wait()
            tail = log_path.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"mini cluster did not start (exit {proc.returncode}); log {log_path}:\n{tail}")
        if line.startswith("READY "):
            return MiniHadoop(base, proc, json.loads(line[6:]), log_path)


@pytest.fixture(scope="session")
def minicluster(moto_server):
    """One real HDFS for the session (2 DataNodes, permissions on, real groups). The moto
    server's endpoint and test credentials are in the launcher's environment: they are what
    the NodeManager hands to YARN containers (a node's credential chain)."""
    why = skip_reason()
    if why:
        pytest.skip(why)
    base = world_tmp("h2s-mini-")
    env = dict(moto_server.env(), AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    mc = start(base, env=env)
    yield mc
    mc.stop()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def minicluster_yarn(minicluster):
    """The same cluster with YARN + MapReduce running (started on first use)."""
    minicluster.start_yarn()
    return minicluster


@pytest.fixture
def hdfs_home(minicluster, request):
    """A fresh HDFS folder /user/t-<test> -> its path. Mode 777, so test users can write in it;
    group: the superuser's own (files inherit their folder's group in HDFS), so what the
    superuser puts there is its to move."""
    import grp

    name = "t-" + "".join(c if c.isalnum() else "-" for c in request.node.name)[:60]
    path = f"/user/{name}"
    minicluster.su_fs("-rm", "-r", "-f", "-skipTrash", path)
    minicluster.su_fs("-mkdir", "-p", path)
    minicluster.su_fs("-chmod", "777", path)
    minicluster.su_fs("-chgrp", grp.getgrgid(os.getgid()).gr_name, path)
    return path


def main(argv=None):
    """`make minicluster`: HDFS + YARN (or, with --kerberos, a secure HDFS and its KDC) in the
    foreground until Ctrl-C or SIGTERM; prints (or writes to --env-file) the export lines that
    point hdfs2s3kit at it."""
    import argparse
    import signal

    ap = argparse.ArgumentParser(prog="make minicluster")
    ap.add_argument("--env-file", help="write the export lines here (default: print them)")
    ap.add_argument("--no-yarn", action="store_true", help="HDFS only")
    ap.add_argument("--dir", help="the cluster's folder (default: a new one under /tmp, removed at exit)")
    ap.add_argument("--kerberos", action="store_true", help="a Kerberized HDFS (MiniKdc; no YARN)")
    ap.add_argument("--principal", action="append", default=[], metavar="USER",
                    help="with --kerberos: a principal and keytab for this Linux user (repeatable)")
    args = ap.parse_args(argv)
    base = args.dir or world_tmp("h2s-minicluster-")
    os.makedirs(base, exist_ok=True)
    print(f"minicluster: starting in {base} (log: {base}/minicluster.log) ...", flush=True)
    if args.kerberos:
        from . import kerberos

        mc = kerberos.start(base)
        for user in args.principal:
            keytab = mc.principal(user)
            print(f"minicluster: {user}@{mc.realm}: KRB5_CONFIG={mc.krb5_conf} kinit -kt {keytab} {user}")
    else:
        mc = start(base, yarn=not args.no_yarn)
    lines = [f"export HADOOP_CONF_DIR={mc.conf_dir}", f"export HADOOP_CMD={mc.real_cmd}",
             f"export HADOOP_STREAMING_JAR={mc.streaming_jar}"]
    if args.kerberos:
        lines.append(f"export KRB5_CONFIG={mc.krb5_conf}")
    text = "\n".join(lines) + "\n"
    if args.env_file:
        Path(args.env_file).write_text(text)
        print(f"minicluster: environment written to {args.env_file} (source it)")
    else:
        print(text, end="")
    print(f"minicluster: up: {mc.fs_uri}" + (f", YARN {mc.ready.get('rm')}" if mc.yarn else "")
          + "; Ctrl-C stops it", flush=True)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and mc.proc.poll() is None:
        stop.wait(1)
    mc.stop()
    if not args.dir:
        shutil.rmtree(base, ignore_errors=True)
    print("minicluster: stopped")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
