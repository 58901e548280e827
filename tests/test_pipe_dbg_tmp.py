import os, subprocess, sys
from test_pipe import pipe, FAILING_HADOOP, BIN
from test_transfer_support import BUCKET
def test_dbg(kit, hadoop, hdfs_dir, tmp_path):
    hpath, local = hdfs_dir
    (local / "big.bin").write_bytes(os.urandom(20 << 20))
    wrapper = tmp_path / "hadoop-failing"
    wrapper.write_text(FAILING_HADOOP.format(real=hadoop.cmd, cut=11 << 20))
    wrapper.chmod(0o755)
    r = pipe(kit, f"{hpath}/big.bin", f"s3://{BUCKET}/pipe/big.bin", env={"HADOOP_CMD": str(wrapper)})
    print(r.returncode, r.stderr.decode(), r.stdout.decode())
    e = dict(kit.env, PATH=BIN + os.pathsep + os.environ["PATH"], HADOOP_CMD=str(wrapper))
    r = subprocess.run(["bash", "-c", f"hdfs2s3kit cat {hpath}/big.bin | fernet-encrypt | s3-put-sts s3://{BUCKET}/naive"], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    print("NAIVE", r.returncode, r.stderr.decode()[-500:], kit.objects())
