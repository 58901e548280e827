"""`hdfs2s3kit config push/show/check` and the SSM loader, against the moto server."""

import json
import os

import pytest

from harness.proc import run
from hdfs2s3kit import config, config_admin, errors

PREFIX = "/hdfs2s3/test"
SECRET = "ext-id-7f3a9c1e"
HERE = os.path.dirname(os.path.abspath(__file__))
EXAMPLE = os.path.join(HERE, "..", "config.env.example")


@pytest.fixture
def world(boto):
    """A bucket, a topic and a role: what a complete config points at."""
    boto.client("s3").create_bucket(Bucket="lake")
    topic = boto.client("sns").create_topic(Name="ops")["TopicArn"]
    role = boto.client("iam").create_role(RoleName="writer", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"AWS": "*"}}]}))["Role"]["Arn"]
    return {"bucket": "lake", "topic": topic, "role": role}


def template(world, **over):
    values = {"bucket": world["bucket"], "prefix": "hdfs/", "region": "us-east-1", "role_arn": world["role"],
              "role_external_id": SECRET, "sns_topic_arn": world["topic"], "cloudwatch_namespace": "hdfs2s3kit",
              "pipeline": "nightly", "notify_on": "default", "authz_policy": "group",
              "allowed_groups": "etl,finance", "part_size": "8388608", "concurrency": "4"}
    values.update(over)
    return "# test config\n" + "".join(f"{k}={v}\n" for k, v in values.items() if v is not None)


def kit(*args, env, input=None):
    return run("hdfs2s3kit", *args, env=env, input=input)


def pushed(world, aws_env, tmp_path, **over):
    path = tmp_path / "config.env"
    path.write_text(template(world, **over))
    r = kit("config", "push", str(path), "--config", PREFIX, "--yes", env=aws_env)
    assert r.returncode == 0, r.stderr
    return r


def test_push_show_round_trip_over_ten_parameters_with_secrets_masked(aws_env, boto, world, tmp_path):
    r = pushed(world, aws_env, tmp_path)
    assert b"+ bucket = 'lake'" in r.stdout and b"wrote 13 change(s)" in r.stdout
    assert SECRET.encode() not in r.stdout + r.stderr
    assert kit("keys", "create", "--config", PREFIX, env=aws_env).returncode == 0
    params = boto.client("ssm").get_parameters_by_path(Path=PREFIX, Recursive=True, MaxResults=10)
    assert "NextToken" in params     # more than one page
    ext = boto.client("ssm").get_parameter(Name=f"{PREFIX}/role_external_id")["Parameter"]
    assert ext["Type"] == "SecureString"

    r = kit("config", "show", "--config", PREFIX, "--json", env=aws_env)
    assert r.returncode == 0, r.stderr
    assert SECRET.encode() not in r.stdout + r.stderr
    shown = json.loads(r.stdout)
    assert shown["missing"] == []
    assert shown["values"]["role_external_id"] == config.MASK
    assert shown["values"]["bucket"] == "lake" and shown["values"]["concurrency"] == "4"
    assert shown["values"]["active_key_id"] == f"{PREFIX}/keys/fernet:1"
    table = kit("config", "show", "--config", PREFIX, env=aws_env)
    assert table.returncode == 0 and b"role_external_id      ****" in table.stdout
    assert SECRET.encode() not in table.stdout


def test_loader_follows_next_token_and_reads_ssm_once_per_process(aws_env, boto):
    ssm = boto.client("ssm")
    for i in range(23):
        ssm.put_parameter(Name=f"{PREFIX}/custom_{i:02d}", Value=f"v{i}", Type="String")
    ssm.put_parameter(Name=f"{PREFIX}/nested/deep/bucket", Value="deep", Type="String")
    ssm.put_parameter(Name=f"{PREFIX}/keys/fernet", Value="key-material", Type="SecureString")
    calls = []
    boto.events.register("before-call.ssm.GetParametersByPath", lambda **kw: calls.append(1))
    cfg = config.load_config(PREFIX, session=boto, refresh=True)
    assert len(calls) == 3
    assert cfg.get("custom_22") == "v22" and cfg.get("nested/deep/bucket") == "deep"
    assert len(list(cfg.items())) == 24
    assert all("keys/" not in name for name, _ in cfg.items())
    assert config.load_config(PREFIX, session=boto) is cfg and len(calls) == 3


