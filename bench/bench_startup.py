"""Start-up cost of `s3-put-sts` for a 1-byte upload: CPU seconds (user+sys) and peak RSS of the
child, median of BENCH_REPEAT (default 7) runs, against a local moto server (http).

    .venv/bin/python bench/bench_startup.py            # --no-assume-role and --role-arn
    HDFS2S3_AWS_CLIENT=botocore .venv/bin/python bench/bench_startup.py   # the botocore path
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def run_child(argv, env, src):
    """One run with stdin from the file `src` (no helper process whose usage would count)."""
    pid = os.fork()
    if pid == 0:
        os.dup2(os.open(src, os.O_RDONLY), 0)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.execve(argv[0], argv, env)
    _, status, ru = os.wait4(pid, 0)
    return os.waitstatus_to_exitcode(status), ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024


_SETUP = """
import json, boto3
s = boto3.session.Session(region_name="us-east-1")
s.client("s3").create_bucket(Bucket="bench")
trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
print(s.client("iam").create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
"""


def main():
    # boto3 is used in a child only: a fork of a big parent would count the parent's pages
    # in the measured child's peak RSS
    from hdfs2s3kit import localaws

    repeat = int(os.environ.get("BENCH_REPEAT", "7"))
    with tempfile.TemporaryDirectory() as d:
        proc, url = localaws.start_moto_server(os.path.join(d, "moto.log"))
        try:
            # bytecode cached as in an installed copy (a warm-up run writes it)
            env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "PYTHONDONTWRITEBYTECODE"}
            env.update(AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                       AWS_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true", AWS_CONFIG_FILE=os.devnull,
                       AWS_SHARED_CREDENTIALS_FILE=os.devnull)
            arn = subprocess.run([sys.executable, "-c", _SETUP], env=env, check=True, capture_output=True,
                                 text=True).stdout.strip()
            exe = os.path.join(BIN, "s3-put-sts")
            one = os.path.join(d, "one-byte")
            with open(one, "wb") as f:
                f.write(b"x")
            out = {}
            for label, extra in (("no-assume-role", ["--no-assume-role"]), ("role-arn", ["--role-arn", arn])):
                cpu, rss = [], []
                run_child([exe, *extra, "--overwrite", "s3://bench/k"], env, one)     # warm-up
                for i in range(repeat):
                    rc, c, m = run_child([exe, *extra, "--overwrite", "s3://bench/k"], env, one)
                    if rc != 0:
                        raise SystemExit(f"bench_startup: {label} exit {rc}")
                    cpu.append(c)
                    rss.append(m)
                out[label] = {"cpu_s": round(statistics.median(cpu), 3), "peak_rss_mib": round(statistics.median(rss), 1)}
            print(json.dumps({"client": os.environ.get("HDFS2S3_AWS_CLIENT", "auto"), **out}))
        finally:
            localaws.stop_moto_server(proc)


if __name__ == "__main__":
    main()
