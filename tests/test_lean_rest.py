"""The lean clients beyond S3 (querywire: SNS, CloudWatch, STS; jsonwire: SSM) and the commands
that use them: `notify`, `transfer` and the mapper run without importing botocore when the lean
path applies, with the same wire form and the same error codes botocore gives."""

import datetime
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse

import pytest

from harness.proc import cmd_path
from test_transfer_support import BUCKET, key_for, kit, records  # noqa: F401 - the kit fixture

from hdfs2s3kit import aws, awshttp, config, jsonwire, leanaws, querywire


@pytest.fixture(autouse=True)
def _lean_unless_told(monkeypatch):
    # these tests are about the lean path: a suite run under HDFS2S3_AWS_CLIENT=botocore (to
    # prove the other tests pass on botocore too) must not switch it off here
    monkeypatch.delenv("HDFS2S3_AWS_CLIENT", raising=False)


def _lean_session():
    p = leanaws.plan()
    assert p.lean, p.reason
    return leanaws.LeanSession(p.region, p.credentials, p.source)


def _imported(stderr):
    return {line.rsplit("|", 1)[-1].strip() for line in stderr.decode().splitlines()
            if line.startswith("import time:")}


def _botocore_in(mods):
    return {m for m in mods if m.split(".")[0] in ("botocore", "boto3", "s3transfer")}


def _run_importtime(argv, env, input=b"", cwd=None):
    return subprocess.run([sys.executable, "-X", "importtime", cmd_path(argv[0]), *argv[1:]], input=input,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, timeout=300)


# -- the wire form is botocore's ---------------------------------------------------------------
def _botocore_form(service, op, params):
    import botocore.serialize
    import botocore.session

    model = botocore.session.get_session().get_service_model(service)
    # CloudWatch's default protocol in botocore is now CBOR; its query form is what we send
    req = botocore.serialize.QuerySerializer().serialize_to_request(params, model.operation_model(op))
    return urllib.parse.urlencode(req["body"], doseq=True).encode()


def test_publish_form_is_byte_for_byte_botocores():
    params = {"TopicArn": "arn:aws:sns:us-east-1:123456789012:t", "Subject": "a b+c/é", "Message": "x=1&y=2\n",
              "MessageAttributes": {"kind": {"DataType": "String", "StringValue": "summary"},
                                    "count": {"DataType": "Number", "StringValue": "3"}},
              "MessageGroupId": "p", "MessageDeduplicationId": "d" * 64}
    assert querywire.encode("Publish", "2010-03-31", params, querywire.SNSClient.maps) == \
        _botocore_form("sns", "Publish", params)


def test_put_metric_data_form_is_byte_for_byte_botocores():
    now = datetime.datetime(2026, 12, 4, 16, 1, 2, 345678, tzinfo=datetime.timezone.utc)
    whole = datetime.datetime(2026, 12, 4, 16, 1, 2, tzinfo=datetime.timezone.utc)
    params = {"Namespace": "Team/Transfers", "MetricData": [
        {"MetricName": "Bytes", "Unit": "Bytes", "Timestamp": now,
         "Dimensions": [{"Name": "Pipeline", "Value": "etl"}, {"Name": "Bucket", "Value": "lake"}],
         "Values": [1.0, 2.5, 1e20, float("inf")], "Counts": [3.0, 1.0, 1.0, 1.0]},
        {"MetricName": "Transfers", "Unit": "Count", "Timestamp": whole, "Dimensions": [], "Values": [1.0],
         "Counts": [2.0], "StorageResolution": 60}]}
    assert querywire.encode("PutMetricData", "2010-08-01", params) == \
        _botocore_form("cloudwatch", "PutMetricData", params)


def test_assume_role_form_is_byte_for_byte_botocores():
    params = {"RoleArn": "arn:aws:iam::123456789012:role/r", "RoleSessionName": "alice@h-1",
              "DurationSeconds": 900, "ExternalId": "e x", "Policy": '{"a": [1, 2]}', "SourceIdentity": "alice"}
    assert querywire.encode("AssumeRole", "2011-06-15", params) == _botocore_form("sts", "AssumeRole", params)


