"""`notify` as a real subprocess in a real pipe, against the moto server:
SNS read back through a subscribed SQS queue, CloudWatch through GetMetricStatistics."""

import datetime
import json
import socket

import pytest

from harness.proc import run

REGION = "us-east-1"


def rec(status="ok", exit_code=0, **kw):
    base = {"schema": 1, "tool": "s3-put-sts", "status": status, "exit_code": exit_code, "error": None,
            "src": "/data/q3.csv", "bucket": "lake", "key": "q3.csv.enc", "bytes": 2048, "duration_s": 0.5}
    base.update(kw)
    return base


def lines(*records):
    return b"".join(json.dumps(r).encode() + b"\n" for r in records)


@pytest.fixture
def topic(boto):
    """An SNS topic with an SQS queue subscribed (not raw delivery: the emulator 500s on that)."""
    sns, sqs = boto.client("sns"), boto.client("sqs")
    arn = sns.create_topic(Name="ops-alerts")["TopicArn"]
    url = sqs.create_queue(QueueName="ops-inbox")["QueueUrl"]
    qarn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=qarn)

    class Topic:
        def __init__(self):
            self.arn = arn

        def messages(self):
            out = []
            while True:
                got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                if not got.get("Messages"):
                    return out
                for m in got["Messages"]:
                    body = json.loads(m["Body"])
                    attrs = {k: v["Value"] for k, v in body.get("MessageAttributes", {}).items()}
                    out.append({"subject": body.get("Subject"), "message": body["Message"], "attrs": attrs})
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])

    return Topic()


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]   # nothing listens once the socket is closed


def metric_sum(boto, name, dims, stat="Sum"):
    now = datetime.datetime.now(datetime.timezone.utc)
    pts = boto.client("cloudwatch").get_metric_statistics(
        Namespace="hdfs2s3kit", MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dims.items()],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=5), Period=3600,
        Statistics=[stat])["Datapoints"]
    return sum(p[stat] for p in pts) if pts else None


def test_records_pass_through_unchanged_and_a_failure_is_published_with_exit_code(aws_env, topic):
    data = lines(rec(), rec("exists", 73, key="q4.csv.enc", error="s3://lake/q4.csv.enc exists"), rec())
    r = run("notify", "--topic-arn", topic.arn, "--pipeline", "nightly", input=data, env=aws_env)
    assert r.stdout == data
    assert r.returncode == 73, r.stderr
    msgs = topic.messages()
    kinds = sorted(m["attrs"]["kind"] for m in msgs)
    assert kinds == ["failure", "summary"]
    fail = next(m for m in msgs if m["attrs"]["kind"] == "failure")
    assert "exists" in fail["subject"] and "s3://lake/q4.csv.enc" in fail["subject"]
    assert fail["attrs"] == {"kind": "failure", "status": "exists", "bucket": "lake", "count": "1",
                             "pipeline": "nightly"}
    summary = next(m for m in msgs if m["attrs"]["kind"] == "summary")
    assert summary["attrs"]["status"] == "failed" and summary["attrs"]["count"] == "3"
    assert "1 FAILED of 3" in summary["subject"]
    assert "records: 3 (exists 1, ok 2)" in summary["message"]


def test_all_ok_stream_exits_zero_with_one_summary(aws_env, topic):
    r = run("notify", "--topic-arn", topic.arn, input=lines(rec(), rec(status="skipped")), env=aws_env)
    assert r.returncode == 0, r.stderr
    msgs = topic.messages()
    assert [m["attrs"]["kind"] for m in msgs] == ["summary"]
    assert msgs[0]["attrs"]["status"] == "ok" and "all 2 ok" in msgs[0]["subject"]


def test_empty_stdin_publishes_a_failure_and_exits_65(aws_env, topic):
    r = run("notify", "--topic-arn", topic.arn, input=b"", env=aws_env)
    assert r.returncode == 65
    assert r.stdout == b""
    msgs = topic.messages()
    fail = [m for m in msgs if m["attrs"]["kind"] == "failure"]
    assert len(fail) == 1 and fail[0]["attrs"]["status"] == "truncated"
    assert "without a complete status record" in fail[0]["message"]


def test_partial_last_line_passes_through_and_is_reported_as_truncated(aws_env, topic):
    data = lines(rec()) + b'{"schema":1,"status":"o'
    r = run("notify", "--topic-arn", topic.arn, input=data, env=aws_env)
    assert r.stdout == data
    assert r.returncode == 65
    fail = [m for m in topic.messages() if m["attrs"]["kind"] == "failure"]
    assert len(fail) == 1 and "partial last line" in fail[0]["message"]


