"""transfer.Transfer in-process, as the mapper uses it: set-up once, never raises per file."""

import pytest

from hdfs2s3kit import config, sts, transfer
from test_transfer_support import BUCKET, PREFIX, key_for


@pytest.fixture
def assume_calls(monkeypatch):
    """Counts real AssumeRole sessions (the real function still runs)."""
    calls = []
    real = sts.assumed_session

    def counting(*a, **kw):
        calls.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(sts, "assumed_session", counting)
    config.clear_cache()
    yield calls
    config.clear_cache()


def test_many_files_share_one_role_session_one_client_and_one_keyring(kit, tmp_path, assume_calls):
    paths = []
    for i in range(4):
        p = tmp_path / f"f{i}.txt"
        p.write_bytes(b"x" * (i * 1000))
        paths.append(p)
    with transfer.Transfer(config_prefix=PREFIX, metrics=False, notify="none") as t:
        recs = t.many([f"file://{p}" for p in paths])
        s3, keyring = t.setup.s3, t.setup.keyring
        again = t.one(f"file://{paths[0]}")
    assert [r["status"] for r in recs] == ["ok"] * 4
    assert again["status"] == "skipped"
    assert len(assume_calls) == 1
    assert t.setup.s3 is s3 and t.setup.keyring is keyring
    assert kit.objects() == sorted(key_for(p) for p in paths)


def test_one_returns_failure_records_instead_of_raising(kit, tmp_path, assume_calls):
    good = tmp_path / "good.txt"
    good.write_bytes(b"fine")
    with transfer.Transfer(config_prefix=PREFIX, metrics=False, notify="none") as t:
        missing = t.one(f"file://{tmp_path}/missing.txt")
        refused = t.one("-x")
        bad_dest = t.one(f"file://{good}", "https://not-s3/x")
        ok = t.one(f"file://{good}", f"s3://{BUCKET}/lib/good.txt")
    assert (missing["status"], missing["exit_code"]) == ("no_input", 66)
    assert (refused["status"], refused["exit_code"]) == ("usage", 2)
    assert (bad_dest["status"], bad_dest["exit_code"]) == ("usage", 2)
    assert ok["status"] == "ok" and kit.decrypt("lib/good.txt") == b"fine"


def test_a_config_error_is_reported_per_file_and_nothing_is_sent(kit, tmp_path, assume_calls):
    kit.set_config("role_arn", "hdfs2s3-writer")      # a name, not a role ARN: can never be assumed
    files = []
    for i in range(3):
        p = tmp_path / f"k{i}"
        p.write_bytes(b"k")
        files.append(f"file://{p}")
    with transfer.Transfer(config_prefix=PREFIX, metrics=False, notify="none") as t:
        recs = t.many(files)
    assert [(r["status"], r["exit_code"]) for r in recs] == [("config_error", 78)] * 3
    assert all(r["error"] == "config /hdfs2s3/t/role_arn: not a role ARN: 'hdfs2s3-writer'" for r in recs)
    assert assume_calls == []
    assert kit.objects() == []


def test_a_refused_config_read_is_tried_once_for_the_whole_batch(kit, tmp_path, moto_server, monkeypatch):
    calls = []
    real = config.load_config

    def counting(*a, **kw):
        calls.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(config, "load_config", counting)
    files = []
    for i in range(3):
        p = tmp_path / f"c{i}"
        p.write_bytes(b"c")
        files.append(f"file://{p}")
    moto_server.set_auth(True)      # our dummy credentials belong to no IAM user: every call is refused
    try:
        with transfer.Transfer(config_prefix=PREFIX, metrics=False, notify="none") as t:
            recs = t.many(files)
    finally:
        moto_server.set_auth(False)
    assert [(r["status"], r["exit_code"]) for r in recs] == [("denied", 77)] * 3
    assert all(r["error"].startswith("reading config /hdfs2s3/t from SSM") for r in recs)
    assert len(calls) == 1
    assert kit.objects() == []
