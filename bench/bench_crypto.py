"""fernet-encrypt / fernet-decrypt against `openssl enc -aes-128-cbc` and stock
`Fernet.encrypt` on 1 MiB chunks, all measured in this run, as real pipelines
`cat FILE | CMD > /dev/null`.

Per command: wall MB/s, its own CPU seconds per GiB (user+sys from wait4, so
`cat` and other users of this shared machine are not counted) and its peak RSS.
The machine is shared: judge by CPU-s/GiB first; MB/s is the best of REPEAT runs.

    python bench/bench_crypto.py [SIZE]      SIZE like 1G, 256M (env BENCH_SIZE; default 1G)
    BENCH_REPEAT=2 (default)                 rounds, interleaved; best wall time kept
    BENCH_BIG=1                              also peak RSS of both commands at 4 GiB (and 1 GiB)
    BENCH_THREADS=N                          --threads for our commands (default: theirs)
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

BIN = os.path.dirname(sys.executable)
# wait4's ru_maxrss of a child starts from the RSS of the process it was forked
# from (with vfork: this one's own peak), so spawn by fork and stay small here.
subprocess._USE_VFORK = False
GiB = 1 << 30
MiB = 1 << 20

STOCK_FERNET = r"""
import sys
from cryptography.fernet import Fernet
f = Fernet(Fernet.generate_key())
src, dst = sys.stdin.buffer, sys.stdout.buffer
while chunk := src.read(1 << 20):
    dst.write(f.encrypt(chunk))
