"""Peak RSS and CPU of one `hdfs2s3kit transfer` and one `hdfs2s3kit map` task of a small file,
lean AWS path vs botocore (HDFS2S3_AWS_CLIENT=botocore), against moto, in the same run.

Each round runs every row once, in turn (load on this shared machine lands on all alike); the
table gives medians of BENCH_REPEAT rounds (default 5). The set-up is the tests' (config, Fernet
key in SSM, a role to assume, an SNS topic, CloudWatch): the usual run, AssumeRole included.
Peak RSS is wait4's ru_maxrss of exactly that process. Target (issue 12): <= 128 MiB.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
BIN = os.path.dirname(sys.executable)
sys.path.insert(0, ROOT)

PREFIX = "/bench/lean"
BUCKET = "bench-lean"
TIB_PART = 105 * 1024 * 1024


# A child forked from this process (which imports boto3 to seed moto) can report this process's
# peak as its own ru_maxrss; a small launcher (python -S) starts the command instead and reports
# the command's own (as bench_memory does).
_LAUNCH = """import os, sys
pid = os.posix_spawn(sys.argv[2], sys.argv[2:], os.environ)
_, st, ru = os.wait4(pid, 0)
os.write(int(sys.argv[1]), str(ru.ru_maxrss).encode())
sys.exit(os.waitstatus_to_exitcode(st) & 255)
"""


def run(argv, env, stdin=b"", cwd=None):
    r, w = os.pipe()
    with tempfile.TemporaryFile() as fin, tempfile.TemporaryFile() as out:
        fin.write(stdin)
        fin.seek(0)
        p = subprocess.Popen([sys.executable, "-S", "-c", _LAUNCH, str(w), *argv], stdin=fin, stdout=out,
                             stderr=subprocess.PIPE, env=env, cwd=cwd, pass_fds=(w,))
        os.close(w)
        err = p.stderr.read()
        _, status, ru = os.wait4(p.pid, 0)
        rc = os.waitstatus_to_exitcode(status)
        with os.fdopen(r, "rb") as f:
            maxrss_kib = int(f.read() or 0)
        out.seek(0)
        return rc, out.read(), err, ru.ru_utime + ru.ru_stime, maxrss_kib / 1024


def seed(env):
    import boto3
    from cryptography.fernet import Fernet

    s = boto3.session.Session(region_name="us-east-1", aws_access_key_id="bench", aws_secret_access_key="bench")
    caller = s.client("sts", endpoint_url=env["AWS_ENDPOINT_URL"]).get_caller_identity()["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": caller},
                                                    "Action": "sts:AssumeRole"}]}
    c = lambda svc: s.client(svc, endpoint_url=env["AWS_ENDPOINT_URL"])  # noqa: E731
    role = c("iam").create_role(RoleName="bench", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    c("s3").create_bucket(Bucket=BUCKET)
    topic = c("sns").create_topic(Name="bench")["TopicArn"]
    for k, v in {"bucket": BUCKET, "prefix": "in", "role_arn": role, "region": "us-east-1", "sns_topic_arn": topic,
                 "cloudwatch_namespace": "bench", "fernet_key_version": "1"}.items():
        c("ssm").put_parameter(Name=f"{PREFIX}/{k}", Value=v, Type="String")
    c("ssm").put_parameter(Name=f"{PREFIX}/keys/fernet", Value=Fernet.generate_key().decode(), Type="SecureString")


def main():
    from hdfs2s3kit import localaws

    repeat = int(os.environ.get("BENCH_REPEAT", "5"))
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = localaws.start_moto_server(os.path.join(tmp, "moto.log"))
        try:
            env = dict(os.environ, AWS_ENDPOINT_URL=url, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench",
                       AWS_REGION="us-east-1", AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                       AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, HDFS2S3_CONFIG=PREFIX)
            for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "HDFS2S3_AWS_CLIENT"):
                env.pop(k, None)
            seed(env)
            src = os.path.join(tmp, "small.csv")
            with open(src, "wb") as f:
                f.write(b"a,b\n" * 4096)      # 16 KiB
            kit = os.path.join(BIN, "hdfs2s3kit")
            rows = {}
            for i in range(repeat):
                for client in ("auto", "botocore"):
                    e = dict(env, HDFS2S3_AWS_CLIENT=client)
                    for what, argv, stdin in (
                            ("transfer", [kit, "transfer", "--force", f"file://{src}"], b""),
                            ("map", [kit, "map", "--force", "--run-id", f"r{i}{client}"], f"file://{src}\n".encode())):
                        rc, out, err, cpu, rss = run(argv, e, stdin, cwd=tmp)
                        if rc != 0:
                            raise SystemExit(f"{what} {client}: exit {rc}: {err[-800:].decode(errors='replace')}")
                        rows.setdefault((what, client), []).append((cpu, rss))
            # what a transfer holds at 1 TiB: one buffer of the part a 1 TiB input gets
            # (ceil(1 TiB / 10,000) = 105 MiB), on two such parts' worth of input
            big = os.path.join(tmp, "big.bin")
            with open(big, "wb") as f:
                f.truncate(2 * TIB_PART)
            for client in ("auto", "botocore"):
                e = dict(env, HDFS2S3_AWS_CLIENT=client, HDFS2S3_TEST_BUFFER_CAP=str(TIB_PART))
                rc, out, err, cpu, rss = run([kit, "transfer", "--force", "--part-size", str(TIB_PART),
                                              f"file://{big}"], e, b"", cwd=tmp)
                if rc != 0:
                    raise SystemExit(f"transfer as at 1 TiB {client}: exit {rc}: {err[-800:].decode(errors='replace')}")
                rows[("transfer@1Ti", client)] = [(cpu, rss)]
            print(f"median of {repeat} interleaved rounds (transfer@1Ti: one run, 210 MiB in 105 MiB parts, "
                  f"one buffer, as a 1 TiB input is sent);")
            print(f"median of {repeat} interleaved rounds; load: {os.getloadavg()[0]:.2f} (1 min)")
            print(f"{'command':10} {'client':9} {'CPU-s':>6} {'peak RSS MiB':>13}")
            for (what, client), v in rows.items():
                print(f"{what:10} {client:9} {statistics.median(c for c, _ in v):6.3f} "
                      f"{statistics.median(r for _, r in v):13.1f}")
        finally:
            localaws.stop_moto_server(proc)


if __name__ == "__main__":
    main()