# -- answers and errors as botocore gives them, against the server ------------------------------
def _error(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - code and message are what is compared
        return aws.error_code(e), e.response["Error"].get("Message")
    return None, None


def _code(call):
    try:
        call()
    except Exception as e:  # noqa: BLE001 - the code is what is compared
        return aws.error_code(e)
    return None


def test_lean_publish_reaches_sns_and_errors_carry_botocores_codes(aws_env, boto):
    lean = aws.client(_lean_session(), "sns")
    assert isinstance(lean, querywire.SNSClient)
    real = boto.client("sns")
    arn = real.create_topic(Name="lean-t")["TopicArn"]
    got = lean.publish(TopicArn=arn, Message="hi", Subject="s",
                       MessageAttributes={"kind": {"DataType": "String", "StringValue": "x"}})
    assert got["MessageId"] and got["ResponseMetadata"]["HTTPStatusCode"] == 200
    missing = arn + "-gone"
    for kw in ({"TopicArn": missing, "Message": "hi"}, {"TopicArn": arn, "Message": "m", "Subject": "s" * 120},
               {"TopicArn": arn, "Message": "m", "MessageAttributes": {"k": {"DataType": "Bogus", "StringValue": "v"}}}):
        lc, bc = _error(lambda: lean.publish(**kw)), _error(lambda: real.publish(**kw))
        assert lc == bc and lc[0], kw
    assert _error(lambda: lean.publish(TopicArn=missing, Message="hi"))[0] == "NotFound"
    assert _error(lambda: lean.publish(TopicArn=arn, Message="m", Subject="s" * 120))[0] == "InvalidParameter"


def test_lean_put_metric_data_is_read_back(aws_env, boto):
    cw = aws.client(_lean_session(), "cloudwatch", retries=2, connect_timeout=2, read_timeout=5)
    assert isinstance(cw, querywire.CloudWatchClient)
    now = datetime.datetime.now(datetime.timezone.utc)
    cw.put_metric_data(Namespace="lean", MetricData=[{"MetricName": "Bytes", "Unit": "Bytes", "Timestamp": now,
                                                      "Dimensions": [{"Name": "Pipeline", "Value": "p"}],
                                                      "Values": [10.0, 20.0], "Counts": [2.0, 1.0]}])
    pts = boto.client("cloudwatch").get_metric_statistics(
        Namespace="lean", MetricName="Bytes", Dimensions=[{"Name": "Pipeline", "Value": "p"}],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=5), Period=3600,
        Statistics=["Sum", "SampleCount"])["Datapoints"]
    assert [(p["Sum"], p["SampleCount"]) for p in pts] == [(40.0, 3.0)]


def test_lean_ssm_reads_pages_and_errors_as_botocore(aws_env, boto):
    ssm = boto.client("ssm")
    for i in range(23):
        ssm.put_parameter(Name=f"/lean/c/k{i:02d}", Value=f"v{i}", Type="SecureString" if i % 5 == 0 else "String")
    ssm.put_parameter(Name="/lean/c/keys/fernet", Value="secret", Type="SecureString")
    lean = aws.client(_lean_session(), "ssm")
    assert isinstance(lean, jsonwire.SSMClient)
    assert config.fetch_parameter_types(lean, "/lean/c") == config.fetch_parameter_types(ssm, "/lean/c")
    assert len(config.fetch_parameters(lean, "/lean/c")) == 23          # 3 pages of 10
    a = lean.get_parameter(Name="/lean/c/k05", WithDecryption=True)["Parameter"]
    b = ssm.get_parameter(Name="/lean/c/k05", WithDecryption=True)["Parameter"]
    assert (a["Value"], a["Type"], a["Version"], a["LastModifiedDate"]) == \
        (b["Value"], b["Type"], b["Version"], b["LastModifiedDate"])
    got = lean.get_parameters(Names=["/lean/c/k01", "/lean/nope"])
    assert [p["Name"] for p in got["Parameters"]] == ["/lean/c/k01"] and got["InvalidParameters"] == ["/lean/nope"]
    for name in ("/lean/nope", "/lean/c/k01:7"):
        lc = _code(lambda: lean.get_parameter(Name=name))
        assert lc == _code(lambda: ssm.get_parameter(Name=name)) and lc in ("ParameterNotFound",
                                                                             "ParameterVersionNotFound")


