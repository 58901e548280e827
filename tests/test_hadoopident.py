"""hadoopident: the Hadoop identity found without a JVM, checked against Hadoop's own code.

Tier: auth_to_local rules against Hadoop's KerberosName (one JVM for all the cases), the
simple-auth identity and the binding rules with the site policy (no cluster). The secure
cluster's tickets, tokens and refusals are in test_real_kerberos.py.
"""

import os
import shutil
import subprocess

import pytest

from harness import minicluster as mcmod
from harness.hadoop import site_file
from hdfs2s3kit import errors, hadoopident, sitepolicy

REALM = "EXAMPLE.COM"
RULES = ("RULE:[2:$1@$0](nn@.*EXAMPLE\\.COM)s/.*/hdfs/ "
         "RULE:[2:$1@$0](dn@EXAMPLE\\.COM)s/.*/hdfs/ "
         "RULE:[1:$1@$0](.*@CORP\\.EXAMPLE\\.ORG)s/@.*//L "
         "RULE:[2:$1-$2@$0](svc-.*@OTHER\\.ORG)s/@.*// "
         "DEFAULT")
PRINCIPALS = ("alice@EXAMPLE.COM", "hdfs/localhost@EXAMPLE.COM", "nn/host1.example.com@EXAMPLE.COM",
              "dn/h2@EXAMPLE.COM", "Bob@CORP.EXAMPLE.ORG", "svc/etl@OTHER.ORG", "carol")


def _conf(tmp_path, props):
    d = tmp_path / "conf"
    d.mkdir(exist_ok=True)
    body = "".join(f"<property><name>{k}</name><value>{v}</value></property>" for k, v in props.items())
    (d / "core-site.xml").write_text(f"<?xml version=\"1.0\"?><configuration>{body}</configuration>")
    return str(d)


def test_auth_to_local_maps_principals_exactly_as_hadoops_kerberosname(tmp_path):
    if shutil.which("java") is None or not (mcmod.TARGET / "lib").is_dir():
        pytest.skip("java or the built mini cluster is missing (make test provides both)")
    conf = _conf(tmp_path, {"hadoop.security.auth_to_local": RULES})
    r = subprocess.run(["java", "-Djava.security.krb5.realm=" + REALM, "-Djava.security.krb5.kdc=localhost",
                        "-cp", f"{conf}:{mcmod.TARGET / 'lib'}/*", "org.apache.hadoop.security.HadoopKerberosName",
                        *PRINCIPALS], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    java = dict(ln[len("Name: "):].split(" to ") for ln in r.stdout.splitlines() if ln.startswith("Name: "))
    ours = {p: hadoopident.short_name(p, RULES, REALM) for p in PRINCIPALS}
    assert ours == java
    assert ours["Bob@CORP.EXAMPLE.ORG"] == "bob" and ours["svc/etl@OTHER.ORG"] == "svc-etl"


def test_a_principal_no_rule_maps_is_a_config_error_not_a_guess():
    with pytest.raises(errors.ConfigError, match="no hadoop.security.auth_to_local rule"):
        hadoopident.short_name("mallory@EVIL.ORG", "DEFAULT", REALM)
    # the MIT mechanism keeps the whole principal instead, as Hadoop does
    assert hadoopident.short_name("mallory@EVIL.ORG", "DEFAULT", REALM, "mit") == "mallory@EVIL.ORG"
    with pytest.raises(errors.ConfigError, match="invalid rule"):
        hadoopident.parse_rules("RULE:[1:$1](x")


def test_simple_auth_identity_is_hadoop_user_name_else_the_login_user(tmp_path):
    conf = _conf(tmp_path, {"hadoop.security.authentication": "simple"})
    me = hadoopident.linux_user()
    ident = hadoopident.current({"HADOOP_CONF_DIR": conf})
    assert (ident.name, ident.auth, ident.principal) == (me, "simple", None)
    ident = hadoopident.current({"HADOOP_CONF_DIR": conf, "HADOOP_USER_NAME": "hdfs"})
    assert ident.name == "hdfs" and ident.source == "HADOOP_USER_NAME"
    proxied = hadoopident.current({"HADOOP_CONF_DIR": conf, "HADOOP_PROXY_USER": "erin"})
    assert (proxied.name, proxied.real) == ("erin", me)


def test_kerberos_without_a_ticket_cache_is_77_naming_the_cache(tmp_path):
    conf = _conf(tmp_path, {"hadoop.security.authentication": "kerberos"})
    cc = f"FILE:{tmp_path}/no-such-cache"
    with pytest.raises(errors.PermissionDeniedError) as e:
        hadoopident.current({"HADOOP_CONF_DIR": conf, "KRB5CCNAME": cc})
    assert e.value.code == 77 and "no valid Kerberos ticket" in e.value.message and cc in e.value.message
    with pytest.raises(errors.ConfigError, match="FILE: caches only"):
        hadoopident.current({"HADOOP_CONF_DIR": conf, "KRB5CCNAME": "KEYRING:persistent:0"})


def test_binding_refuses_another_name_unless_every_site_file_allows_the_pair(tmp_path, monkeypatch):
    conf = _conf(tmp_path, {})
    me = hadoopident.linux_user()
    env = {"HADOOP_CONF_DIR": conf, "HADOOP_USER_NAME": "hdfs"}
    sitepolicy.clear_cache()
    with pytest.raises(errors.PermissionDeniedError, match=f"is not {me}, who runs this"):
        hadoopident.bind(env)

    if os.geteuid() != 0:
        pytest.skip("a trusted site file must be owned by root")
    monkeypatch.setenv("HDFS2S3_SITE_CONF", site_file(f"allowed_hadoop_identities = {me}:hdfs, nobody:*\n"))
    sitepolicy.clear_cache()
    ident = hadoopident.bind(env)
    assert ident.name == "hdfs" and ident.allowed_by.startswith("site:")
    monkeypatch.setenv("HDFS2S3_SITE_CONF", site_file("allowed_hadoop_identities = nobody:*\n"))
    sitepolicy.clear_cache()
    with pytest.raises(errors.PermissionDeniedError):
        hadoopident.bind(env)
    with pytest.raises(errors.ConfigError, match="LINUX_USER:HADOOP_USER"):
        sitepolicy.parse("x", "allowed_hadoop_identities = justaname\n")
    sitepolicy.clear_cache()
