"""The fault suite: lost responses, two writers, signals at each stage, roles that may not
read or delete, closed descriptors. Each case asserts what the bucket holds (objects, open
uploads), the exit code and the record."""

import json
import os
import signal
import subprocess
import time

import pytest
from harness.iam import S3_ALL, make_role
from harness.moto import nothing_left
from harness.proc import cmd_path, run
from harness.proxy import FaultyProxy

MiB = 1 << 20
BUCKET = "race-bucket"


def uploads(s3):
    return s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])


def body(s3, key):
    return s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()


def record(r):
    lines = r.stdout.decode().splitlines()
    assert len(lines) == 1, (r.stdout, r.stderr)
    return json.loads(lines[0])


def put(env, key, data, *args, proxy=None):
    env = {**env, "AWS_ENDPOINT_URL": proxy.url} if proxy else env
    return run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", *args, f"s3://{BUCKET}/{key}",
               input=data, env=env)


def start_put(env, key, *args, proxy=None):
    env = {**os.environ, **env, **({"AWS_ENDPOINT_URL": proxy.url} if proxy else {})}
    return subprocess.Popen([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB", *args,
                             f"s3://{BUCKET}/{key}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env)


def finish(p, timeout=60):
    """communicate() for a child whose stdin we already closed."""
    p.wait(timeout=timeout)
    return p.stdout.read(), p.stderr.read()


def wait_for(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


# -- lost responses ------------------------------------------------------------

def test_lost_create_multipart_upload_response_leaves_no_second_upload(aws_env, s3):
    data = os.urandom(6 * MiB)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], lose_reply={"create": 1}) as proxy:
        r = put(aws_env, "lost-create", data, proxy=proxy)
        assert proxy.lost["create"] == 1 and proxy.kinds["create"] == 2
    rec = record(r)
    assert r.returncode == 0, r.stderr
    assert rec["status"] == "ok" and rec["checksum_verified"] is True
    assert "lost CreateMultipartUpload response" in rec["note"]
    assert body(s3, "lost-create") == data and uploads(s3) == []


@pytest.mark.parametrize("size,kind", [(1 * MiB, "put"), (6 * MiB, "complete")])
def test_lost_response_to_the_creating_request_is_recognised_as_our_own_object(aws_env, s3, size, kind):
    data = os.urandom(size)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], lose_reply={kind: 1}) as proxy:
        r = put(aws_env, "lost-" + kind, data, proxy=proxy)
        assert proxy.lost[kind] == 1
    rec = record(r)
    assert r.returncode == 0, r.stderr
    assert rec["status"] == "ok" and rec["checksum_verified"] is True and rec["object_exists"] is True
    if kind == "put":       # a retried Complete may simply succeed again
        assert "the object found is ours" in rec["note"]
    assert body(s3, "lost-" + kind) == data and uploads(s3) == []


# -- two writers -----------------------------------------------------------------

def test_two_overwriting_writers_never_delete_each_others_object(aws_env, s3):
    s3.put_object(Bucket=BUCKET, Key="two", Body=b"old")
    mine, theirs = os.urandom(MiB), os.urandom(MiB)
    # Our read-back reaches the server only after the other writer has completed (which takes it a
    # process start and an upload: the hold is generous for a loaded machine).
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], hold_request={"head": 10}) as proxy:
        a = start_put(aws_env, "two", "--overwrite", proxy=proxy)
        a.stdin.write(mine)
        a.stdin.close()
        wait_for(lambda: proxy.kinds["head"] >= 1, "first writer never read back")
        b = put(aws_env, "two", theirs, "--overwrite")
        assert a.poll() is None, "the first writer's read-back was not held back long enough"
        out, err = finish(a)
    assert b.returncode == 0, b.stderr
    assert record(b)["checksum_verified"] is True
    rec = json.loads(out)
    assert a.returncode == 73, err
    assert rec["status"] == "replaced" and rec["object_exists"] is False and rec["aborted"] is False
    assert "replaced by another writer" in err.decode() and "nothing deleted" in err.decode()
    assert body(s3, "two") == theirs and uploads(s3) == []


