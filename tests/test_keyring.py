"""Keyring: key files and SSM Parameter Store (the moto server), rotation, and
the commands reading keys from SSM config."""

import pytest
from cryptography.fernet import Fernet

from harness.proc import run
from hdfs2s3kit import config, errors, keyring, streamfmt

PREFIX = "/hdfs2s3/kr"
PARAM = f"{PREFIX}/keys/fernet"


@pytest.fixture
def ssm_keys(boto):
    """A SecureString key parameter with two versions; the config names version 1 active."""
    ssm = boto.client("ssm")
    k1, k2 = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    ssm.put_parameter(Name=PARAM, Value=k1, Type="SecureString")
    ssm.put_parameter(Name=PARAM, Value=k2, Type="SecureString", Overwrite=True)
    ssm.put_parameter(Name=f"{PREFIX}/fernet_key_version", Value="1", Type="String")
    ssm.put_parameter(Name=f"{PREFIX}/bucket", Value="b", Type="String")
    config._cache.clear()
    yield ssm, k1, k2
    config._cache.clear()


def test_active_key_is_the_configured_version(ssm_keys, boto):
    _, k1, k2 = ssm_keys
    ring = keyring.load_keyring(config=PREFIX, session=boto)
    assert ring.active() == (f"{PARAM}:1", k1.encode())
    assert ring.key(f"{PARAM}:2") == k2.encode()


def test_without_a_configured_version_the_latest_is_active(ssm_keys, boto):
    ssm, _, k2 = ssm_keys
    ssm.delete_parameter(Name=f"{PREFIX}/fernet_key_version")
    ring = keyring.load_keyring(config=PREFIX, session=boto)
    assert ring.active() == (f"{PARAM}:2", k2.encode())


def test_streams_under_a_rotated_key_stay_readable(ssm_keys, boto):
    ssm, _, _ = ssm_keys
    old, kid1 = streamfmt.encrypt_data(b"written under v1", keyring.load_keyring(config=PREFIX, session=boto))
    ssm.put_parameter(Name=f"{PREFIX}/fernet_key_version", Value="2", Type="String", Overwrite=True)
    config._cache.clear()
    ring = keyring.load_keyring(config=PREFIX, session=boto)
    new, kid2 = streamfmt.encrypt_data(b"written under v2", ring)
    assert (kid1, kid2) == (f"{PARAM}:1", f"{PARAM}:2")
    assert streamfmt.decrypt_data(old, ring) == b"written under v1"
    assert streamfmt.decrypt_data(new, ring) == b"written under v2"


def test_a_key_id_outside_the_configured_parameter_is_refused(ssm_keys, boto):
    ssm, k1, _ = ssm_keys
    ssm.put_parameter(Name="/elsewhere/keys/fernet", Value=k1, Type="SecureString")
    ring = keyring.load_keyring(config=PREFIX, session=boto)
    with pytest.raises(errors.DataError, match="names parameter /elsewhere/keys/fernet, outside"):
        ring.key("/elsewhere/keys/fernet:1")
    with pytest.raises(errors.DataError, match="not an SSM key ID"):
        ring.key("fp:0123456789abcdef")


def test_an_unknown_version_is_a_data_error(ssm_keys, boto):
    ring = keyring.load_keyring(config=PREFIX, session=boto)
    with pytest.raises(errors.DataError, match=f"unknown key ID {PARAM}:9"):
        ring.key(f"{PARAM}:9")


def test_a_configured_version_that_does_not_exist_is_a_config_error(ssm_keys, boto):
    ssm, _, _ = ssm_keys
    ssm.put_parameter(Name=f"{PREFIX}/fernet_key_version", Value="7", Type="String", Overwrite=True)
    with pytest.raises(errors.ConfigError, match="active key .*:7"):
        keyring.load_keyring(config=PREFIX, session=boto).active()


def test_commands_use_the_ssm_config_and_rotation(ssm_keys, aws_env):
    ssm, _, _ = ssm_keys
    data = b"hdfs bytes" * 1000
    r = run("fernet-encrypt", "--summary", input=data, env={"HDFS2S3_CONFIG": PREFIX})
    assert r.returncode == 0, r.stderr
    assert f'"key_id":"{PARAM}:1"'.encode() in r.stderr
    ssm.put_parameter(Name=f"{PREFIX}/fernet_key_version", Value="2", Type="String", Overwrite=True)
    r2 = run("fernet-encrypt", "--config", PREFIX, "--summary", input=data)
    assert f'"key_id":"{PARAM}:2"'.encode() in r2.stderr
    for ct in (r.stdout, r2.stdout):
        d = run("fernet-decrypt", "--config", PREFIX, input=ct)
        assert d.returncode == 0 and d.stdout == data, d.stderr


def test_command_with_an_empty_config_prefix_exits_78(aws_env):
    r = run("fernet-encrypt", "--config", "/hdfs2s3/nothing-here", input=b"x")
    assert r.returncode == errors.CONFIG, r.stderr
    assert r.stderr.startswith(b"fernet-encrypt: config /hdfs2s3/nothing-here")


def test_key_file_keyring_has_a_fingerprint_id_and_tolerates_a_newline(tmp_path):
    key = Fernet.generate_key()
    (tmp_path / "k").write_bytes(key + b"\n")
    (tmp_path / "k").chmod(0o600)
    ring = keyring.load_keyring(key_file=str(tmp_path / "k"))
    kid, got = ring.active()
    assert got == key and kid == keyring.fingerprint_id(key)
    assert kid.startswith("fp:") and len(kid) == 19 and key.decode() not in kid
    with pytest.raises(errors.DataError, match="unknown key ID fp:0000000000000000"):
        ring.key("fp:0000000000000000")


def test_a_key_file_that_is_not_a_key_names_the_file_but_not_its_content(tmp_path):
    (tmp_path / "k").write_text("s3cr3t-but-not-a-key\n")
    (tmp_path / "k").chmod(0o600)
    with pytest.raises(errors.ConfigError) as e:
        keyring.load_keyring(key_file=str(tmp_path / "k"))
    assert str(tmp_path / "k") in e.value.message and "s3cr3t" not in e.value.message


def test_no_key_source_is_a_config_error(monkeypatch):
    monkeypatch.delenv("HDFS2S3_CONFIG", raising=False)
    with pytest.raises(errors.ConfigError, match="no key: pass --key-file"):
        keyring.load_keyring()
