"""Memory bench: peak RSS of `s3-put-sts` by stream size, into a discarding stand-in S3.

    head -c SIZE /dev/zero | s3-put-sts [--expected-size SIZE] s3://bench/k

against bench/discard_s3.py on 127.0.0.1 (it reads every byte and keeps none, so 128 GiB
runs in minutes; moto would have to hold the object in RAM). Peak RSS is wait4's ru_maxrss
of exactly the s3-put-sts process (started by a small launcher: see _LAUNCH). The reference, measured in the same run, is the same
command on a 1-byte input: the interpreter, boto3 and the client, without part buffers.

Target (issue 12): peak RSS <= 128 MiB for any known size up to 1 TiB; the bound the
uploader states (s3put.memory_plan) is printed next to each measurement.
BENCH_MEMORY_SIZES (e.g. "1GiB,16GiB") overrides the known sizes; BENCH_MEMORY_UNKNOWN the
unknown one. Default: 1, 16 and 128 GiB known, 16 GiB unknown.

Peak RSS depends on the part size, not on the total, so the "as at 1 TiB" rows send
BENCH_MEMORY_AS_1TIB (default 4 GiB; empty: skip) with --part-size forced to the part a 1 TiB
input gets (ceil(1 TiB / 10,000) in MiB = 105 MiB): one buffer, as the uploader holds at 1 TiB;
then the same with HDFS2S3_TEST_BUFFER_CAP raised so that two buffers exist (reading overlaps
sending, as below 234 GiB), for the throughput of the two modes side by side. BENCH_MEMORY_REPEAT
(default 2) alternates that pair so many times; the table shows each run. Into the loopback
stand-in the "network" costs next to nothing, so the pair also runs with --bwlimit
BENCH_MEMORY_BWLIMIT (default 200MiB/s; empty: skip), a link slower than the reader. Read that
row with care: --bwlimit is a token bucket with one second of burst (bwlimit.BURST_S), which
refunds the link time the one-buffer reader leaves idle while it reads (measured 197 vs 195 MiB/s);
a real link does not, so there one buffer pays read time + send time per part where two pay
only the larger of the two.
"""

import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, ROOT)
sys.path.insert(0, HERE)

from discard_s3 import DiscardS3  # noqa: E402

from hdfs2s3kit import s3put  # noqa: E402

MiB, GiB = 1 << 20, 1 << 30
TARGET = 128 * MiB
SLACK = 8 * MiB
_RUNS = 0


def sizes(var, default):
    return [s3put.parse_size(t, var) for t in os.environ.get(var, default).split(",") if t.strip()]


def run_one(url, size, known, part_size=None, buffer_cap=None, bwlimit=None):
    env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    args = [os.path.join(BIN, "s3-put-sts"), "--no-assume-role"]
    if known:
        args += ["--expected-size", str(size)]
    if part_size:
        args += ["--part-size", str(part_size)]
    if bwlimit:
        args += ["--bwlimit", bwlimit]
    env.pop("HDFS2S3_TEST_BUFFER_CAP", None)
    if buffer_cap:
        env["HDFS2S3_TEST_BUFFER_CAP"] = str(buffer_cap)
    global _RUNS
    _RUNS += 1
    args.append(f"s3://bench-memory/{'known' if known else 'unknown'}-{size}-{_RUNS}")
    src = subprocess.Popen(["head", "-c", str(size), "/dev/zero"], stdout=subprocess.PIPE)
    t0 = time.monotonic()
    r, w = os.pipe()
    put = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCH, str(w), *args], stdin=src.stdout,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, pass_fds=(w,))
    os.close(w)
    src.stdout.close()
    out = put.stdout.read()
    err = put.stderr.read()
    put.wait()
    with os.fdopen(r, "rb") as f:
        maxrss = int(f.read() or 0)
    src.wait()
    wall = time.monotonic() - t0
    if put.returncode:
        raise SystemExit(f"bench memory: s3-put-sts exit {put.returncode}: {err.decode().strip()}")
    return maxrss * 1024, wall, out


# A child's ru_maxrss includes the peak RSS of the process it was forked from (the kernel folds
# the old memory's high-water mark in at exec), so s3-put-sts started from this process (which
# also runs the stand-in server) could show this process's peak. A small launcher (python -S,
# ~8 MiB, below any s3-put-sts run) starts it instead and reports the child's own ru_maxrss.
_LAUNCH = """import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, st, ru = os.wait4(pid, 0)
os.write(int(sys.argv[1]), str(ru.ru_maxrss).encode())
code = os.waitstatus_to_exitcode(st)
sys.exit(code if code >= 0 else 128 - code)
"""