def test_overwrite_never_replaces_a_good_object_with_a_corrupt_one(aws_env, s3):
    good = os.urandom(MiB)
    s3.put_object(Bucket=BUCKET, Key="keep", Body=good)
    # every attempt at the part is corrupted on the way: the part checks fail, no Complete
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], corrupt_at=MiB // 2, corruptions=50) as proxy:
        r = put(aws_env, "keep", os.urandom(MiB), "--overwrite", proxy=proxy)
        assert proxy.corruptions_done >= 2
    rec = record(r)
    assert r.returncode == 75, r.stderr
    assert "S3 received other bytes than were sent" in r.stderr.decode()
    assert rec["aborted"] is True and rec["object_exists"] is False
    assert body(s3, "keep") == good and uploads(s3) == []


def test_overwrite_resends_a_part_corrupted_once_and_stores_the_right_bytes(aws_env, s3):
    s3.put_object(Bucket=BUCKET, Key="resend", Body=b"old")
    data = os.urandom(MiB)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], corrupt_at=MiB // 2, corruptions=1) as proxy:
        r = put(aws_env, "resend", data, "--overwrite", proxy=proxy)
    assert r.returncode == 0, r.stderr
    assert record(r)["checksum_verified"] is True and body(s3, "resend") == data


def test_existing_key_is_refused_before_reading_any_input(aws_env, s3):
    s3.put_object(Bucket=BUCKET, Key="taken", Body=b"x")
    p = start_put(aws_env, "taken")            # stdin stays open: nothing is ever sent
    out, err = p.communicate(timeout=30)
    assert p.returncode == 73, err
    assert json.loads(out)["status"] == "exists" and uploads(s3) == []
    assert body(s3, "taken") == b"x"


# -- roles that may not read or delete ---------------------------------------------

def test_write_only_role_stores_the_object_and_says_it_was_not_read_back(aws_env, boto, moto_server, s3):
    role = make_role(boto, name="write-only", actions=["s3:PutObject", "s3:AbortMultipartUpload"], bucket=BUCKET)
    moto_server.set_auth(True)
    data = os.urandom(6 * MiB)
    r = run("s3-put-sts", "--role-arn", role["role_arn"], "--part-size", "5MiB", f"s3://{BUCKET}/wo",
            input=data, env={**aws_env, **role["env"]})
    moto_server.set_auth(False)
    rec = record(r)
    assert r.returncode == 0, r.stderr
    assert rec["status"] == "ok" and rec["object_exists"] is True and rec["aborted"] is False
    assert rec["checksum_verified"] is False and "read-back denied" in rec["note"]
    assert body(s3, "wo") == data and uploads(s3) == []


def test_role_without_delete_reports_the_corrupt_object_it_could_not_remove(aws_env, boto, moto_server, s3):
    role = make_role(boto, name="no-delete", actions=[a for a in S3_ALL if a != "s3:DeleteObject"],
                     bucket=BUCKET)
    moto_server.set_auth(True)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], corrupt_at=MiB // 2, corruptions=1) as proxy:
        r = run("s3-put-sts", "--role-arn", role["role_arn"], f"s3://{BUCKET}/nodel", input=os.urandom(MiB),
                env={**aws_env, **role["env"], "AWS_ENDPOINT_URL": proxy.url})
    moto_server.set_auth(False)
    rec = record(r)
    assert r.returncode == 65, r.stderr
    assert rec["status"] == "checksum_mismatch" and rec["object_exists"] is True and rec["aborted"] is False
    assert "deleting it was denied" in r.stderr.decode() and "s3:DeleteObject" in r.stderr.decode()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["nodel"]


# -- signals at each stage -----------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_hangup_and_quit_abort_like_term(aws_env, s3, sig):
    p = start_put(aws_env, "hup")
    p.stdin.write(os.urandom(8 * MiB))
    p.stdin.flush()
    wait_for(lambda: uploads(s3), "upload never started")
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    rec = json.loads(out)
    assert p.returncode == 128 + sig, err
    assert rec["status"] == "interrupted" and rec["aborted"] is True and rec["object_exists"] is False
    assert err.decode().strip() == f"s3-put-sts: interrupted by {signal.Signals(sig).name}"
    assert nothing_left(s3, BUCKET, "hup")


def test_signal_while_create_is_in_flight_leaves_no_upload(aws_env, s3):
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], stall_reply={"create": 2}) as proxy:
        p = start_put(aws_env, "in-create", proxy=proxy)
        p.stdin.write(os.urandom(6 * MiB))
        p.stdin.flush()
        wait_for(lambda: proxy.kinds["create"] >= 1, "create never sent")
        p.send_signal(signal.SIGTERM)
        out, err = p.communicate(timeout=60)
    rec = json.loads(out)
    assert p.returncode == 143, err
    assert rec["upload_id"] and rec["aborted"] is True and rec["object_exists"] is False
    assert nothing_left(s3, BUCKET, "in-create")


