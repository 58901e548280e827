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


def test_layers_only_tighten_rules_and_groups(monkeypatch):
    from hdfs2s3kit import sitepolicy
    from hdfs2s3kit.config import Config

    monkeypatch.setattr(sitepolicy, "site_files", lambda: ())
    cfg = Config("/c", {"authz_policy": "posix", "allowed_groups": "fin, domain users"})
    pol = sitepolicy.effective(config=cfg)
    assert (pol.rules, pol.allowed_groups, pol.sources) == (("posix",), ("fin", "domain users"), ("ssm:/c",))
    # --policy adds a rule, never replaces the config's
    pol = sitepolicy.effective(config=cfg, flag_policy="group")
    assert pol.rules == ("group", "posix") and pol.sources == ("ssm:/c", "flag:--policy")
    # a caller's allowed_groups intersect the config's
    assert sitepolicy.effective(config=cfg, allowed_groups=["fin", "ops"]).allowed_groups == ("fin",)
    assert sitepolicy.effective().rules == ("group",) and sitepolicy.effective().allowed_groups is None
    with pytest.raises(errors.ConfigError):
        sitepolicy.effective(config=Config("/c", {"authz_policy": "acls"}))
    with pytest.raises(errors.UsageError):
        sitepolicy.effective(flag_policy="acls")


def test_both_rules_must_allow():
    # group member, but the mode gives the group no read bit: group allows, posix denies
    ok, reason = authz.decide(st(group="fin", mode=0o600), ALICE, "group+posix")
    assert not ok and "no read permission for group" in reason
    assert authz.decide(st(group="fin", mode=0o640), ALICE, "group+posix")[0]


def test_local_files_compare_gids_not_names():
    me = Identity("alice", ("alice", "54321"), uid=1000, gids=(1000, 2000))
    unnamed = FileStat("/p", "1001", "54321", 0o640, 1, 0.0, False, uid=1001, gid=54321)
    assert not authz.decide(unnamed, me, "group")[0]
    named = FileStat("/p", "root", "whatever", 0o640, 1, 0.0, False, uid=0, gid=2000)
    assert authz.decide(named, me, "group")[0]
