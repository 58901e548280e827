"""The decision rules themselves (pure: FileStat + Identity -> allow/deny), and the exit-code ranking."""

import pytest

from hdfs2s3kit import authz, errors
from hdfs2s3kit.hdfs import FileStat
from hdfs2s3kit.identity import Identity

ALICE = Identity("alice", ("alice", "fin", "ops"))


def st(owner="root", group="fin", mode=0o640):
    return FileStat("/p", owner, group, mode, 1, 0.0, False)


@pytest.mark.parametrize("stat, allowed_groups, expect", [
    (st(group="fin"), (), True),
    (st(group="mkt"), (), False),
    (st(group="fin", mode=0o000), (), True),           # the group policy ignores mode bits
    (st(group="fin"), ("fin",), True),
    (st(group="ops"), ("fin",), False),                # member, but ops grants nothing
    (st(owner="alice", group="mkt"), (), False),       # ownership alone is not membership
])
def test_group_policy(stat, allowed_groups, expect):
    ok, reason = authz.decide(stat, ALICE, "group", allowed_groups)
    assert ok is expect and stat.group in reason


@pytest.mark.parametrize("stat, allowed_groups, expect, cls", [
    (st(owner="alice", group="mkt", mode=0o400), (), True, "owner"),
    (st(owner="alice", group="mkt", mode=0o044), (), False, "owner"),   # no fall-through to group/other
    (st(group="fin", mode=0o040), (), True, "group"),
    (st(group="fin", mode=0o404), (), False, "group"),
    (st(group="fin", mode=0o040), ("ops",), False, "allowed group"),
    (st(group="mkt", mode=0o004), (), True, "other"),
    (st(group="mkt", mode=0o004), ("ops",), True, "other"),             # other class needs no group
    (st(group="mkt", mode=0o770), (), False, "other"),
])
def test_posix_policy(stat, allowed_groups, expect, cls):
    ok, reason = authz.decide(stat, ALICE, "posix", allowed_groups)
    assert ok is expect and cls in reason


def test_unknown_policy_is_a_usage_error():
    with pytest.raises(errors.UsageError):
        authz.decide(st(), ALICE, "acl")
    with pytest.raises(errors.UsageError):
        authz.check_paths(["/x"], ALICE, policy="acl")


@pytest.mark.parametrize("codes, expect", [
    ([0, 0], 0),
    ([0, 66], 66),
    ([66, 77], 77),
    ([66, 74, 0], 74),
    ([2, 66], 2),
    ([2, 77], 77),
    ([], 0),
])
def test_exit_code_ranks_denial_then_errors_then_missing(codes, expect):
    assert authz.exit_code(codes) == expect


def test_audit_record_names_only_the_groups_that_count():
    stat = st(group="fin")
    d = authz.Decision("/p", True, "r", stat, 0, identity=ALICE, policy="group", allowed_groups=("fin",))
    rec = d.audit_record()
    assert rec["groups"] == ["fin"] and rec["decision"] == "allow" and rec["mode"] == "0640"
    assert authz.Decision("/p", False, "gone", None, 66, identity=ALICE).audit_record()["decision"] == "error"


def test_config_policy_and_override():
    from hdfs2s3kit.config import Config

    cfg = Config("/c", {"authz_policy": "posix", "allowed_groups": "fin, ops"})
    assert authz.policy_from_config(cfg) == ("posix", ("fin", "ops"))
    assert authz.policy_from_config(cfg, "group") == ("group", ("fin", "ops"))
    assert authz.policy_from_config(None) == ("group", ())
    with pytest.raises(errors.ConfigError):
        authz.policy_from_config(Config("/c", {"authz_policy": "acls"}))
