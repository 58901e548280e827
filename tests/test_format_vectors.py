"""The v1 test vectors, both ways, and interop with stock `cryptography.fernet.Fernet`.

`reference_decode` is an independent reader built only from stock Fernet,
struct, hashlib and xxhash, written from docs/FORMAT.md: it checks that what
we write is what the spec says, not just what our own reader accepts.
"""

import base64
import hashlib
import io
import json
import os
import struct
import sys

import pytest
import xxhash
from cryptography.fernet import Fernet

from hdfs2s3kit import errors, keyring, streamfmt

HERE = os.path.dirname(__file__)
sys.path.insert(0, os.path.join(HERE, "vectors"))
import make_vectors  # noqa: E402

with open(os.path.join(HERE, "vectors", "v1.json")) as f:
    VECTORS = json.load(f)


def reference_decode(stream, master_key):
    """-> (plaintext, data_key, [frame tokens]) using only stock Fernet per token."""
    assert stream[:5] == b"H2S3F" and stream[5] in (1, 2)
    kid_len = stream[6]
    pos = 7 + kid_len + 16 + 4
    (frame_size,) = struct.unpack_from(">I", stream, pos - 4)
    announced = None
    if stream[5] == 2:                      # version 2: u64 length after frame_size, signed too
        (announced,) = struct.unpack_from(">Q", stream, pos)
        pos += 8
    signed = stream[:pos]
    (wlen,) = struct.unpack_from(">H", stream, pos)
    wrapped = stream[pos + 2 : pos + 2 + wlen]
    pos += 2 + wlen
    inner = Fernet(master_key).decrypt(base64.urlsafe_b64encode(wrapped))
    data_key, binding = inner[:32], inner[32:]
    assert binding == hashlib.sha256(signed).digest()
    f = Fernet(base64.urlsafe_b64encode(data_key))
    stream_id = signed[7 + kid_len : 7 + kid_len + 16]
    out, tokens, seq = b"", [], 0
    while pos < len(stream):
        (word,) = struct.unpack_from(">I", stream, pos)
        n, clear_final = word & 0x7FFFFFFF, bool(word >> 31)
        tok = stream[pos + 4 : pos + 4 + n]
        pos += 4 + n
        tokens.append(tok)
        pt = f.decrypt(base64.urlsafe_b64encode(tok))
        assert pt[:16] == stream_id
        s, flags = struct.unpack_from(">QB", pt, 16)
        assert s == seq and flags in (0, 1) and bool(flags) == clear_final
        seq += 1
        if flags:
            total, digest, payload = struct.unpack_from(">Q", pt, 25)[0], pt[33:49], pt[49:]
            out += payload
            assert pos == len(stream), "data after the final frame"
            assert total == len(out) and digest == xxhash.xxh3_128(out).digest()
            assert announced is None or announced == total
            return out, data_key, tokens
        assert len(pt) - 25 == frame_size
        out += pt[25:]
    raise AssertionError("no final frame")


@pytest.mark.parametrize("vec", VECTORS["valid"], ids=lambda v: v["name"])
def test_encryptor_reproduces_each_vector_byte_for_byte(vec):
    pt = bytes.fromhex(vec["plaintext"])
    assert make_vectors.encrypt(pt, vec["key_id"], vec["frame_size"], vec["name"],
                                length=vec.get("length")).hex() == vec["stream"]


@pytest.mark.parametrize("vec", VECTORS["valid"], ids=lambda v: v["name"])
def test_each_vector_decrypts_with_our_reader_and_with_stock_fernet(vec):
    stream, pt = bytes.fromhex(vec["stream"]), bytes.fromhex(vec["plaintext"])
    ring = keyring.StaticKeyring({vec["key_id"]: VECTORS["master_key"]}, active=vec["key_id"])
    assert streamfmt.decrypt_data(stream, ring) == pt
    assert reference_decode(stream, VECTORS["master_key"])[0] == pt


@pytest.mark.parametrize("vec", VECTORS["invalid"], ids=lambda v: v["name"])
def test_each_invalid_vector_is_refused_with_its_documented_message(vec):
    ring = keyring.from_key(VECTORS["master_key"])
    with pytest.raises(errors.DataError) as e:
        streamfmt.decrypt_data(bytes.fromhex(vec["stream"]), ring)
    assert vec["error"] in e.value.message
    assert e.value.code == errors.DATAERR


@pytest.mark.parametrize("vec", VECTORS["announcements"], ids=lambda v: str(v["length"]))
def test_each_length_announcement_vector_both_ways(vec):
    from hdfs2s3kit import announce

    raw = bytes.fromhex(vec["bytes"])
    assert announce.encode(vec["length"]) == raw and announce.decode(raw) == vec["length"]
    # independent of our code: magic, u64, then CRC-32 (zlib) of those 16 bytes
    assert raw[:8] == b"H2S3LEN\x01" and struct.unpack(">Q", raw[8:16])[0] == vec["length"]
    import zlib
    assert struct.unpack(">I", raw[16:])[0] == zlib.crc32(raw[:16])
    with pytest.raises(errors.DataError):
        announce.decode(raw[:19] + bytes([raw[19] ^ 1]))


def test_v2_header_length_is_checked_by_the_keyless_gate_too():
    from hdfs2s3kit import framing

    bad = next(v for v in VECTORS["invalid"] if v["name"] == "v2-shorter-than-announced")
    gate = framing.FrameGate()
    gate.feed(bytes.fromhex(bad["stream"]))
    with pytest.raises(errors.DataError, match="does not carry the 40 bytes its header announces"):
        gate.finish()
    for vec in VECTORS["valid"]:
        g = framing.FrameGate()
        g.feed(bytes.fromhex(vec["stream"]))
        g.finish()
        assert g.header.length == vec.get("length")


def test_vector_file_is_what_the_generator_writes_today(capsys):
    make_vectors.main()
    assert json.loads(capsys.readouterr().out) == VECTORS


def test_key_file_id_is_the_documented_fingerprint():
    raw = base64.urlsafe_b64decode(VECTORS["master_key"])
    expect = "fp:" + hashlib.sha256(b"hdfs2s3kit-key-id\0" + raw).hexdigest()[:16]
    assert keyring.fingerprint_id(VECTORS["master_key"]) == expect == VECTORS["master_key_id"]


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 3 * 4096, 3 * 4096 + 7])
def test_every_frame_of_a_fresh_stream_opens_with_stock_fernet(size):
    key = Fernet.generate_key()
    data = os.urandom(size)
    out = io.BytesIO()
    summary = streamfmt.encrypt_stream(io.BytesIO(data), out, "fp:test", key, frame_size=4096, threads=2)
    pt, data_key, tokens = reference_decode(out.getvalue(), key)
    assert pt == data
    assert len(tokens) == summary["frames"] == max(1, -(-size // 4096))
    assert summary["xxh3_128"] == xxhash.xxh3_128(data).hexdigest()


def test_hand_built_token_is_byte_identical_to_stock_fernet():
    key = Fernet.generate_key()
    iv = os.urandom(16)
    ours = streamfmt.seal_token(key, b"same bytes", iv=iv, ts=1700000000)
    stock = Fernet(key)._encrypt_from_parts(b"same bytes", 1700000000, iv)
    assert base64.urlsafe_b64encode(ours) == stock
    assert streamfmt.open_token(key, base64.urlsafe_b64decode(stock)) == b"same bytes"
