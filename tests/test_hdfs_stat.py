"""hdfs.stat_many against the real Hadoop FsShell: one JVM per batch, every answer on the right path."""

import grp
import os
import pwd

import pytest

from hdfs2s3kit import errors, hdfs


def write(local_dir, name, size):
    p = local_dir / name
    p.write_bytes(b"z" * size)
    return p


def test_each_path_gets_its_own_status_even_with_missing_paths_between(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    names = [f"f{i}" for i in range(6)]
    for i, n in enumerate(names):
        write(local, n, 100 + i)  # distinct lengths show which answer went where
    paths = []
    for i, n in enumerate(names):
        paths += [f"{hpath}/{n}", f"{hpath}/missing{i}"]
    res = hdfs.stat_many(paths, hadoop_cmd=hadoop.cmd)
    assert list(res) == paths
    for i, n in enumerate(names):
        st = res[f"{hpath}/{n}"]
        assert isinstance(st, hdfs.FileStat), st
        assert st.length == 100 + i and st.path == f"{hpath}/{n}"
        miss = res[f"{hpath}/missing{i}"]
        assert isinstance(miss, errors.NoInputError) and miss.code == 66
        assert miss.message == f"{hpath}/missing{i}: no such file or directory"


def test_status_fields_match_the_local_file_behind_viewfs(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    p = write(local, "data.csv", 1234)
    nobody = pwd.getpwnam("nobody")
    os.chown(p, nobody.pw_uid, nobody.pw_gid)
    os.chmod(p, 0o1640)
    st = hdfs.stat_many([f"{hpath}/data.csv"], hadoop_cmd=hadoop.cmd)[f"{hpath}/data.csv"]
    real = os.stat(p)
    assert (st.owner, st.group) == ("nobody", grp.getgrgid(nobody.pw_gid).gr_name)
    assert st.mode == 0o1640 and st.length == 1234 and st.is_dir is False
    assert abs(st.mtime - real.st_mtime) < 1.0
    assert hdfs.stat_many([hpath], hadoop_cmd=hadoop.cmd)[hpath].is_dir is True


def test_glob_characters_spaces_and_pipes_name_one_file_each(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    names = ["a[1].txt", "a1.txt", "b*c", "bxc", "sp ace", "p|ipe", "q?", "{x,y}", "x", "back\\slash"]
    for i, n in enumerate(names):
        write(local, n, 10 + i)
    paths = [f"{hpath}/{n}" for n in names]
    res = hdfs.stat_many(paths, hadoop_cmd=hadoop.cmd)
    assert [res[p].length for p in paths] == [10 + i for i in range(len(names))]


def test_filesystem_roots_and_duplicates_are_answered(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    write(local, "f", 5)
    paths = ["/", f"{hpath}/f", f"{hpath}/f", "/user/../"]
    res = hdfs.stat_many(paths, hadoop_cmd=hadoop.cmd)
    assert set(res) == set(paths)
    assert res["/"].is_dir and res["/user/../"].is_dir
    assert res[f"{hpath}/f"].length == 5


def test_file_urls_are_read_locally_with_the_same_facts(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    write(local, "g", 77)
    before = hadoop.launches()
    via_file = hdfs.stat_many([f"file://{local}/g", f"file:{local}/nope"], hadoop_cmd=hadoop.cmd)
    assert hadoop.launches() == before  # no JVM for local paths
    via_hdfs = hdfs.stat_one(f"{hpath}/g", hadoop_cmd=hadoop.cmd)
    a = via_file[f"file://{local}/g"]
    assert (a.owner, a.group, a.mode, a.length, a.is_dir) == (
        via_hdfs.owner, via_hdfs.group, via_hdfs.mode, via_hdfs.length, via_hdfs.is_dir)
    assert isinstance(via_file[f"file:{local}/nope"], errors.NoInputError)


def test_large_batches_are_split_and_still_map_correctly(hadoop, hdfs_dir, monkeypatch):
    hpath, local = hdfs_dir
    for i in range(7):
        write(local, f"n{i}", i)
    monkeypatch.setattr(hdfs, "MAX_BATCH_PATHS", 3)
    before = hadoop.launches()
    res = hdfs.stat_many([f"{hpath}/n{i}" for i in range(7)], hadoop_cmd=hadoop.cmd)
    assert hadoop.launches() - before == 3
    assert [res[f"{hpath}/n{i}"].length for i in range(7)] == list(range(7))


def test_option_like_and_multiline_paths_are_refused_without_a_launch(hadoop):
    before = hadoop.launches()
    res = hdfs.stat_many(["-rm", "/user/a\nb", ""], hadoop_cmd=hadoop.cmd)
    assert hadoop.launches() == before
    assert all(isinstance(v, errors.UsageError) and v.code == 2 for v in res.values())


def test_missing_hadoop_client_raises_unavailable(monkeypatch):
    monkeypatch.setenv("HADOOP_CMD", "/nonexistent/hadoop")
    with pytest.raises(errors.UnavailableError) as e:
        hdfs.stat_many(["/user/x"])
    assert e.value.code == 69 and "/nonexistent/hadoop" in e.value.message


def test_hadoop_cmd_may_carry_its_own_arguments(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    write(local, "h", 3)
    # e.g. HADOOP_CMD="env JAVA_TOOL_OPTIONS=... hadoop": split like a shell, never run by one.
    st = hdfs.stat_one(f"{hpath}/h", hadoop_cmd=f"env H2S_MARK=1 {hadoop.cmd}")
    assert st.length == 3


def test_hdfs_permission_errors_map_to_77_and_log_noise_is_skipped():
    # Text as a real NameNode returns it (no HDFS server can run here; the local FS says "No such file").
    stderr = ("24/01/02 10:00:00 WARN util.NativeCodeLoader: Unable to load native-hadoop library\n"
              "stat: Permission denied: user=alice, access=EXECUTE, inode=\"/data/x\":hdfs:fin:drwx------\n")
    line = hdfs.meaningful_line(stderr, "stat")
    assert line.startswith("stat: Permission denied: user=alice")
    err = hdfs._classify("/data/x/f", line)
    assert err.code == 77 and err.message.startswith("/data/x/f: permission denied")
    assert hdfs.meaningful_line("Exception in thread \"main\" java.io.IOException: boom\n\tat a.b(C.java:1)\n") \
        == "java.io.IOException: boom"