def test_malformed_line_is_a_failure_but_later_records_still_count(aws_env, topic):
    data = b"hello, not json\n" + lines(rec())
    r = run("notify", "--topic-arn", topic.arn, input=data, env=aws_env)
    assert r.stdout == data and r.returncode == 65
    summary = next(m for m in topic.messages() if m["attrs"]["kind"] == "summary")
    assert "line 1 is not a JSON status record" in summary["message"]
    assert "ok 1" in summary["message"]


def test_failing_record_without_exit_code_exits_1(aws_env, topic):
    r = run("notify", "--topic-arn", topic.arn, input=lines(rec("failed", None)), env=aws_env)
    assert r.returncode == 1


def test_on_failure_sends_no_summary_and_on_always_sends_every_record(aws_env, topic):
    data = lines(rec(), rec("denied", 77), rec())
    assert run("notify", "--topic-arn", topic.arn, "--on", "failure", input=data, env=aws_env).returncode == 77
    assert [m["attrs"]["kind"] for m in topic.messages()] == ["failure"]
    assert run("notify", "--topic-arn", topic.arn, "--on", "always", input=data, env=aws_env).returncode == 77
    assert sorted(m["attrs"]["status"] for m in topic.messages()) == ["denied", "ok", "ok"]
    assert run("notify", "--topic-arn", topic.arn, "--on", "summary", input=data, env=aws_env).returncode == 77
    assert [m["attrs"]["kind"] for m in topic.messages()] == ["summary"]


def test_unknown_mode_is_a_usage_error(aws_env, topic):
    r = run("notify", "--topic-arn", topic.arn, "--on", "sometimes", input=lines(rec()), env=aws_env)
    assert r.returncode == 2 and b"--on must be one of" in r.stderr


def test_many_failures_are_capped_and_the_summary_is_cut_with_counts(aws_env, topic):
    long_error = "x" * 5000
    data = lines(*[rec("failed", 74, key=f"k{i}", error=long_error) for i in range(400)])
    r = run("notify", "--topic-arn", topic.arn, "--max-each", "3", "--no-metrics", input=data, env=aws_env)
    assert r.returncode == 74 and r.stdout == data
    msgs = topic.messages()
    assert [m["attrs"]["kind"] for m in msgs].count("failure") == 3
    summary = next(m for m in msgs if m["attrs"]["kind"] == "summary")
    assert len(summary["message"].encode()) < 100 * 1024
    assert "397 per-record notification(s) were not sent individually" in summary["message"]
    assert "more failure(s) not listed" in summary["message"]
    assert all(len(m["subject"]) < 100 for m in msgs)


def test_metrics_are_read_back_with_get_metric_statistics(aws_env, boto, topic):
    data = lines(rec(bytes=1000, duration_s=2.0), rec(bytes=3000, duration_s=1.0), rec("io_error", 74, bytes=5))
    r = run("notify", "--topic-arn", topic.arn, "--pipeline", "nightly", input=data, env=aws_env)
    assert r.returncode == 74
    dims = {"Pipeline": "nightly", "Bucket": "lake"}
    assert metric_sum(boto, "Transfers", dims) == 3
    assert metric_sum(boto, "Failures", dims) == 1
    assert metric_sum(boto, "Successes", dims) == 2
    assert metric_sum(boto, "Bytes", dims) == 4000            # failed records' bytes are not counted
    assert metric_sum(boto, "Throughput", dims, "Maximum") == 3000.0


def test_no_metrics_sends_none(aws_env, boto, topic):
    run("notify", "--topic-arn", topic.arn, "--no-metrics", "--pipeline", "p", input=lines(rec()), env=aws_env)
    assert boto.client("cloudwatch").list_metrics(Namespace="hdfs2s3kit")["Metrics"] == []


def test_sns_unreachable_records_still_pass_through_and_strict_exits_75(aws_env, topic):
    data = lines(rec(), rec())
    env = dict(aws_env, AWS_ENDPOINT_URL_SNS=f"http://127.0.0.1:{closed_port()}")
    r = run("notify", "--topic-arn", topic.arn, input=data, env=env, timeout=60)
    assert r.stdout == data and r.returncode == 0
    assert b"cannot reach the service" in r.stderr
    r = run("notify", "--topic-arn", topic.arn, "--strict", input=data, env=env, timeout=60)
    assert r.stdout == data and r.returncode == 75


