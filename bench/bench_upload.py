"""Upload benchmark: client CPU-seconds per GiB and peak RSS of

    aws s3 cp - s3://...                       (the reference, awscli in its own venv)
    s3-put-sts s3://...                        (raw)
    fernet-encrypt | s3-put-sts s3://...       (both processes counted)
    transfer's path in one process             (EncryptingReader into s3put.upload, lean S3 client as
                                               transfer gets it; a second row on botocore's client)

into a moto server started here, over plain HTTP and over HTTPS (real S3 is
HTTPS: botocore then skips payload signing and streams checksums in trailers,
and TLS costs every client). moto itself is the throughput bottleneck (one
GIL-bound process), so wall time says little; each client's own CPU time
(wait4 rusage of exactly that child) and peak RSS are what we compare.

Start-up is separated from the per-byte cost by running every client at two
sizes: per byte = the slope between them, start-up = what is left at zero.

    BENCH_SIZE=1GiB  BENCH_SMALL=64MiB   the two input sizes
    BENCH_REPEAT=3                        interleaved rounds; medians (a client's CPU moves +-15 % here)
    BENCH_PROTO=http,https                which servers
    BENCH_BEFORE=DIR[:DIR]                also run our clients from the source tree DIR (e.g. an older
                                          commit, `git archive`d) in this venv, rows marked "(before)"

The crypto floor row (AES-128-CBC + HMAC-SHA256 of 1 MiB frames in this
process, no I/O) is what any Fernet encryptor must spend.
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


def _pythonpath(dirs):
    """BENCH_BEFORE: one or more source trees (os.pathsep-separated) put first on PYTHONPATH."""
    return os.pathsep.join(os.path.abspath(d) for d in dirs.split(os.pathsep))


def parse_size(text):
    sys.path.insert(0, ROOT)
    from hdfs2s3kit.s3put import parse_size as p

    return p(text, "BENCH_SIZE")


def start_moto(logdir, tls=None):
    from hdfs2s3kit import errors, localaws

    try:
        return localaws.start_moto_server(os.path.join(logdir, "moto.log"), tls=tls)
    except errors.UnavailableError as e:
        raise SystemExit(f"bench: {e.message}") from None


def reset(url, tls=None):
    import ssl

    req = urllib.request.Request(url + "/moto-api/reset", data=b"", method="POST")
    ctx = ssl.create_default_context(cafile=tls[0]) if tls else None
    urllib.request.urlopen(req, timeout=30, context=ctx).read()


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


def inprocess_put(key_file, url, client="lean"):
    """The pipeline's work in one process: stdin -> EncryptingReader -> s3put.upload, on the lean
    S3 client as transfer gets it (sts.session_for(lean=...)), or on botocore's."""
    if not os.environ.get("PYTHONPATH"):   # a (before) row: the tree on PYTHONPATH, not this one
        sys.path.insert(0, ROOT)
    from hdfs2s3kit import aws, fastio, keyring, s3put, streamfmt, sts

    key_id, key = keyring.from_key_file(key_file).active()
    bucket, name = aws.parse_s3_url(url)
    session = sts.session_for(assume_role=False, lean="bench")[0] if client == "lean" else aws.base_session()
    s3 = aws.s3_client(session, concurrency=s3put.DEFAULT_CONCURRENCY)
    if client == "lean" and not getattr(s3, "lean", False):
        raise SystemExit("bench: the lean S3 client was declined here (leanaws.plan)")
    src, _ = fastio.std_streams()
    with streamfmt.EncryptingReader(src, key_id, key) as enc:
        s3put.upload(enc, bucket, name, s3=s3, framed=True)
    return 0


def per_byte(cpu_small, cpu_big, small, big):
    """Two input sizes -> (per-byte CPU-s/GiB, fixed start-up CPU-s): a straight line through both."""
    slope = (cpu_big - cpu_small) / (big - small)
    return slope * GiB, cpu_small - slope * small


def run_proto(proto, runs, sizes, repeat, tmp, base_env):
    """Every client at both sizes, `repeat` interleaved rounds, against one moto server
    speaking `proto`; -> {name: {size: [run results]}}."""
    tls = None
    if proto == "https":
        from hdfs2s3kit import localaws

        tls = localaws.self_signed_cert(tmp)
    moto, url = start_moto(tmp, tls)
    env = dict(base_env, AWS_ENDPOINT_URL=url)
    if tls:
        env["AWS_CA_BUNDLE"] = tls[0]
    out = {}
    try:
        def bucket():
            reset(url, tls)
            subprocess.run([os.path.join(BIN, "python"), "-c",
                            f"import boto3; boto3.client('s3').create_bucket(Bucket='{BUCKET}')"],
                           env=env, check=True)

        for rnd in range(repeat):
            for size in sizes:
                for name, cmds, extra in runs:
                    bucket()
                    out.setdefault(name, {}).setdefault(size, []).append(
                        run_pipeline(cmds, size, dict(env, **extra)))
            print(f"bench: {proto} round {rnd + 1}/{repeat} done", flush=True)
        for name, cmds, extra in runs:   # start-up measured directly: a 1-byte input (one PutObject)
            for _ in range(3):
                bucket()
                out[name].setdefault(1, []).append(run_pipeline(cmds, 1, dict(env, **extra)))
    finally:
        from hdfs2s3kit import localaws

        localaws.stop_moto_server(moto)
    return out


