"""`fernet-encrypt` / `fernet-decrypt` as real subprocesses over real pipes:
round trips, the tamper suite (exit 65 + one line naming the failure), key and
usage errors, --summary, and a kill while waiting for input."""

import json
import os
import pty
import signal
import struct
import subprocess
import threading
import time

import pytest
import xxhash
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.proc import cmd_path, run
from hdfs2s3kit import errors, framing, keyring

ENC, DEC = "fernet-encrypt", "fernet-decrypt"


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for name in ("k", "other"):
        key = Fernet.generate_key()
        (d / name).write_bytes(key + b"\n")
        (d / name).chmod(0o600)
        out[name] = (str(d / name), key)
    return out


@pytest.fixture(autouse=True)
def no_ssm_config(monkeypatch):
    monkeypatch.delenv("HDFS2S3_CONFIG", raising=False)


def encrypt(keys, data, *args, name="k"):
    r = run(ENC, "--key-file", keys[name][0], *args, input=data)
    assert r.returncode == 0, r.stderr
    return r.stdout


def frames(stream):
    """[(start, length incl. prefix)] of each frame; header length."""
    hdr, pos = framing.parse_header(stream)
    out = []
    while pos < len(stream):
        n = 4 + (struct.unpack_from(">I", stream, pos)[0] & framing.LEN_MASK)
        out.append((pos, n))
        pos += n
    return len(hdr.raw), out


def refused(keys, stream, expected, name="k"):
    r = run(DEC, "--key-file", keys[name][0], input=stream)
    err = r.stderr.decode()
    assert r.returncode == errors.DATAERR, err
    assert err.startswith("fernet-decrypt: ") and err.count("\n") == 1, err
    assert expected in err, err
    assert keys[name][1].decode() not in err
    return r.stdout


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames_n=st.integers(0, 4), extra=st.sampled_from([-1, 0, 1, 37]), threads=st.sampled_from([1, 2, 3]))
def test_round_trip_through_both_commands(keys, frames_n, extra, threads):
    data = os.urandom(max(0, frames_n * 256 + extra))
    ct = encrypt(keys, data, "--frame-size", "256", "--threads", threads)
    r = run(DEC, "--key-file", keys["k"][0], "--threads", threads, input=ct)
    assert r.returncode == 0 and r.stdout == data and r.stderr == b""


def test_pipeline_of_real_pipes_with_default_frames(keys):
    data = os.urandom(3 * 1024 * 1024 + 5)
    enc = subprocess.Popen([cmd_path(ENC), "--key-file", keys["k"][0]], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE)
    dec = subprocess.Popen([cmd_path(DEC), "--key-file", keys["k"][0]], stdin=enc.stdout, stdout=subprocess.PIPE)
    enc.stdout.close()
    feeder = threading.Thread(target=lambda: (enc.stdin.write(data), enc.stdin.close()))
    feeder.start()
    out = dec.stdout.read()
    feeder.join()
    assert enc.wait(60) == 0 and dec.wait(60) == 0
    assert out == data


def test_summary_is_one_json_line_on_stderr(keys):
    data = b"z" * 1000
    r = run(ENC, "--key-file", keys["k"][0], "--frame-size", "300", "--summary", input=data)
    s = json.loads(r.stderr)
    assert s["key_id"] == keyring.fingerprint_id(keys["k"][1])
    assert (s["bytes_in"], s["bytes_out"], s["frames"]) == (1000, len(r.stdout), 4)
    assert s["xxh3_128"] == xxhash.xxh3_128(data).hexdigest()
    d = run(DEC, "--key-file", keys["k"][0], "--summary", input=r.stdout)
    s2 = json.loads(d.stderr)
    assert s["stream_id"] == s2["stream_id"] == framing.parse_header(r.stdout)[0].stream_id.hex()
    assert (s2["bytes_in"], s2["bytes_out"], s2["frames"], s2["xxh3_128"]) == (len(r.stdout), 1000, 4,
                                                                               s["xxh3_128"])


