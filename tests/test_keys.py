"""`hdfs2s3kit keys create/list/rotate` against the moto server, with the real
fernet-encrypt/fernet-decrypt commands reading the keys back."""

import json

import pytest

from harness.proc import run
from hdfs2s3kit import config, errors, framing, keys

PREFIX = "/hdfs2s3/keytest"
PARAM = f"{PREFIX}/keys/fernet"


def kit(*args, env):
    return run("hdfs2s3kit", *args, "--config", PREFIX, env=env)


def all_key_material(boto):
    ssm = boto.client("ssm")
    hist = ssm.get_parameter_history(Name=PARAM, WithDecryption=True)["Parameters"]
    return [p["Value"].encode() for p in hist]


def active(boto):
    return boto.client("ssm").get_parameter(Name=f"{PREFIX}/fernet_key_version")["Parameter"]["Value"]


def test_data_encrypted_under_version_1_still_decrypts_after_rotating_to_2(aws_env, boto):
    assert kit("keys", "create", env=aws_env).returncode == 0
    plain1, plain2 = b"q1 ledger\n" * 5000, b"q2 ledger\n" * 3000
    enc1 = run("fernet-encrypt", "--config", PREFIX, input=plain1, env=aws_env)
    assert enc1.returncode == 0, enc1.stderr
    made = kit("keys", "create", env=aws_env)
    assert made.returncode == 0 and b"created " + PARAM.encode() + b":2 (not active" in made.stdout
    rot = kit("keys", "rotate", env=aws_env)
    assert rot.returncode == 0 and rot.stdout.strip() == f"active key: {PARAM}:2 (was version 1)".encode()
    assert active(boto) == "2"
    enc2 = run("fernet-encrypt", "--config", PREFIX, input=plain2, env=aws_env)
    assert enc2.returncode == 0, enc2.stderr
    assert framing.parse_header(enc1.stdout)[0].key_id == f"{PARAM}:1"
    assert framing.parse_header(enc2.stdout)[0].key_id == f"{PARAM}:2"
    for enc, plain in ((enc1, plain1), (enc2, plain2)):
        dec = run("fernet-decrypt", "--config", PREFIX, input=enc.stdout, env=aws_env)
        assert dec.returncode == 0, dec.stderr
        assert dec.stdout == plain


def test_list_shows_ids_times_and_the_active_one_never_the_key(aws_env, boto):
    outputs = [kit("keys", "create", env=aws_env), kit("keys", "create", env=aws_env),
               kit("keys", "create", "--activate", env=aws_env)]
    table = kit("keys", "list", env=aws_env)
    js = kit("keys", "list", "--json", env=aws_env)
    outputs += [table, js, kit("keys", "rotate", "1", env=aws_env)]
    assert all(o.returncode == 0 for o in outputs), [o.stderr for o in outputs]
    material = all_key_material(boto)
    assert len(material) == 3 and len(set(material)) == 3
    for o in outputs:
        for key in material:
            assert key not in o.stdout + o.stderr
    rows = [line.split() for line in table.stdout.decode().splitlines()]
    assert [r[0] for r in rows] == [f"{PARAM}:1", f"{PARAM}:2", f"{PARAM}:3"]
    assert [r[2] for r in rows] == ["-", "-", "active"]   # version 3 was created with --activate
    listed = [json.loads(line) for line in js.stdout.splitlines()]
    assert [x["active"] for x in listed] == [False, False, True]
    assert all(x["created"].startswith("20") for x in listed)
    assert [x["labels"] for x in listed] == [["v1"], ["v2"], ["v3"]]
    assert active(boto) == "1"    # rotated back


def test_the_first_key_becomes_active_without_asking(aws_env, boto):
    r = kit("keys", "create", env=aws_env)
    assert r.stdout.strip() == f"created {PARAM}:1 (active)".encode()
    assert active(boto) == "1"
    p = boto.client("ssm").get_parameter(Name=PARAM)["Parameter"]
    assert p["Type"] == "SecureString"


def test_rotate_to_a_version_that_does_not_exist_is_refused(aws_env, boto):
    kit("keys", "create", env=aws_env)
    r = kit("keys", "rotate", "7", env=aws_env)
    assert r.returncode == 2 and f"{PARAM}:7 does not exist (versions: 1)".encode() in r.stderr
    assert active(boto) == "1"


def test_rotate_to_a_version_that_is_not_a_fernet_key_is_refused(aws_env, boto):
    kit("keys", "create", env=aws_env)
    boto.client("ssm").put_parameter(Name=PARAM, Value="hunter2-not-a-key", Type="SecureString", Overwrite=True)
    r = kit("keys", "rotate", env=aws_env)
    assert r.returncode == 65 and b"is not a valid Fernet key" in r.stderr
    assert b"hunter2" not in r.stderr + r.stdout
    assert active(boto) == "1"


def test_list_with_no_keys_says_how_to_make_one(aws_env):
    r = kit("keys", "list", env=aws_env)
    assert r.returncode == 78 and b"run `hdfs2s3kit keys create`" in r.stderr


def test_a_key_parameter_inside_the_config_but_outside_keys_is_refused(aws_env, boto):
    boto.client("ssm").put_parameter(Name=f"{PREFIX}/fernet_key_param", Value=f"{PREFIX}/master",
                                     Type="String")
    r = kit("keys", "create", env=aws_env)
    assert r.returncode == 78 and b"key material would be read as config" in r.stderr
    assert boto.client("ssm").get_parameters_by_path(Path=PREFIX, Recursive=True)["Parameters"][0]["Name"] \
        == f"{PREFIX}/fernet_key_param"


def test_a_key_parameter_outside_the_prefix_is_used_and_not_read_as_config(aws_env, boto):
    boto.client("ssm").put_parameter(Name=f"{PREFIX}/fernet_key_param", Value="/shared/fernet", Type="String")
    r = kit("keys", "create", env=aws_env)
    assert r.returncode == 0 and b"created /shared/fernet:1 (active)" in r.stdout


def test_ssm_refuses_a_101st_version_instead_of_dropping_the_oldest_key(aws_env, boto):
    cfg = config.load_config(PREFIX, session=boto, allow_empty=True, refresh=True)
    first = keys.create(cfg, session=boto).key
    assert first.labels == ("v1",)
    ssm = boto.client("ssm")
    for _ in range(98):    # quicker than keys.create; only the oldest version's label matters
        ssm.put_parameter(Name=PARAM, Value="x" * 44, Type="SecureString", Overwrite=True)
    assert keys.create(cfg, session=boto).key.version == 100
    with pytest.raises(errors.ConfigError, match="already holds 100 key versions"):
        keys.create(cfg, session=boto)
    assert ssm.get_parameter(Name=first.key_id, WithDecryption=True)["Parameter"]["Version"] == 1


def test_aws_region_alone_is_enough(aws_env, boto, monkeypatch):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    env = {k: v for k, v in aws_env.items() if k != "AWS_DEFAULT_REGION"}
    r = kit("keys", "create", env=env)
    assert r.returncode == 0, r.stderr
    assert kit("keys", "list", env=env).returncode == 0