class _Flaky(http.server.BaseHTTPRequestHandler):
    """Throttles the first answers, then answers well: what botocore's standard mode retries."""

    answers = []
    seen = []

    def do_POST(self):
        n = int(self.headers.get("content-length") or 0)
        type(self).seen.append((self.headers.get("x-amz-target"), self.rfile.read(n)))
        status, ctype, body = type(self).answers.pop(0)
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture
def flaky(monkeypatch):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{srv.server_address[1]}")
    monkeypatch.setattr(awshttp.time, "sleep", lambda s: None)     # the backoff, not the behaviour
    _Flaky.seen = []
    yield _Flaky
    srv.shutdown()


def test_throttling_is_retried_on_the_query_and_json_clients(flaky):
    creds = leanaws.StaticCredentials("AK", "SK")
    throttled = (400, "text/xml", b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code>"
                                  b"<Message>Rate exceeded</Message></Error><RequestId>r</RequestId></ErrorResponse>")
    ok = (200, "text/xml", b"<PublishResponse><PublishResult><MessageId>m-1</MessageId></PublishResult>"
                           b"<ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></PublishResponse>")
    flaky.answers = [throttled, throttled, ok]
    got = querywire.SNSClient(creds, "us-east-1").publish(TopicArn="arn:aws:sns:us-east-1:1:t", Message="m")
    assert got["MessageId"] == "m-1" and got["ResponseMetadata"]["RetryAttempts"] == 2
    assert got["ResponseMetadata"]["RequestId"] == "r2"
    jthrottled = (400, "application/x-amz-json-1.1",
                  b'{"__type":"com.amazonaws.ssm#ThrottlingException","message":"Rate exceeded"}')
    denied = (400, "application/x-amz-json-1.1", b'{"__type":"AccessDeniedException","message":"no"}')
    flaky.answers = [jthrottled, denied]
    ssm = jsonwire.SSMClient(creds, "us-east-1")
    with pytest.raises(awshttp.ClientError) as e:
        ssm.get_parameter(Name="/x")
    assert aws.error_code(e.value) == "AccessDeniedException" and e.value.response["Error"]["Message"] == "no"
    assert aws.as_kit_error(e.value, "GetParameter /x").code == 77
    assert [t for t, _ in flaky.seen[-2:]] == ["AmazonSSM.GetParameter"] * 2
    assert json.loads(flaky.seen[-1][1]) == {"Name": "/x"}


def test_a_service_without_a_lean_client_is_refused_not_served_by_botocore(aws_env):
    code = ("import sys\nfrom hdfs2s3kit import aws, leanaws\np = leanaws.plan()\n"
            "s = leanaws.LeanSession(p.region, p.credentials, p.source)\n"
            "try:\n    aws.client(s, 'kms')\nexcept aws.NoLeanClient as e:\n    print(e.message)\n"
            "print(sorted(m for m in sys.modules if m.startswith('boto')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=dict(os.environ, **aws_env))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [
        "internal error: no lean client for kms (lean: s3, ssm, sns, cloudwatch, sts); "
        "set HDFS2S3_AWS_CLIENT=botocore to run this command", "[]"]