def test_empty_input_encrypts_to_a_valid_stream_of_zero_bytes(keys):
    ct = encrypt(keys, b"")
    assert ct.startswith(b"H2S3F\x01")
    r = run(DEC, "--key-file", keys["k"][0], input=ct)
    assert r.returncode == 0 and r.stdout == b""


# -- the tamper suite -----------------------------------------------------------------

@pytest.fixture(scope="module")
def sample(keys):
    """14 frames: 13 full ones of 64 bytes and a short final one."""
    data = os.urandom(13 * 64 + 10)
    stream = encrypt(keys, data, "--frame-size", "64")
    hlen, fr = frames(stream)
    assert len(fr) == 14
    return data, stream, hlen, fr


def test_truncation_exactly_at_a_frame_boundary(keys, sample):
    data, stream, hlen, fr = sample
    out = refused(keys, stream[: fr[13][0]], "stream truncated after frame 12: no final frame")
    assert out == data[: 13 * 64]


def test_truncation_mid_frame_and_inside_prefix_and_header(keys, sample):
    _, stream, hlen, fr = sample
    refused(keys, stream[: fr[5][0] + 20], "stream truncated inside frame 5")
    refused(keys, stream[: fr[5][0] + 2], "stream truncated inside frame 5 (in its length prefix)")
    refused(keys, stream[: hlen - 3], "stream truncated inside the header")
    refused(keys, stream[:hlen], "stream truncated after the header: no final frame")
    refused(keys, stream[:-1], "stream truncated inside frame 13")


@pytest.mark.parametrize("where,expected", [
    ("magic", "not an hdfs2s3kit encrypted stream (bad magic)"),
    ("version", "unsupported stream format version"),
    ("key_id", "unknown key ID"),
    ("stream_id", "header fields do not match the wrapped key"),
    ("frame_size", "header fields do not match the wrapped key"),
    ("wrapped_key", "header does not verify under key"),
    ("frame", "frame 3: authentication failed"),
    ("final_frame", "frame 13: authentication failed"),
    ("clear_final_bit", "frame 4: clear final marker disagrees with the authenticated flag"),
])
def test_a_flipped_bit_anywhere_is_refused(keys, sample, where, expected):
    _, stream, hlen, fr = sample
    kid_len = stream[6]
    offsets = {"magic": 0, "version": 5, "key_id": 7, "stream_id": 7 + kid_len + 3,
               "frame_size": 7 + kid_len + 16 + 3, "wrapped_key": hlen - 5,
               "frame": fr[3][0] + 100, "final_frame": fr[13][0] + 30, "clear_final_bit": fr[4][0]}
    bad = bytearray(stream)
    bad[offsets[where]] ^= 0x80 if where == "clear_final_bit" else 0x04
    refused(keys, bytes(bad), expected)


def test_reordered_duplicated_and_dropped_frames(keys, sample):
    _, stream, hlen, fr = sample
    f = [stream[a : a + n] for a, n in fr]
    refused(keys, stream[:hlen] + b"".join(f[:2] + [f[3], f[2]] + f[4:]), "frame 2: carries sequence number 3")
    refused(keys, stream[:hlen] + b"".join(f[:3] + [f[2]] + f[3:]), "frame 3: carries sequence number 2")
    refused(keys, stream[:hlen] + b"".join(f[:6] + f[7:]), "frame 6: carries sequence number 7")
    refused(keys, stream + f[13], "data after the final frame (frame 13)")


def test_header_taken_from_another_stream(keys, sample):
    _, stream, hlen, fr = sample
    other = encrypt(keys, b"another stream under the same key", "--frame-size", "64")
    ohlen, _ = frames(other)
    refused(keys, other[:ohlen] + stream[hlen:], "frame 0: authentication failed")