def test_show_with_missing_required_values_exits_78_naming_them(aws_env, boto):
    boto.client("ssm").put_parameter(Name=f"{PREFIX}/bucket", Value="lake", Type="String")
    r = kit("config", "show", "--config", PREFIX, env=aws_env)
    assert r.returncode == 78
    assert b"missing required value(s): region, role_arn, sns_topic_arn, fernet_key_version" in r.stderr
    assert b"MISSING (required)" in r.stdout


def test_show_of_an_empty_prefix_exits_78(aws_env):
    r = kit("config", "show", "--config", "/nothing/here", env=aws_env)
    assert r.returncode == 78 and b"no parameters found" in r.stderr


def test_show_without_any_config_names_the_option_and_variable(aws_env):
    r = kit("config", "show", env=aws_env)
    assert r.returncode == 78 and b"--config PREFIX or set HDFS2S3_CONFIG" in r.stderr


def test_prefix_comes_from_the_environment_variable(aws_env, world, tmp_path):
    pushed(world, aws_env, tmp_path)
    r = kit("config", "show", "--json", env=dict(aws_env, HDFS2S3_CONFIG=PREFIX.lstrip("/")))
    assert json.loads(r.stdout)["prefix"] == PREFIX


def test_dry_run_shows_the_diff_and_writes_nothing(aws_env, boto, world, tmp_path):
    path = tmp_path / "c.env"
    path.write_text(template(world))
    r = kit("config", "push", str(path), "--config", PREFIX, "--dry-run", env=aws_env)
    assert r.returncode == 0 and b"dry run: nothing written" in r.stdout and b"13 to add" in r.stdout
    assert boto.client("ssm").get_parameters_by_path(Path=PREFIX, Recursive=True)["Parameters"] == []


def test_overwriting_needs_yes_and_the_diff_masks_secrets(aws_env, boto, world, tmp_path):
    pushed(world, aws_env, tmp_path)
    path = tmp_path / "c2.env"
    path.write_text(template(world, concurrency="16", role_external_id="new-secret-99"))
    r = kit("config", "push", str(path), "--config", PREFIX, env=aws_env, input=b"")
    assert r.returncode == 2 and b"pass --yes" in r.stderr
    assert b"~ concurrency: '4' -> '16'" in r.stdout
    assert b"~ role_external_id: **** -> ****" in r.stdout
    assert b"new-secret-99" not in r.stdout + r.stderr and SECRET.encode() not in r.stdout
    ssm = boto.client("ssm")
    assert ssm.get_parameter(Name=f"{PREFIX}/concurrency")["Parameter"]["Value"] == "4"
    r = kit("config", "push", str(path), "--config", PREFIX, "--yes", env=aws_env)
    assert r.returncode == 0 and b"wrote 2 change(s)" in r.stdout
    assert ssm.get_parameter(Name=f"{PREFIX}/concurrency")["Parameter"]["Value"] == "16"
    again = kit("config", "push", str(path), "--config", PREFIX, env=aws_env)
    assert again.returncode == 0 and b"nothing to do" in again.stdout


def test_an_empty_value_removes_the_parameter(aws_env, boto, world, tmp_path):
    pushed(world, aws_env, tmp_path)
    pushed(world, aws_env, tmp_path, part_size="")
    names = [p["Name"] for p in boto.client("ssm").get_parameters_by_path(
        Path=PREFIX, Recursive=True, MaxResults=10)["Parameters"]]
    assert f"{PREFIX}/part_size" not in names and f"{PREFIX}/bucket" in names


@pytest.mark.parametrize("over,message", [
    ({"buckett": "x"}, b"unknown key(s): buckett"),
    ({"concurrency": "lots"}, b"concurrency: a whole number from 1 to 256"),
    ({"region": "Mars"}, b"region: not an AWS region name"),
    ({"cloudwatch_namespace": "AWS/S3"}, b"cloudwatch_namespace: namespaces starting with 'AWS/' are reserved"),
    ({"fernet_key_version": "3"}, b"fernet_key_version is set by `hdfs2s3kit keys create/rotate`"),
    ({"bucket": None}, b"missing required value(s): bucket"),
    ({"fernet_key_param": f"{PREFIX}/fernet"}, b"fernet_key_param must be under"),
])
def test_push_refuses_a_bad_template_naming_the_problem_and_writes_nothing(aws_env, boto, world, tmp_path,
                                                                          over, message):
    path = tmp_path / "bad.env"
    path.write_text(template(world, **over))
    r = kit("config", "push", str(path), "--config", PREFIX, "--yes", env=aws_env)
    assert r.returncode == 78, r.stderr
    assert message in r.stderr
    assert r.stderr.count(b"\n") == 1 and r.stderr.startswith(b"hdfs2s3kit config push: ")
    assert boto.client("ssm").get_parameters_by_path(Path=PREFIX, Recursive=True)["Parameters"] == []


