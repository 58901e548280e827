"""`make demo`: the whole flow on this machine, with no AWS account.

A moto server on 127.0.0.1 stands in for AWS (reached the standard way,
through AWS_ENDPOINT_URL); local files under a temporary folder stand in for
HDFS (file:// sources go through the same authz and checked-read code as
hdfs:// ones). Everything is created fresh and removed at the end, so the demo
can run any number of times.

`hdfs2s3kit demo --hadoop` (what `make demo-hadoop` runs) tells the same story on a real
HDFS + YARN, named the standard way (HADOOP_CONF_DIR, HADOOP_CMD, HADOOP_STREAMING_JAR):
the files go onto HDFS, the HDFS checksum proof shows in the summary, and it ends with a
real Hadoop Streaming job (`hdfs2s3kit job`, the toolkit shipped with -archives). The map
tasks reach the local AWS through their node's environment, so the local AWS is the one the
cluster was started with (`--aws-endpoint`, loopback only), not one of our own.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse

from . import errors

PREFIX = "/hdfs2s3/demo"
BUCKET = "hdfs2s3-demo"
ROLE = "hdfs2s3-demo-transfer"
TOPIC = "hdfs2s3-demo-events"
QUEUE = "hdfs2s3-demo-ops-inbox"
LOCKED_GROUP = "h2s3demo-payroll"
REGION = "us-east-1"


def say(text=""):
    print(text, flush=True)


def step(n, text):
    say(f"\n== {n}. {text}")


# ---------------------------------------------------------------- local AWS

class LocalAWS:
    """moto_server on a free loopback port; this process's environment points at it."""

    ENV = {
        "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true",
        # a developer's ~/.aws must not leak into the demo (nor the demo into real AWS)
        "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "HDFS2S3_CONFIG": PREFIX,
    }

    def __init__(self, workdir, url=None):
        self.workdir = workdir
        self.proc = None
        self.url = url            # given: an emulator someone else started (and stops)
        self._saved = {}

    def __enter__(self):
        from . import localaws

        if self.url is None:
            self.proc, self.url = localaws.start_moto_server(os.path.join(self.workdir, "moto_server.log"))
        env = dict(self.ENV, AWS_ENDPOINT_URL=self.url)
        for k in ("AWS_PROFILE", "AWS_SESSION_TOKEN", *env):
            self._saved[k] = os.environ.get(k)
        os.environ.pop("AWS_PROFILE", None)
        os.environ.pop("AWS_SESSION_TOKEN", None)
        os.environ.update(env)
        self.env = env
        return self

    def stop(self):
        if self.proc:
            from . import localaws

            localaws.stop_moto_server(self.proc)

    def __exit__(self, *exc):
        self.stop()
        for k, v in self._saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        return False


def seed(allowed_groups=""):
    """Config and a key in SSM, a bucket, a role, an SNS topic with an SQS inbox.

    The same layout as a real account (README: real-AWS setup); here the
    emulator does not enforce IAM, so the role's policy is shown, not tested."""
    import boto3
    from cryptography.fernet import Fernet

    s = boto3.session.Session(region_name=REGION)
    caller = s.client("sts").get_caller_identity()["Arn"]
    account = caller.split(":")[4]
    iam = s.client("iam")
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "sts:AssumeRole"}]}
    role_arn = iam.create_role(RoleName=ROLE, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=ROLE, PolicyName="hdfs2s3-transfer", PolicyDocument=json.dumps(
        role_policy(BUCKET, "demo/")))
    s3 = s.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    sns, sqs = s.client("sns"), s.client("sqs")
    topic = sns.create_topic(Name=TOPIC)["TopicArn"]
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    ssm = s.client("ssm")
    values = {
        "bucket": BUCKET, "prefix": "demo", "role_arn": role_arn, "region": REGION,
        "sns_topic_arn": topic, "cloudwatch_namespace": "hdfs2s3kit-demo", "pipeline": "demo",
        "authz_policy": "group", "allowed_groups": allowed_groups, "fernet_key_version": "1",
    }
    for name, value in values.items():
        if value:
            ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String", Overwrite=True)
    # The master key: a SecureString, encrypted by SSM under the account's aws/ssm key.
    ssm.put_parameter(Name=f"{PREFIX}/keys/fernet", Value=Fernet.generate_key().decode(),
                      Type="SecureString", Overwrite=True)
    return {"account": account, "role_arn": role_arn, "topic": topic, "queue_url": queue_url, "config": values}


