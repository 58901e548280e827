"""Config: an SSM Parameter Store path prefix holding KEY=VALUE parameters.

`/hdfs2s3/prod/bucket`, `/hdfs2s3/prod/role_arn`, ... are read once per
process with GetParametersByPath (recursive, decrypted, paged) and cached.
Key material lives under PREFIX/keys/ and is never kept in the config.
"""

import os

from . import aws, errors

ENV_VAR = "HDFS2S3_CONFIG"

# name -> (required-for-what, description); the documented set of keys.
KNOWN_KEYS = {
    "bucket": "destination bucket",
    "prefix": "key prefix inside the bucket (may be empty)",
    "role_arn": "IAM role assumed through STS for S3 access",
    "region": "AWS region of the bucket and services",
    "sns_topic_arn": "SNS topic for notifications",
    "cloudwatch_namespace": "CloudWatch metrics namespace",
    "fernet_key_param": "SSM parameter holding the Fernet master key (default PREFIX/keys/fernet)",
    "fernet_key_version": "active version of that parameter (the encrypting key)",
    "authz_policy": "group (default) or posix",
    "allowed_groups": "comma-separated groups that may grant access (empty: any)",
    "part_size": "multipart part size in bytes (empty: automatic)",
    "concurrency": "parallel part uploads",
}
KEYS_SUBPATH = "keys"

_cache = {}


class Config:
    def __init__(self, prefix, values):
        self.prefix = prefix
        self._values = dict(values)

    def __contains__(self, name):
        return name in self._values

    def __getitem__(self, name):
        return self._values[name]

    def items(self):
        return self._values.items()

    def get(self, name, default=None):
        v = self._values.get(name)
        return default if v in (None, "") else v

    def int(self, name, default=None):
        v = self.get(name)
        if v is None:
            return default
        try:
            return int(v)
        except ValueError:
            raise errors.ConfigError(f"config {self.where(name)}: not an integer: {v!r}") from None

    def list(self, name):
        v = self.get(name) or ""
        return [x.strip() for x in v.split(",") if x.strip()]

    def where(self, name):
        return f"{self.prefix}/{name}" if self.prefix else name

    def require(self, *names):
        missing = [n for n in names if self.get(n) is None]
        if missing:
            if not self.prefix:
                raise errors.ConfigError(
                    f"no config: pass --config PREFIX or set {ENV_VAR} (needed: {', '.join(missing)})")
            raise errors.ConfigError(
                f"config {self.prefix}: missing required value(s): {', '.join(missing)}")
        return [self._values[n] for n in names]

    def key_param(self):
        default = f"{self.prefix}/{KEYS_SUBPATH}/fernet" if self.prefix else None
        return self.get("fernet_key_param", default)


def resolve_prefix(prefix=None):
    p = prefix or os.environ.get(ENV_VAR) or None
    if p is None:
        return None
    p = "/" + p.strip("/")
    return p


def fetch_parameters(ssm, prefix):
    """All parameters under prefix as {relative name: value}, following NextToken."""
    out = {}
    keys_root = f"{prefix}/{KEYS_SUBPATH}/"
    kwargs = {"Path": prefix, "Recursive": True, "WithDecryption": True, "MaxResults": 10}
    while True:
        page = ssm.get_parameters_by_path(**kwargs)
        for p in page.get("Parameters", []):
            if p["Name"].startswith(keys_root):
                continue  # key material is fetched by the keyring, by version, never cached here
            out[p["Name"][len(prefix) + 1 :]] = p["Value"]
        token = page.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token


def load_config(prefix=None, session=None, *, refresh=False):
    """The config for PREFIX (or $HDFS2S3_CONFIG); an empty Config when neither is set."""
    prefix = resolve_prefix(prefix)
    if prefix is None:
        return Config(None, {})
    if prefix in _cache and not refresh:
        return _cache[prefix]
    session = session or aws.base_session()
    ssm = aws.client(session, "ssm")
    try:
        values = fetch_parameters(ssm, prefix)
    except Exception as e:  # noqa: BLE001 - mapped to a one-line KitError
        err = aws.as_kit_error(e, f"reading config {prefix} from SSM")
        if err.code == errors.UNAVAILABLE and "cannot reach" not in err.message:
            err = errors.ConfigError(err.message)
        raise err from None
    if not values:
        raise errors.ConfigError(f"config {prefix}: no parameters found in SSM under that prefix")
    cfg = Config(prefix, values)
    _cache[prefix] = cfg
    return cfg
