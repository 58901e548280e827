"""The lean AWS path: when it applies, its credentials, and STS AssumeRole without botocore.

`plan(...)` decides, once per command, whether the lean transport (awshttp, s3wire) can do
exactly what botocore would do with the same settings; anything it does not cover keeps
botocore, for the whole command, with the reason said at -v:

- lean: static keys from the environment (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY[/
  AWS_SESSION_TOKEN]) or from the profile's section of the shared credentials file
  (AWS_SHARED_CREDENTIALS_FILE, else ~/.aws/credentials; AWS_PROFILE, else default), a region
  from AWS_REGION/AWS_DEFAULT_REGION/the profile's `region`, endpoints from
  AWS_ENDPOINT_URL[_S3|_STS] or AWS's standard ones, AWS_CA_BUNDLE; then, with a role,
  AssumeRole through STS's query API, refreshed before expiry like botocore's
  RefreshableCredentials.
- botocore: HDFS2S3_AWS_CLIENT=botocore; proxies (HTTP(S)_PROXY); FIPS/dual-stack endpoints;
  a profile whose config holds anything but `region`/`output` (role_arn, source_profile, SSO,
  credential_process, s3 settings, ca_bundle, endpoint_url, retry settings...); web identity;
  container or instance-metadata credentials (no static keys found); partitions other than
  aws without an explicit endpoint; access point ARNs and S3 Express buckets.
"""

import configparser
import datetime
import os
import threading

ENV_VAR = "HDFS2S3_AWS_CLIENT"     # auto (default) | lean | botocore
_CONFIG_OK = {"region", "output"}
_CREDS_OK = {"aws_access_key_id", "aws_secret_access_key", "aws_session_token"}
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy")


class Plan:
    def __init__(self, lean, reason, *, region=None, credentials=None, source=None):
        self.lean, self.reason = lean, reason
        self.region, self.credentials, self.source = region, credentials, source


class StaticCredentials:
    def __init__(self, access_key, secret_key, token=None):
        self._v = (access_key, secret_key, token or None)

    def get(self):
        return self._v


def _true(name):
    return os.environ.get(name, "").strip().lower() == "true"


def _read_ini(path):
    cp = configparser.RawConfigParser(interpolation=None)
    try:
        with open(os.path.expanduser(path), encoding="utf-8") as f:
            cp.read_file(f)
    except FileNotFoundError:
        return None
    except (OSError, configparser.Error, UnicodeDecodeError):
        return False
    return cp


def _section(cp, name, config_file):
    if cp is None or cp is False:
        return None
    names = ([f"profile {name}", name] if name == "default" else [f"profile {name}"]) if config_file else [name]
    for n in names:
        if cp.has_section(n):
            return dict(cp.items(n))
    return None


