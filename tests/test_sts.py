"""STS: RoleSessionName for CloudTrail, and credentials that renew themselves mid-upload."""

import io
import os
import re
import time

import boto3
from harness.iam import S3_ALL, make_role
from hypothesis import given
from hypothesis import strategies as st

from hdfs2s3kit import aws, s3put, sts

MiB = 1 << 20
STS_CHARSET = re.compile(r"^[\w+=,.@-]{2,64}$")


def test_session_name_is_user_at_host_dash_pid():
    assert sts.session_name("alice", "edge01.example.com", 4242) == "alice@edge01-4242"


@given(st.text(min_size=0, max_size=200), st.text(min_size=0, max_size=200), st.integers(0, 2**22))
def test_session_name_always_fits_the_sts_charset_and_length(user, host, pid):
    name = sts.session_name(user or "u", host or "h", pid)
    assert STS_CHARSET.match(name), name
    assert name.endswith(f"-{pid}")


def test_default_session_name_is_the_effective_user_whatever_user_says(monkeypatch):
    import pwd

    monkeypatch.setenv("USER", "mallory")
    monkeypatch.setenv("LOGNAME", "mallory")
    me = pwd.getpwuid(os.geteuid()).pw_name
    assert sts.session_name(host="h", pid=1) == f"{me}@h-1"


def test_unsanitary_user_and_long_host_are_cleaned():
    name = sts.session_name("bob smith/ops", "x" * 100, 7)
    assert name.startswith("bob_smith_ops@xxx") and len(name) == 64 and name.endswith("-7")


class SlowSource:
    """A source that trickles: the upload lasts several credential lifetimes."""

    def __init__(self, data, delay):
        self.buf, self.delay = io.BytesIO(data), delay

    def readinto(self, mv):
        time.sleep(self.delay)
        return self.buf.readinto(mv[: 512 * 1024])


def test_credentials_expiring_mid_upload_are_refreshed(aws_env, boto, moto_server):
    s3_setup = boto.client("s3")
    s3_setup.create_bucket(Bucket="sts-bucket")
    role = make_role(boto, name="refresh", actions=S3_ALL, bucket="sts-bucket")
    base = boto3.session.Session(aws_access_key_id=role["env"]["AWS_ACCESS_KEY_ID"],
                                 aws_secret_access_key=role["env"]["AWS_SECRET_ACCESS_KEY"],
                                 region_name=boto.region_name)
    moto_server.set_auth(True)
    # 900 s is STS's minimum; a 899.5 s margin makes each token "expire" half a second after issue.
    sess = sts.assumed_session(role["role_arn"], base=base, duration=900, refresh_margin=899.5)
    creds = sess.get_credentials()
    seen = []
    fetch = creds._refresh_using

    def counting_fetch():
        md = fetch()
        seen.append(md["access_key"])
        return md

    creds._refresh_using = counting_fetch
    first_key = creds.get_frozen_credentials().access_key
    s3 = aws.s3_client(sess, concurrency=2)
    data = os.urandom(6 * MiB)
    rec = s3put.upload(SlowSource(data, 0.2), "sts-bucket", "long-upload", s3=s3, part_size=5 * MiB,
                       concurrency=2)
    moto_server.set_auth(False)
    assert rec["status"] == "ok"
    assert len(set(seen)) >= 2, "credentials were not renewed during the upload"
    assert creds.get_frozen_credentials().access_key != first_key
    assert s3_setup.get_object(Bucket="sts-bucket", Key="long-upload")["Body"].read() == data


def test_refresh_windows_are_capped_for_short_sessions(aws_env, boto):
    role = make_role(boto, name="short", actions=S3_ALL)
    sess = sts.assumed_session(role["role_arn"], duration=900)
    creds = sess.get_credentials()
    # botocore's 15/10 min windows would cover a 15 min session entirely: one AssumeRole per request
    assert creds._advisory_refresh_timeout == 300 and creds._mandatory_refresh_timeout == 150
    assert sess.role_arn == role["role_arn"] and STS_CHARSET.match(sess.role_session_name)
