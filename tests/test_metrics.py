"""metrics.Metrics and notifications.Notifier as the mapper uses them in-process,
against the moto server over HTTP."""

import datetime
import socket

import pytest
from hypothesis import given, strategies as st

from hdfs2s3kit import errors, metrics, notifications


def rec(status="ok", **kw):
    r = {"schema": 1, "status": status, "exit_code": 0 if status == "ok" else 74, "bucket": "lake",
         "bytes": 100, "duration_s": 0.25}
    r.update(kw)
    return r


def stats(boto, name, stat="Sum", ns="hdfs2s3kit", dims=(("Pipeline", "p"), ("Bucket", "lake"))):
    now = datetime.datetime.now(datetime.timezone.utc)
    pts = boto.client("cloudwatch").get_metric_statistics(
        Namespace=ns, MetricName=name, Dimensions=[{"Name": k, "Value": v} for k, v in dims],
        StartTime=now - datetime.timedelta(hours=1), EndTime=now + datetime.timedelta(minutes=5),
        Period=3600, Statistics=[stat])["Datapoints"]
    return pts[0][stat] if pts else None


def unreachable_env(monkeypatch, service):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(f"AWS_ENDPOINT_URL_{service}", f"http://127.0.0.1:{port}")


def test_many_records_go_in_few_calls_with_values_and_counts(boto):
    cw = boto.client("cloudwatch")
    calls = []
    cw.meta.events.register("before-call.cloudwatch.PutMetricData", lambda **kw: calls.append(1))
    m = metrics.Metrics(boto, "hdfs2s3kit", {"Pipeline": "p"}, client=cw)
    for i in range(300):
        m.add(rec(bytes=1000 + i % 7) if i % 10 else rec("io_error"))
    assert m.flush() is True
    assert len(calls) == 1
    assert stats(boto, "Transfers") == 300
    assert stats(boto, "Failures") == 30
    assert stats(boto, "Successes", "Average") == pytest.approx(0.9)
    assert stats(boto, "Bytes", "SampleCount") == 270
    assert stats(boto, "Duration", "Maximum") == 0.25


def test_more_than_150_distinct_values_are_split_across_datums(boto):
    m = metrics.Metrics(boto, "hdfs2s3kit", {"Pipeline": "p"})
    for i in range(400):
        m.add(rec(bytes=i + 1))
    data = m.datums()
    byte_datums = [d for d in data if d["MetricName"] == "Bytes"]
    assert [len(d["Values"]) for d in byte_datums] == [150, 150, 100]
    assert m.flush() is True   # nothing left buffered


def test_bucket_dimension_comes_from_the_record_when_not_fixed(boto):
    m = metrics.Metrics(boto, "hdfs2s3kit", {"Pipeline": "p"})
    m.add(rec(bucket="other"))
    m.flush()
    assert stats(boto, "Transfers", dims=(("Pipeline", "p"), ("Bucket", "other"))) == 1


def test_unreachable_cloudwatch_warns_once_and_never_raises(boto, monkeypatch, capsys):
    unreachable_env(monkeypatch, "CLOUDWATCH")
    m = metrics.Metrics(boto, "hdfs2s3kit", {"Pipeline": "p"}, prog="mapper")
    m.add(rec())
    assert m.flush() is False
    m.add(rec())
    assert m.flush() is False   # paused: no second slow attempt
    assert m.failed and m.dropped_values > 0
    err = capsys.readouterr().err
    assert err.count("mapper: warning: CloudWatch PutMetricData") == 1


def test_unreachable_cloudwatch_raises_tempfail_when_strict(boto, monkeypatch):
    unreachable_env(monkeypatch, "CLOUDWATCH")
    m = metrics.Metrics(boto, "hdfs2s3kit", {"Pipeline": "p"}, strict=True)
    m.add(rec())
    with pytest.raises(errors.TempFailError) as e:
        m.flush()
    assert e.value.code == 75


def test_invalid_namespace_disables_metrics_or_raises_when_strict(boto, capsys):
    m = metrics.Metrics(boto, "AWS/S3", {})
    assert m.problem and "reserved" in m.problem
    m.add(rec())
    assert m.flush() is False
    assert "metrics off" in capsys.readouterr().err
    with pytest.raises(errors.ConfigError):
        metrics.Metrics(boto, "bad|name", {}, strict=True)


@pytest.mark.parametrize("ns,ok", [
    ("hdfs2s3kit", True), ("Team/Transfers #1: prod", True), ("a" * 255, True),
    ("", False), ("   ", False), (":x", False), ("AWS/EC2", False), ("a" * 256, False), ("naïve", False),
    ("tab\there", False),
])
def test_namespace_rules(ns, ok):
    assert (metrics.namespace_problem(ns) is None) is ok


@given(st.text(max_size=400))
def test_sns_subject_is_always_valid(text):
    s = notifications.subject_line(text)
    assert 0 < len(s) < 100
    assert s.isascii() and s.isprintable()


def test_notifier_in_process_publishes_and_unreachable_sns_never_raises(boto, monkeypatch, capsys):
    arn = boto.client("sns").create_topic(Name="t")["TopicArn"]
    n = notifications.Notifier(boto, arn, "default", pipeline="p")
    n.add(rec("io_error", error="short read"))
    n.finish()
    assert n.sent == 2 and not n.failed
    unreachable_env(monkeypatch, "SNS")
    n = notifications.Notifier(boto, arn, "failure", prog="mapper")
    n.add(rec("io_error"))
    n.add(rec("io_error"))
    n.finish()
    assert n.failed and n.sent == 0 and n.undelivered == 2
    assert capsys.readouterr().err.count("mapper: warning: SNS Publish") == 1
    strict = notifications.Notifier(boto, arn, "failure", strict=True)
    with pytest.raises(errors.TempFailError):
        strict.add(rec("io_error"))


def test_notifier_refuses_an_unknown_mode(boto):
    with pytest.raises(errors.UsageError):
        notifications.Notifier(boto, "arn:aws:sns:us-east-1:123456789012:t", "sometimes")
