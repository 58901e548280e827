# Shared fixtures live in tests/harness/; importing them here makes them global.
from harness.moto import aws_env, boto, moto_server  # noqa: F401
