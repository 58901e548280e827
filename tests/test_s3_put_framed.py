"""Gating: an encrypted stream becomes an object only when it ended exactly after its final frame."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from harness.moto import nothing_left
from harness.proc import cmd_path, run

from hdfs2s3kit import framing

MiB = 1 << 20
BUCKET = "framed-bucket"


def framed_stream(frames, frame_size=256 * 1024, final=True):
    """A keyless-valid stream: real header and prefixes, random token bytes of legal lengths.
    Returns (bytes, offsets of each frame boundary)."""
    signed = framing.header_signed_part("test:1", os.urandom(16), frame_size)
    out = [framing.encode_header(signed, os.urandom(120))]
    bounds = [len(out[0])]
    for i in range(frames):
        last = final and i == frames - 1
        plain = framing.FRAME_HEAD_LEN + (framing.FINAL_TRAILER_LEN + 1000 if last else frame_size)
        tl = framing.token_len(plain)
        out.append(framing.encode_prefix(tl, last) + os.urandom(tl))
        bounds.append(bounds[-1] + 4 + tl)
    return b"".join(out), bounds


def put_from_dying_upstream(env, key, data, tmp_path, *args):
    """Upstream writes `data`, then kills itself with SIGKILL (no clean EOF of its own making)."""
    src = tmp_path / "upstream.bin"
    src.write_bytes(data)
    feeder = subprocess.Popen([sys.executable, "-c",
                               "import os,sys,signal; d=open(sys.argv[1],'rb').read(); "
                               "v=memoryview(d)\nwhile v: v=v[os.write(1, v):]\n"
                               "os.kill(os.getpid(), signal.SIGKILL)", str(src)], stdout=subprocess.PIPE)
    put = subprocess.Popen([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB", *args,
                            f"s3://{BUCKET}/{key}"], stdin=feeder.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env={**os.environ, **env})
    feeder.stdout.close()
    out, err = put.communicate(timeout=120)
    assert feeder.wait() == -signal.SIGKILL
    return put.returncode, json.loads(out), err.decode()


def test_complete_framed_stream_is_detected_by_its_magic_and_uploaded(aws_env, s3):
    data, bounds = framed_stream(30)
    r = run("s3-put-sts", "--no-assume-role", "--part-size", "5MiB", f"s3://{BUCKET}/ok.enc", input=data,
            env=aws_env)
    rec = json.loads(r.stdout)
    assert r.returncode == 0, r.stderr
    assert rec["framed"] is True and rec["frames"] == 30 and rec["parts"] == 2
    assert s3.get_object(Bucket=BUCKET, Key="ok.enc")["Body"].read() == data


@pytest.mark.parametrize("where", ["mid_frame", "frame_boundary", "inside_header"])
def test_upstream_killed_leaves_no_object_and_no_multipart_upload(aws_env, s3, tmp_path, where):
    data, bounds = framed_stream(30)
    cut = {"mid_frame": bounds[25] + 1000, "frame_boundary": bounds[25], "inside_header": 20}[where]
    rc, rec, err = put_from_dying_upstream(aws_env, "cut.enc", data[:cut], tmp_path)
    assert rc == 74, err
    assert rec["status"] == "truncated" and rec["bytes"] == cut
    expected = {"mid_frame": "stream truncated inside frame 25",
                "frame_boundary": "stream truncated after frame 24: no final frame",
                "inside_header": "stream truncated inside the header"}[where]
    assert expected in err
    assert nothing_left(s3, BUCKET, "cut.enc")
    if where != "inside_header":
        assert rec["upload_id"] and rec["aborted"] is True


def test_data_after_the_final_frame_is_refused(aws_env, s3, tmp_path):
    data, _ = framed_stream(3)
    r = run("s3-put-sts", "--no-assume-role", f"s3://{BUCKET}/extra.enc", input=data + b"junk", env=aws_env)
    assert r.returncode == 65 and "data after the final frame" in r.stderr.decode()
    assert json.loads(r.stdout)["status"] == "bad_data"
    assert nothing_left(s3, BUCKET, "extra.enc")


def test_forced_framed_mode_refuses_raw_input(aws_env, s3):
    r = run("s3-put-sts", "--no-assume-role", "--framed", f"s3://{BUCKET}/raw", input=b"plain text here",
            env=aws_env)
    assert r.returncode == 65 and "bad magic" in r.stderr.decode()
    assert nothing_left(s3, BUCKET, "raw")


def test_raw_mode_uploads_a_framed_looking_stream_without_the_gate(aws_env, s3):
    data, bounds = framed_stream(3)
    r = run("s3-put-sts", "--no-assume-role", "--raw", f"s3://{BUCKET}/asis", input=data[: bounds[2]],
            env=aws_env)
    assert r.returncode == 0 and json.loads(r.stdout)["framed"] is False


# -- with the real encryptor ---------------------------------------------------

def _encryptor_ready():
    exe = cmd_path("fernet-encrypt")
    return os.path.exists(exe) and subprocess.run([exe, "--help"], capture_output=True).returncode == 0


needs_encryptor = pytest.mark.skipif(not _encryptor_ready(), reason="fernet-encrypt is not installed yet")


@pytest.fixture
def key_file(tmp_path):
    from cryptography.fernet import Fernet

    p = tmp_path / "k.key"
    p.write_bytes(Fernet.generate_key())
    p.chmod(0o600)
    return p


def _pipeline(env, key_file, key):
    enc = subprocess.Popen([cmd_path("fernet-encrypt"), "--key-file", str(key_file)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    put = subprocess.Popen([cmd_path("s3-put-sts"), "--no-assume-role", "--part-size", "5MiB",
                            f"s3://{BUCKET}/{key}"], stdin=enc.stdout, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, env={**os.environ, **env})
    enc.stdout.close()
    return enc, put


def _wait_for_upload(s3, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ups = s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])
        if ups:
            return ups[0]
        time.sleep(0.1)
    raise AssertionError("no multipart upload started")


@needs_encryptor
def test_real_encrypted_stream_is_uploaded_whole(aws_env, s3, key_file):
    enc, put = _pipeline(aws_env, key_file, "real.enc")
    enc.stdin.write(os.urandom(7 * MiB))
    enc.stdin.close()
    out, err = put.communicate(timeout=120)
    assert enc.wait() == 0
    rec = json.loads(out)
    assert put.returncode == 0, err
    assert rec["framed"] is True and rec["frames"] == 7
    assert s3.head_object(Bucket=BUCKET, Key="real.enc")["ContentLength"] == rec["bytes"]


@needs_encryptor
@pytest.mark.parametrize("when", ["mid_stream", "waiting_for_input"])
def test_real_encryptor_killed_leaves_nothing(aws_env, s3, key_file, when):
    enc, put = _pipeline(aws_env, key_file, "killed.enc")
    if when == "mid_stream":
        enc.stdin.write(os.urandom(9 * MiB))      # more than one part, still flowing
        _wait_for_upload(s3)
    else:
        enc.stdin.write(os.urandom(8 * MiB))      # whole frames, then the encryptor idles on stdin
        enc.stdin.flush()
        _wait_for_upload(s3)
        time.sleep(1.0)
    enc.kill()
    enc.wait()
    try:
        enc.stdin.close()
    except BrokenPipeError:
        pass
    out, err = put.communicate(timeout=120)
    rec = json.loads(out)
    assert put.returncode == 74, err
    assert rec["status"] == "truncated" and rec["aborted"] is True
    if when == "waiting_for_input":
        # the encryptor had flushed whole frames only: the cut is exactly at a boundary
        assert "no final frame" in err.decode()
    assert nothing_left(s3, BUCKET, "killed.enc")