def main():
    size = parse_size(os.environ.get("BENCH_SIZE", "1GiB"))
    small = parse_size(os.environ.get("BENCH_SMALL", "64MiB"))
    if not 0 < small < size:
        raise SystemExit("bench: BENCH_SMALL must be smaller than BENCH_SIZE")
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "3")))
    protos = [p for p in os.environ.get("BENCH_PROTO", "http,https").split(",") if p]
    before = os.environ.get("BENCH_BEFORE")
    gib = size / GiB
    tmp = tempfile.mkdtemp(prefix="bench-upload-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    for k in ("AWS_PROFILE", "HDFS2S3_CONFIG", "AWS_CA_BUNDLE", "PYTHONPATH"):
        env.pop(k, None)
    results = {}     # proto -> name -> size -> list of (ok, cpu_s, rss_kib, wall_s, tail)
    try:
        aws = ensure_awscli()
        put = [os.path.join(BIN, "s3-put-sts"), "--no-assume-role", "--no-progress"]
        ours = [("s3-put-sts (raw)", [put + [f"s3://{BUCKET}/raw"]])]
        enc, why = fernet_ready()
        if enc:
            key_file = os.path.join(tmp, "bench.key")
            subprocess.run([os.path.join(BIN, "python"), "-c",
                            "import sys; from cryptography.fernet import Fernet; "
                            "open(sys.argv[1],'wb').write(Fernet.generate_key())", key_file], check=True)
            os.chmod(key_file, 0o600)
            ours.append(("fernet-encrypt | s3-put-sts",
                         [[enc, "--key-file", key_file], put + [f"s3://{BUCKET}/enc"]]))
            ours.append(("transfer's path, one process", [[sys.executable, os.path.abspath(__file__),
                                                           "--inprocess-put", key_file, f"s3://{BUCKET}/one"]]))
            ours.append(("  the same on botocore", [[sys.executable, os.path.abspath(__file__), "--inprocess-put",
                                                     key_file, f"s3://{BUCKET}/oneb", "botocore"]]))
        # the reference is the command as users type it (with its progress lines)
        runs = [("aws s3 cp -", [[aws, "s3", "cp", "-", f"s3://{BUCKET}/aws"]], {})] if aws else []
        runs += [(name, cmds, {}) for name, cmds in ours]
        if before:
            # the same commands from an older source tree (same venv, same dependencies)
            runs += [(f"{name} (before)", cmds, {"PYTHONPATH": _pythonpath(before)}) for name, cmds in ours]
        order = [name for name, _, _ in runs]
        for proto in protos:
            results[proto] = run_proto(proto, runs, (small, size), repeat, tmp, env)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    floor = crypto_floor(min(size, GiB))
    targets = {"http": {"s3-put-sts (raw)": 0.8, "fernet-encrypt | s3-put-sts": 1.0},
               "https": {"fernet-encrypt | s3-put-sts": 1.0, "transfer's path, one process": 0.85}}
    print(f"\nupload into moto; client CPU via wait4 (user+sys), median of {repeat} round(s) [range at "
          f"{size / MiB:,.0f} MiB]; per byte and start-up from two sizes ({small / MiB:,.0f} and "
          f"{size / MiB:,.0f} MiB); moto bounds wall time")
    failed = False
    for proto in protos:
        res = results[proto]

        def fit(name, res=res):
            by = res.get(name) or {}
            if not by or not all(r[0] for rs in by.values() for r in rs):
                return None
            med = {sz: statistics.median(r[1] for r in rs) for sz, rs in by.items()}
            return (*per_byte(med[small], med[size], small, size), med.get(1))

        ref = fit("aws s3 cp -")
        print(f"\n[{proto}]")
        print(f"{'client':34} {'CPU-s/GiB':>9} {'x aws':>6} {'target':>7} {'start-up s':>10} {'1-byte s':>8} "
              f"{'total/GiB':>9} {'range':>11} {'peak RSS MiB':>12}")
        for name in order:
            by = res[name]
            bad = [r for rs in by.values() for r in rs if not r[0]]
            if bad:
                print(f"{name:34} FAILED: {' '.join(bad[0][4])}")
                failed = True
                continue
            pb, fixed, one = fit(name)
            cpus = [r[1] / gib for r in by[size]]
            rss = max(r[2] for sz, rs in by.items() if sz != 1 for r in rs) / 1024
            ratio = f"{pb / ref[0]:.2f}" if ref else "n/a"
            tgt = targets[proto].get(name)
            tgt = f"<={tgt}" if tgt else ("ref" if name == "aws s3 cp -" else "")
            print(f"{name:34} {pb:9.2f} {ratio:>6} {tgt:>7} {fixed:10.2f} {one:8.2f} {statistics.median(cpus):9.2f} "
                  f"{min(cpus):5.2f}-{max(cpus):<5.2f} {rss:12.1f}")
        print(f"{'  crypto floor (no I/O)':34} {floor:9.2f} "
              f"{(f'{floor / ref[0]:.2f}' if ref else 'n/a'):>6}")
    print("\nCPU-s/GiB = per-byte cost (start-up excluded); start-up s = the fixed cost at zero bytes (multipart "
          "set-up included); 1-byte s = a whole run on a 1-byte input; total/GiB = the whole run at the big size.")
    print("moto answers every request with `Connection: close`, so each request pays a new TCP (and TLS) "
          "handshake that real S3's keep-alive would spare; every client alike.")
    print("targets (per byte): http raw <= 0.8x aws-cli, fernet-encrypt|s3-put-sts <= 1.0x (http, https); "
          "one process <= 0.85x (https); peak RSS <= 128 MiB")
    return 1 if failed else 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--inprocess-put"]:
        sys.exit(inprocess_put(*sys.argv[2:5]))
    sys.exit(main())
