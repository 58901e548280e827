"""Upload benchmark: client CPU-seconds per GiB and peak RSS of

    aws s3 cp - s3://...                       (the reference, awscli in its own venv)
    s3-put-sts s3://...                        (raw)
    fernet-encrypt | s3-put-sts s3://...       (both processes counted)

into a moto server started here. moto itself is the throughput bottleneck
(one GIL-bound process), so wall time says little; each client's own CPU time
(wait4 rusage of exactly that child) and peak RSS are what we compare.
BENCH_SIZE (bytes, or e.g. 256MiB) shortens a run; default 1 GiB.
BENCH_REPEAT rounds (default 3) run every client in turn; the table shows the
median and the range, because a client's CPU time moves by +-15 % here from
run to run (two vCPUs shared with moto and the host).
Targets: raw <= 0.8x aws-cli CPU, encrypted pipeline <= 1.0x, RSS <= 128 MiB.

Three rows explain where the pipeline's CPU goes (no targets):
  - crypto floor: AES-128-CBC + HMAC-SHA256 of 1 MiB frames in this process,
    no I/O -- what any Fernet encryptor must spend;
  - start-up: fernet-encrypt | s3-put-sts on a 1-byte input, in CPU-s per run
    (a fixed cost that a 1 GiB run pays once);
  - one process: the same library calls (EncryptingReader into s3put.upload)
    without the process boundary and its pipe.
"""

import os
import statistics
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


def crypto_floor(size):
    """CPU-s/GiB of AES-128-CBC + HMAC-SHA256 over 1 MiB frames, nothing else."""
    from cryptography.hazmat.primitives import hashes, hmac
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    from hdfs2s3kit import fastio

    frame = fastio.alloc(MiB)
    frame[:] = os.urandom(MiB)
    out = fastio.alloc(MiB + 32)
    key = os.urandom(16)
    frames = max(1, size // MiB)
    t0 = time.process_time()
    for _ in range(frames):
        enc = Cipher(algorithms.AES(key), modes.CBC(os.urandom(16))).encryptor()
        n = enc.update_into(frame, out)
        h = hmac.HMAC(key, hashes.SHA256())
        h.update(out[:n])
        h.finalize()
    return (time.process_time() - t0) / (frames * MiB / GiB)


def inprocess_put(key_file, url):
    """The pipeline's work in one process: stdin -> EncryptingReader -> s3put.upload."""
    sys.path.insert(0, ROOT)
    from hdfs2s3kit import aws, fastio, keyring, s3put, streamfmt

    key_id, key = keyring.from_key_file(key_file).active()
    bucket, name = aws.parse_s3_url(url)
    s3 = aws.s3_client(aws.base_session(), concurrency=s3put.DEFAULT_CONCURRENCY)
    src, _ = fastio.std_streams()
    with streamfmt.EncryptingReader(src, key_id, key) as enc:
        s3put.upload(enc, bucket, name, s3=s3, framed=True)
    return 0


def main():
    size = parse_size(os.environ.get("BENCH_SIZE", "1GiB"))
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
    gib = size / GiB
    tmp = tempfile.mkdtemp(prefix="bench-upload-")
    moto, url = start_moto(tmp)
    env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    env.pop("AWS_PROFILE", None)
    env.pop("HDFS2S3_CONFIG", None)
    results = {}     # name -> list of (ok, cpu_s, rss_kib, wall_s, tail)
    order = []
    startup = None
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
            pipeline = [[enc, "--key-file", key_file], put + [f"s3://{BUCKET}/enc"]]
            runs.append(("fernet-encrypt | s3-put-sts", pipeline))
            runs.append(("  same work, one process", [[sys.executable, os.path.abspath(__file__),
                                                        "--inprocess-put", key_file, f"s3://{BUCKET}/one"]]))
        order = [name for name, _ in runs]

        def bucket():
            reset(url)
            subprocess.run([os.path.join(BIN, "python"), "-c",
                            f"import boto3; boto3.client('s3').create_bucket(Bucket='{BUCKET}')"],
                           env=env, check=True)

        for rnd in range(repeat):
            for name, cmds in runs:
                bucket()
                results.setdefault(name, []).append(run_pipeline(cmds, size, env))
            print(f"bench: round {rnd + 1}/{repeat} done", flush=True)
        if enc:
            bucket()
            startup = run_pipeline(pipeline, 1, env)
    finally:
        from hdfs2s3kit import localaws

        localaws.stop_moto_server(moto)
        shutil.rmtree(tmp, ignore_errors=True)
    floor = crypto_floor(min(size, GiB))

    def median_cpu(name):
        runs_ = results.get(name) or []
        if not runs_ or not all(r[0] for r in runs_):
            return None
        return statistics.median(r[1] for r in runs_) / gib

    ref = median_cpu("aws s3 cp -")
    targets = {"s3-put-sts (raw)": 0.8, "fernet-encrypt | s3-put-sts": 1.0}
    print(f"upload of {size / MiB:,.0f} MiB into moto, {repeat} round(s); client CPU via wait4, "
          "median [min-max]; moto bounds wall time")
    print(f"{'client':30} {'CPU-s/GiB':>10} {'range':>11} {'x aws-cli':>10} {'target':>7} "
          f"{'peak RSS MiB':>13} {'MiB/s':>7}")
    failed = False
    for name in order:
        runs_ = results[name]
        bad = [r for r in runs_ if not r[0]]
        if bad:
            print(f"{name:30} FAILED: {' '.join(bad[0][4])}")
            failed = True
            continue
        cpus = [r[1] / gib for r in runs_]
        cpu = statistics.median(cpus)
        rss = max(r[2] for r in runs_) / 1024
        rate = size / MiB / statistics.median(r[3] for r in runs_)
        ratio = f"{cpu / ref:.2f}" if ref else "n/a"
        tgt = f"<={targets[name]}" if name in targets else ("ref" if name == "aws s3 cp -" else "")
        rng = f"{min(cpus):.2f}-{max(cpus):.2f}"
        print(f"{name:30} {cpu:10.2f} {rng:>11} {ratio:>10} {tgt:>7} {rss:13.1f} {rate:7.1f}")
    if not enc:
        print(f"{'fernet-encrypt | s3-put-sts':30} skipped: {why}")
    print(f"{'  crypto floor (no I/O)':30} {floor:10.2f} {'':>11} "
          f"{(f'{floor / ref:.2f}' if ref else 'n/a'):>10}")
    if startup is not None:
        ok, cpu, _rss, _wall, tail = startup
        print(f"{'  start-up, 1-byte input':30} {cpu:10.2f} CPU-s per run (fixed)" if ok
              else f"{'  start-up, 1-byte input':30} FAILED: {' '.join(tail)}")
    pipe = median_cpu("fernet-encrypt | s3-put-sts")
    if ref and pipe and startup is not None and startup[0]:
        print(f"budget: aws-cli {ref:.2f} - crypto floor {floor:.2f} leaves {ref - floor:.2f} CPU-s/GiB for "
              f"everything else; the pipeline spends {pipe - floor:.2f}, of which {startup[1] / gib:.2f} is "
              "start-up of its two processes")
    print("targets: raw <= 0.8x aws-cli CPU, fernet-encrypt|s3-put-sts <= 1.0x, peak RSS <= 128 MiB")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inprocess-put"]:
        sys.exit(inprocess_put(*sys.argv[2:4]))
    sys.exit(main())