def test_push_of_a_missing_or_option_like_file(aws_env, tmp_path):
    r = kit("config", "push", str(tmp_path / "nope.env"), "--config", PREFIX, env=aws_env)
    assert r.returncode == 66 and b"cannot read" in r.stderr
    r = kit("config", "push", "--config", PREFIX, "--", "-rf", env=aws_env)
    assert r.returncode == 2 and b"refusing a FILE that looks like an option" in r.stderr


def test_push_of_a_binary_file_is_refused(aws_env, tmp_path):
    path = tmp_path / "blob"
    path.write_bytes(b"\xff\xfe\x00bucket=x\n")
    r = kit("config", "push", str(path), "--config", PREFIX, env=aws_env)
    assert r.returncode == 78 and b"not UTF-8 text" in r.stderr


def test_push_reads_the_template_from_stdin(aws_env, boto, world):
    r = kit("config", "push", "-", "--config", PREFIX, env=aws_env, input=template(world).encode())
    assert r.returncode == 0, r.stderr
    assert boto.client("ssm").get_parameter(Name=f"{PREFIX}/bucket")["Parameter"]["Value"] == "lake"


def test_the_shipped_example_parses_and_documents_every_known_key():
    text = open(EXAMPLE).read()
    values = config_admin.parse_template(text, "config.env.example")
    assert set(values) <= set(config.KNOWN_KEYS)
    for key in config.KNOWN_KEYS:
        assert key in text
    assert config_admin.value_problems(values) == {}
    doc = open(os.path.join(HERE, "..", "docs", "CONFIG.md")).read()
    assert all(f"`{key}`" in doc for key in config.KNOWN_KEYS)


def test_template_syntax():
    vals = config_admin.parse_template('# c\n\nexport bucket = "lake"\nprefix=\'a b\'\nallowed_groups=a,b # c\n')
    assert vals == {"bucket": "lake", "prefix": "a b", "allowed_groups": "a,b # c"}
    with pytest.raises(errors.ConfigError, match=r"t:2: bucket is set twice"):
        config_admin.parse_template("bucket=a\nbucket=b\n", "t")
    with pytest.raises(errors.ConfigError, match=r"t:1: expected KEY=VALUE"):
        config_admin.parse_template("Bucket: a\n", "t")


@pytest.mark.parametrize("prefix", ["/a b", "/aws/x", "/x/../y!", "/ssm"])
def test_invalid_prefix_is_a_config_error(prefix):
    with pytest.raises(errors.ConfigError, match="not a valid SSM path"):
        config.resolve_prefix(prefix)


# -- check ---------------------------------------------------------------
def check_rows(aws_env):
    r = kit("config", "check", "--config", PREFIX, "--json", env=aws_env)
    return r, {j["check"]: j for j in map(json.loads, r.stdout.splitlines())}


def test_check_passes_for_a_complete_setup(aws_env, world, tmp_path):
    pushed(world, aws_env, tmp_path)
    assert kit("keys", "create", "--config", PREFIX, env=aws_env).returncode == 0
    r, rows = check_rows(aws_env)
    assert r.returncode == 0, r.stdout
    assert set(rows) == {"config", "values", "region", "role", "bucket", "topic", "key", "namespace"}
    assert all(row["ok"] for row in rows.values())
    assert rows["key"]["detail"] == f"{PREFIX}/keys/fernet:1 decrypts a probe"
    assert SECRET.encode() not in r.stdout


