"""s3-get-sts on the lean AWS path (s3wire.get_object over awshttp, no botocore): the same bytes,
answers, errors and retries as with botocore, against the moto server over real HTTP."""

import hashlib
import http.server
import io
import json
import os
import socket
import subprocess
import sys
import threading

import pytest
from harness import tls
from harness.iam import make_role
from harness.proc import cmd_path, run
from harness.proxy import FaultyProxy

from hdfs2s3kit import aws, awshttp, errors, leanaws, s3get, s3put, s3wire

MiB = 1 << 20
BUCKET = "lean-get"


class ReplyCutProxy(FaultyProxy):
    """FaultyProxy that also cuts GET answers mid-body: after `cut_reply_after` bytes of a GET's
    answer it either resets the connection (`how="reset"`: a dropped connection) or closes it
    cleanly (`how="short"`: a body shorter than its Content-Length), `reply_cuts` times."""

    def __init__(self, target_url, *, cut_reply_after, reply_cuts, how="reset", **kw):
        self.cut_reply_after, self.reply_cuts_left, self.how = cut_reply_after, reply_cuts, how
        self.reply_cuts_done = 0
        super().__init__(target_url, **kw)

    def _note_requests(self, data, state):
        super()._note_requests(data, state)
        kinds = [self._kind(line) for line in data[:4096].split(b"\r\n") if b" HTTP/1.1" in line]
        if kinds:
            state["kind"], state["down"] = kinds[-1], 0     # bytes of this request's answer so far

    @staticmethod
    def _kind(line):
        method, _, rest = line.partition(b" ")
        from harness.proxy import request_kind

        return request_kind(method, rest.split(b" ", 1)[0])

    def _pump_down(self, src, dst, state):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                down = state.get("down", 0)
                if state.get("kind") == "get" and down + len(data) > self.cut_reply_after \
                        and self._take("reply_cuts"):
                    dst.sendall(data[: self.cut_reply_after - down])
                    with self._lock:
                        self.reply_cuts_done += 1
                    if self.how == "short":      # FIN: the client sees the body end early
                        for s in (dst, src):
                            try:
                                s.shutdown(socket.SHUT_RDWR)
                            except OSError:
                                pass
                            s.close()
                    else:
                        for s in (dst, src):
                            try:
                                s.shutdown(socket.SHUT_RD)    # wakes the other pump
                            except OSError:
                                pass
                        self._reset(dst, src)
                    return
                state["down"] = down + len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._half_close(dst)


@pytest.fixture
def lean(aws_env, monkeypatch):
    """The lean client the command gets (also when HDFS2S3_AWS_CLIENT=botocore runs the suite)."""
    monkeypatch.delenv(leanaws.ENV_VAR, raising=False)
    p = leanaws.plan()
    assert p.lean, p.reason
    c = aws.s3_client(leanaws.LeanSession(p.region, p.credentials, p.source))
    assert isinstance(c, s3wire.S3Client)
    return c


