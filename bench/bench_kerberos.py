"""A Kerberized HDFS vs a plain one (the test mini cluster, tests/minicluster, HDFS only, one
DataNode each, started one after the other): the Hadoop client's start-up (`hadoop fs -stat` of
one path: JVM, login, one RPC), authz-check over 1,000 HDFS paths (one JVM), and the toolkit's
own identity binding (hadoopident.bind: core-site.xml, the ticket cache; no JVM), in-process.

Figures are medians of H2S_BENCH_RUNS (5) runs: wall seconds and CPU seconds (user+sys of the
child processes, the honest figure on a loaded machine); the ratio column is secure / plain.
Env: H2S_BENCH_PATHS (1000), H2S_BENCH_RUNS (5).
"""

import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests"))

from harness import kerberos, minicluster  # noqa: E402
from harness.minicluster import world_tmp  # noqa: E402

BIN = os.path.dirname(sys.executable)
PATHS = int(os.environ.get("H2S_BENCH_PATHS", 1000))
RUNS = int(os.environ.get("H2S_BENCH_RUNS", 5))


def measured(argv, env, stdin=None):
    """(wall s, CPU s of the children) of one run; the run must succeed or be a 77 (denials)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    r = subprocess.run(argv, env=env, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert r.returncode == 0, r.stderr.decode(errors="replace")[-2000:]
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(fn):
    runs = [fn() for _ in range(RUNS)]
    return statistics.median(w for w, _ in runs), statistics.median(c for _, c in runs)


def bind_cost(env):
    """Microseconds per hadoopident.bind() in this process, with env as the environment."""
    from hdfs2s3kit import hadoopident

    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        hadoopident.bind()
        n = 2000
        t = time.perf_counter()
        for _ in range(n):
            hadoopident.bind()
        return (time.perf_counter() - t) / n * 1e6
    finally:
        os.environ.clear()
        os.environ.update(saved)


def measure(mc, env, tmp):
    paths = "".join(f"/user/bench/f{i:04d}.csv\n" for i in range(PATHS)).encode()
    mc.su_fs("-mkdir", "-p", "/user/bench")
    # empty files from one -touchz: authz judges names and groups, not bytes, and 1,000 block
    # pipelines (-put) take minutes on the mini cluster -- past its command timeout
    mc.su_fs("-touchz", *[f"/user/bench/f{i:04d}.csv" for i in range(PATHS)])
    mc.su_fs("-chmod", "-R", "755", "/user/bench")
    out = {
        "start-up": median_of(lambda: measured([mc.real_cmd, "fs", "-stat", "%n", "/user/bench/f0000.csv"], env)),
        f"authz {PATHS}": median_of(lambda: measured([os.path.join(BIN, "authz-check"), "--policy", "posix"], env,
                                                     stdin=paths)),
        "bind": (bind_cost(env) / 1e6, None),
    }
    return out


def main():
    why = kerberos.skip_reason()
    if why:
        print(f"bench kerberos: skipped ({why})")
        return 0
    results = {}
    for mode in ("plain", "secure"):
        base = world_tmp(f"h2s-bench-{mode}-")
        tmp = tempfile.mkdtemp(prefix="h2s-bench-krb-data-")
        t = time.perf_counter()
        if mode == "plain":
            mc = minicluster.start(base, datanodes=1)
        else:
            mc = kerberos.start(base)
        up = time.perf_counter() - t
        try:
            env = dict(os.environ, **mc.env())
            if mode == "secure":
                # root's own principal and ticket, in a cache of its own
                keytab = mc.principal("root")
                cc = f"FILE:{tmp}/ccache"
                subprocess.run(["kinit", "-kt", str(keytab), "root"], check=True,
                               env=dict(env, KRB5CCNAME=cc))
                env["KRB5CCNAME"] = cc
            results[mode] = measure(mc, env, tmp)
            results[mode]["cluster start (wall)"] = (up, None)
        finally:
            mc.stop()
            shutil.rmtree(base, ignore_errors=True)
            shutil.rmtree(tmp, ignore_errors=True)
    load = os.getloadavg()[0]
    print(f"\nsecure vs plain HDFS (medians of {RUNS}; load average {load:.1f} on {os.cpu_count()} cores)")
    print(f"{'':26} {'plain wall':>11} {'secure wall':>12} {'ratio':>6} {'plain CPU':>10} {'secure CPU':>11} "
          f"{'ratio':>6}")
    for what in results["plain"]:
        (pw, pc), (sw, sc) = results["plain"][what], results["secure"][what]
        if what == "bind":
            print(f"{'identity binding (us)':26} {pw * 1e6:11.0f} {sw * 1e6:12.0f} {sw / pw:6.2f}")
            continue
        cpu = f"{pc:10.2f} {sc:11.2f} {sc / pc:6.2f}" if pc else ""
        print(f"{what + ' (s)':26} {pw:11.2f} {sw:12.2f} {sw / pw:6.2f} {cpu}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
