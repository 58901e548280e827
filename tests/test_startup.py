"""Start-up cost (issue 15): what a real filter run must not import, and the annotations the
filters declare their options with.

`dataclasses` (which pulls in `inspect`, `ast`, `dis`, `tokenize`: ~15 ms) and `typing` (~2-5 ms)
were most of what s3-put-sts spent above its 0.12 CPU-s budget. Our modules no longer need them;
these tests keep it so: a run of s3-put-sts that really stores an object in the local S3 (with and
without AssumeRole), and authz-check deciding a real file, under `python -X importtime`.
(fernet-encrypt/-decrypt still import typing: `cryptography` does, which is not ours.)
"""

import json
import os
import subprocess
import sys
from typing import List, Optional

import pytest
from harness.proc import cmd_path

from hdfs2s3kit import keyring
from hdfs2s3kit.cli import argspec

BUCKET = "startup-bucket"
SLOW_MODULES = ("dataclasses", "inspect", "typing")


def imported_by(prog, argv, env, stdin=b"", cwd=None):
    """-> (CompletedProcess, the set of modules the run imported), as -X importtime reports them."""
    r = subprocess.run([sys.executable, "-X", "importtime", cmd_path(prog), *argv], input=stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd, timeout=120)
    err = r.stderr.decode()
    mods = {line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if line.startswith("import time:")}
    return r, mods


@pytest.fixture
def role_arn(boto):
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                      "Principal": {"AWS": "arn:aws:iam::123456789012:root"}}]}
    return boto.client("iam").create_role(RoleName="startup", AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]


@pytest.mark.parametrize("assume", [False, True], ids=["no-assume-role", "role-arn"])
def test_an_s3_put_sts_upload_imports_no_dataclasses_inspect_or_typing(aws_env, boto, role_arn, assume, tmp_path):
    s3 = boto.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    env = dict(os.environ, **aws_env)
    env.pop(keyring.CONFIG_ENV, None)
    creds = ["--role-arn", role_arn] if assume else ["--no-assume-role"]
    r, mods = imported_by("s3-put-sts", [*creds, "--no-progress", f"s3://{BUCKET}/one"], env, b"x", tmp_path)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    rec = json.loads(r.stdout)
    assert rec["status"] == "ok" and (rec["role_arn"] == role_arn) == assume
    assert s3.get_object(Bucket=BUCKET, Key="one")["Body"].read() == b"x"
    # the probe saw the whole run, requests included (http.client is imported at the first one)
    assert {"hdfs2s3kit.cli.s3_put_sts", "http.client"} <= mods
    assert not mods & set(SLOW_MODULES), sorted(mods & set(SLOW_MODULES))


def test_an_authz_check_of_a_local_file_imports_no_dataclasses_inspect_or_typing(tmp_path):
    f = tmp_path / "f"
    f.write_bytes(b"x")
    env = dict(os.environ)
    env.pop(keyring.CONFIG_ENV, None)
    r, mods = imported_by("authz-check", [f"file://{f}"], env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    assert "hdfs2s3kit.authz" in mods
    assert not mods & set(SLOW_MODULES), sorted(mods & set(SLOW_MODULES))


# The filters declare `str | None` and `list[str]`; typer-built commands elsewhere may still say
# Optional[str] / List[str]. The fast path must read both alike (and decline the same others).
@pytest.mark.parametrize("builtin, typing_form, want", [
    (str | None, Optional[str], (str, False)),
    (int | None, Optional[int], (int, False)),
    (bool | None, Optional[bool], (bool, False)),
    (list[str], List[str], (str, True)),
    (list[str] | None, Optional[List[str]], (str, True)),
])
def test_builtin_and_typing_annotations_read_alike(builtin, typing_form, want):
    assert argspec._shape(builtin) == argspec._shape(typing_form) == want


@pytest.mark.parametrize("ann", [int | str, str | int | None, list[int], tuple[str], dict[str, str], float])
def test_annotations_the_fast_path_does_not_know_are_declined(ann):
    with pytest.raises(argspec.Decline):
        argspec._shape(ann)


def test_a_filter_declared_with_builtin_annotations_parses_as_declared():
    def fn(url: str = argspec.Argument(...), size: int | None = argspec.Option(None, min=1),
           tag: list[str] = argspec.Option([], "--tag"), framed: bool | None = argspec.Option(None, "--framed/--raw")):
        pass

    assert argspec.parse(fn, ["s3://b/k", "--size", "3", "--tag", "a=b", "--tag", "c=d", "--raw"]) == (
        {"url": "s3://b/k", "size": 3, "tag": ["a=b", "c=d"], "framed": False}, [])
    assert argspec.parse(fn, ["s3://b/k", "--size", "0"]) is None     # below min: click's error
