"""Regenerate tests/vectors/v1.json: `python tests/vectors/make_vectors.py > tests/vectors/v1.json`.

Every random input (data key, stream ID, IVs) and the timestamp are fixed, so
the encryptor's output is reproducible; tests/test_format_vectors.py checks it
both ways (our encryptor reproduces it byte for byte; stock Fernet opens it).
"""

import hashlib
import io
import json
import struct
import sys

from hdfs2s3kit import announce, framing, keyring, streamfmt

MASTER_KEY = "cw_0x689RpI-jtRR7oE8h_eYSsHcYnWXJ7PrFE46Ixw="   # test-only key, published on purpose
TIMESTAMP = 1700000000
SSM_KEY_ID = "/hdfs2s3/prod/keys/fernet:3"


def det(label):
    """Deterministic 'random' bytes: SHA-256 of a label, counter-extended."""
    n = 0

    def urandom(k):
        nonlocal n
        out = b""
        while len(out) < k:
            out += hashlib.sha256(f"{label}/{n}".encode()).digest()
            n += 1
        return out[:k]

    return urandom


def encrypt(plaintext, key_id, frame_size, label, length=None, enforce=True):
    summary = {}
    chunks = streamfmt._encrypt_chunks(io.BytesIO(plaintext), key_id, MASTER_KEY, frame_size, 1, summary,
                                       urandom=det(label), now=lambda: TIMESTAMP, length=length, _enforce=enforce)
    return b"".join(bytes(c) for c in chunks)


def frames_of(stream):
    hdr, pos = framing.parse_header(stream)
    out = []
    while pos < len(stream):
        (word,) = struct.unpack_from(">I", stream, pos)
        n = word & framing.LEN_MASK
        out.append((pos, 4 + n))
        pos += 4 + n
    return hdr, out


VALID = [
    # name, plaintext, key_id, frame_size
    ("empty", b"", None, 16),
    ("one-short-frame", b"hello", None, 16),
    ("exact-multiple", bytes(range(32)), None, 16),
    ("three-frames", b"The quick brown fox jumps over the lazy dog.", None, 16),
    ("ssm-key-id", b"rotated keys keep old streams readable", SSM_KEY_ID, 1024),
]
# Version 2: the header announces the plaintext length (`fernet-encrypt --expected-size/--announced`).
VALID_V2 = [
    ("v2-empty", b"", 16),
    ("v2-three-frames", b"The quick brown fox jumps over the lazy dog.", 16),
    ("v2-exact-multiple", bytes(range(32)), 16),
]
ANNOUNCED = [0, 44, 1 << 40]


def main():
    fp = keyring.fingerprint_id(MASTER_KEY)
    valid = []
    for name, pt, kid, fs in VALID:
        kid = kid or fp
        valid.append(dict(name=name, key_id=kid, frame_size=fs, plaintext=pt.hex(),
                          stream=encrypt(pt, kid, fs, name).hex()))
    for name, pt, fs in VALID_V2:
        valid.append(dict(name=name, key_id=fp, frame_size=fs, plaintext=pt.hex(), length=len(pt),
                          stream=encrypt(pt, fp, fs, name, length=len(pt)).hex()))
    base = bytes.fromhex(valid[3]["stream"])       # three-frames
    hdr, fr = frames_of(base)
    hlen = len(hdr.raw)
    (a0, l0), (a1, l1), (a2, l2) = fr
    f0, f1, f2 = (base[a : a + n] for a, n in fr)
    other = bytes.fromhex(valid[2]["stream"])      # same key, another stream
    ohdr, _ = framing.parse_header(other)
    flip = lambda b, i: b[:i] + bytes([b[i] ^ 0x01]) + b[i + 1 :]  # noqa: E731
    unset_final = struct.pack(">I", struct.unpack(">I", f2[:4])[0] & framing.LEN_MASK)
    invalid = [
        ("empty-input", b"", "empty input: no stream header"),
        ("garbage", b"PK\x03\x04 this is a zip file, not a stream", "not an hdfs2s3kit encrypted stream"),
        ("bad-version", base[:5] + b"\x03" + base[6:], "unsupported stream format version 3"),
        # a v2 header announcing more than the stream carries (an encryptor that did not
        # enforce its length); the frames themselves are whole and authentic
        ("v2-shorter-than-announced", encrypt(b"The quick brown fox", fp, 16, "v2-short", length=40,
                                               enforce=False),
         "frame 1: stream length 19 does not match the 40 bytes its header announces"),
        ("truncated-in-header", base[: hlen - 1], "stream truncated inside the header"),
        ("truncated-after-header", base[:hlen], "stream truncated after the header: no final frame"),
        ("truncated-at-boundary", base[: a2], "stream truncated after frame 1: no final frame"),
        ("truncated-mid-frame", base[: a2 + 10], "stream truncated inside frame 2"),
        ("header-bit-flip-frame-size", flip(base, len(hdr.signed_bytes) - 1),
         "header fields do not match the wrapped key"),
        ("header-bit-flip-key-id", flip(base, 8), "unknown key ID"),
        ("header-bit-flip-wrapped-key", flip(base, hlen - 40), "header does not verify under key"),
        ("frame-bit-flip", flip(base, a1 + 40), "frame 1: authentication failed"),
        ("final-frame-bit-flip", flip(base, a2 + l2 - 1), "frame 2: authentication failed"),
        ("frames-swapped", base[:hlen] + f1 + f0 + f2, "frame 0: carries sequence number 1"),
        ("frame-duplicated", base[:hlen] + f0 + f0 + f1 + f2, "frame 1: carries sequence number 0"),
        ("frame-dropped", base[:hlen] + f0 + f2, "frame 1: carries sequence number 2"),
        ("clear-final-marker-removed", base[:a2] + unset_final + f2[4:], "frame 2: clear final marker disagrees"),
        ("data-after-final", base + f2, "data after the final frame (frame 2)"),
        ("header-from-other-stream", ohdr.raw + base[hlen:], "frame 0: authentication failed"),
        ("oversized-frame-length", base[:a0] + struct.pack(">I", 0x7FFFFFF0) + f0[4:], "frame 0: length"),
    ]
    json.dump({
        "format": "hdfs2s3kit streaming Fernet, versions 1 and 2 (docs/FORMAT.md)",
        "master_key": MASTER_KEY,
        "master_key_id": fp,
        "timestamp": TIMESTAMP,
        "randomness": ("each request for k random bytes takes the next ceil(k/32) blocks sha256(f'{name}/{n}'), "
                       "n = 0, 1, ..., truncated to k; requests in order: data key (32), stream ID (16), "
                       "wrap IV (16), one IV (16) per frame"),
        "valid": valid,
        "invalid": [dict(name=n, stream=s.hex(), error=e) for n, s, e in invalid],
        "announcements": [dict(length=n, bytes=announce.encode(n).hex()) for n in ANNOUNCED],
    }, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