def role_policy(bucket, prefix):
    """The transfer role's permissions (the README shows the same document)."""
    return {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload",
                                       "s3:ListMultipartUploadParts"],
         "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"},
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:ListBucketMultipartUploads"],
         "Resource": f"arn:aws:s3:::{bucket}"},
    ]}


# ---------------------------------------------------------------- the "HDFS" side

def _run_quiet(argv):
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def demo_files():
    return {
        "q3-report.csv": b"region,revenue\n" + b"".join(b"r%03d,%d\n" % (i, i * 977 % 10007) for i in range(200)),
        "empty.log": b"",
        "clickstream.bin": os.urandom(6 * 1024 * 1024 + 12345),   # several MiB: a multipart upload
        "payroll.csv": b"name,salary\nalice,1\nbob,2\n",
    }


def locked_group():
    """How the locked file is denied: -> (group to give it, `how`)."""
    import grp

    me = __import__("pwd").getpwuid(os.geteuid()).pw_name
    if os.geteuid() == 0:
        # A real group the demo user (root) is not in: denied under the `group` policy.
        created_group = False
        try:
            grp.getgrnam(LOCKED_GROUP)
        except KeyError:
            r = _run_quiet(["groupadd", LOCKED_GROUP])
            created_group = r.returncode == 0
        return LOCKED_GROUP, {"allowed_groups": "", "why": f"group-owned by {LOCKED_GROUP}, a group {me} is not in",
                              "created_group": created_group}
    # Without root we cannot make a group we are not in; `allowed_groups` (the company's groups)
    # limits which of our groups grant access, so a file in an excluded group is denied.
    primary = grp.getgrgid(os.getegid()).gr_name
    others = [grp.getgrgid(g).gr_name for g in os.getgroups() if g != os.getegid()]
    if others:
        return others[0], {"allowed_groups": primary,
                           "why": f"group {others[0]} is not in allowed_groups={primary}", "created_group": False}
    return None, {"allowed_groups": None, "separate": True,
                  "why": f"allowed_groups=finance, and {me} is only in {primary}", "created_group": False}


def make_files(root):
    """A few local files standing in for HDFS; -> (sources, locked source, how the denial is set up)."""
    import grp

    data = os.path.join(root, "user", "analyst")
    os.makedirs(data)
    files = demo_files()
    for name, body in files.items():
        with open(os.path.join(data, name), "wb") as f:
            f.write(body)
    os.chmod(data, 0o755)
    locked = os.path.join(data, "payroll.csv")
    group, how = locked_group()
    if group is not None:
        os.chown(locked, -1, grp.getgrnam(group).gr_gid)
        if os.geteuid() == 0:
            os.chmod(locked, 0o640)
    srcs = ["file://" + os.path.join(data, n) for n in files]
    return srcs, "file://" + locked, how


