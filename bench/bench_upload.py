"""Upload benchmark: client CPU-seconds per GiB and peak RSS of

    aws s3 cp - s3://...                       (the reference, awscli in its own venv)
    s3-put-sts s3://...                        (raw)
    fernet-encrypt | s3-put-sts s3://...       (both processes counted)

into a moto server started here. moto itself is the throughput bottleneck
(one GIL-bound process), so wall time says little; each client's own CPU time
(wait4 rusage of exactly that child) and peak RSS are what we compare.
BENCH_SIZE (bytes, or e.g. 256MiB) shortens a run; default 1 GiB.
Targets: raw <= 0.8x aws-cli CPU, encrypted pipeline <= 1.0x, RSS <= 128 MiB.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
AWSCLI_VENV = os.environ.get("BENCH_AWSCLI_VENV", os.path.join(ROOT, ".venv-awscli"))
BUCKET = "bench-upload"
MiB, GiB = 1 << 20, 1 << 30


def parse_size(text):
    sys.path.insert(0, ROOT)
    from hdfs2s3kit.s3put import parse_size as p

    return p(text, "BENCH_SIZE")


def start_moto(logdir):
    from hdfs2s3kit import errors, localaws

    try:
        return localaws.start_moto_server(os.path.join(logdir, "moto.log"))
    except errors.UnavailableError as e:
        raise SystemExit(f"bench: {e.message}") from None


def reset(url):
    req = urllib.request.Request(url + "/moto-api/reset", data=b"", method="POST")
    urllib.request.urlopen(req, timeout=30).read()


def ensure_awscli():
    aws = os.path.join(AWSCLI_VENV, "bin", "aws")
    if os.path.exists(aws):
        return aws
    py = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
    print(f"bench: creating {AWSCLI_VENV} with awscli (first run only)", flush=True)
    try:
        subprocess.run([py, "-m", "venv", AWSCLI_VENV], check=True)
        subprocess.run([os.path.join(AWSCLI_VENV, "bin", "pip"), "install", "-q", "awscli"], check=True)
    except (subprocess.CalledProcessError, OSError) as e:
        shutil.rmtree(AWSCLI_VENV, ignore_errors=True)
        print(f"bench: cannot install awscli ({e}); the reference row is skipped", flush=True)
        return None
    return aws


def feeder(pipe, size):
    """Write `size` bytes of incompressible data; the bench process pays for it, not the clients."""
    block = os.urandom(MiB)
    left = size
    try:
        while left:
            n = min(left, len(block))
            pipe.write(block[:n] if n < len(block) else block)
            left -= n
    except BrokenPipeError:
        pass
    finally:
        try:
            pipe.close()
        except BrokenPipeError:
            pass


def run_pipeline(cmds, size, env):
    """Start cmds as a pipeline fed by a thread; return (ok, cpu_s, max_rss_kib, wall_s, stderr tail)."""
    procs, prev = [], None
    errf = tempfile.TemporaryFile()
    t0 = time.monotonic()
    for i, cmd in enumerate(cmds):
        p = subprocess.Popen(cmd, stdin=subprocess.PIPE if i == 0 else prev,
                             stdout=subprocess.PIPE if i < len(cmds) - 1 else subprocess.DEVNULL,
                             stderr=errf, env=env)
        if prev is not None:
            prev.close()
        prev = p.stdout
        procs.append(p)
    t = threading.Thread(target=feeder, args=(procs[0].stdin, size), daemon=True)
    t.start()
    cpu, rss, ok = 0.0, 0, True
    for p in procs:
        _, st, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(st)
        cpu += ru.ru_utime + ru.ru_stime
        rss = max(rss, ru.ru_maxrss)
        ok = ok and p.returncode == 0
    wall = time.monotonic() - t0
    t.join(5)
    errf.seek(0)
    tail = errf.read().decode(errors="replace").strip().splitlines()[-1:]
    return ok, cpu, rss, wall, tail


def fernet_ready():
    exe = os.path.join(BIN, "fernet-encrypt")
    if not os.path.exists(exe):
        return None, "fernet-encrypt is not installed"
    try:
        r = subprocess.run([exe, "--help"], capture_output=True, timeout=60)
    except Exception as e:  # noqa: BLE001
        return None, f"fernet-encrypt --help failed: {e}"
    if r.returncode != 0:
        return None, "fernet-encrypt --help failed: " + r.stderr.decode(errors="replace").strip()[-200:]
    return exe, None


def main():
    size = parse_size(os.environ.get("BENCH_SIZE", "1GiB"))
    gib = size / GiB
    tmp = tempfile.mkdtemp(prefix="bench-upload-")
    moto, url = start_moto(tmp)
    env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.pop("AWS_PROFILE", None)
    env.pop("HDFS2S3_CONFIG", None)
    rows = []
    try:
        aws = ensure_awscli()
        put = [os.path.join(BIN, "s3-put-sts"), "--no-assume-role", "--no-progress"]
        runs = []
        if aws:
            # the reference is the command as users type it; without its progress lines it is
            # a little cheaper, shown for information
            runs.append(("aws s3 cp -", [[aws, "s3", "cp", "-", f"s3://{BUCKET}/aws"]]))
            runs.append(("aws s3 cp --no-progress -", [[aws, "s3", "cp", "--no-progress", "-",
                                                        f"s3://{BUCKET}/aws2"]]))
        runs.append(("s3-put-sts (raw)", [put + [f"s3://{BUCKET}/raw"]]))
        enc, why = fernet_ready()
        if enc:
            key_file = os.path.join(tmp, "bench.key")
            subprocess.run([os.path.join(BIN, "python"), "-c",
                            "import sys; from cryptography.fernet import Fernet; "
                            "open(sys.argv[1],'wb').write(Fernet.generate_key())", key_file], check=True)
            os.chmod(key_file, 0o600)
            runs.append(("fernet-encrypt | s3-put-sts",
                         [[enc, "--key-file", key_file], put + [f"s3://{BUCKET}/enc"]]))
        for name, cmds in runs:
            reset(url)
            subprocess.run([os.path.join(BIN, "python"), "-c",
                            f"import boto3; boto3.client('s3').create_bucket(Bucket='{BUCKET}')"],
                           env=env, check=True)
            ok, cpu, rss, wall, tail = run_pipeline(cmds, size, env)
            rows.append((name, ok, cpu / gib, rss / 1024, size / MiB / wall, tail))
        if not enc:
            rows.append(("fernet-encrypt | s3-put-sts", None, None, None, None, [f"skipped: {why}"]))
    finally:
        from hdfs2s3kit import localaws

        localaws.stop_moto_server(moto)
        shutil.rmtree(tmp, ignore_errors=True)
    ref = next((r[2] for r in rows if r[0] == "aws s3 cp -" and r[1]), None)
    targets = {"s3-put-sts (raw)": 0.8, "fernet-encrypt | s3-put-sts": 1.0}
    print(f"upload of {size / MiB:,.0f} MiB into moto (client CPU via wait4; moto bounds wall time)")
    print(f"{'client':30} {'CPU-s/GiB':>10} {'x aws-cli':>10} {'target':>7} {'peak RSS MiB':>13} {'MiB/s':>7}")
    failed = False
    for name, ok, cpu, rss, rate, tail in rows:
        if ok is None:
            print(f"{name:30} {tail[0] if tail else 'skipped'}")
            continue
        if not ok:
            print(f"{name:30} FAILED: {' '.join(tail)}")
            failed = True
            continue
        ratio = f"{cpu / ref:.2f}" if ref else "n/a"
        tgt = f"<={targets[name]}" if name in targets else ("ref" if name == "aws s3 cp -" else "")
        print(f"{name:30} {cpu:10.2f} {ratio:>10} {tgt:>7} {rss:13.1f} {rate:7.1f}")
    print("targets: raw <= 0.8x aws-cli CPU, fernet-encrypt|s3-put-sts <= 1.0x, peak RSS <= 128 MiB")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