def test_second_signal_during_the_abort_does_not_cut_it_short(aws_env, s3):
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], hold_request={"abort": 2}) as proxy:
        p = start_put(aws_env, "twice", proxy=proxy)
        p.stdin.write(os.urandom(8 * MiB))
        p.stdin.flush()
        wait_for(lambda: uploads(s3), "upload never started")
        p.send_signal(signal.SIGTERM)
        wait_for(lambda: proxy.kinds["abort"] >= 1, "abort never sent")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=60)
    rec = json.loads(out)
    assert p.returncode == 143, err
    assert rec["aborted"] is True and nothing_left(s3, BUCKET, "twice")


def test_signal_after_complete_says_the_object_is_stored(aws_env, s3):
    data = os.urandom(6 * MiB)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], hold_request={"head": 3}) as proxy:
        p = start_put(aws_env, "late", "--overwrite", proxy=proxy)    # --overwrite: no early HeadObject
        p.stdin.write(data)
        p.stdin.close()
        wait_for(lambda: proxy.kinds["head"] >= 1, "never read back")
        p.send_signal(signal.SIGTERM)
        out, err = finish(p)
    rec = json.loads(out)
    assert p.returncode == 143, err
    assert rec["object_exists"] is True and rec["aborted"] is False and rec["checksum_verified"] is False
    assert "was stored whole (not verified)" in err.decode()
    assert body(s3, "late") == data and uploads(s3) == []


def test_signal_during_a_single_put_that_s3_stored_says_so(aws_env, s3):
    data = os.urandom(MiB)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], stall_reply={"put": 3}) as proxy:
        p = start_put(aws_env, "put-stop", proxy=proxy)
        p.stdin.write(data)
        p.stdin.close()
        wait_for(lambda: proxy.kinds["put"] >= 1, "never sent")
        time.sleep(0.5)
        p.send_signal(signal.SIGTERM)
        out, err = finish(p)
    rec = json.loads(out)
    assert p.returncode == 143, err
    assert rec["object_exists"] is True and rec["aborted"] is False and rec["checksum_verified"] is True
    assert body(s3, "put-stop") == data


# -- the small items ----------------------------------------------------------------

def test_closed_stdout_after_a_stored_object_is_not_a_failure(aws_env, s3):
    r = subprocess.run([cmd_path("s3-put-sts"), "--no-assume-role", f"s3://{BUCKET}/closed-out"],
                       input=b"data\n", stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env={**os.environ, **aws_env}, preexec_fn=lambda: os.close(1), timeout=60)
    assert r.returncode == 0, r.stderr
    assert b"status record not delivered (stdout closed)" in r.stderr and b"Traceback" not in r.stderr
    assert body(s3, "closed-out") == b"data\n"


def test_closed_stderr_does_not_break_the_upload(aws_env, s3):
    r = subprocess.run([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB",
                        f"s3://{BUCKET}/closed-err"], input=os.urandom(6 * MiB), stdout=subprocess.PIPE,
                       env={**os.environ, **aws_env}, preexec_fn=lambda: os.close(2), timeout=60)
    assert r.returncode == 0
    assert record(r)["checksum_verified"] is True


def test_closed_stdin_is_no_input(aws_env, s3):
    r = subprocess.run([cmd_path("s3-put-sts"), "--no-assume-role", f"s3://{BUCKET}/closed-in"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ, **aws_env},
                       preexec_fn=lambda: os.close(0), timeout=60)
    assert r.returncode == 66
    assert r.stderr.decode().strip() == "s3-put-sts: stdin is closed: nothing to upload"
    assert nothing_left(s3, BUCKET, "closed-in")


@pytest.mark.parametrize("args,what", [
    (["--metadata", "k=line1\r\nline2"], "printable ASCII"),
    (["--metadata", "k=" + "v" * 2100], "at most 2048"),
])
def test_metadata_s3_would_refuse_is_a_usage_error(aws_env, s3, args, what):
    r = put(aws_env, "meta", b"x", *args)
    assert r.returncode == 2 and what in r.stderr.decode()
    assert nothing_left(s3, BUCKET, "meta")


def test_key_longer_than_s3_allows_is_a_usage_error(aws_env, s3):
    r = put(aws_env, "k" * 1025, b"x")
    assert r.returncode == 2 and "at most 1024" in r.stderr.decode()
