# Shared fixtures live in tests/harness/; importing them here makes them global.
from harness.moto import aws_env, boto, moto_server  # noqa: F401
from harness.hadoop import hadoop, hdfs_dir, linux_users  # noqa: F401
from test_transfer_support import kit  # noqa: F401
from harness.minicluster import hdfs_home, minicluster, minicluster_yarn  # noqa: F401
