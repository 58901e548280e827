"""The STS session that uploads is scoped to the run's keys and names the real user.

moto does not enforce session policies (a session limited to `in/*` may still write `out/x`
there), so these tests show what can be shown: the AssumeRole request the real command sends
carries the session policy and SourceIdentity = the real Linux user, and that very policy,
enforced by moto as a role policy, allows the run's key and refuses any other."""

import http.server
import json
import os
import threading
import urllib.parse
import urllib.request

import pytest

from harness.hadoop import world_tmp
from harness.iam import make_role
from test_transfer_support import BUCKET, key_for, records


class StsRecorder:
    """A loopback HTTP forwarder for STS only (AWS_ENDPOINT_URL_STS): keeps each request's form."""

    def __init__(self, target):
        self.calls = []
        rec = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                rec.calls.append({k: v[0] for k, v in urllib.parse.parse_qs(body.decode()).items()})
                req = urllib.request.Request(target + self.path, data=body, method="POST",
                                             headers={k: v for k, v in self.headers.items() if k.lower() != "host"})
                try:
                    with urllib.request.urlopen(req, timeout=30) as r:
                        status, data, ctype = r.status, r.read(), r.headers.get("Content-Type")
                except urllib.error.HTTPError as e:
                    status, data, ctype = e.code, e.read(), e.headers.get("Content-Type")
                self.send_response(status)
                self.send_header("Content-Type", ctype or "text/xml")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder(kit):
    r = StsRecorder(kit.env["AWS_ENDPOINT_URL"])
    yield r
    r.close()


def test_transfer_session_is_scoped_to_its_keys_and_carries_the_real_user(kit, linux_users, recorder, boto,
                                                                          moto_server):
    u = linux_users
    erin = u.user("lpu")
    d = world_tmp("h2s-lp-")
    src = os.path.join(d, "q3.csv")
    with open(src, "wb") as f:
        f.write(b"quarter three")
    os.chown(src, 0, __import__("pwd").getpwnam(erin).pw_gid)
    os.chmod(src, 0o640)
    env = dict(kit.env, AWS_ENDPOINT_URL_STS=recorder.url)
    r = u.run(erin, [u.cmd("hdfs2s3kit"), "transfer", f"file://{src}"], env=env)
    assert r.returncode == 0, r.stderr
    assert records(r.stdout)[0]["status"] == "ok"
    (call,) = [c for c in recorder.calls if c.get("Action") == "AssumeRole"]
    assert call["SourceIdentity"] == erin            # the real user, not root, not $USER
    policy = json.loads(call["Policy"])
    objects = next(s for s in policy["Statement"] if s["Sid"] == "RunObjects")
    assert objects["Resource"] == [f"arn:aws:s3:::{BUCKET}/{key_for(src)}"]
    assert "s3:PutObject" in objects["Action"]

    # The same document, enforced (as a role policy: moto ignores session policies), allows
    # exactly that key and refuses a neighbour.
    role = make_role(boto, name="scoped", actions=["s3:GetObject"], bucket=BUCKET)
    iam = boto.client("iam")
    iam.delete_role_policy(RoleName="scoped", PolicyName="scoped-s3")
    iam.put_role_policy(RoleName="scoped", PolicyName="session", PolicyDocument=call["Policy"])
    moto_server.set_auth(True)
    import boto3
    import botocore

    base = boto3.session.Session(region_name="us-east-1", **{
        "aws_access_key_id": role["env"]["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": role["env"]["AWS_SECRET_ACCESS_KEY"]})
    c = base.client("sts").assume_role(RoleArn=role["role_arn"], RoleSessionName="check")["Credentials"]
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id=c["AccessKeyId"],
                      aws_secret_access_key=c["SecretAccessKey"], aws_session_token=c["SessionToken"])
    s3.put_object(Bucket=BUCKET, Key=key_for(src), Body=b"allowed")
    with pytest.raises(botocore.exceptions.ClientError) as e:
        s3.put_object(Bucket=BUCKET, Key="in/elsewhere.csv", Body=b"refused")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_s3_put_sts_scopes_its_session_to_the_one_key(kit, recorder):
    from harness import proc

    env = dict(kit.env, AWS_ENDPOINT_URL_STS=recorder.url)
    r = proc.run("s3-put-sts", "--raw", f"s3://{BUCKET}/one/key.bin", input=b"x" * 10, env=env)
    assert r.returncode == 0, r.stderr
    (call,) = [c for c in recorder.calls if c.get("Action") == "AssumeRole"]
    objects = next(s for s in json.loads(call["Policy"])["Statement"] if s["Sid"] == "RunObjects")
    assert objects["Resource"] == [f"arn:aws:s3:::{BUCKET}/one/key.bin"]
    assert call["SourceIdentity"] == "root"