def test_wrong_or_unknown_key(keys, sample):
    _, stream, _, _ = sample
    refused(keys, stream, "unknown key ID " + keyring.fingerprint_id(keys["k"][1]), name="other")


def test_garbage_oversized_length_and_empty_input(keys, sample):
    _, stream, hlen, fr = sample
    refused(keys, b"\x1f\x8b\x08\x00 gzip, not ours" * 10, "bad magic")
    forged = stream[:hlen] + struct.pack(">I", 0x40000000) + stream[hlen + 4 :]
    refused(keys, forged, "frame 0: length 1073741824 exceeds the maximum for frame size 64")
    refused(keys, b"", "empty input: no stream header")


# -- keys, usage, signals -------------------------------------------------------------

def test_missing_key_file_exits_66_and_bad_key_file_78(keys, tmp_path):
    r = run(ENC, "--key-file", tmp_path / "nope", input=b"x")
    assert r.returncode == errors.NOINPUT and b"key file" in r.stderr and b"no such file" in r.stderr
    r = run(DEC, "--key-file", tmp_path, input=b"x")
    assert r.returncode == errors.NOINPUT and b"is a directory" in r.stderr
    (tmp_path / "bad").write_text("not-a-key\n")
    (tmp_path / "bad").chmod(0o600)
    r = run(ENC, "--key-file", tmp_path / "bad", input=b"x")
    assert r.returncode == errors.CONFIG and b"exactly one Fernet key" in r.stderr
    assert r.stdout == b""


def test_no_key_source_at_all_exits_78():
    r = run(ENC, input=b"x")
    assert r.returncode == errors.CONFIG
    assert r.stderr.decode() == ("fernet-encrypt: no key: pass --key-file PATH, or --config PREFIX / "
                                 "set HDFS2S3_CONFIG\n")


def test_bad_frame_size_and_threads_are_usage_errors(keys):
    for args in (["--frame-size", "huge"], ["--frame-size", "65M"], ["--frame-size", "0"], ["--threads", "0"]):
        r = run(ENC, "--key-file", keys["k"][0], *args, input=b"x")
        assert r.returncode == errors.USAGE, (args, r.stderr)
        assert r.stdout == b""


def test_help_describes_both_commands():
    for name in (ENC, DEC):
        r = run(name, "--help")
        assert r.returncode == 0 and b"--key-file" in r.stdout and b"--threads" in r.stdout


def test_encrypt_refuses_to_write_ciphertext_to_a_terminal(keys):
    master, slave = pty.openpty()
    try:
        p = subprocess.run([cmd_path(ENC), "--key-file", keys["k"][0]], input=b"x", stdout=slave,
                           stderr=subprocess.PIPE, timeout=60)
    finally:
        os.close(slave)
        os.close(master)
    assert p.returncode == errors.USAGE and b"terminal" in p.stderr


def test_encryptor_killed_while_waiting_for_input_leaves_only_whole_frames(keys):
    p = subprocess.Popen([cmd_path(ENC), "--key-file", keys["k"][0], "--frame-size", "16", "--threads", "1"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    got = bytearray()

    def drain():
        while chunk := os.read(p.stdout.fileno(), 65536):
            got.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    p.stdin.write(os.urandom(16 * 40 + 3))
    p.stdin.flush()
    deadline = time.monotonic() + 30
    while len(got) < 30 * 109 and time.monotonic() < deadline:   # 109 bytes a frame; now it waits on stdin
        time.sleep(0.05)
    p.send_signal(signal.SIGTERM)
    reader.join(30)
    assert p.wait(30) == errors.SIGTERM_EXIT
    assert b"interrupted by SIGTERM" in p.stderr.read()
    gate = framing.FrameGate()
    gate.feed(bytes(got))
    assert gate.frames >= 30
    with pytest.raises(errors.DataError, match=r"stream truncated after frame \d+: no final frame"):
        gate.finish()
    refused(keys, bytes(got), "no final frame")