class Hadoop:
    """The real cluster named by HADOOP_CONF_DIR / HADOOP_CMD / HADOOP_STREAMING_JAR; the demo's
    files under DIR on its HDFS, put there with Hadoop's own `hadoop fs` (argument lists)."""

    DIR = "/user/analyst"

    def __init__(self, archive, python=None):
        from . import job

        self.conf_dir = os.environ.get("HADOOP_CONF_DIR")
        if not self.conf_dir or not os.path.isfile(os.path.join(self.conf_dir, "core-site.xml")):
            raise errors.ConfigError("--hadoop: HADOOP_CONF_DIR must name the cluster's client configuration "
                                     "(make demo-hadoop sets it up)")
        self.cmd = os.environ.get("HADOOP_CMD") or "hadoop"
        if shutil.which(self.cmd) is None:
            raise errors.UnavailableError(f"--hadoop: hadoop command not found: {self.cmd} (set HADOOP_CMD)")
        self.jar = job.find_streaming_jar()
        if self.jar is None:
            raise errors.UnavailableError("--hadoop: no hadoop-streaming jar: set HADOOP_STREAMING_JAR")
        if not os.path.isfile(archive):
            raise errors.NoInputError(f"--hadoop: archive not found: {archive} (build it with make archive)")
        self.archive = os.path.abspath(archive)
        # The archive was built by this interpreter; a node runs it with the Python the venv came from.
        self.python = python or os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
        self.fs_uri = _default_fs(self.conf_dir)

    def fs(self, *args):
        r = _run_quiet([self.cmd, "fs", *args])
        if r.returncode:
            last = (r.stderr.decode(errors="replace").strip().splitlines() or [""])[-1]
            raise errors.UnavailableError(f"hadoop fs {args[0]}: exit {r.returncode}: {last}")
        return r.stdout.decode(errors="replace")

    def uri(self, path):
        return self.fs_uri + path

    def put_files(self, work, files, folder):
        """files {name: bytes} -> HDFS folder (group: ours, so the policy lets us move them)."""
        import grp

        local = os.path.join(work, "to-hdfs", folder.strip("/").replace("/", "_"))
        os.makedirs(local)
        for name, body in files.items():
            with open(os.path.join(local, name), "wb") as f:
                f.write(body)
        self.fs("-mkdir", "-p", folder)
        self.fs("-put", "-f", *[os.path.join(local, n) for n in files], folder)
        self.fs("-chgrp", "-R", grp.getgrgid(os.getegid()).gr_name, folder)
        shutil.rmtree(local, ignore_errors=True)
        return [self.uri(f"{folder}/{n}") for n in files]

    def make_files(self, work):
        self.fs("-rm", "-r", "-f", "-skipTrash", self.DIR)
        files = demo_files()
        srcs = self.put_files(work, files, self.DIR)
        locked = self.uri(f"{self.DIR}/payroll.csv")
        group, how = locked_group()
        if group is not None:
            self.fs("-chgrp", group, f"{self.DIR}/payroll.csv")
            self.fs("-chmod", "640", f"{self.DIR}/payroll.csv")
        return srcs, locked, how

    def stat_lines(self, srcs):
        """(name, bytes, group) per source, in one `hadoop fs -stat`."""
        out = self.fs("-stat", "%n\t%b\t%g", *[urllib.parse.urlsplit(s).path for s in srcs])
        return [tuple(line.split("\t")) for line in out.splitlines() if line.count("\t") == 2]

    def cleanup(self):
        _run_quiet([self.cmd, "fs", "-rm", "-r", "-f", "-skipTrash", self.DIR])


def _default_fs(conf_dir):
    import xml.etree.ElementTree as ET

    try:
        root = ET.parse(os.path.join(conf_dir, "core-site.xml")).getroot()
    except (OSError, ET.ParseError) as e:
        raise errors.ConfigError(f"--hadoop: cannot read {conf_dir}/core-site.xml: {e}") from None
    for prop in root.iter("property"):
        if (prop.findtext("name") or "").strip() == "fs.defaultFS":
            return (prop.findtext("value") or "").strip().rstrip("/")
    raise errors.ConfigError(f"--hadoop: no fs.defaultFS in {conf_dir}/core-site.xml")


def cleanup_group(how):
    if how.get("created_group"):
        _run_quiet(["groupdel", LOCKED_GROUP])


# ---------------------------------------------------------------- the steps

class _Recording:
    """The transfer as the mapper sees it, keeping each record for the summary table."""

    def __init__(self, transfer):
        self.transfer = transfer
        self.records = []

    def prepare(self, srcs):
        return self.transfer.prepare(srcs)

    def one(self, src, dest=None, force=False):
        rec = self.transfer.one(src, dest, force=force)
        self.records.append(rec)
        return rec


