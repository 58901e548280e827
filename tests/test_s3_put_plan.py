"""Part sizing and checksums: the arithmetic the uploader relies on."""

import io
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdfs2s3kit import checksums, errors, s3put

MiB, GiB, TiB = 1 << 20, 1 << 30, 1 << 40


def test_unknown_length_schedule_starts_at_8_mib_and_reaches_tens_of_tib():
    assert s3put.next_part_size(8 * MiB, 0) == 8 * MiB
    assert s3put.next_part_size(8 * MiB, 8 * GiB - 1) == 8 * MiB
    assert s3put.next_part_size(8 * MiB, 8 * GiB) == 16 * MiB
    # aws-cli stops at 78 GiB and rclone at 48 GiB without a size hint
    assert s3put.schedule_capacity() > 20 * TiB


@pytest.mark.parametrize("part,buffers", [(8 * MiB, 6), (14 * MiB, 3), (24 * MiB, 2), (25 * MiB, 1),
                                          (48 * MiB, 1), (64 * MiB, 1), (105 * MiB, 1), (5 * GiB, 1)])
def test_buffer_memory_is_bounded_as_parts_grow(part, buffers):
    # one buffer filling + the rest in flight while two parts fit in the 48 MiB cap (reading overlaps
    # sending); beyond, ONE: read a part, send it, then read the next
    assert s3put.BUFFER_CAP == 48 * MiB
    assert s3put.buffer_limit(part, 6) == buffers


@pytest.mark.parametrize("size,part,buffers", [(1 * GiB, 8 * MiB, 6), (128 * GiB, 14 * MiB, 3),
                                               (234 * GiB, 24 * MiB, 2), (235 * GiB, 25 * MiB, 1),
                                               (468 * GiB, 48 * MiB, 1), (1 * TiB, 105 * MiB, 1),
                                               (10 * TiB, 1049 * MiB, 1)])
def test_which_known_sizes_get_one_buffer(size, part, buffers):
    # two buffers while 2 x ceil(size / 10,000) <= 48 MiB (234 GiB), one from there on
    assert s3put.memory_plan(size)[:2] == (part, buffers)


@pytest.mark.parametrize("size,bound", [(1 * GiB, 48 * MiB), (128 * GiB, 42 * MiB), (234 * GiB, 48 * MiB),
                                        (235 * GiB, 25 * MiB), (468 * GiB, 48 * MiB), (469 * GiB, 49 * MiB),
                                        (1 * TiB, 105 * MiB)])
def test_stated_memory_bound_for_known_sizes(size, bound):
    # <= 48 MiB of part buffers (115 MiB peak with the client's own ~67 MiB) while a part fits in it,
    # then ONE part of ceil(size / 10,000) (in MiB): 1 TiB -> 105 MiB, not 2 x 105
    assert s3put.memory_plan(size)[2] == bound


@given(st.integers(0, 10_000 * 5 * GiB))
def test_bound_formula_beyond_the_cap_is_one_part_of_size_over_10000(size):
    part, bufs, bound = s3put.memory_plan(size)
    if 2 * part > s3put.BUFFER_CAP:
        assert bufs == 1 and bound == part == max(s3put.DEFAULT_PART_SIZE, -(-(-(-size // 10_000)) // MiB) * MiB)
    else:
        assert bufs >= 2 and bound <= s3put.BUFFER_CAP


def test_a_lower_cap_gives_one_buffer_to_smaller_parts(monkeypatch):
    # what the behavioural tests do through HDFS2S3_TEST_BUFFER_CAP (tests/test_s3_put_one_buffer.py)
    monkeypatch.setattr(s3put, "BUFFER_CAP", 8 * MiB)
    assert s3put.memory_plan(None, part_size=5 * MiB) == (5 * MiB, 1, 5 * MiB)
    assert s3put.memory_plan(None, part_size=5 * MiB, stream_bytes=17 * MiB) == (5 * MiB, 1, 5 * MiB)
    assert s3put._test_buffer_cap(48 * MiB) == 48 * MiB          # not set here
    monkeypatch.setenv("HDFS2S3_TEST_BUFFER_CAP", "8MiB")
    assert s3put._test_buffer_cap(48 * MiB) == 8 * MiB
    monkeypatch.setenv("HDFS2S3_TEST_BUFFER_CAP", "bogus")
    assert s3put._test_buffer_cap(48 * MiB) == 48 * MiB


def test_stated_memory_bound_for_an_unknown_size_follows_the_part_schedule():
    part, bufs, bound = s3put.memory_plan(None, stream_bytes=16 * GiB)
    assert part == 16 * MiB and bufs == 3 and bound == 48 * MiB
    # 32 MiB parts from 16 GiB on: two would pass the cap, so one; the bound is still the 3 x 16 MiB
    # held before them, then one part once that is more
    assert s3put.memory_plan(None, stream_bytes=20 * GiB) == (32 * MiB, 1, 48 * MiB)
    assert s3put.memory_plan(None, stream_bytes=40 * GiB) == (64 * MiB, 1, 64 * MiB)


def test_part_size_never_exceeds_the_s3_maximum():
    assert s3put.next_part_size(4 * GiB, 100 * TiB) == s3put.MAX_PART


@given(st.integers(0, 10_000 * 5 * GiB))
def test_expected_size_always_fits_in_10000_parts(size):
    part = s3put.choose_part_size(size)
    assert s3put.MIN_PART <= part <= s3put.MAX_PART
    assert -(-size // part) <= 10_000


def test_expected_size_beyond_the_s3_maximum_is_refused():
    with pytest.raises(errors.UsageError):
        s3put.choose_part_size(10_000 * 5 * GiB + 1)


@pytest.mark.parametrize("text,value", [("123", 123), ("8M", 8 * MiB), ("8MiB", 8 * MiB), ("1.5GiB", 3 * GiB // 2),
                                        ("2 kb", 2048)])
def test_sizes_parse_with_binary_units(text, value):
    assert s3put.parse_size(text) == value


@pytest.mark.parametrize("text", ["", "-1", "8X", "MiB", "1..5G"])
def test_bad_sizes_are_usage_errors(text):
    with pytest.raises(errors.UsageError):
        s3put.parse_size(text, "--part-size")


@settings(max_examples=60)
@given(st.sampled_from(checksums.available()), st.lists(st.binary(max_size=3000), min_size=1, max_size=6))
def test_combined_part_checksums_equal_the_checksum_of_the_whole(name, parts):
    a = checksums.get(name)
    crc = a.compute(parts[0])
    for p in parts[1:]:
        crc = a.combine(crc, a.compute(p), len(p))
    assert crc == a.compute(b"".join(parts))


def test_crc32_matches_zlib_and_encodes_as_s3_does():
    a = checksums.get("CRC32")
    assert a.compute(b"hello") == zlib.crc32(b"hello")
    assert a.b64(zlib.crc32(b"hello")) == "NhCmhg=="


def test_combine_handles_multi_gib_lengths():
    a = checksums.get("CRC32")
    # x^(8n) for a 5 GiB part: computed, not looked up in a fixed-size table
    assert a.combine(0x12345678, 0, 5 * GiB) != a.combine(0x12345678, 0, 5 * GiB + 1)


def test_source_without_readinto_is_read_with_read():
    class ReadOnly:
        def __init__(self, data):
            self.b = io.BytesIO(data)

        def read(self, n):
            return self.b.read(n)

    src = s3put._Source(ReadOnly(b"abcdef"))
    buf = bytearray(4)
    assert src.readinto(memoryview(buf)) == 4 and buf == b"abcd"
