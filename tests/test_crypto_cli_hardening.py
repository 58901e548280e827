"""fernet-encrypt / fernet-decrypt on the edges: failing pipes and disks, forged headers and
frames, key files that are not exactly one private key. Real commands, real pipes."""

import importlib
import os
import struct
import subprocess
import time

import pytest
import xxhash
from cryptography.fernet import Fernet

from harness.proc import cmd_path, run
from hdfs2s3kit import errors, framing, streamfmt

ENC, DEC = "fernet-encrypt", "fernet-decrypt"


@pytest.fixture
def key(tmp_path, monkeypatch):
    monkeypatch.delenv("HDFS2S3_CONFIG", raising=False)
    k = Fernet.generate_key()
    p = tmp_path / "k.key"
    p.write_bytes(k + b"\n")
    p.chmod(0o600)
    return str(p), k


def one_line(r, prog):
    err = r.stderr.decode()
    assert err.startswith(f"{prog}: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_full_disk_and_closed_pipes_are_one_line_and_exit_74(key):
    data = os.urandom(3 << 20)
    with open("/dev/full", "wb") as full:
        r = subprocess.run([cmd_path(ENC), "--key-file", key[0]], input=data, stdout=full, stderr=subprocess.PIPE)
    assert r.returncode == errors.IOERR and "No space left on device" in one_line(r, ENC)
    # stdin closed (not empty: closed) for the encryptor, stdout closed for the decryptor
    r = subprocess.run([cmd_path(ENC), "--key-file", key[0]], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, preexec_fn=lambda: os.close(0))
    assert r.returncode == errors.IOERR, r.stderr
    one_line(r, ENC)
    stream = run(ENC, "--key-file", key[0], input=b"hello").stdout
    r = subprocess.run([cmd_path(DEC), "--key-file", key[0]], input=stream, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, preexec_fn=lambda: os.close(1))
    assert r.returncode == errors.IOERR
    one_line(r, DEC)
    assert key[1].decode() not in r.stderr.decode()


def test_an_unexpected_crash_prints_no_rich_traceback_and_no_locals(key, tmp_path):
    # A bug (here: forced) inside a command must never dump a rich traceback with its locals:
    # the master key is a local variable of the encryptor.
    code = ("import sys; from hdfs2s3kit import streamfmt\n"
            "def boom(src, dst, key_id, key, **kw):\n"
            "    secret_here = key\n"
            "    raise RuntimeError('forced')\n"
            "streamfmt.encrypt_stream = boom\n"
            "from hdfs2s3kit.cli import fernet_encrypt\n"
            "sys.argv = ['fernet-encrypt', '--key-file', sys.argv[1]]\n"
            "fernet_encrypt.main()\n")
    r = subprocess.run([cmd_path("python"), "-c", code, key[0]], input=b"x", stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=dict(os.environ, COLUMNS="200"))
    err = r.stderr.decode()
    assert r.returncode != 0 and "forced" in err
    assert key[1].decode() not in err and "secret_here =" not in err
    assert "╭" not in err and "locals" not in err.lower()


def test_every_command_has_pretty_exceptions_off():
    import typer

    from hdfs2s3kit.cli import clikit

    apps = [importlib.import_module("hdfs2s3kit.cli.main").app]
    # the filters' typer app is built only when click parses (help, a usage error: clikit.filter_main)
    for m in ("s3_put_sts", "s3_get_sts", "authz_check", "notify", "fernet_encrypt", "fernet_decrypt"):
        mod = importlib.import_module(f"hdfs2s3kit.cli.{m}")
        apps.append(clikit.single(mod.command, help=getattr(mod, "HELP", None)))
    for app in apps:
        assert isinstance(app, typer.Typer) and app.pretty_exceptions_enable is False
        assert app.pretty_exceptions_show_locals is False


def test_a_forged_key_id_cannot_put_escape_sequences_on_the_terminal(key):
    evil = "\x1b]0;owned\x07\x1b[2J"
    signed = framing.header_signed_part(evil, os.urandom(16), 64)
    header = framing.encode_header(signed, b"\x80" + os.urandom(100))
    r = run(DEC, "--key-file", key[0], input=header + b"\0" * 200)
    err = one_line(r, DEC)
    assert r.returncode == errors.DATAERR and "\x1b" not in err and "\x07" not in err
    assert "\\x1b]0;owned\\x07" in err


def _stream_with_final_payload(master, frame_size, payload):
    """A stream whose only (final) frame carries `payload`, sealed properly under master."""
    kid, sid, data_key = "fp:test", os.urandom(16), os.urandom(32)
    signed = framing.header_signed_part(kid, sid, frame_size)
    wrapped = streamfmt.seal_token(streamfmt.raw_key(master), data_key + framing.header_binding(signed),
                                   iv=os.urandom(16), ts=int(time.time()))
    fc = streamfmt._FrameCipher(data_key, sid, frame_size)
    buf = streamfmt._encrypt_slot(frame_size + 64)
    at = streamfmt._PAYLOAD_OFFSET
    buf[at : at + len(payload)] = payload
    trailer = struct.pack(">Q", len(payload)) + xxhash.xxh3_128(payload).digest()
    n = fc.seal(buf, len(payload), 0, True, trailer, os.urandom(16), int(time.time()))
    return kid, framing.encode_header(signed, wrapped) + bytes(buf[:n])


def test_a_final_frame_longer_than_the_frame_size_is_refused(key):
    from hdfs2s3kit import keyring

    ring = keyring.StaticKeyring({"fp:test": key[1]}, active="fp:test")
    _kid, ok = _stream_with_final_payload(key[1], 32, b"y" * 32)
    assert streamfmt.decrypt_data(ok, ring) == b"y" * 32
    # 14 bytes more still fits the token length allowed for frame size 32: only the payload check stops it
    _kid, long = _stream_with_final_payload(key[1], 32, b"y" * 46)
    with pytest.raises(errors.DataError, match="final frame of 46 bytes exceeds the frame size 32"):
        streamfmt.decrypt_data(long, ring)


@pytest.mark.parametrize("content, mode, expect", [
    (None, 0o644, "chmod 600"),                # readable by others
    (None, 0o640, "chmod 600"),                # readable by the group
    ("two", 0o600, "exactly one Fernet key"),  # a second key on the next line
    ("junk", 0o600, "exactly one Fernet key"),  # trailing junk after the key
])
def test_key_file_must_be_private_and_hold_exactly_one_key(key, tmp_path, content, mode, expect):
    k = key[1]
    body = {None: k + b"\n", "two": k + b"\n" + Fernet.generate_key() + b"\n", "junk": k + b" trailing\n"}[content]
    p = tmp_path / "candidate.key"
    p.write_bytes(body)
    p.chmod(mode)
    for prog in (ENC, DEC):
        r = run(prog, "--key-file", p, input=b"")
        err = one_line(r, prog)
        assert r.returncode == errors.CONFIG and expect in err, err
        assert k.decode() not in err