def send_batch(srcs, *, force=False, allowed_groups=None, echo=True, run_id=None):
    """The batch step, through the Hadoop Streaming mapper (`hdfs2s3kit map`) in-process:
    the listing a job would feed a task, one TSV line per file, Hadoop counters, and
    (with run_id) the run manifest that `hdfs2s3kit report` reads back."""
    import io

    from . import manifest, mapper, transfer

    tsv, counters = io.StringIO(), io.StringIO()
    with transfer.Transfer(config_prefix=PREFIX, allowed_groups=allowed_groups, progress=False, tool="map") as t:
        rec_t = _Recording(t)
        writer = None
        if run_id:
            bucket, prefix = manifest.manifest_root(t.config, None)
            task_id, attempt_id = mapper.task_identity()
            writer = manifest.ManifestWriter(t.setup.s3, bucket, prefix, run_id, task_id, attempt_id)
        m = mapper.Mapper(rec_t, out=tsv, reporter=mapper.Reporter(counters), manifest=writer, force=force)
        m.run(s + "\n" for s in srcs)
    if echo:
        for rec in rec_t.records:
            say(f"   {rec['status']:<8} {_name(rec['src']):<16} -> "
                + (f"s3://{rec['bucket']}/{rec['key']}" if rec["status"] in ("ok", "skipped") else "nothing stored"))
        say("   mapper counters: " + ", ".join(f"{k} {v}" for k, v in m.counts.items() if v))
    return rec_t.records


def manifest_report(run_id):
    """`hdfs2s3kit report RUN_ID`: the run manifest read back from S3."""
    from . import manifest, transfer

    setup = transfer.Setup(config_prefix=PREFIX)
    bucket, prefix = manifest.manifest_root(setup.config, None)
    summary = manifest.load_summary(setup.s3, bucket, prefix, run_id)
    for line in manifest.format_summary(summary).splitlines():
        say("   " + line)
    return summary


def verify_all(records):
    """Download, decrypt and compare each stored object with its source; -> {src: verify record}."""
    from . import transfer, verify

    setup = transfer.Setup(config_prefix=PREFIX)
    out = {}
    for rec in records:
        if rec["status"] not in ("ok", "skipped"):
            continue
        v = verify.verify(f"s3://{rec['bucket']}/{rec['key']}", setup, against=rec["src"])
        out[rec["src"]] = v
        say(f"   {v['status']:<8} {_name(rec['src'])}  {v['src_bytes']} bytes, xxh3-128 {v['xxh3_128']}"
            + (f"  ({v['error']})" if v.get("error") else ""))
    return out


def tamper_check(records):
    """Swap one object's bytes for another's and show that verify names it."""
    import boto3

    from . import transfer, verify

    ok = [r for r in records if r["status"] in ("ok", "skipped") and r.get("src_bytes")]
    if len(ok) < 2:
        return None
    victim, other = ok[-1], ok[0]   # the first file stays intact for "what to try next"
    s3 = boto3.session.Session(region_name=REGION).client("s3")
    meta = s3.head_object(Bucket=victim["bucket"], Key=victim["key"])["Metadata"]
    body = s3.get_object(Bucket=other["bucket"], Key=other["key"])["Body"].read()
    s3.put_object(Bucket=victim["bucket"], Key=victim["key"], Body=body, Metadata=meta)
    v = verify.verify(f"s3://{victim['bucket']}/{victim['key']}", transfer.Setup(config_prefix=PREFIX))
    say(f"   replaced the bytes of s3://{victim['bucket']}/{victim['key']} with those of {_name(other['src'])}")
    say(f"   verify: {v['status']} (exit {v['exit_code']}): {v['error']}")
    return v


def notifications_received(queue_url):
    import boto3

    sqs = boto3.session.Session(region_name=REGION).client("sqs")
    subjects = []
    for _ in range(5):
        msgs = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not msgs:
            break
        for m in msgs:
            try:
                subjects.append(json.loads(m["Body"]).get("Subject") or "")
            except ValueError:
                subjects.append("")
    return subjects


