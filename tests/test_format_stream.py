"""The streaming library in-process: round trips of every shape, every cut and
every bit flip of a small stream, the file-like readers and the keyless gate."""

import io
import os
import struct

import pytest
import xxhash
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st

from hdfs2s3kit import errors, framing, keyring, streamfmt

KEY = Fernet.generate_key()
RING = keyring.from_key(KEY)
KID = RING.active()[0]


def enc(data, frame_size=64, threads=1):
    out = io.BytesIO()
    streamfmt.encrypt_stream(io.BytesIO(data), out, KID, KEY, frame_size=frame_size, threads=threads)
    return out.getvalue()


def dec(stream, threads=1):
    out = io.BytesIO()
    summary = streamfmt.decrypt_stream(io.BytesIO(stream), out, RING, threads=threads)
    return out.getvalue(), summary


class Trickle(io.RawIOBase):
    """A source that returns at most `step` bytes per read, like a slow pipe."""

    def __init__(self, data, step):
        self._b, self._step = io.BytesIO(data), step

    def readable(self):
        return True

    def readinto(self, b):
        return self._b.readinto(memoryview(b)[: self._step])


frame_sizes = st.sampled_from([1, 16, 17, 64, 1000])


@settings(max_examples=150, deadline=None)
@given(frame_size=frame_sizes, frames=st.integers(0, 5), extra=st.integers(-1, 1), threads=st.integers(1, 3),
       step=st.sampled_from([1, 7, 4096]))
