"""HDFS checksum proof, the parts that need no HDFS: parsing `-checksum` output, the reader that
refuses a read whose CRC differs, the record fields, and `verify` against the metadata.
The proof against a real NameNode's COMPOSITE-CRC is in test_real_hdfs_checksum.py."""

import io
import os
import zlib

import crc32c
import pytest

from hdfs2s3kit import errors, hdfscrc
from test_transfer_support import BUCKET, records


def test_checksum_output_is_matched_to_paths_by_name_and_failures_say_why():
    out = (b"/a/x.csv\tCOMPOSITE-CRC32C\t90CBDF17\n"
           b"/a/y.csv\tCOMPOSITE-CRC32\t0000abcd\n"
           b"/a/z.csv\tMD5-of-0MD5-of-512CRC32C\t000002000000000000000000abcdef\n"
           b"/a/l.csv\tNONE\n")
    err = b"checksum: `/a/gone.csv': No such file or directory\n"
    got = hdfscrc._parse_output(["/a/x.csv", "/a/gone.csv", "/a/y.csv", "/a/z.csv", "/a/l.csv"], out, err)
    assert got["/a/x.csv"] == hdfscrc.HdfsChecksum("COMPOSITE-CRC32C", "90cbdf17")
    assert got["/a/y.csv"] == hdfscrc.HdfsChecksum("COMPOSITE-CRC32", "0000abcd")
    assert "No such file or directory" in got["/a/gone.csv"].reason
    assert "MD5-of-0MD5-of-512CRC32C" in got["/a/z.csv"].reason and "not a COMPOSITE-CRC" in got["/a/z.csv"].reason
    assert got["/a/l.csv"].reason.startswith("none: ")


def test_metadata_value_round_trips_and_junk_is_ignored():
    c = hdfscrc.HdfsChecksum("COMPOSITE-CRC32C", "0badf00d")
    assert hdfscrc.parse_meta(c.meta()) == c
    for junk in (None, "", "CRC32C:0badf00d", "COMPOSITE-CRC32C:0badf0", "COMPOSITE-CRC32C:zzzzzzzz"):
        assert hdfscrc.parse_meta(junk) is None


@pytest.mark.parametrize("alg,fn", [("COMPOSITE-CRC32C", crc32c.crc32c), ("COMPOSITE-CRC32", zlib.crc32)])
def test_reader_passes_a_matching_read_through_and_records_the_match(alg, fn):
    data = os.urandom(3 << 20)
    rec = {}
    r = hdfscrc.checking(io.BytesIO(data), hdfscrc.HdfsChecksum(alg, f"{fn(data):08x}"), "/x", rec)
    assert r.read(1 << 30) + r.read(1 << 30) + r.read(1) == data
    assert rec["hdfs_checksum_status"] == "match"


def test_reader_refuses_at_eof_a_read_that_differs_from_hdfs_checksum():
    data = bytearray(os.urandom(100_000))
    want = f"{crc32c.crc32c(bytes(data)):08x}"
    data[5000] ^= 1                                   # same length: only the CRC can see it
    rec = {}
    r = hdfscrc.checking(io.BytesIO(bytes(data)), hdfscrc.HdfsChecksum("COMPOSITE-CRC32C", want), "/x", rec)
    assert len(r.read(1 << 20)) == len(data)
    with pytest.raises(errors.DataError) as e:
        r.read(1)
    assert e.value.code == 65 and e.value.status == "checksum_mismatch"
    assert f"COMPOSITE-CRC32C {want}" in e.value.message and rec["hdfs_checksum_status"] == "mismatch"


def test_no_hdfs_value_means_no_wrapper_and_a_record_saying_why():
    src = io.BytesIO(b"x")
    assert hdfscrc.checking(src, hdfscrc.NoChecksum("none: file:// source: no HDFS checksum"), "f", {}) is src
    assert hdfscrc.record_fields(hdfscrc.NoChecksum("none: why")) == \
        {"hdfs_checksum": None, "hdfs_checksum_status": "none: why"}


def test_file_source_transfer_says_it_has_no_hdfs_checksum(kit, tmp_path):
    src = tmp_path / "l.csv"
    src.write_bytes(b"a,b\n")
    r = kit.transfer(f"file://{src}")
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["hdfs_checksum"] is None
    assert rec["hdfs_checksum_status"] == "none: file:// source: no HDFS checksum"
    assert "h2s3-hdfs-crc" not in kit.s3.head_object(Bucket=BUCKET, Key=rec["key"])["Metadata"]


def test_verify_checks_the_download_against_the_hdfs_checksum_in_the_metadata(kit, tmp_path):
    data = os.urandom(200_000)
    src = tmp_path / "v.bin"
    src.write_bytes(data)
    (rec,) = records(kit.transfer(f"file://{src}").stdout)
    head = kit.s3.head_object(Bucket=BUCKET, Key=rec["key"])

    def with_crc(value):
        meta = dict(head["Metadata"], **{"h2s3-hdfs-crc": f"COMPOSITE-CRC32C:{value}"})
        kit.s3.copy_object(Bucket=BUCKET, Key=rec["key"], CopySource={"Bucket": BUCKET, "Key": rec["key"]},
                           Metadata=meta, MetadataDirective="REPLACE")
        return kit.verify(f"s3://{BUCKET}/{rec['key']}")

    r = with_crc(f"{crc32c.crc32c(data):08x}")
    assert r.returncode == 0, r.stderr
    (v,) = records(r.stdout)
    assert v["hdfs_checksum_status"] == "match" and v["hdfs_checksum"].startswith("COMPOSITE-CRC32C:")
    r = with_crc(f"{crc32c.crc32c(data) ^ 1:08x}")
    assert r.returncode == 65
    (v,) = records(r.stdout)
    assert v["status"] == "mismatch" and v["hdfs_checksum_status"] == "mismatch"
    assert "differs from HDFS's COMPOSITE-CRC32C" in v["error"]