def table(records, verified):
    cols = ("file", "bytes", "status", "key ID", "xxh3-128 digest", "seconds", "verified")
    rows = []
    for r in records:
        v = verified.get(r["src"])
        rows.append((_name(r["src"]), "" if r.get("src_bytes") is None else str(r["src_bytes"]), r["status"],
                     r.get("key_id") or "-", r.get("xxh3_128") or (v or {}).get("xxh3_128") or "-",
                     f"{r.get('duration_s') or 0:.2f}", (v or {}).get("status", "-")))
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(cols)]
    line = "  ".join("{:<%d}" % w for w in widths)
    say("   " + line.format(*cols))
    say("   " + line.format(*("-" * w for w in widths)))
    for row in rows:
        say("   " + line.format(*row))


def _name(src):
    return src.rsplit("/", 1)[-1]


def _cmd(name):
    """How to call one of our commands from the user's shell: the bare name when PATH finds
    this installation's copy (pip install, activated venv), else its path."""
    bindir = os.path.dirname(os.path.abspath(sys.argv[0] if sys.argv and sys.argv[0] else sys.executable))
    mine = os.path.join(bindir, name)
    if shutil.which(name) == mine:
        return name
    rel = os.path.relpath(mine)
    return rel if not rel.startswith("..") else mine


def next_steps(keep, env=None, records=()):
    say("\n== What to try next")
    sample = next((r for r in records if r["status"] in ("ok", "skipped")), None)
    kit = _cmd("hdfs2s3kit")
    if keep and env and sample:
        say("   The local AWS and the demo files stay until you press Ctrl-C. In another shell:")
        for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                  "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE", "HDFS2S3_CONFIG"):
            say(f"     export {k}={env[k]}")
        src, url = sample["src"], f"s3://{sample['bucket']}/{sample['key']}"
        say(f"     {kit} transfer {src}             # skipped: same fingerprint")
        say(f"     {kit} transfer --force {src}     # sent again")
        say(f"     {kit} transfer -r --dry-run {src.rsplit('/', 1)[0]}   # what a whole folder would do")
        say(f"     {kit} verify {url} --against {src}")
        say(f"     {_cmd('s3-get-sts')} {url} | {_cmd('fernet-decrypt')} | head")
        say(f"     {_cmd('hdfs2s3-pipe')} {src} s3://{BUCKET}/pipe/{_name(src)}")
    else:
        say(f"   {kit} demo --keep    # keep the local AWS running and get commands to try on it")
        say(f"   {kit} transfer --help; {kit} verify --help; {_cmd('hdfs2s3-pipe')} --help")
    say("   Real AWS: README.md, 'Real AWS set-up' (IAM policy, lifecycle rule, SSM layout).")


def checksum_line(records, hadoop):
    """The HDFS checksum proof in one line: how many files matched HDFS's own whole-file CRC."""
    if hadoop is None:
        return ("HDFS checksum proof: none for file:// sources (no HDFS checksum to compare with); "
                "make demo-hadoop shows it on a real HDFS")
    sent = [r for r in records if r["status"] in ("ok", "skipped")]
    empty = [r for r in sent if r.get("src_bytes") == 0]       # HDFS keeps no composite CRC for them
    sent = [r for r in sent if r not in empty]
    matched = [r for r in sent if r.get("hdfs_checksum_status") == "match"]
    shown = ", ".join(f"{_name(r['src'])} {r['hdfs_checksum'].split(':', 1)[-1]}" for r in matched if r.get("hdfs_checksum"))
    alg = next((r["hdfs_checksum"].split(":", 1)[0] for r in matched if r.get("hdfs_checksum")), "COMPOSITE-CRC32C")
    return (f"HDFS checksum proof: {len(matched)} of {len(sent)} files read match HDFS's own {alg} "
            f"(`hadoop fs -checksum`, computed over the plaintext as it was read, before each upload completed)"
            + (f": {shown}" if shown else "")
            + (f"; {', '.join(_name(r['src']) for r in empty)}: empty, HDFS has no composite CRC for it" if empty else ""))


