"""Checked sources: `hadoop fs -cat` (real FsShell) and file://, and `hdfs2s3kit cat` over them."""

import os
import signal
import subprocess
import time

import pytest

from harness import proc
from hdfs2s3kit import errors, hdfs

BIG = int(os.environ.get("HDFS2S3_TEST_BIG_BYTES", 1 << 30))


def pattern(size, seed=b"h2s"):
    """Deterministic data in which every MiB differs (a reordered or repeated block would show)."""
    block = (seed * (1 << 20))[: 1 << 20]
    out = bytearray()
    i = 0
    while len(out) < size:
        out += i.to_bytes(8, "big") + block[8:]
        i += 1
    return bytes(out[:size])


def write_pattern(path, size):
    block = (b"h2s" * (1 << 20))[: 1 << 20]
    with open(path, "wb") as f:
        for i in range(0, size, 1 << 20):
            f.write((i.to_bytes(8, "big") + block[8:])[: size - i])


@pytest.fixture(params=["hdfs", "file"])
def src(request, hadoop, hdfs_dir):
    """(source URL, local path) for the same file, through hadoop or locally."""
    hpath, local = hdfs_dir
    path = local / "data.bin"
    url = f"{hpath}/data.bin" if request.param == "hdfs" else f"file://{path}"
    return url, path


def read_all(reader, chunk=65536):
    buf, out = bytearray(chunk), bytearray()
    while n := reader.readinto(buf):
        out += buf[:n]
    return bytes(out)


def test_source_reads_exactly_the_file(src, hadoop):
    url, path = src
    data = pattern(3 * (1 << 20) + 17)
    path.write_bytes(data)
    with hdfs.open_source(url, expected_length=len(data), hadoop_cmd=hadoop.cmd) as r:
        assert read_all(r) == data
        assert r.bytes_read == len(data)


def test_file_shrunk_between_stat_and_read_fails_with_74(src, hadoop):
    url, path = src
    path.write_bytes(pattern(2 << 20))
    st = hdfs.stat_one(url, hadoop_cmd=hadoop.cmd)
    os.truncate(path, 1 << 20)
    with hdfs.open_source(url, expected_length=st.length, hadoop_cmd=hadoop.cmd) as r:
        with pytest.raises(errors.KitIOError) as e:
            read_all(r)
    assert e.value.code == 74
    assert f"got {1 << 20} of {2 << 20} bytes" in e.value.message


def test_file_grown_between_stat_and_read_fails_with_74(src, hadoop):
    url, path = src
    path.write_bytes(b"a" * 1000)
    st = hdfs.stat_one(url, hadoop_cmd=hadoop.cmd)
    path.write_bytes(b"a" * 5000)
    with hdfs.open_source(url, expected_length=st.length, hadoop_cmd=hadoop.cmd) as r:
        with pytest.raises(errors.KitIOError, match="more than the 1000 bytes"):
            read_all(r)


def test_failing_reader_is_an_error_even_without_an_expected_length(hadoop, hdfs_dir):
    hpath, _ = hdfs_dir
    with hdfs.open_source(f"{hpath}/nope", hadoop_cmd=hadoop.cmd) as r:
        with pytest.raises(errors.KitIOError) as e:
            r.read()
    assert "hadoop fs -cat failed (exit 1)" in e.value.message and "No such file or directory" in e.value.message


def test_closing_early_kills_the_reader(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    write_pattern(local / "big", 64 << 20)
    r = hdfs.open_source(f"{hpath}/big", expected_length=64 << 20, hadoop_cmd=hadoop.cmd)
    assert len(r.read(1 << 20)) > 0
    pid = r.pid
    r.close()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # gone and reaped, not left writing into a dead pipe


def test_option_like_source_is_refused(hadoop):
    with pytest.raises(errors.UsageError):
        hdfs.open_source("-rm", hadoop_cmd=hadoop.cmd)


def test_missing_local_source_is_66():
    with pytest.raises(errors.NoInputError):
        hdfs.open_source("file:///nonexistent/h2s/x")


def cat(*args, env=None, **kw):
    return proc.run("hdfs2s3kit", "cat", *args, env=env, **kw)


def test_cat_command_streams_hdfs_and_local_files(src, hadoop):
    url, path = src
    data = pattern(1 << 20 | 5)
    path.write_bytes(data)
    r = cat(url, env=hadoop.env())
    assert (r.returncode, r.stdout, r.stderr) == (0, data, b"")


def test_cat_command_errors_have_codes(hadoop, hdfs_dir):
    hpath, _ = hdfs_dir
    r = cat(f"{hpath}/nope", env=hadoop.env())
    assert r.returncode == 66 and r.stderr == f"hdfs2s3kit cat: {hpath}/nope: no such file or directory\n".encode()
    r = cat(hpath, env=hadoop.env())
    assert r.returncode == 66 and b"is a directory" in r.stderr
    r = cat(f"{hpath}/x", env={"HADOOP_CMD": "/nonexistent/hadoop"})
    assert r.returncode == 69
    r = cat("--", "-x", env=hadoop.env())
    assert r.returncode == 2


def test_cat_command_exits_74_when_the_reader_is_killed_midway(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    write_pattern(local / "big", 256 << 20)
    env = dict(os.environ, **hadoop.env())
    p = subprocess.Popen([proc.cmd_path("hdfs2s3kit"), "cat", f"{hpath}/big"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    got = len(p.stdout.read(4 << 20))  # the -cat reader is running: data flows
    deadline = time.monotonic() + 30
    while not (kids := proc.children(p.pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = 0
    for k in kids:
        try:
            with open(f"/proc/{k}/cmdline", "rb") as f:
                if b"-cat" in f.read().split(b"\0"):
                    os.kill(k, signal.SIGKILL)  # the reader, not the -stat running alongside
                    killed += 1
        except FileNotFoundError:
            pass  # the -stat finished meanwhile
    assert killed == 1
    got += len(p.stdout.read())
    err = p.stderr.read().decode()
    assert p.wait() == 74, err
    assert got < 256 << 20
    assert "hdfs2s3kit cat: reading" in err and "killed by signal 9" in err


def test_cat_command_of_a_big_file_matches_cat_byte_for_byte(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    write_pattern(local / "huge", BIG)
    ours = subprocess.Popen([proc.cmd_path("hdfs2s3kit"), "cat", f"{hpath}/huge"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=dict(os.environ, **hadoop.env()))
    ref = subprocess.Popen(["cat", str(local / "huge")], stdout=subprocess.PIPE)
    total = 0
    try:
        while True:
            a, b = ours.stdout.read(1 << 20), ref.stdout.read(1 << 20)
            assert a == b, f"differs in the MiB at offset {total}"
            if not a:
                break
            total += len(a)
    finally:
        ours.stdout.close()
        ref.stdout.close()
        ours.wait()
        ref.wait()
        os.unlink(local / "huge")
    assert total == BIG and ours.returncode == 0, ours.stderr.read()


def test_checked_open_takes_the_expected_length_from_the_status(src, hadoop):
    url, path = src
    path.write_bytes(b"q" * 4321)
    with hdfs.open_checked(url, hadoop_cmd=hadoop.cmd) as r:
        assert r.read() == b"q" * 4321
        assert (r.stat.length, r.expected_length) == (4321, 4321)


def test_checked_open_of_a_missing_path_or_directory_is_66(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    for bad in (f"{hpath}/nope", hpath, f"file://{local}/nope", f"file://{local}"):
        with pytest.raises(errors.NoInputError):
            with hdfs.open_checked(bad, hadoop_cmd=hadoop.cmd) as r:
                r.read()