def main():
    s3 = DiscardS3()
    try:
        base, _, _ = run_one(s3.url, 1, True)
        rows = [(n, True, None, None, f"{n / GiB:.0f}Gi", None)
                for n in sizes("BENCH_MEMORY_SIZES", "1GiB,16GiB,128GiB")]
        rows += [(n, False, None, None, f"{n / GiB:.0f}Gi", None) for n in sizes("BENCH_MEMORY_UNKNOWN", "16GiB")]
        tib_part = s3put.choose_part_size(1 << 40)
        bw = os.environ.get("BENCH_MEMORY_BWLIMIT", "200MiB/s").strip() or None
        for n in sizes("BENCH_MEMORY_AS_1TIB", "4GiB"):
            for _ in range(int(os.environ.get("BENCH_MEMORY_REPEAT", "2"))):
                rows.append((n, True, tib_part, None, "as@1Ti", None))
                rows.append((n, True, tib_part, 2 * tib_part, "2buf", None))
            if bw:
                rows.append((n, True, tib_part, None, "as@1Ti", bw))
                rows.append((n, True, tib_part, 2 * tib_part, "2buf", bw))
        print(f"reference: s3-put-sts on 1 byte: peak RSS {base / MiB:.1f} MiB (interpreter and S3 client)")
        print(f"{'size':>9} {'length':>8} {'part':>9} {'buffers':>7} {'peak RSS':>9} {'- ref':>7} "
              f"{'stated bound':>12} {'target':>7} {'MiB/s':>6}")
        bad = 0
        speeds = {}
        for n, known, part_size, cap, label, rate_limit in rows:
            rss, wall, _ = run_one(s3.url, n, known, part_size, cap, rate_limit)
            if label == "as@1Ti":
                # what the uploader holds at 1 TiB: the plan for 1 TiB itself
                part, bufs, bound = s3put.memory_plan(1 << 40, s3put.DEFAULT_CONCURRENCY)
            elif cap:
                part, bufs, bound = part_size, 2, 2 * part_size      # the test cap lets two exist
            else:
                part, bufs, bound = s3put.memory_plan(n if known else None, s3put.DEFAULT_CONCURRENCY,
                                                      stream_bytes=n)
            # 128 MiB while a part fits in the buffer cap; beyond, the stated formula (+ a few MiB
            # of sockets and interpreter churn)
            # at 1 TiB itself the target is the issue's: the whole process in 128 MiB
            ok = rss <= (TARGET if label == "as@1Ti" else max(TARGET, base + bound + SLACK))
            bad += not ok and not cap
            rate = n / wall / MiB
            speeds.setdefault((label, rate_limit), []).append(rate)
            print(f"{label + (' bw' if rate_limit else ''):>9} {'known' if known else 'unknown':>8} {part / MiB:>7.0f}Mi {bufs:>7} "
                  f"{rss / MiB:>7.1f}Mi {(rss - base) / MiB:>5.1f}Mi {bound / MiB:>10.0f}Mi "
                  f"{('ok' if ok else 'OVER') if not cap else '-':>7} {rate:>6.0f}", flush=True)
        for limit in sorted({k[1] for k in speeds if k[0] == "as@1Ti"}, key=str):
            one, two = max(speeds[("as@1Ti", limit)]), max(speeds[("2buf", limit)])
            print(f"part {tib_part / MiB:.0f} MiB{f' --bwlimit {limit}' if limit else ''}: one buffer "
                  f"{one:.0f} MiB/s, two buffers {two:.0f} MiB/s (best of {len(speeds[('2buf', limit)])}; "
                  f"one/two = {one / two:.2f})")
        print(f"1 TiB at 128 MiB needs a client of <= {(TARGET - tib_part) / MiB:.0f} MiB of its own "
              f"(this one: {base / MiB:.1f} MiB)")
        print("stated bound = part buffers the uploader may hold (s3put.memory_plan), on top of the reference; "
              f"target = max(128 MiB, reference + bound + {SLACK // MiB} MiB), 128 MiB for as@1Ti; as@1Ti = a 1 TiB input's part "
              "size on a smaller input (peak RSS depends on the part, not the total); 2buf = the same with "
              "the buffer cap raised (HDFS2S3_TEST_BUFFER_CAP) to two parts, for the throughput")
        return 1 if bad else 0
    finally:
        s3.close()


if __name__ == "__main__":
    sys.exit(main())
