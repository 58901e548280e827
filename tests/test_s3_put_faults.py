"""Faults during an upload: signals, a network that resets or corrupts, IAM that says no."""

import json
import os
import re
import signal
import subprocess
import time

import pytest
from harness.iam import S3_ALL, make_role
from harness.moto import nothing_left
from harness.proc import cmd_path, run
from harness.proxy import FaultyProxy

MiB = 1 << 20
BUCKET = "fault-bucket"


@pytest.mark.parametrize("sig,code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_signal_during_upload_aborts_and_exits_with_the_signal_code(aws_env, s3, sig, code):
    put = subprocess.Popen([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB",
                            f"s3://{BUCKET}/sig"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env={**os.environ, **aws_env})
    put.stdin.write(os.urandom(8 * MiB))        # one part sent, the next half read; stdin stays open
    put.stdin.flush()
    deadline = time.monotonic() + 30
    while not s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads"):
        assert time.monotonic() < deadline, "upload never started"
        time.sleep(0.1)
    put.send_signal(sig)
    out, err = put.communicate(timeout=60)
    rec = json.loads(out)
    assert put.returncode == code, err
    assert rec["status"] == "interrupted" and rec["aborted"] is True and rec["exit_code"] == code
    assert err.decode().strip() == f"s3-put-sts: interrupted by {signal.Signals(sig).name}"
    assert nothing_left(s3, BUCKET, "sig")


def test_connection_reset_mid_part_is_retried_and_the_object_is_correct(aws_env, s3):
    data = os.urandom(6 * MiB)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], cut_after=2 * MiB, cuts=2) as proxy:
        r = run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", f"s3://{BUCKET}/reset", input=data,
                env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.cuts_done == 2
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["checksum_verified"] is True
    assert s3.get_object(Bucket=BUCKET, Key="reset")["Body"].read() == data


def test_throttled_parts_are_retried_with_backoff(aws_env, s3):
    data = os.urandom(6 * MiB)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], slowdowns=3) as proxy:
        r = run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", f"s3://{BUCKET}/slow", input=data,
                env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.slowdowns_done == 3
    assert r.returncode == 0, r.stderr
    assert s3.get_object(Bucket=BUCKET, Key="slow")["Body"].read() == data


def test_progress_is_shown_only_when_stderr_is_a_terminal(aws_env, s3):
    import pty

    data = os.urandom(6 * MiB)
    primary, secondary = pty.openpty()
    try:
        put = subprocess.Popen([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB",
                                f"s3://{BUCKET}/tty"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=secondary, env={**os.environ, **aws_env})
        os.close(secondary)
        put.communicate(data, timeout=60)
        shown = b""
        while True:
            try:
                chunk = os.read(primary, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(primary)
    assert put.returncode == 0
    assert re.search(rb"6\.0 MiB in [\d.]+s \([\d.]+ MiB/s\), 2 parts\r?\n$", shown), shown
    r = run("s3-put-sts", "--no-assume-role", "--overwrite", f"s3://{BUCKET}/tty", input=data, env=aws_env)
    assert r.returncode == 0 and r.stderr == b""


@pytest.mark.parametrize("size", [1 * MiB, 6 * MiB])
def test_bytes_corrupted_in_transit_are_caught_and_the_bad_object_removed(aws_env, s3, size):
    # The emulator stores what it receives without checking our checksum header;
    # the read-back comparison is what catches it.
    data = os.urandom(size)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], corrupt_at=MiB // 2, corruptions=1) as proxy:
        r = run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", f"s3://{BUCKET}/bad", input=data,
                env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.corruptions_done == 1
    rec = json.loads(r.stdout)
    assert r.returncode == 65, r.stderr
    assert rec["status"] == "checksum_mismatch"
    assert "does not match what was sent" in r.stderr.decode() and "deleted" in r.stderr.decode()
    assert nothing_left(s3, BUCKET, "bad")


# -- IAM enforced --------------------------------------------------------------

def test_role_without_put_object_is_refused_with_exit_77(aws_env, boto, moto_server, s3):
    role = make_role(boto, name="reader", actions=["s3:GetObject", "s3:ListBucket"], bucket=BUCKET)
    moto_server.set_auth(True)
    r = run("s3-put-sts", "--role-arn", role["role_arn"], f"s3://{BUCKET}/denied", input=b"secret data",
            env={**aws_env, **role["env"]})
    assert r.returncode == 77, r.stderr
    err = r.stderr.decode().strip()
    assert err.startswith(f"s3-put-sts: PutObject s3://{BUCKET}/denied: AccessDenied") and "\n" not in err
    rec = json.loads(r.stdout)
    assert rec["status"] == "denied" and rec["role_arn"] == role["role_arn"]
    moto_server.set_auth(False)
    assert nothing_left(s3, BUCKET, "denied")


def test_assumed_role_uploads_and_names_the_session(aws_env, boto, moto_server, s3):
    role = make_role(boto, name="writer", actions=S3_ALL, bucket=BUCKET)
    moto_server.set_auth(True)
    data = os.urandom(6 * MiB)
    r = run("s3-put-sts", "--role-arn", role["role_arn"], "--part-size", "5MiB", f"s3://{BUCKET}/ok",
            input=data, env={**aws_env, **role["env"]})
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["role_arn"] == role["role_arn"]
    assert rec["session_name"].endswith(f"-{rec['session_name'].rsplit('-', 1)[1]}")
    assert rec["session_name"].startswith(f"{rec['user']}@")
    moto_server.set_auth(False)
    assert s3.get_object(Bucket=BUCKET, Key="ok")["Body"].read() == data


def test_denied_abort_is_reported_with_the_lifecycle_rule(aws_env, boto, moto_server, s3):
    no_abort = [a for a in S3_ALL if a != "s3:AbortMultipartUpload"]
    role = make_role(boto, name="no-abort", actions=no_abort, bucket=BUCKET)
    moto_server.set_auth(True)
    r = run("s3-put-sts", "--role-arn", role["role_arn"], "--part-size", "5MiB", "--expected-size", "7MiB",
            f"s3://{BUCKET}/orphan", input=os.urandom(6 * MiB), env={**aws_env, **role["env"]})
    moto_server.set_auth(False)
    assert r.returncode == 74, r.stderr
    err = r.stderr.decode().strip()
    assert "\n" not in err and "input ended after" in err
    assert "was denied (AccessDenied)" in err and "AbortIncompleteMultipartUpload" in err
    rec = json.loads(r.stdout)
    assert rec["aborted"] is False and rec["status"] == "truncated"
    ups = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
    assert [u["UploadId"] for u in ups] == [rec["upload_id"]]
