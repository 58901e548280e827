# Shared fixtures live in tests/harness/; importing them here makes them global.
from harness.moto import aws_env, boto, moto_server, s3  # noqa: F401
from harness.hadoop import hadoop, hdfs_dir, linux_users  # noqa: F401
from test_transfer_support import kit  # noqa: F401
from harness.minicluster import hdfs_home, minicluster, minicluster_yarn  # noqa: F401


# ---------------------------------------------------------------- what ran on real infrastructure
# Tests that need the mini cluster, Kerberos or root skip elsewhere (a laptop without Java); in
# CI they must run. The summary says how many did, and with H2S_REQUIRE_REAL=1 (.ci/run) a
# skipped one fails the session instead of passing quietly.
import os  # noqa: E402

_REAL = {"minicluster": "real HDFS", "minicluster_yarn": "real YARN", "kerberos_cluster": "Kerberized HDFS",
         "linux_users": "real Linux users"}
_kinds = {}      # nodeid -> the real parts it uses
_outcome = {}    # nodeid -> passed | failed | skipped


def pytest_collection_modifyitems(items):
    for item in items:
        kinds = [k for f, k in _REAL.items() if f in item.fixturenames]
        if kinds:
            _kinds[item.nodeid] = kinds


def pytest_runtest_logreport(report):
    if report.nodeid not in _kinds:
        return
    if report.skipped:
        _outcome[report.nodeid] = "skipped"
    elif report.failed:
        _outcome[report.nodeid] = "failed"
    elif report.when == "call":
        _outcome.setdefault(report.nodeid, "passed")


def _real_tally():
    tally = {k: {"passed": 0, "failed": 0, "skipped": 0} for k in _REAL.values()}
    for nodeid, outcome in _outcome.items():
        for k in _kinds[nodeid]:
            tally[k][outcome] += 1
    return tally


def pytest_terminal_summary(terminalreporter):
    parts = [f"{k}: {t['passed'] + t['failed']} ran ({t['failed']} failed), {t['skipped']} skipped"
             for k, t in _real_tally().items() if any(t.values())]
    if parts:
        terminalreporter.write_line("real parts: " + "; ".join(parts))


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("H2S_REQUIRE_REAL") != "1":
        return
    skipped = sorted(n for n, o in _outcome.items() if o == "skipped")
    if skipped:
        tr = session.config.pluginmanager.get_plugin("terminalreporter")
        tr.ensure_newline()
        tr.write_line(
            f"H2S_REQUIRE_REAL=1: {len(skipped)} test(s) needing real parts were skipped, "
            f"e.g. {skipped[0]}", red=True)
        session.exitstatus = 1
