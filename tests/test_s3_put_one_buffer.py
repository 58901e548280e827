"""Single-buffer mode (issue 12, item 6): when two parts would pass the buffer cap, s3-put-sts holds
ONE part buffer -- it reads a part, sends it (retrying from that same buffer) and only then reads
the next. At 1 TiB that is one 105 MiB part; here HDFS2S3_TEST_BUFFER_CAP lowers the cap to 8 MiB
so that 5 MiB parts get the same plan and the tests move MiBs, not GiBs."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest
from harness.moto import nothing_left
from harness.proc import cmd_path, run
from harness.proxy import FaultyProxy

MiB = 1 << 20
BUCKET = "one-buffer-bucket"
ONE = {"HDFS2S3_TEST_BUFFER_CAP": str(8 * MiB)}       # 2 x 5 MiB > 8 MiB: one buffer
TWO = {"HDFS2S3_TEST_BUFFER_CAP": str(16 * MiB)}      # 2 x 5 MiB <= 16 MiB: two (3 with 5 MiB parts)


def test_the_plan_under_the_test_cap_is_one_buffer():
    r = subprocess.run([cmd_path("python"), "-c", "from hdfs2s3kit import s3put; "
                        "print(s3put.BUFFER_CAP, s3put.buffer_limit(5 << 20, 6), s3put.memory_plan(None, "
                        "part_size=5 << 20))"], env={**os.environ, **ONE}, capture_output=True, check=True)
    assert r.stdout.split(maxsplit=2) == [b"8388608", b"1", b"(5242880, 1, 5242880)\n"]


@pytest.mark.parametrize("known", [True, False])
def test_one_buffer_upload_is_byte_exact(aws_env, s3, known):
    data = os.urandom(17 * MiB + 7)
    args = ["--expected-size", str(len(data))] if known else []
    r = run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", *args, f"s3://{BUCKET}/exact",
            input=data, env={**aws_env, **ONE})
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["status"] == "ok" and rec["checksum_verified"] is True
    assert rec["parts"] == 4 and rec["part_sizes"] == [5 * MiB, 2 * MiB + 7]
    assert s3.get_object(Bucket=BUCKET, Key="exact")["Body"].read() == data
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def _read_while_first_part_is_held(aws_env, env, key):
    """Bytes s3-put-sts took from its stdin while S3 had not yet seen its first part (the proxy holds
    every UploadPart for a while), and the finished run."""
    data = os.urandom(16 * MiB)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], hold_request={"part": 1.5}) as proxy:
        put = subprocess.Popen([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB",
                                f"s3://{BUCKET}/{key}"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env={**os.environ, **aws_env, **env,
                                                            "AWS_ENDPOINT_URL": proxy.url})
        written = [0]

        def feed():
            try:
                for i in range(0, len(data), 64 << 10):
                    put.stdin.write(data[i:i + (64 << 10)])
                    put.stdin.flush()
                    written[0] = i + (64 << 10)
                put.stdin.close()
            except BrokenPipeError:
                pass

        t = threading.Thread(target=feed, daemon=True)
        t.start()
        deadline = time.monotonic() + 30
        while proxy.kinds["part"] == 0:
            assert time.monotonic() < deadline, "no part was sent"
            time.sleep(0.02)
        time.sleep(1.0)                # part 1 is held in the proxy: the reader has done what it can
        taken = written[0]
        t.join(120)                    # the whole input, then EOF (stdout/stderr are one line each)
        out, err = put.stdout.read(), put.stderr.read()
        put.wait(120)
    assert put.returncode == 0, err
    return taken, json.loads(out), data


def test_with_one_buffer_the_reader_waits_while_the_part_is_sent(aws_env, s3):
    # One buffer: part 1 read (5 MiB), then nothing more until S3 acknowledged it; the pipe
    # (enlarged to 1 MiB) holds the rest the writer could push. Two buffers: part 2 is read meanwhile.
    one, rec, data = _read_while_first_part_is_held(aws_env, ONE, "one")
    assert one <= 6 * MiB + (64 << 10), one
    assert rec["parts"] == 4 and s3.get_object(Bucket=BUCKET, Key="one")["Body"].read() == data
    two, rec, data = _read_while_first_part_is_held(aws_env, TWO, "two")
    assert two >= 10 * MiB, two
    assert rec["parts"] == 4 and s3.get_object(Bucket=BUCKET, Key="two")["Body"].read() == data


def test_a_failed_part_is_retried_from_the_one_held_buffer(aws_env, s3):
    # Connections reset mid-part and parts refused with 503 SlowDown: each retry sends the same
    # buffer again, which the reader has not touched meanwhile -- the object is byte-exact.
    data = os.urandom(16 * MiB + 3)
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], cut_after=2 * MiB, cuts=3, slowdowns=2) as proxy:
        r = run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", "--expected-size", str(len(data)),
                f"s3://{BUCKET}/retry", input=data, env={**aws_env, **ONE, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.cuts_done == 3 and proxy.slowdowns_done == 2
    assert r.returncode == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["checksum_verified"] is True and rec["parts"] == 4
    assert s3.get_object(Bucket=BUCKET, Key="retry")["Body"].read() == data


def test_short_input_in_one_buffer_mode_aborts_and_leaves_nothing(aws_env, s3):
    r = run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", "--expected-size", str(20 * MiB),
            f"s3://{BUCKET}/short", input=os.urandom(12 * MiB), env={**aws_env, **ONE})
    assert r.returncode == 74, r.stderr
    rec = json.loads(r.stdout)
    assert rec["status"] == "truncated" and rec["aborted"] is True and rec["upload_id"]
    assert "input ended after" in r.stderr.decode()
    assert nothing_left(s3, BUCKET, "short")


def test_signal_while_the_one_part_is_on_the_wire_aborts_and_leaves_nothing(aws_env, s3):
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], hold_request={"part": 3.0}) as proxy:
        put = subprocess.Popen([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB",
                                f"s3://{BUCKET}/sig"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE,
                               env={**os.environ, **aws_env, **ONE, "AWS_ENDPOINT_URL": proxy.url})
        put.stdin.write(os.urandom(6 * MiB))       # part 1 read and sent (held); stdin stays open
        put.stdin.flush()
        deadline = time.monotonic() + 30
        while proxy.kinds["part"] == 0:
            assert time.monotonic() < deadline, "no part was sent"
            time.sleep(0.02)
        put.send_signal(signal.SIGTERM)
        out, err = put.communicate(timeout=60)
    rec = json.loads(out)
    assert put.returncode == 143, err
    assert rec["status"] == "interrupted" and rec["aborted"] is True
    assert nothing_left(s3, BUCKET, "sig")