def test_sns_unreachable_does_not_hide_a_record_failure(aws_env, topic):
    env = dict(aws_env, AWS_ENDPOINT_URL_SNS=f"http://127.0.0.1:{closed_port()}")
    data = lines(rec("checksum_mismatch", 65))
    r = run("notify", "--topic-arn", topic.arn, "--strict", input=data, env=env, timeout=60)
    assert r.stdout == data and r.returncode == 65


def test_cloudwatch_unreachable_still_notifies(aws_env, topic):
    env = dict(aws_env, AWS_ENDPOINT_URL_CLOUDWATCH=f"http://127.0.0.1:{closed_port()}")
    r = run("notify", "--topic-arn", topic.arn, input=lines(rec()), env=env, timeout=60)
    assert r.returncode == 0 and b"metrics dropped" in r.stderr
    assert [m["attrs"]["kind"] for m in topic.messages()] == ["summary"]


def test_no_topic_passes_records_through_and_exits_78(aws_env):
    data = lines(rec())
    r = run("notify", input=data, env=aws_env)
    assert r.stdout == data and r.returncode == 78
    assert b"no SNS topic" in r.stderr


def test_topic_and_namespace_come_from_the_ssm_config(aws_env, boto, topic):
    ssm = boto.client("ssm")
    for k, v in {"sns_topic_arn": topic.arn, "cloudwatch_namespace": "Team/Transfers", "pipeline": "etl",
                 "bucket": "lake"}.items():
        ssm.put_parameter(Name=f"/h2s/etl/{k}", Value=v, Type="String")
    r = run("notify", "--config", "/h2s/etl", input=lines(rec("denied", 77)), env=aws_env)
    assert r.returncode == 77, r.stderr
    msgs = topic.messages()
    assert {m["attrs"]["pipeline"] for m in msgs} == {"etl"}
    metrics = boto.client("cloudwatch").list_metrics(Namespace="Team/Transfers")["Metrics"]
    assert {m["MetricName"] for m in metrics} >= {"Transfers", "Failures"}


def test_stdout_closed_early_still_reports_every_record(aws_env, topic):
    import subprocess

    from harness.proc import cmd_path

    data = lines(*[rec() for _ in range(50)], rec("exists", 73))
    notify = subprocess.Popen([cmd_path("notify"), "--topic-arn", topic.arn, "--no-metrics"], env=aws_env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    notify.stdout.close()   # the reader went away before anything was read
    _, err = notify.communicate(data, timeout=60)
    assert notify.returncode == 73, err
    summary = next(m for m in topic.messages() if m["attrs"]["kind"] == "summary")
    assert "records: 51" in summary["message"]


def _started_notify(topic, aws_env, *extra):
    import subprocess

    from harness.proc import cmd_path

    return subprocess.Popen([cmd_path("notify"), "--topic-arn", topic.arn, "--no-metrics", *extra], env=aws_env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _readline_within(stream, seconds):
    import select

    ready, _, _ = select.select([stream], [], [], seconds)
    return stream.readline() if ready else None


def test_each_record_passes_through_as_it_arrives_not_at_eof(aws_env, topic):
    p = _started_notify(topic, aws_env)
    try:
        first = lines(rec(key="first"))
        p.stdin.write(first)
        p.stdin.flush()
        assert _readline_within(p.stdout, 30) == first    # stdin is still open
        p.stdin.write(lines(rec(key="second")))
        p.stdin.close()
        assert p.stdout.read() == lines(rec(key="second"))
        assert p.wait(30) == 0
    finally:
        p.kill()


def test_sigterm_mid_stream_publishes_an_interrupted_failure_and_exits_143(aws_env, topic):
    import signal

    p = _started_notify(topic, aws_env)
    try:
        p.stdin.write(lines(rec()))
        p.stdin.flush()
        assert _readline_within(p.stdout, 30) is not None
        p.send_signal(signal.SIGTERM)
        assert p.wait(30) == 143
    finally:
        p.kill()
    msgs = topic.messages()
    fail = next(m for m in msgs if m["attrs"]["kind"] == "failure")
    assert fail["attrs"]["status"] == "interrupted" and "SIGTERM after 1 record" in fail["message"]
    assert any(m["attrs"]["kind"] == "summary" for m in msgs)
