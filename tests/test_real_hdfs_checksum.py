"""HDFS's own COMPOSITE-CRC as end-to-end proof, against a real NameNode and DataNodes.

The transfer asks HDFS for each file's whole-file CRC in the same batch as the status (one JVM
per batch, alongside the -stat), computes the same CRC over what it reads, stores HDFS's value
in the object's metadata and refuses to complete when they differ."""

import os
import zlib

import crc32c

from harness.moto import nothing_left
from test_transfer_support import BUCKET, KEY_PREFIX, records

MiB = 1 << 20
# `hadoop fs -cat` whose bytes are corrupted in flight (one bit, same length): a wrong read that
# no length or exit check can see.
CORRUPTING_HADOOP = """#!/bin/bash
set -o pipefail
if [ "$1" = fs ] && [ "$2" = -cat ]; then
  "{real}" "$@" | {python} -c '
import sys
data = bytearray(sys.stdin.buffer.read())
data[len(data) // 2] ^= 4
sys.stdout.buffer.write(data)'
  exit $?
fi
exec "{real}" "$@"
"""


def _put(mc, tmp_path, path, data, *generic):
    local = tmp_path / os.path.basename(path)
    local.write_bytes(data)
    mc.su_fs(*generic, "-put", "-f", str(local), path)


def test_transfer_proves_each_read_against_hdfs_checksum_in_one_batch(kit, minicluster, hdfs_home, tmp_path):
    files = {f"{hdfs_home}/c{i}.bin": os.urandom(MiB * i + 7) for i in range(3)}
    for path, data in files.items():
        _put(minicluster, tmp_path, path, data, "-Ddfs.blocksize=1048576")   # several blocks each
    before = minicluster.launches()
    r = kit.transfer(*files, env=dict(minicluster.env(), HDFS2S3_RECHECK_WAIT="600"))
    assert r.returncode == 0, r.stderr
    # the status and the checksums of the batch: one JVM each, side by side; then one -cat per file,
    # and one re-check -stat for all the files after their reads (binding, groupcommit)
    assert minicluster.launches() - before == 2 + len(files) + 1
    for rec, (path, data) in zip(records(r.stdout), files.items()):
        want = f"COMPOSITE-CRC32C:{crc32c.crc32c(data):08x}"
        assert (rec["status"], rec["hdfs_checksum"], rec["hdfs_checksum_status"]) == ("ok", want, "match")
        meta = kit.s3.head_object(Bucket=BUCKET, Key=rec["key"])["Metadata"]
        assert meta["h2s3-hdfs-crc"] == want
    # verify checks the download against HDFS's value without reading HDFS again
    key = f"{KEY_PREFIX}{hdfs_home}/c2.bin"
    before = minicluster.launches()
    v = kit.verify(f"s3://{BUCKET}/{key}", env=minicluster.env())
    assert v.returncode == 0, v.stderr
    (vrec,) = records(v.stdout)
    assert vrec["hdfs_checksum_status"] == "match" and minicluster.launches() == before


def test_file_written_with_crc32_is_proven_with_crc32(kit, minicluster, hdfs_home, tmp_path):
    data = os.urandom(2 * MiB + 1)
    _put(minicluster, tmp_path, f"{hdfs_home}/old.bin", data, "-Ddfs.checksum.type=CRC32")
    r = kit.transfer(f"{hdfs_home}/old.bin", env=minicluster.env())
    assert r.returncode == 0, r.stderr
    (rec,) = records(r.stdout)
    assert rec["hdfs_checksum"] == f"COMPOSITE-CRC32:{zlib.crc32(data):08x}"
    assert rec["hdfs_checksum_status"] == "match"


def test_corrupted_read_of_the_right_length_is_refused_65_and_nothing_is_left(kit, minicluster, hdfs_home,
                                                                             tmp_path):
    data = os.urandom(12 * MiB)          # more than one part: an upload is open when the read ends
    _put(minicluster, tmp_path, f"{hdfs_home}/bad.bin", data)
    wrapper = tmp_path / "hadoop-corrupting"
    wrapper.write_text(CORRUPTING_HADOOP.format(real=minicluster.cmd, python="/usr/bin/python3"))
    wrapper.chmod(0o755)
    r = kit.transfer(f"{hdfs_home}/bad.bin", env=dict(minicluster.env(), HADOOP_CMD=str(wrapper)))
    assert r.returncode == 65, r.stderr
    (rec,) = records(r.stdout)
    assert rec["status"] == "checksum_mismatch" and rec["hdfs_checksum_status"] == "mismatch"
    assert "does not match HDFS's checksum" in rec["error"]
    assert nothing_left(kit.s3, BUCKET, f"{KEY_PREFIX}{hdfs_home}/bad.bin")


def test_proof_can_be_turned_off_for_encryption_zones(kit, minicluster, hdfs_home, tmp_path):
    _put(minicluster, tmp_path, f"{hdfs_home}/ez.bin", b"ciphertext at rest\n")
    kit.set_config("hdfs_checksum", "off")
    before = minicluster.launches()
    r = kit.transfer(f"{hdfs_home}/ez.bin", env=minicluster.env())
    assert r.returncode == 0, r.stderr
    assert minicluster.launches() - before == 3          # -stat, -cat, re-check -stat: no -checksum JVM
    (rec,) = records(r.stdout)
    assert rec["hdfs_checksum"] is None and "hdfs_checksum=off" in rec["hdfs_checksum_status"]


def test_hadoop_fs_checksum_is_what_we_compute(minicluster, hdfs_home, tmp_path):
    """The reference itself: Hadoop's own command, independent of block size."""
    data = os.urandom(3 * MiB + 5)
    _put(minicluster, tmp_path, f"{hdfs_home}/a.bin", data, "-Ddfs.blocksize=1048576")
    _put(minicluster, tmp_path, f"{hdfs_home}/b.bin", data)
    r = minicluster.fs("-Ddfs.checksum.combine.mode=COMPOSITE_CRC", "-checksum", f"{hdfs_home}/a.bin",
                       f"{hdfs_home}/b.bin")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.decode().splitlines()
    want = f"{crc32c.crc32c(data):08x}"
    assert [ln.split("\t")[1:] for ln in lines] == [["COMPOSITE-CRC32C", want]] * 2
