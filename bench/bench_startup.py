"""Start-up CPU of every filter: each on the smallest input it does real work on,
against `python -c pass` of this venv (and the system python3's) and `python -c 'import typer'`
(the CLI layer alone) in the same run.

    fernet-encrypt    1 byte, --key-file
    fernet-decrypt    the 1-byte stream, --key-file
    authz-check       one file:// path as an argument (stat'd locally: no JVM, only our process)
    notify            one `ok` status record; SNS topic and CloudWatch in moto (one publish, one put)
    s3-put-sts        1 byte into moto (one PutObject), --no-assume-role; and with --role-arn (one
                      AssumeRole first: the usual run)
    s3-get-sts        that object out of moto, --no-assume-role

CPU = user+sys of that one child (wait4 rusage), median of BENCH_REPEAT rounds
(default 10) in which every row runs once, in turn, so load on this shared
machine lands on all rows alike. Target: each filter <= 0.12 CPU-s. Our sources are
byte-compiled first (compileall), as in an installed copy.

    BENCH_REPEAT=10                  rounds
    BENCH_ONLY=fernet-encrypt,...    only these filters (the python rows always run)
    BENCH_BEFORE=DIR[:DIR]           also run the filters from the source tree DIR (e.g. an older
                                     commit, `git archive`d) in this venv: rows "(before)"
    BENCH_IMPORTTIME=1               then one `python -X importtime` run of each filter: its 12
                                     costliest imports (cumulative, inclusive of sub-imports)
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
TARGET = 0.12
BUCKET = "bench-startup"
AWS_ROWS = ("notify", "s3-put-sts", "s3-put-sts --role-arn", "s3-get-sts")


def cpu_of(argv, env, stdin_path=None):
    """Run argv to its end, stdout to /dev/null; -> (user+sys CPU-s of that child, exit status, stderr tail,
    its peak RSS in MiB)."""
    with open(stdin_path or os.devnull, "rb") as fin, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(argv, stdin=fin, stdout=subprocess.DEVNULL, stderr=err, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read()[-300:].decode(errors="replace")
    return ru.ru_utime + ru.ru_stime, p.returncode, tail, ru.ru_maxrss / 1024


def _pythonpath(dirs):
    return os.pathsep.join(os.path.abspath(d) for d in dirs.split(os.pathsep))


def start_moto(tmp, env):
    sys.path.insert(0, ROOT)
    from hdfs2s3kit import localaws

    moto, url = localaws.start_moto_server(os.path.join(tmp, "moto.log"))
    env["AWS_ENDPOINT_URL"] = url
    setup = (
        "import boto3, json, sys\n"
        f"boto3.client('s3').create_bucket(Bucket='{BUCKET}')\n"
        f"boto3.client('s3').put_object(Bucket='{BUCKET}', Key='one', Body=b'x')\n"
        "print(boto3.client('sns').create_topic(Name='bench-startup')['TopicArn'])\n"
        "trust = {'Version': '2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': 'sts:AssumeRole',"
        " 'Principal': {'AWS': 'arn:aws:iam::123456789012:root'}}]}\n"
        "print(boto3.client('iam').create_role(RoleName='bench-startup',"
        " AssumeRolePolicyDocument=json.dumps(trust))['Role']['Arn'])\n"
    )
    r = subprocess.run([sys.executable, "-c", setup], env=env, check=True, stdout=subprocess.PIPE, text=True)
    return moto, r.stdout.split()


def filters(tmp, env, arns):
    """name -> (argv, stdin file)."""
    one = os.path.join(tmp, "one.bin")
    with open(one, "wb") as f:
        f.write(b"x")
    key = os.path.join(tmp, "bench.key")
    subprocess.run([sys.executable, "-c", "import sys; from cryptography.fernet import Fernet; "
                    "open(sys.argv[1], 'wb').write(Fernet.generate_key())", key], check=True)
    os.chmod(key, 0o600)
    cipher = os.path.join(tmp, "one.fernet")
    with open(one, "rb") as fin, open(cipher, "wb") as fout:
        subprocess.run([os.path.join(BIN, "fernet-encrypt"), "--key-file", key], stdin=fin, stdout=fout,
                       env=env, check=True)
    record = os.path.join(tmp, "record.json")
    with open(record, "w") as f:
        f.write(json.dumps({"schema": 1, "tool": "s3-put-sts", "status": "ok", "exit_code": 0, "src": "-",
                            "bucket": BUCKET, "key": "one", "bytes": 1, "duration_s": 0.01}) + "\n")
    rows = {
        "fernet-encrypt": ([os.path.join(BIN, "fernet-encrypt"), "--key-file", key], one),
        "fernet-decrypt": ([os.path.join(BIN, "fernet-decrypt"), "--key-file", key], cipher),
        "authz-check": ([os.path.join(BIN, "authz-check"), f"file://{one}"], None),
    }
    if arns:
        topic_arn, role_arn = arns
        rows.update({
            "notify": ([os.path.join(BIN, "notify"), "--topic-arn", topic_arn, "--pipeline", "bench"], record),
            "s3-put-sts": ([os.path.join(BIN, "s3-put-sts"), "--no-assume-role", "--no-progress",
                            f"s3://{BUCKET}/put-{{n}}"], one),   # a new key each run (no clobber)
            "s3-put-sts --role-arn": ([os.path.join(BIN, "s3-put-sts"), "--role-arn", role_arn, "--no-progress",
                                      f"s3://{BUCKET}/put-{{n}}"], one),
            "s3-get-sts": ([os.path.join(BIN, "s3-get-sts"), "--no-assume-role", "--no-progress",
                            f"s3://{BUCKET}/one"], None),
        })
    return rows


def importtime(argv, env, stdin_path, top=12):
    """The costliest imports of one run (cumulative microseconds, as -X importtime prints them)."""
    argv = [a.replace("{n}", "importtime") for a in argv]
    with open(stdin_path or os.devnull, "rb") as fin:
        r = subprocess.run([sys.executable, "-X", "importtime", *argv], stdin=fin, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, env=env, text=True)
    rows = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _self, cum, name = (x.strip() for x in line[len("import time:"):].split("|"))
            if cum.isdigit():
                rows.append((int(cum), name))
    return sorted(rows, reverse=True)[:top]


def main():
    repeat = max(1, int(os.environ.get("BENCH_REPEAT", "10")))
    only = [x for x in os.environ.get("BENCH_ONLY", "").split(",") if x]
    before = os.environ.get("BENCH_BEFORE")
    tmp = tempfile.mkdtemp(prefix="bench-startup-")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
               AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull)
    for k in ("AWS_PROFILE", "HDFS2S3_CONFIG", "AWS_CA_BUNDLE", "PYTHONPATH", "AWS_ENDPOINT_URL"):
        env.pop(k, None)
    # Bytecode as an installed copy has it (pip compiles at install). Without it, and with
    # PYTHONDONTWRITEBYTECODE set (as on the shared dev machines), every run compiles our sources
    # again: ~0.04 CPU-s more per filter, a cost no user's install pays.
    trees = [os.path.join(ROOT, "hdfs2s3kit")] + [os.path.join(d, "hdfs2s3kit") for d in
                                                   (before.split(os.pathsep) if before else [])]
    subprocess.run([sys.executable, "-m", "compileall", "-q", *trees], check=True, stdout=subprocess.DEVNULL)
    moto = topic = None
    try:
        if not only or any(n in AWS_ROWS for n in only):
            try:
                moto, topic = start_moto(tmp, env)
            except Exception as e:  # noqa: BLE001 - the AWS rows are skipped, the others still run
                print(f"bench: moto not started ({e}): notify, s3-put-sts, s3-get-sts skipped", flush=True)
        ours = {n: v for n, v in filters(tmp, env, topic).items() if not only or n in only}
        rows = {"python -c pass (this venv)": ([sys.executable, "-c", "pass"], None, env)}
        system_py = shutil.which("python3", path="/usr/bin:/bin")
        if system_py:
            rows["python3 -c pass (system)"] = ([system_py, "-c", "pass"], None, env)
        # the CLI layer alone: what every filter pays before a line of ours runs
        rows["python -c 'import typer'"] = ([sys.executable, "-c", "import typer"], None, env)
        rows.update({n: (argv, stdin, env) for n, (argv, stdin) in ours.items()})
        if before:
            env_before = dict(env, PYTHONPATH=_pythonpath(before))
            rows.update({f"{n} (before)": (argv, stdin, env_before) for n, (argv, stdin) in ours.items()})
        print(f"start-up: {len(rows)} rows x {repeat} interleaved rounds; load {os.getloadavg()[0]:.1f}; "
              f"{os.cpu_count()} cores; bytecode compiled first (compileall)"
              f"{', PYTHONDONTWRITEBYTECODE is set here' if os.environ.get('PYTHONDONTWRITEBYTECODE') else ''}",
              flush=True)
        cpu, rss, bad = {n: [] for n in rows}, {n: [] for n in rows}, {}
        t0 = time.monotonic()
        runs = 0
        for _ in range(repeat):
            for name, (argv, stdin, e) in rows.items():
                runs += 1
                c, rc, tail, m = cpu_of([a.replace("{n}", str(runs)) for a in argv], e, stdin)
                cpu[name].append(c)
                rss[name].append(m)
                if rc != 0:
                    bad[name] = (rc, tail)
        wall = time.monotonic() - t0
        top = {}
        if os.environ.get("BENCH_IMPORTTIME"):
            for name, (argv, stdin) in ours.items():
                top[name] = importtime(argv, env, stdin)
    finally:
        if moto is not None:
            from hdfs2s3kit import localaws

            localaws.stop_moto_server(moto)
        shutil.rmtree(tmp, ignore_errors=True)

    base = statistics.median(cpu["python -c pass (this venv)"])
    print(f"\n{'command (minimal run)':34} {'CPU-s':>6} {'min':>6} {'max':>6} {'- python':>8} {'RSS MiB':>7} "
          f"{'target':>6}")
    ok = True
    for name, xs in cpu.items():
        med = statistics.median(xs)
        is_filter = not name.startswith("python")
        base_row = name.startswith("python") and "import" not in name
        verdict = ""
        if is_filter:
            met = med <= TARGET and name not in bad
            verdict = "met" if met else "NOT met"
            ok &= met or name.endswith("(before)")
        print(f"{name:34} {med:6.3f} {min(xs):6.3f} {max(xs):6.3f} "
              f"{0 if base_row else med - base:8.3f} {statistics.median(rss[name]):7.1f} "
              f"{TARGET if is_filter else '':>6} {verdict}")
    print(f"\nCPU-s = user+sys of the command's own process (wait4), median of {repeat}; "
          f"- python = above this venv's `python -c pass`; {wall:.0f} s; RSS = the child's peak, which "
          f"counts the pages of this bench it was forked from: a row at the `python -c pass` figure used "
          f"no more than that")
    for name, (rc, tail) in bad.items():
        print(f"  {name}: exit {rc} in some round: {tail.strip()[-200:]}")
    for name, rows_ in top.items():
        print(f"\n{name}: costliest imports (cumulative ms, -X importtime, one run)")
        for us, mod in rows_:
            print(f"  {us / 1000:7.1f}  {mod}")
    print(f"\nstart-up target (each filter <= {TARGET} CPU-s): {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