def put_multipart(s3, key, data, part):
    up = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ChecksumAlgorithm="CRC32")["UploadId"]
    parts = []
    for i in range(0, len(data), part):
        r = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=up, PartNumber=i // part + 1, Body=data[i:i + part],
                           ChecksumAlgorithm="CRC32")
        parts.append({"PartNumber": i // part + 1, "ETag": r["ETag"], "ChecksumCRC32": r["ChecksumCRC32"]})
    s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=up, MultipartUpload={"Parts": parts})


def imports_of(argv, env):
    r = subprocess.run([sys.executable, "-X", "importtime", cmd_path("s3-get-sts"), *argv], env=env,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    err = r.stderr.decode()
    imported = {line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    return r, imported


# -- the command ---------------------------------------------------------------------------

def test_lean_run_is_byte_exact_and_imports_no_botocore(aws_env, s3):
    data = os.urandom(13 * MiB + 7)
    put_multipart(s3, "big", data, 5 * MiB)
    env = {**os.environ, **aws_env}
    env.pop(leanaws.ENV_VAR, None)
    r, imported = imports_of(["--no-assume-role", "--chunk-size", "1MiB", "--concurrency", "3", "--summary",
                              f"s3://{BUCKET}/big"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert hashlib.sha256(r.stdout).digest() == hashlib.sha256(data).digest() and len(r.stdout) == len(data)
    rec = json.loads(r.stderr.decode().splitlines()[-1])
    assert rec["status"] == "ok" and rec["checksum_verified"] is True
    assert "hdfs2s3kit.s3wire" in imported                      # the probe sees our imports
    assert not {m for m in imported if m.split(".")[0] in ("botocore", "boto3", "urllib3", "typing")}
    # and the probe can tell: forced to botocore, the same run imports it
    r, imported = imports_of(["--no-assume-role", f"s3://{BUCKET}/big"], {**env, leanaws.ENV_VAR: "botocore"})
    assert r.returncode == 0 and r.stdout == data and "botocore" in imported


def test_a_role_without_get_object_is_refused_with_exit_77(aws_env, boto, moto_server, s3):
    s3.put_object(Bucket=BUCKET, Key="secret", Body=b"x" * 100)
    role = make_role(boto, name="lister", actions=["s3:ListBucket"], bucket=BUCKET)
    moto_server.set_auth(True)
    r = run("s3-get-sts", "--role-arn", role["role_arn"], f"s3://{BUCKET}/secret", env={**aws_env, **role["env"]})
    assert r.returncode == 77, r.stderr
    err = r.stderr.decode()
    assert err.startswith(f"s3-get-sts: HeadObject s3://{BUCKET}/secret: ") and err.count("\n") == 1
    assert r.stdout == b"" and role["env"]["AWS_SECRET_ACCESS_KEY"] not in err


def test_a_role_with_get_object_downloads_on_the_lean_path(aws_env, boto, moto_server, s3):
    data = os.urandom(3 * MiB + 1)
    s3.put_object(Bucket=BUCKET, Key="mine", Body=data, ChecksumAlgorithm="CRC32C")
    role = make_role(boto, name="getter", actions=["s3:GetObject", "s3:ListBucket"], bucket=BUCKET)
    moto_server.set_auth(True)
    r = run("s3-get-sts", "-v", "--role-arn", role["role_arn"], "--chunk-size", "1MiB", f"s3://{BUCKET}/mine",
            env={**aws_env, **role["env"]})
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    if os.environ.get(leanaws.ENV_VAR) != "botocore":
        assert "AWS client: lean" in r.stderr.decode()


@pytest.mark.parametrize("how", ["reset", "short"])
def test_a_connection_dropped_mid_body_is_retried_from_the_range_start(aws_env, s3, how):
    data = os.urandom(3 * MiB + 5)
    s3.put_object(Bucket=BUCKET, Key="drop", Body=data, ChecksumAlgorithm="CRC32")
    with ReplyCutProxy(aws_env["AWS_ENDPOINT_URL"], cut_reply_after=300_000, reply_cuts=2, how=how) as proxy:
        r = run("s3-get-sts", "--no-assume-role", "--chunk-size", "1MiB", "--concurrency", "2", "--summary",
                f"s3://{BUCKET}/drop", env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.reply_cuts_done == 2
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    assert json.loads(r.stderr.decode().splitlines()[-1])["checksum_verified"] is True


def test_a_body_cut_on_every_try_fails_with_exit_69_and_one_line(aws_env, s3, monkeypatch):
    s3.put_object(Bucket=BUCKET, Key="cut", Body=os.urandom(MiB))
    with ReplyCutProxy(aws_env["AWS_ENDPOINT_URL"], cut_reply_after=200_000, reply_cuts=100, how="short") as proxy:
        r = run("s3-get-sts", "--no-assume-role", f"s3://{BUCKET}/cut",
                env={**aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.reply_cuts_done == s3get.RANGE_RETRIES + 1
    assert r.returncode == errors.UNAVAILABLE, r.stderr
    err = r.stderr.decode()
    assert err.startswith(f"s3-get-sts: GetObject s3://{BUCKET}/cut bytes=0-{MiB - 1}: ") and err.count("\n") == 1


def test_bytes_corrupted_on_the_way_down_are_exit_65_on_the_lean_path(aws_env, s3):
    data = os.urandom(2 * MiB)
    s3.put_object(Bucket=BUCKET, Key="bad", Body=data, ChecksumAlgorithm="CRC64NVME")
    with FaultyProxy(aws_env["AWS_ENDPOINT_URL"], corrupt_reply_at=MiB + 3, corruptions=1) as proxy:
        r, imported = imports_of(["--no-assume-role", f"s3://{BUCKET}/bad"],
                                 {**os.environ, **aws_env, "AWS_ENDPOINT_URL": proxy.url})
        assert proxy.corruptions_done == 1
    assert r.returncode == 65
    assert [ln for ln in r.stderr.decode().splitlines() if not ln.startswith("import time:")] == [
        ln for ln in r.stderr.decode().splitlines() if ln.startswith("s3-get-sts: ")]
    assert f"s3://{BUCKET}/bad: CRC64NVME of the downloaded bytes" in r.stderr.decode()
    if os.environ.get(leanaws.ENV_VAR) != "botocore":
        assert "botocore" not in imported


def test_missing_object_and_bucket_are_66_on_the_lean_path(aws_env, s3):
    for url, msg in ((f"s3://{BUCKET}/nope", f"no such object: s3://{BUCKET}/nope (the bucket exists)"),
                     ("s3://no-such-lean-bucket/k", "no such bucket: no-such-lean-bucket")):
        r, imported = imports_of(["--no-assume-role", url], {**os.environ, **aws_env})
        lines = [ln for ln in r.stderr.decode().splitlines() if not ln.startswith("import time:")]
        assert r.returncode == 66 and r.stdout == b"" and lines == [f"s3-get-sts: {msg}"]
        if os.environ.get(leanaws.ENV_VAR) != "botocore":
            assert "botocore" not in imported


# -- the client, against botocore's answers --------------------------------------------------

SAME = ("ContentLength", "ETag", "VersionId", "ContentRange", "AcceptRanges", "ContentType", "Metadata",
        "LastModified", "PartsCount", "ChecksumCRC32", "ChecksumType", "TagCount")


@pytest.mark.parametrize("kw", [
    {}, {"Range": "bytes=0-0"}, {"Range": "bytes=1000-"}, {"Range": "bytes=-17"},
    {"Range": f"bytes={5 * MiB - 3}-{5 * MiB + 2}"}, {"PartNumber": 2}, {"PartNumber": 1, "IfMatch": "etag"},
], ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()) or "whole")
def test_get_object_answers_as_botocore_does(aws_env, s3, lean, kw):
    data = os.urandom(11 * MiB + 99)
    put_multipart(s3, "m", data, 5 * MiB)
    s3.put_object_tagging(Bucket=BUCKET, Key="m", Tagging={"TagSet": [{"Key": "a", "Value": "b"}]})
    etag = s3.head_object(Bucket=BUCKET, Key="m")["ETag"]
    kw = {k: (etag if v == "etag" else v) for k, v in kw.items()}
    kit = aws.s3_client(aws.base_session())     # botocore as the toolkit configures it
    want = kit.get_object(Bucket=BUCKET, Key="m", **kw)
    got = lean.get_object(Bucket=BUCKET, Key="m", **kw)
    assert {f: got.get(f) for f in SAME} == {f: want.get(f) for f in SAME}
    assert got["ResponseMetadata"]["HTTPStatusCode"] == want["ResponseMetadata"]["HTTPStatusCode"]
    assert got["Body"].read() == want["Body"].read()


def test_versions_and_part_heads_answer_as_botocore_does(aws_env, s3, lean):
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    put_multipart(s3, "v", b"1" * (6 * MiB), 5 * MiB)
    old = s3.head_object(Bucket=BUCKET, Key="v")["VersionId"]
    s3.put_object(Bucket=BUCKET, Key="v", Body=b"new", Metadata={"who": "me"})
    got = lean.get_object(Bucket=BUCKET, Key="v", VersionId=old, Range="bytes=5-9")
    assert got["VersionId"] == old and got["Body"].read() == b"11111" and got["ContentRange"].endswith("/6291456")
    got = lean.get_object(Bucket=BUCKET, Key="v")
    assert got["Metadata"] == {"who": "me"} and list(got["Body"].iter_chunks(2)) == [b"ne", b"w"]
    for part in (1, 2):
        want = s3.head_object(Bucket=BUCKET, Key="v", VersionId=old, PartNumber=part)
        got = lean.head_object(Bucket=BUCKET, Key="v", VersionId=old, PartNumber=part)
        assert (got["ContentLength"], got["ETag"]) == (want["ContentLength"], want["ETag"]) == \
            ((5 if part == 1 else 1) * MiB, want["ETag"])
    assert lean.head_bucket(Bucket=BUCKET)["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize("case", ["no-key", "head-no-key", "no-bucket", "head-bucket", "if-match", "range"])
def test_errors_carry_botocore_codes(aws_env, s3, lean, case):
    s3.put_object(Bucket=BUCKET, Key="e", Body=b"0123456789")
    calls = {
        "no-key": ("get_object", dict(Bucket=BUCKET, Key="nope")),
        "head-no-key": ("head_object", dict(Bucket=BUCKET, Key="nope")),
        "no-bucket": ("get_object", dict(Bucket="no-such-lean-bucket", Key="k")),
        "head-bucket": ("head_bucket", dict(Bucket="no-such-lean-bucket")),
        "if-match": ("get_object", dict(Bucket=BUCKET, Key="e", IfMatch='"0000"', Range="bytes=0-1")),
        "range": ("get_object", dict(Bucket=BUCKET, Key="e", Range="bytes=50-60")),
    }
    name, kw = calls[case]
    with pytest.raises(Exception) as want:
        getattr(s3, name)(**kw)
    with pytest.raises(awshttp.ClientError) as got:
        getattr(lean, name)(**kw)
    assert aws.error_code(got.value) == aws.error_code(want.value)
    assert aws.error_code(got.value) in {"no-key": ("NoSuchKey",), "head-no-key": ("404",),
                                         "no-bucket": ("NoSuchBucket",), "head-bucket": ("404",),
                                         "if-match": ("PreconditionFailed",), "range": ("InvalidRange",)}[case]
    assert type(aws.as_kit_error(got.value, "x")) is type(aws.as_kit_error(want.value, "x"))
    assert got.value.response["ResponseMetadata"]["HTTPStatusCode"] == \
        want.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_get_object_refuses_what_it_does_not_do(lean):
    # ChecksumMode would make botocore validate the body as it is read; silently not doing it is worse
    for kw in ({"ChecksumMode": "ENABLED"}, {"SSECustomerKey": "k"}, {"ResponseContentType": "x"}):
        with pytest.raises(TypeError, match="GetObject does not take"):
            lean.get_object(Bucket=BUCKET, Key="k", **kw)


class _KeepAliveHandler(http.server.BaseHTTPRequestHandler):
    """An HTTP/1.1 server that keeps connections open (moto closes each one, so cannot show reuse)."""

    protocol_version = "HTTP/1.1"
    body = bytes(range(256)) * 400

    def do_GET(self):
        self.server.ports.add(self.client_address[1])
        self.send_response(200)
        self.send_header("Content-Length", str(len(self.body)))
        self.send_header("ETag", '"e"')
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *a):
        pass


def test_a_body_read_to_its_end_leaves_the_connection_for_the_next_request_and_a_half_read_one_does_not():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _KeepAliveHandler)
    srv.ports = set()
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        c = s3wire.S3Client(leanaws.StaticCredentials("a", "b"), "us-east-1",
                            endpoint=awshttp.Endpoint(f"http://127.0.0.1:{srv.server_address[1]}", True))
        want = _KeepAliveHandler.body
        for _ in range(3):
            got = c.get_object(Bucket="b", Key="k")
            assert got["Body"].read() == want and got["ContentLength"] == len(want)
            got["Body"].close()
        assert len(srv.ports) == 1
        body = c.get_object(Bucket="b", Key="k")["Body"]
        assert body.read(10) == want[:10]
        body.close()
        # the rest of that body is not taken for the next answer: a new connection, whole bytes
        assert c.get_object(Bucket="b", Key="k")["Body"].read() == want
        assert len(srv.ports) == 2
    finally:
        awshttp.close_all()
        srv.shutdown()
        srv.server_close()


def test_lean_reader_verifies_a_composite_object_and_sees_it_replaced(aws_env, s3, lean):
    data = os.urandom(10 * MiB + 3)
    put_multipart(s3, "comp", data, 5 * MiB)
    rd = s3get.open_object(lean, BUCKET, "comp", chunk_size=3 * MiB)
    assert rd.read() == data and rd.info["checksum_verified"] is True
    s3put.upload(io.BytesIO(data), BUCKET, "swap", s3=lean, part_size=5 * MiB)
    rd = s3get.open_object(lean, BUCKET, "swap", chunk_size=MiB, concurrency=1)
    rd.read(10)
    s3.put_object(Bucket=BUCKET, Key="swap", Body=b"other")
    with pytest.raises(errors.DataError, match="changed during the download"):
        rd.read()


@pytest.mark.parametrize("how,exc", [("reset", awshttp.ResponseStreamingError),
                                     ("short", awshttp.IncompleteReadError)])
def test_a_cut_body_raises_what_botocore_raises_and_maps_to_unavailable(aws_env, s3, how, exc):
    s3.put_object(Bucket=BUCKET, Key="c", Body=b"z" * MiB)
    with ReplyCutProxy(aws_env["AWS_ENDPOINT_URL"], cut_reply_after=100_000, reply_cuts=1, how=how) as proxy:
        c = s3wire.S3Client(leanaws.StaticCredentials("testing", "testing"), "us-east-1",
                            endpoint=awshttp.Endpoint(proxy.url, True))
        body = c.get_object(Bucket=BUCKET, Key="c")["Body"]
        buf = bytearray(MiB)
        with pytest.raises(exc) as e:
            n = 0
            while True:
                got = body.readinto(memoryview(buf)[n:])
                assert got, "a cut body must not just end"
                n += got
        body.close()
        err = aws.as_kit_error(e.value, "GetObject x")
        assert isinstance(err, errors.UnavailableError) and "\n" not in err.message
        assert c.get_object(Bucket=BUCKET, Key="c")["Body"].read() == b"z" * MiB   # the next one is whole


# -- over HTTPS, as real S3 is ---------------------------------------------------------------

@pytest.fixture(scope="module")
def tls_moto(tmp_path_factory):
    yield from tls.tls_moto(tmp_path_factory, BUCKET)


def test_download_over_https_is_byte_exact_and_an_untrusted_certificate_is_refused(tls_moto):
    env, s3, d = tls_moto
    data = os.urandom(6 * MiB + 5)
    put_multipart(s3, "tls", data, 5 * MiB)
    r, imported = imports_of(["--no-assume-role", "--chunk-size", "2MiB", f"s3://{BUCKET}/tls"], env)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout == data
    if os.environ.get(leanaws.ENV_VAR) != "botocore":
        assert "ssl" in imported and "botocore" not in imported
    from hdfs2s3kit import localaws

    other = os.path.join(d, "other")
    os.makedirs(other, exist_ok=True)
    wrong_ca, _ = localaws.self_signed_cert(other)
    r = run("s3-get-sts", "--no-assume-role", f"s3://{BUCKET}/tls", env=dict(env, AWS_CA_BUNDLE=wrong_ca,
                                                                           AWS_MAX_ATTEMPTS="1"))
    assert r.returncode == 69 and r.stdout == b"", r.stderr
    assert r.stderr.decode().count("\n") == 1