def plan(*, region=None, buckets=()):
    """-> Plan: lean (with region and credentials) or botocore (with the reason)."""
    choice = os.environ.get(ENV_VAR, "auto").strip().lower() or "auto"
    if choice == "botocore":
        return Plan(False, f"{ENV_VAR}=botocore")
    if choice not in ("auto", "lean"):
        return Plan(False, f"{ENV_VAR}={choice!r} is not auto, lean or botocore")
    for p in _PROXIES:
        if os.environ.get(p):
            return Plan(False, f"{p} is set (proxies)")
    for v in ("AWS_USE_FIPS_ENDPOINT", "AWS_USE_DUALSTACK_ENDPOINT"):
        if _true(v):
            return Plan(False, f"{v}=true")
    if os.environ.get("AWS_STS_REGIONAL_ENDPOINTS", "").lower() == "legacy":
        return Plan(False, "AWS_STS_REGIONAL_ENDPOINTS=legacy")
    for b in buckets:
        if b.startswith("arn:") or b.endswith("--x-s3") or b.endswith("--ol-s3"):
            return Plan(False, f"bucket {b!r} is an access point or directory bucket")
    profile = os.environ.get("AWS_PROFILE") or os.environ.get("AWS_DEFAULT_PROFILE") or "default"
    cfg_file = os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"
    cp = _read_ini(cfg_file)
    if cp is False:
        return Plan(False, f"{cfg_file} could not be parsed here")
    section = _section(cp, profile, True)
    if section:
        other = sorted(set(section) - _CONFIG_OK)
        if other:
            return Plan(False, f"profile {profile!r} in {cfg_file} sets {', '.join(other)}")
    region = (region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
              or (section or {}).get("region") or None)
    if (region or "").startswith(("cn-", "us-gov-", "us-iso", "eu-iso")):
        from . import awshttp

        if not (awshttp.configured_url("s3") and awshttp.configured_url("sts")):
            return Plan(False, f"region {region} is outside the aws partition")
    ak, sk = os.environ.get("AWS_ACCESS_KEY_ID"), os.environ.get("AWS_SECRET_ACCESS_KEY")
    if ak or sk:
        if not (ak and sk) or os.environ.get("AWS_CREDENTIAL_EXPIRATION"):
            return Plan(False, "partial or expiring credentials in the environment")
        return Plan(True, None, region=region, source="env",
                    credentials=StaticCredentials(ak, sk, os.environ.get("AWS_SESSION_TOKEN")))
    if os.environ.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
        return Plan(False, "web identity credentials")
    cred_file = os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"
    cc = _read_ini(cred_file)
    if cc is False:
        return Plan(False, f"{cred_file} could not be parsed here")
    creds = _section(cc, profile, False)
    if creds and creds.get("aws_access_key_id") and creds.get("aws_secret_access_key"):
        other = sorted(set(creds) - _CREDS_OK)
        if other:
            return Plan(False, f"profile {profile!r} in {cred_file} sets {', '.join(other)}")
        return Plan(True, None, region=region, source=f"profile {profile}",
                    credentials=StaticCredentials(creds["aws_access_key_id"], creds["aws_secret_access_key"],
                                                  creds.get("aws_session_token")))
    if profile != "default" and section is None and creds is None:
        return Plan(False, f"profile {profile!r} not found")
    return Plan(False, "no static credentials (botocore's chain: SSO, process, container, instance role)")


class LeanSession:
    """What the commands ask a session for on the lean path: its region and credentials."""

    lean = True

    def __init__(self, region, credentials, source):
        self.region_name = region
        self.credentials = credentials
        self.source = source
        self.role_arn = None
        self.role_session_name = None


# -- STS AssumeRole over the query API --------------------------------------------------------
class AssumedCredentials:
    """AssumeRole credentials that renew themselves: past the advisory window before expiry a
    refresh is tried (a failure keeps the current ones); past the mandatory window it must
    succeed (as botocore's RefreshableCredentials)."""

    def __init__(self, fetch, advisory, mandatory):
        self._fetch = fetch
        self.advisory, self.mandatory = advisory, mandatory
        self._lock = threading.Lock()
        self._v, self.expiry = fetch()

    def _left(self):
        return (self.expiry - datetime.datetime.now(datetime.timezone.utc)).total_seconds()

    def get(self):
        if self._left() > self.advisory:
            return self._v
        with self._lock:
            left = self._left()
            if left > self.advisory:
                return self._v
            try:
                self._v, self.expiry = self._fetch()
            except BaseException:
                if left <= self.mandatory:
                    raise
        return self._v


def assume_role_fetcher(base_credentials, region, params):
    """-> fetch() calling STS AssumeRole with `params` (RoleArn, RoleSessionName, ...) ->
    ((access_key, secret_key, token), expiry), over querywire's STS client (the form encoded
    as botocore encodes it)."""
    from . import awshttp, querywire

    sts = querywire.STSClient(base_credentials, region)

    def fetch():
        c = sts.assume_role(**params).get("Credentials")
        if not isinstance(c, dict) or not all(c.get(k) for k in ("AccessKeyId", "SecretAccessKey", "SessionToken",
                                                                   "Expiration")):
            raise awshttp.ClientError(awshttp.error_response(500, "AssumeRole answer without credentials", {},
                                                             b""), "AssumeRole")
        return (c["AccessKeyId"], c["SecretAccessKey"], c["SessionToken"]), c["Expiration"]

    return fetch
