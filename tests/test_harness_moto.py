"""The local AWS the other tests rely on: reachable through AWS_ENDPOINT_URL, reset between tests."""


def test_bucket_created_in_one_test_is_gone_in_the_next_part1(boto):
    s3 = boto.client("s3")
    s3.create_bucket(Bucket="harness-bucket")
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["harness-bucket"]


def test_bucket_created_in_one_test_is_gone_in_the_next_part2(boto):
    assert boto.client("s3").list_buckets()["Buckets"] == []


def test_endpoint_is_loopback(aws_env):
    assert aws_env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