"""

TARGETS = {  # row -> (reference row, minimum ratio of MB/s), from issue 2
    "fernet-encrypt": [("openssl enc -aes-128-cbc", 0.8), ("stock Fernet 1 MiB", 3.0)],
    "fernet-decrypt": [("openssl enc -aes-128-cbc", 1.0)],
}
RSS_LIMIT_MIB = 64


def parse_size(text):
    m = re.fullmatch(r"(\d+)([KMG]?)i?B?", text.strip().upper())
    if not m:
        sys.exit(f"bench_crypto: not a size: {text!r}")
    return int(m.group(1)) * {"": 1, "K": 1024, "M": MiB, "G": GiB}[m.group(2)]


def pipeline(producer, cmd):
    """Run `producer | cmd > /dev/null`; -> (wall s, cmd CPU s, cmd peak RSS KiB)."""
    t0 = time.perf_counter()
    p1 = subprocess.Popen(producer, stdout=subprocess.PIPE)
    p2 = subprocess.Popen(cmd, stdin=p1.stdout, stdout=subprocess.DEVNULL)
    p1.stdout.close()
    _, st2, ru2 = os.wait4(p2.pid, 0)
    _, st1, _ = os.wait4(p1.pid, 0)
    wall = time.perf_counter() - t0
    p1.returncode = p2.returncode = 0  # reaped by wait4 above
    if os.waitstatus_to_exitcode(st2) or os.waitstatus_to_exitcode(st1):
        sys.exit(f"bench_crypto: {' '.join(cmd)} failed (exit {os.waitstatus_to_exitcode(st2)})")
    return wall, ru2.ru_utime + ru2.ru_stime, ru2.ru_maxrss


def make_input(path, size):
    block = memoryview(os.urandom(4 * MiB))
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, len(block))
            f.write(block[:n])
            left -= n


def main():
    size = parse_size(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("BENCH_SIZE", "1G"))
    repeat = int(os.environ.get("BENCH_REPEAT", "2"))
    threads = os.environ.get("BENCH_THREADS")
    targs = ["--threads", threads] if threads else []
    if not shutil.which("openssl"):
        sys.exit("bench_crypto: openssl not found (needed as the reference)")
    tmp = tempfile.mkdtemp(prefix="bench-crypto-")
    try:
        keyfile = os.path.join(tmp, "key")
        passfile = os.path.join(tmp, "pass")
        with open(keyfile, "wb") as f:
            f.write(__import__("base64").urlsafe_b64encode(os.urandom(32)))
        with open(passfile, "w") as f:
            f.write(os.urandom(16).hex())
        plain, cipher = os.path.join(tmp, "plain"), os.path.join(tmp, "cipher")
        print(f"input: {size / MiB:.0f} MiB of random bytes; {repeat} rounds; load {os.getloadavg()[0]:.1f}",
              flush=True)
        make_input(plain, size)
        enc = [os.path.join(BIN, "fernet-encrypt"), "--key-file", keyfile, *targs]
        dec = [os.path.join(BIN, "fernet-decrypt"), "--key-file", keyfile, *targs]
        with open(cipher, "wb") as out:
            subprocess.run(enc, stdin=open(plain, "rb"), stdout=out, check=True)
        rows = {
            "openssl enc -aes-128-cbc": (plain, ["openssl", "enc", "-aes-128-cbc", "-pbkdf2", "-pass",
                                                 f"file:{passfile}"]),
            "stock Fernet 1 MiB": (plain, [sys.executable, "-c", STOCK_FERNET]),
            "fernet-encrypt": (plain, enc),
            "fernet-decrypt": (cipher, dec),
            "fernet-encrypt --threads 1": (plain, enc + ["--threads", "1"]),
        }
        best = {}
        for _ in range(repeat):
            for name, (src, cmd) in rows.items():
                r = pipeline(["cat", src], cmd)
                if name not in best or r[0] < best[name][0]:
                    best[name] = r
        print(f"\n{'command':28} {'MB/s':>8} {'CPU-s/GiB':>10} {'peak RSS MiB':>13}")
        for name, (wall, cpu, rss) in best.items():
            print(f"{name:28} {size / wall / 1e6:8.0f} {cpu / (size / GiB):10.2f} {rss / 1024:13.1f}")
        print("\nratios (MB/s; CPU-s/GiB in brackets, lower is better for us)")
        ok = True
        for name, refs in TARGETS.items():
            for ref, target in refs:
                ratio = best[ref][0] / best[name][0]
                cpu_ratio = best[name][1] / best[ref][1]
                met = ratio >= target
                ok &= met
                print(f"  {name} / {ref}: {ratio:.2f}x  (target >= {target}x: {'met' if met else 'NOT met'})"
                      f"  [CPU {cpu_ratio:.2f}x]")
        rss = {n: best[n][2] / 1024 for n in TARGETS}
        for name, mib in rss.items():
            met = mib <= RSS_LIMIT_MIB
            ok &= met
            print(f"  {name} peak RSS {mib:.1f} MiB (target <= {RSS_LIMIT_MIB}: {'met' if met else 'NOT met'})")
        if os.environ.get("BENCH_BIG"):
            ok &= big_rss(enc, dec)
        print(f"\nall targets {'met' if ok else 'NOT all met'} (wall-clock ratios move with the load of this "
              "shared machine; CPU-s/GiB does not)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def big_rss(enc, dec):
    """Peak RSS at 1 GiB and 4 GiB: constant memory means the same figure."""
    print("\npeak RSS by input size (zeros from head -c; encrypt | decrypt piped)")
    res = {}
    for size in (GiB, 4 * GiB):
        producer = ["head", "-c", str(size), "/dev/zero"]
        _, _, rss_e = pipeline(producer, enc)
        t0 = time.perf_counter()
        p0 = subprocess.Popen(producer, stdout=subprocess.PIPE)
        p1 = subprocess.Popen(enc, stdin=p0.stdout, stdout=subprocess.PIPE)
        p0.stdout.close()
        p2 = subprocess.Popen(dec, stdin=p1.stdout, stdout=subprocess.DEVNULL)
        p1.stdout.close()
        _, st, ru = os.wait4(p2.pid, 0)
        p1.wait()
        p0.wait()
        p2.returncode = 0
        if os.waitstatus_to_exitcode(st):
            sys.exit("bench_crypto: fernet-decrypt failed in the 4 GiB run")
        res[size] = (rss_e / 1024, ru.ru_maxrss / 1024, time.perf_counter() - t0)
        print(f"  {size // GiB} GiB: fernet-encrypt {rss_e / 1024:.1f} MiB, fernet-decrypt {ru.ru_maxrss / 1024:.1f}"
              f" MiB  (enc|dec pipeline {size / res[size][2] / 1e6:.0f} MB/s)", flush=True)
    flat = all(abs(res[4 * GiB][i] - res[GiB][i]) <= 4 and res[4 * GiB][i] <= RSS_LIMIT_MIB for i in (0, 1))
    print(f"  flat between 1 and 4 GiB and <= {RSS_LIMIT_MIB} MiB: {'met' if flat else 'NOT met'}")
    return flat


if __name__ == "__main__":
    main()