def job_counters(hadoop, name):
    """(job ID, {counter: value} of group hdfs2s3) of the job called `name`, read back from YARN
    (`hadoop job -list all`, `-status`): Hadoop's own sums of the mappers' reporter:counter lines."""
    import re

    r = _run_quiet([hadoop.cmd, "job", "-list", "all"])
    ids = re.findall(r"^\s*(job_\d+_\d+)\s+.*\b" + re.escape(name) + r"\b", r.stdout.decode(errors="replace"), re.M)
    if not ids:
        return "?", {}
    r = _run_quiet([hadoop.cmd, "job", "-status", ids[-1]])
    counters, group = {}, None
    for line in r.stdout.decode(errors="replace").splitlines():
        if re.match(r"^\t\S", line):
            group = line.strip()
        elif group == "hdfs2s3" and "=" in line:
            k, _, v = line.strip().partition("=")
            counters[k] = v
    return ids[-1], counters


def streaming_job(hadoop, work, problems):
    """The batch's bigger sibling: new files on HDFS, a listing, and `hdfs2s3kit job` on YARN."""
    import re

    from . import transfer, verify

    files = {f"part-{i:05d}.csv": b"ts,user,page\n" + b"".join(b"%d,u%d,/p%d\n" % (j, (i * 7 + j) % 13, j % 5)
                                                            for j in range(300 + i)) for i in range(4)}
    folder = f"{hadoop.DIR}/events"
    srcs = hadoop.put_files(work, files, folder)
    listing_local = os.path.join(work, "listing.txt")
    with open(listing_local, "w") as f:
        f.writelines(s + "\n" for s in srcs)
    hadoop.fs("-put", "-f", listing_local, f"{hadoop.DIR}/listing.txt")
    run_id = f"demo-job-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
    argv = [sys.executable, "-m", "hdfs2s3kit.cli.main", "job", "--input", f"{hadoop.DIR}/listing.txt",
            "--archive", hadoop.archive, "--lines-per-map", "2", "--run-id", run_id, "--config", PREFIX,
            "--python", hadoop.python, "--output", f"{hadoop.DIR}/job-out"]
    say(f"   {len(srcs)} new files under {hadoop.uri(folder)}, listing {hadoop.uri(hadoop.DIR + '/listing.txt')}")
    say(f"   hdfs2s3kit job --input {hadoop.DIR}/listing.txt --archive {os.path.basename(hadoop.archive)} "
        f"--lines-per-map 2 --run-id {run_id} ...")
    t0 = time.monotonic()
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    took = time.monotonic() - t0
    err = r.stderr.decode(errors="replace")
    job_id, counters = job_counters(hadoop, f"hdfs2s3kit-{run_id}")
    if r.returncode:
        problems.append(f"Streaming job {job_id} exited {r.returncode}: {err.strip().splitlines()[-1:]}")
        say(f"   job {job_id} FAILED (exit {r.returncode}) after {took:.0f} s")
        return []
    tsv = hadoop.fs("-cat", f"{hadoop.DIR}/job-out/part-*")
    rows = [line.split("\t") for line in tsv.splitlines() if line.count("\t") == 6]
    say(f"   YARN job {job_id}: {len(rows)} files in {(len(srcs) + 1) // 2} map tasks, {took:.0f} s"
        " (start-up of the application master and task JVMs dominates on a mini cluster)")
    say("   Hadoop's own counters for the job (group hdfs2s3): "
        + (", ".join(f"{k} {v}" for k, v in sorted(counters.items())) or "(none printed)"))
    for row in rows:
        say(f"   {row[0]:<8} {_name(row[1]):<16} -> {row[2]}")
    if sorted(row[1] for row in rows) != sorted(srcs) or any(row[0] != "ok" for row in rows):
        problems.append(f"Streaming job {job_id}: not every file was sent once: {[row[:2] for row in rows]}")
    if int(counters.get("files_ok", -1)) != len(srcs):
        problems.append(f"Streaming job {job_id}: counter files_ok {counters.get('files_ok')} != {len(srcs)}")
    say(f"   hdfs2s3kit report {run_id}:")
    summary = manifest_report(run_id)
    if summary["ok"] != len(srcs) or summary["failed"]:
        problems.append(f"job manifest: {summary['ok']} ok / {summary['failed']} failed")
    # verify: the object's own record of HDFS's checksum, checked without reading HDFS again
    setup = transfer.Setup(config_prefix=PREFIX)
    recs = []
    for row in rows:
        v = verify.verify(row[2], setup)
        recs.append({"src": row[1], "status": "ok" if v["status"] == "ok" else v["status"],
                     "hdfs_checksum": v.get("hdfs_checksum"), "hdfs_checksum_status": v.get("hdfs_checksum_status")})
        if v["status"] != "ok" or v.get("hdfs_checksum_status") != "match":
            problems.append(f"verify {row[2]}: {v['status']}, HDFS checksum {v.get('hdfs_checksum_status')}")
    say(f"   verify of the job's objects, against the HDFS checksum each one carries: "
        + ", ".join(f"{_name(r['src'])} {r['hdfs_checksum_status']}" for r in recs))
    return recs