# -- the commands -------------------------------------------------------------------------------
@pytest.fixture
def notify_setup(boto):
    sns, sqs, ssm = boto.client("sns"), boto.client("sqs"), boto.client("ssm")
    arn = sns.create_topic(Name="lean-ops")["TopicArn"]
    url = sqs.create_queue(QueueName="lean-inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)
    for k, v in {"sns_topic_arn": arn, "cloudwatch_namespace": "LeanNs", "pipeline": "etl"}.items():
        ssm.put_parameter(Name=f"/lean/n/{k}", Value=v, Type="String")

    def subjects():
        msgs = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        return sorted(json.loads(m["Body"])["Subject"] for m in msgs)

    return subjects


@pytest.mark.parametrize("client", ["auto", "botocore"])
def test_a_notify_run_imports_botocore_only_when_told_to(aws_env, boto, notify_setup, client):
    rec = {"schema": 1, "tool": "s3-put-sts", "status": "denied", "exit_code": 77, "error": "no",
           "src": "/d/x", "bucket": "lake", "key": "x"}
    env = dict(aws_env, HDFS2S3_AWS_CLIENT=client, HDFS2S3_VERBOSITY="verbose")
    r = _run_importtime(["notify", "--config", "/lean/n"], env, input=json.dumps(rec).encode() + b"\n")
    assert r.returncode == 77, r.stderr[-3000:]
    mods = _imported(r.stderr)
    assert "hdfs2s3kit.notifications" in mods                # the probe sees our imports
    if client == "auto":
        assert not _botocore_in(mods) and b"AWS client: lean" in r.stderr
    else:
        assert _botocore_in(mods) and b"AWS client: botocore (HDFS2S3_AWS_CLIENT=botocore)" in r.stderr
    assert len(notify_setup()) == 2 and all("[etl]" in s for s in notify_setup() or ["[etl]"])
    metrics = boto.client("cloudwatch").list_metrics(Namespace="LeanNs")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"Transfers", "Failures"}


@pytest.mark.parametrize("client", ["auto", "botocore"])
def test_a_transfer_run_imports_botocore_only_when_told_to(kit, tmp_path, client):  # noqa: F811
    src = tmp_path / "small.csv"
    src.write_bytes(b"a,b\n" * 1000)
    env = dict(kit.env, HDFS2S3_AWS_CLIENT=client, HDFS2S3_VERBOSITY="verbose")
    r = _run_importtime(["hdfs2s3kit", "transfer", f"file://{src}"], env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    (rec,) = records(r.stdout)
    assert rec["status"] == "ok" and rec["checksum_verified"] and rec["key"] == key_for(src)
    assert rec["key_id"] == "/hdfs2s3/t/keys/fernet:1"          # the key came from SSM
    mods = _imported(r.stderr)
    assert "hdfs2s3kit.transfer" in mods
    assert bool(_botocore_in(mods)) == (client == "botocore")
    assert kit.decrypt(rec["key"]) == b"a,b\n" * 1000
    stats = kit.session.client("cloudwatch").list_metrics(Namespace="kit")["Metrics"]
    assert {m["MetricName"] for m in stats} >= {"Transfers", "Successes", "Bytes"}


def test_a_map_task_imports_no_botocore(kit, tmp_path):  # noqa: F811
    src = tmp_path / "m.csv"
    src.write_bytes(b"x" * 5000)
    env = dict(kit.env, mapreduce_job_id="job_1_0001", mapreduce_task_id="task_1_0001_m_000000",
               mapreduce_task_attempt_id="attempt_1_0001_m_000000_0")
    r = _run_importtime(["hdfs2s3kit", "map"], env, input=f"file://{src}\n".encode(), cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.decode().split("\t")[0] == "ok", r.stdout
    mods = _imported(r.stderr)
    assert "hdfs2s3kit.mapper" in mods and not _botocore_in(mods)
    assert any(k.startswith("_manifests/") or "/_manifests/" in k for k in kit.objects())


def test_an_access_point_in_a_transfers_scope_keeps_botocore_for_its_s3_session(aws_env):
    from hdfs2s3kit import transfer

    def setup(scope):
        s = transfer.Setup(config.Config(None, {"region": "us-east-1"}), assume_role=False, lean="transfer")
        s.scope = scope
        return s

    assert getattr(setup([("plain-bucket", "in/", True)]).session, "lean", False)
    ap = "arn:aws:s3:us-east-1:123456789012:accesspoint/ap"
    session = setup([(ap, "in/", True)]).session
    assert not getattr(session, "lean", False) and session.region_name == "us-east-1"
