"""authz.check_paths / check_iter as the transfer and the mapper call them, on the real FsShell."""

import grp
import os

from hdfs2s3kit import authz, identity


def test_check_iter_decides_a_stream_in_batches_one_jvm_each(hadoop, hdfs_dir):
    hpath, local = hdfs_dir
    me = identity.lookup()
    mine, other = me.groups[0], "nogroup"
    for i in range(5):
        (local / f"f{i}").write_bytes(b"d")
        os.chown(local / f"f{i}", -1, grp.getgrnam(mine if i % 2 == 0 else other).gr_gid)
    paths = [f"{hpath}/f{i}" for i in range(5)] + [f"{hpath}/f0", f"{hpath}/gone"]
    before = hadoop.launches()
    got = list(authz.check_iter(iter(paths), me, hadoop_cmd=hadoop.cmd, batch_size=3))
    assert hadoop.launches() - before == 3
    assert [d.path for d in got] == paths  # one decision per input, duplicates included, in order
    assert [d.code for d in got] == [0, 77, 0, 77, 0, 0, 66]
    assert got[1].stat.group == other and got[1].audit_record()["decision"] == "deny"
    assert authz.exit_code(d.code for d in got) == 77