def test_check_reports_a_missing_bucket_as_fail_and_exits_78(aws_env, world, tmp_path):
    pushed(world, aws_env, tmp_path, bucket="no-such-bucket")
    assert kit("keys", "create", "--config", PREFIX, env=aws_env).returncode == 0
    r, rows = check_rows(aws_env)
    assert r.returncode == 78
    assert not rows["bucket"]["ok"] and "no-such-bucket" in rows["bucket"]["detail"]
    assert rows["topic"]["ok"] and rows["role"]["ok"]
    assert b"1 check(s) failed: bucket" in r.stderr
    table = kit("config", "check", "--config", PREFIX, env=aws_env)
    assert any(line.startswith(b"bucket") and b"FAIL" in line for line in table.stdout.splitlines())


def test_check_fails_a_missing_topic_a_missing_key_and_a_broken_key(aws_env, boto, world, tmp_path):
    pushed(world, aws_env, tmp_path, sns_topic_arn="arn:aws:sns:us-east-1:123456789012:gone")
    r, rows = check_rows(aws_env)
    assert r.returncode == 78
    assert not rows["topic"]["ok"] and not rows["config"]["ok"]
    assert "keys create" in rows["key"]["detail"]
    ssm = boto.client("ssm")
    ssm.put_parameter(Name=f"{PREFIX}/keys/fernet", Value="not-a-fernet-key", Type="SecureString")
    ssm.put_parameter(Name=f"{PREFIX}/fernet_key_version", Value="1", Type="String")
    r, rows = check_rows(aws_env)
    assert not rows["key"]["ok"] and "is not a valid Fernet key" in rows["key"]["detail"]
    assert b"not-a-fernet-key" not in r.stdout + r.stderr


def test_check_with_an_unreachable_service_fails_fast_instead_of_hanging(aws_env, world, tmp_path):
    import socket

    pushed(world, aws_env, tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(aws_env, AWS_ENDPOINT_URL_SNS=f"http://127.0.0.1:{port}")
    r = run("hdfs2s3kit", "config", "check", "--config", PREFIX, "--json", env=env, timeout=60)
    rows = {j["check"]: j for j in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 78 and not rows["topic"]["ok"] and "cannot reach" in rows["topic"]["detail"]


def test_a_value_already_secure_in_ssm_stays_secure_and_masked(aws_env, boto, world, tmp_path):
    ssm = boto.client("ssm")
    ssm.put_parameter(Name=f"{PREFIX}/ldap_bind", Value="old-bind-pw", Type="SecureString")
    path = tmp_path / "c.env"
    path.write_text(template(world) + "ldap_bind=new-bind-pw\n")
    r = kit("config", "push", str(path), "--config", PREFIX, "--yes", "--allow-unknown", env=aws_env)
    assert r.returncode == 0, r.stderr
    assert b"~ ldap_bind: **** -> ****" in r.stdout and b"bind-pw" not in r.stdout
    p = ssm.get_parameter(Name=f"{PREFIX}/ldap_bind", WithDecryption=True)["Parameter"]
    assert p["Type"] == "SecureString" and p["Value"] == "new-bind-pw"
    shown = kit("config", "show", "--config", PREFIX, env=aws_env)
    assert b"bind-pw" not in shown.stdout and b"ldap_bind" in shown.stdout


def test_check_fails_a_role_the_caller_may_not_assume(aws_env, boto, moto_server, world, tmp_path):
    pushed(world, aws_env, tmp_path)
    assert kit("keys", "create", "--config", PREFIX, env=aws_env).returncode == 0
    iam = boto.client("iam")
    iam.create_user(UserName="ops")
    iam.put_user_policy(UserName="ops", PolicyName="no-sts", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Resource": "*",
                                                 "Action": ["ssm:*", "s3:*", "sns:*", "kms:*"]}]}))
    key = iam.create_access_key(UserName="ops")["AccessKey"]
    env = dict(aws_env, AWS_ACCESS_KEY_ID=key["AccessKeyId"], AWS_SECRET_ACCESS_KEY=key["SecretAccessKey"])
    moto_server.set_auth(True)
    r = run("hdfs2s3kit", "config", "check", "--config", PREFIX, "--json", env=env)
    rows = {j["check"]: j for j in map(json.loads, r.stdout.splitlines())}
    assert r.returncode == 78, r.stderr
    assert not rows["role"]["ok"] and "AccessDenied" in rows["role"]["detail"]
    assert world["role"] in rows["role"]["detail"]
    assert rows["bucket"]["ok"] and "with base credentials" in rows["bucket"]["detail"]
    assert rows["topic"]["ok"] and rows["key"]["ok"]