# ---------------------------------------------------------------- main

def run(keep=False, hadoop=False, aws_endpoint=None, archive="hdfs2s3kit-archive.tgz"):
    """-> exit code. Every step prints what it does; problems are named at the end.

    hadoop: the real cluster of HADOOP_CONF_DIR etc. as the HDFS side, ending with a Streaming
    job; aws_endpoint: a loopback emulator already running (the one the cluster's nodes know)."""
    t0 = time.monotonic()
    problems = []
    if aws_endpoint is not None:
        host = urllib.parse.urlsplit(aws_endpoint).hostname
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise errors.UsageError(f"--aws-endpoint: {aws_endpoint!r} is not on this machine (127.0.0.1): "
                                    "the demo only ever talks to a local emulator")
    elif hadoop:
        raise errors.UsageError("--hadoop needs --aws-endpoint: the local AWS the cluster's nodes were started "
                                "with, so the map tasks reach it (make demo-hadoop sets both up)")
    cluster = Hadoop(archive) if hadoop else None
    work = tempfile.mkdtemp(prefix="hdfs2s3-demo-")
    os.chmod(work, 0o755)
    how = {}
    try:
        step(1, "Local AWS: moto_server on 127.0.0.1 (no account, nothing leaves this machine)")
        with LocalAWS(work, aws_endpoint) as local:
            say(f"   AWS_ENDPOINT_URL={local.url}" + ("  (the one the cluster's nodes know)" if aws_endpoint else ""))
            srcs, locked, how = cluster.make_files(work) if cluster else make_files(work)
            info = seed(allowed_groups=how.get("allowed_groups") or "")
            say(f"   SSM config {PREFIX}: " + ", ".join(f"{k}" for k in info["config"] if info["config"][k]))
            say(f"   master key: SecureString {PREFIX}/keys/fernet (version 1)")
            say(f"   bucket s3://{BUCKET}, role {info['role_arn']}, topic {info['topic']}")

            if cluster:
                step(2, f"HDFS side: {len(srcs)} files on the real HDFS, {cluster.uri(cluster.DIR)}")
                for name, size, group in cluster.stat_lines(srcs):
                    say(f"   {name:<16} {int(size):>9} bytes  group {group}")
            else:
                step(2, f"'HDFS' side: {len(srcs)} local files under {work}/user/analyst")
                for s in srcs:
                    p = s[len("file://"):]
                    st = os.stat(p)
                    say(f"   {_name(s):<16} {st.st_size:>9} bytes  group {__import__('grp').getgrgid(st.st_gid).gr_name}")
            say(f"   {_name(locked)} is {how['why']}: it must be refused")

            run_id = f"demo-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}"
            step(3, "Batch through the Hadoop Streaming mapper (`hdfs2s3kit map`, run " + run_id + "):\n"
                 "   authz (batched) -> read -> encrypt -> gated upload -> checksum -> manifest, metrics, SNS")
            if how.get("separate"):
                records = send_batch([s for s in srcs if s != locked], run_id=run_id)
                records += send_batch([locked], allowed_groups=("finance",), run_id=run_id)
            else:
                records = send_batch(srcs, run_id=run_id)
            by_src = {r["src"]: r for r in records}
            denied = by_src[locked]
            if denied["status"] != "denied":
                problems.append(f"{_name(locked)} was not denied (status {denied['status']})")
            else:
                say(f"   denial (exit {denied['exit_code']}): {denied['error']}")
            for r in records:
                if r["src"] != locked and r["status"] != "ok":
                    problems.append(f"{_name(r['src'])}: {r['status']}: {r['error']}")
                # HDFS has no composite CRC of an empty file (it answers MD5-of-0MD5-of-0CRC32)
                if cluster and r["src"] != locked and r.get("src_bytes") and r.get("hdfs_checksum_status") != "match":
                    problems.append(f"{_name(r['src'])}: HDFS checksum {r.get('hdfs_checksum_status')}")

            step(4, f"Run manifest: hdfs2s3kit report {run_id}")
            summary = manifest_report(run_id)
            expected_ok = sum(1 for r in records if r["status"] == "ok")
            if summary["ok"] != expected_ok or summary["failed"] < 1:
                problems.append(f"manifest report: {summary['ok']} ok / {summary['failed']} failed, "
                                f"expected {expected_ok} ok and the denial")

            step(5, "Verify: download, decrypt, check each final frame's digest and length, compare with the source")
            verified = verify_all(records)
            for src, v in verified.items():
                if v["status"] != "ok":
                    problems.append(f"verify {_name(src)}: {v['error']}")

            step(6, "Summary")
            table(records, verified)
            say("   " + checksum_line(records, cluster))

            step(7, "Run the same batch again: each file already there with the same fingerprint is skipped")
            again = send_batch([s for s in srcs if s != locked], echo=False)
            say("   " + ", ".join(f"{_name(r['src'])}: {r['status']}" for r in again))
            problems += [f"re-run {_name(r['src'])}: {r['status']}" for r in again if r["status"] != "skipped"]

            step(8, "Tamper check: an object swapped for another object's bytes")
            v = tamper_check(records)
            if v is not None and v["exit_code"] != errors.DATAERR:
                problems.append("verify did not catch the swapped object")

            job_recs = []
            if cluster:
                step(9, "A real Hadoop Streaming job on YARN: `hdfs2s3kit job`, the toolkit shipped with -archives")
                job_recs = streaming_job(cluster, work, problems)
                say("   " + checksum_line(job_recs, cluster).replace("files read", "files the job's tasks read"))

            subjects = notifications_received(info["queue_url"])
            say(f"\n   SNS: {len(subjects)} notification(s) delivered to the ops queue"
                + (f": {'; '.join(s for s in subjects if s)}" if subjects else ""))

            elapsed = time.monotonic() - t0      # the idle wait below is not part of the demo
            if keep:
                next_steps(True, local.env, records)
                say("\n   --keep: this command now blocks, keeping the local AWS running for the commands "
                    "above (from another terminal). Press Ctrl-C here to stop it.")
                try:
                    signal.pause()
                except (KeyboardInterrupt, errors.Interrupted):
                    pass
            if not aws_endpoint:
                say("\n   stopping moto_server")
    finally:
        cleanup_group(how)
        shutil.rmtree(work, ignore_errors=True)
        if cluster:
            cluster.cleanup()
    if not keep:
        next_steps(False)
    if problems:
        say("\nDEMO FAILED:\n   " + "\n   ".join(problems))
        return 1
    tail = "; a real Streaming job sent the rest, checked against HDFS's checksums" if cluster else ""
    say(f"\nDemo finished in {elapsed:.1f} s: every allowed file sent, encrypted and verified; "
        f"the locked one refused{tail}.")
    return 0