def test_round_trip_of_any_size_including_exact_frame_multiples(frame_size, frames, extra, threads, step):
    size = max(0, frames * frame_size + extra)
    data = os.urandom(size)
    out = io.BytesIO()
    s1 = streamfmt.encrypt_stream(Trickle(data, step), out, KID, KEY, frame_size=frame_size, threads=threads)
    stream = out.getvalue()
    assert s1["frames"] == max(1, -(-size // frame_size))
    assert s1["bytes_in"] == size and s1["bytes_out"] == len(stream)
    plain, s2 = dec(stream, threads=threads)
    assert plain == data
    assert s2["xxh3_128"] == s1["xxh3_128"] == xxhash.xxh3_128(data).hexdigest()
    assert s2["frames"] == s1["frames"] and s2["bytes_in"] == len(stream)
    gate = framing.FrameGate()
    for i in range(0, len(stream), 50):
        gate.feed(stream[i : i + 50])
    gate.finish()
    assert gate.complete and gate.frames == s1["frames"]


def test_empty_input_is_one_empty_final_frame():
    stream = enc(b"")
    assert dec(stream)[0] == b""
    hdr, pos = framing.parse_header(stream)
    (word,) = struct.unpack_from(">I", stream, pos)
    assert word & framing.FINAL_BIT
    assert pos + 4 + (word & framing.LEN_MASK) == len(stream)


def test_encrypt_data_and_decrypt_data_use_the_active_key():
    ct, kid = streamfmt.encrypt_data(b"x" * 1000, RING, frame_size=100)
    assert kid == KID
    assert streamfmt.decrypt_data(ct, RING) == b"x" * 1000


def test_two_streams_of_the_same_data_share_no_ciphertext():
    a, b = enc(b"a" * 200), enc(b"a" * 200)
    assert a[:6] == b[:6] and a[40:] != b[40:]


SMALL = os.urandom(150)          # 3 frames of 64 bytes: the last one short
STREAM = enc(SMALL)


def test_every_truncation_of_a_stream_is_refused():
    for cut in range(len(STREAM)):
        with pytest.raises(errors.DataError) as e:
            dec(STREAM[:cut])
        assert "truncated" in e.value.message or "empty input" in e.value.message, (cut, e.value.message)


def test_every_single_bit_flip_anywhere_is_refused():
    for i in range(len(STREAM)):
        for bit in (0x01, 0x80):
            bad = bytearray(STREAM)
            bad[i] ^= bit
            with pytest.raises(errors.DataError):
                dec(bytes(bad))


def test_decryptor_writes_the_frames_before_a_bad_one_and_never_the_bad_one():
    data = bytes(range(256)) * 2                      # 8 frames of 64
    stream = bytearray(enc(data))
    _, pos = framing.parse_header(stream)
    starts = []
    while pos < len(stream):
        starts.append(pos)
        pos += 4 + (struct.unpack_from(">I", stream, pos)[0] & framing.LEN_MASK)
    stream[starts[5] + 30] ^= 1
    out = io.BytesIO()
    with pytest.raises(errors.DataError, match="frame 5: authentication failed"):
        streamfmt.decrypt_stream(io.BytesIO(bytes(stream)), out, RING, threads=3)
    assert out.getvalue() == data[: 5 * 64]


def test_final_frame_plaintext_is_held_back_until_eof_is_checked():
    out = io.BytesIO()
    with pytest.raises(errors.DataError, match="data after the final frame"):
        streamfmt.decrypt_stream(io.BytesIO(STREAM + b"\0"), out, RING)
    assert out.getvalue() == SMALL[:128]


def test_oversized_frame_length_is_refused_before_reading_the_frame():
    hdr, pos = framing.parse_header(STREAM)

    class Forbid(io.RawIOBase):
        """Fails the test if the reader asks for more than the header and one prefix."""

        def __init__(self, data):
            self.b = io.BytesIO(data)

        def readable(self):
            return True

        def readinto(self, b):
            assert self.b.tell() + len(b) <= pos + 4, "read past an oversized length prefix"
            return self.b.readinto(b)

    forged = STREAM[:pos] + struct.pack(">I", framing.max_token_len(64) + 16) + STREAM[pos + 4 :]
    with pytest.raises(errors.DataError, match="frame 0: length .* exceeds the maximum for frame size 64"):
        streamfmt.decrypt_stream(Forbid(forged), io.BytesIO(), RING)


def test_wrong_master_key_names_the_key_id():
    other = keyring.StaticKeyring({KID: Fernet.generate_key()}, active=KID)
    with pytest.raises(errors.DataError, match=f"header does not verify under key {KID}"):
        streamfmt.decrypt_data(STREAM, other)


def test_encrypting_reader_yields_the_same_stream_shape_in_odd_sized_reads():
    data = os.urandom(5000)
    r = streamfmt.EncryptingReader(io.BytesIO(data), KID, KEY, frame_size=1000, threads=2)
    parts = []
    while True:
        chunk = r.read(333)
        if not chunk:
            break
        parts.append(chunk)
    assert all(len(c) == 333 for c in parts[:-1]) and 0 < len(parts[-1]) <= 333
    stream = b"".join(parts)
    assert r.summary["bytes_out"] == len(stream) and r.summary["frames"] == 5
    assert dec(stream)[0] == data
    d = streamfmt.DecryptingReader(io.BytesIO(stream), RING, threads=2)
    assert d.read() == data and d.summary["xxh3_128"] == r.summary["xxh3_128"]


def test_decrypting_reader_raises_at_the_first_bad_frame():
    bad = bytearray(STREAM)
    bad[-1] ^= 1
    d = streamfmt.DecryptingReader(io.BytesIO(bytes(bad)), RING)
    with pytest.raises(errors.DataError, match="frame 2: authentication failed"):
        d.read()


def test_frame_size_out_of_range_is_refused():
    with pytest.raises(ValueError, match="frame size"):
        enc(b"x", frame_size=framing.MAX_FRAME_SIZE + 1)


def test_gate_refuses_a_stream_cut_exactly_at_a_frame_boundary():
    hdr, pos = framing.parse_header(STREAM)
    n0 = struct.unpack_from(">I", STREAM, pos)[0] & framing.LEN_MASK
    gate = framing.FrameGate()
    gate.feed(STREAM[: pos + 4 + n0])
    with pytest.raises(errors.DataError, match="stream truncated after frame 0: no final frame"):
        gate.finish()


def test_gate_refuses_bytes_after_the_final_frame():
    gate = framing.FrameGate()
    with pytest.raises(errors.DataError, match="data after the final frame"):
        gate.feed(STREAM + b"x")


def test_gate_and_looks_framed_need_no_key():
    assert framing.looks_framed(STREAM[:5]) and not framing.looks_framed(b"PK\x03\x04\x00")
    gate = framing.FrameGate()
    gate.feed(STREAM)
    gate.finish()
    assert gate.header.key_id == KID and gate.header.frame_size == 64


def test_sources_with_only_read_and_sinks_that_take_part_of_a_write_work():
    class ReadOnly:
        def __init__(self, data):
            self.b = io.BytesIO(data)

        def read(self, n):
            return self.b.read(min(n, 100))

    class Partial:
        """Like a raw pipe: accepts at most 1000 bytes per write."""

        def __init__(self):
            self.out = bytearray()

        def write(self, b):
            b = bytes(b[:1000])
            self.out += b
            return len(b)

    data = os.urandom(3000)
    sink = Partial()
    streamfmt.encrypt_stream(ReadOnly(data), sink, KID, KEY, frame_size=700, threads=2)
    plain = Partial()
    streamfmt.decrypt_stream(ReadOnly(bytes(sink.out)), plain, RING, threads=2)
    assert bytes(plain.out) == data


def test_closing_a_reader_early_stops_its_worker_threads():
    import threading

    before = threading.active_count()
    r = streamfmt.EncryptingReader(io.BytesIO(os.urandom(10_000)), KID, KEY, frame_size=100, threads=3)
    r.read(500)
    assert threading.active_count() > before
    r.close()
    assert threading.active_count() == before


def test_gate_follows_a_stream_fed_one_byte_at_a_time():
    gate = framing.FrameGate()
    for i in range(len(STREAM)):
        assert not gate.complete
        gate.feed(STREAM[i : i + 1])
    gate.finish()
    assert gate.complete and gate.frames == 3 and gate.bytes_seen == len(STREAM)
