"""Fixtures for the transfer/verify/pipe/demo tests: a seeded local AWS (config and key in
SSM, a bucket, a role, an SNS topic) and helpers to run the real commands against it."""

import json
import os

import pytest

from harness import proc

PREFIX = "/hdfs2s3/t"
BUCKET = "kit-bucket"
KEY_PREFIX = "in"
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PIPE = os.path.join(CHECKOUT, "bin", "hdfs2s3-pipe")


class Kit:
    def __init__(self, env, session, role_arn):
        self.env = dict(env, HDFS2S3_CONFIG=PREFIX)
        self.session = session
        self.s3 = session.client("s3")
        self.ssm = session.client("ssm")
        self.role_arn = role_arn

    def set_config(self, name, value):
        self.ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String", Overwrite=True)

    def run(self, name, *args, env=None, **kw):
        return proc.run(name, *args, env=dict(self.env, **(env or {})), **kw)

    def transfer(self, *args, **kw):
        return self.run("hdfs2s3kit", "transfer", *args, **kw)

    def verify(self, *args, **kw):
        return self.run("hdfs2s3kit", "verify", *args, **kw)

    def objects(self):
        return sorted(o["Key"] for o in self.s3.list_objects_v2(Bucket=BUCKET).get("Contents", []))

    def open_uploads(self):
        return self.s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", [])

    def get(self, key):
        return self.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()

    def decrypt(self, key):
        """The object's plaintext through the real fernet-decrypt (key from SSM)."""
        r = self.run("fernet-decrypt", input=self.get(key))
        assert r.returncode == 0, r.stderr
        return r.stdout


def records(stdout):
    return [json.loads(line) for line in stdout.decode().splitlines() if line.strip()]


def key_for(path):
    """The default destination key of a local file (config prefix + source path)."""
    return f"{KEY_PREFIX}/{str(path).lstrip('/')}"


@pytest.fixture
def kit(boto):
    """Fresh local AWS with the toolkit's config seeded under PREFIX."""
    from cryptography.fernet import Fernet

    caller = boto.client("sts").get_caller_identity()["Arn"]
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": caller}, "Action": "sts:AssumeRole"}]}
    role_arn = boto.client("iam").create_role(RoleName="kit-transfer",
                                              AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    boto.client("s3").create_bucket(Bucket=BUCKET)
    topic = boto.client("sns").create_topic(Name="kit-events")["TopicArn"]
    ssm = boto.client("ssm")
    for name, value in {"bucket": BUCKET, "prefix": KEY_PREFIX, "role_arn": role_arn, "region": "us-east-1",
                        "sns_topic_arn": topic, "cloudwatch_namespace": "kit", "fernet_key_version": "1"}.items():
        ssm.put_parameter(Name=f"{PREFIX}/{name}", Value=value, Type="String")
    ssm.put_parameter(Name=f"{PREFIX}/keys/fernet", Value=Fernet.generate_key().decode(), Type="SecureString")
    return Kit(boto_env(boto), boto, role_arn)


def boto_env(_session):
    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_DEFAULT_REGION",
            "AWS_EC2_METADATA_DISABLED", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    return {k: os.environ[k] for k in keys if k in os.environ}
