"""Config: an SSM Parameter Store path prefix holding KEY=VALUE parameters.

`/hdfs2s3/prod/bucket`, `/hdfs2s3/prod/role_arn`, ... are read once per
process with GetParametersByPath (recursive, decrypted, paged) and cached.
Key material lives under PREFIX/keys/ and is never kept in the config.
docs/CONFIG.md documents every key; config.env.example is the template.
"""

import os
import re

from . import aws, errors

ENV_VAR = "HDFS2S3_CONFIG"

# name -> description; the documented set of keys (docs/CONFIG.md).
KNOWN_KEYS = {
    "bucket": "destination bucket",
    "prefix": "key prefix inside the bucket (may be empty)",
    "role_arn": "IAM role assumed through STS for S3 access",
    "role_external_id": "ExternalId the role's trust policy demands (secret; empty: none)",
    "region": "AWS region of the bucket and services",
    "sns_topic_arn": "SNS topic for notifications",
    "cloudwatch_namespace": "CloudWatch metrics namespace",
    "pipeline": "name of this pipeline: the CloudWatch Pipeline dimension and the SNS subject tag",
    "notify_on": "default `notify --on` mode: default, failure, always or summary",
    "fernet_key_param": "SSM parameter holding the Fernet master key (default PREFIX/keys/fernet)",
    "fernet_key_version": "active version of that parameter (the encrypting key); set by `keys create/rotate`",
    "authz_policy": "group (default) or posix",
    "allowed_groups": "comma-separated groups that may grant access (empty: any)",
    "part_size": "multipart part size in bytes (empty: automatic)",
    "concurrency": "parallel part uploads",
    "hdfs_checksum": "on (default): prove each HDFS read against HDFS's COMPOSITE-CRC; off: skip it "
                     "(needed for files in HDFS encryption zones)",
}
KEYS_SUBPATH = "keys"

# What a working setup cannot do without; `config show/check` name them, exit 78.
REQUIRED = ("bucket", "region", "role_arn", "sns_topic_arn", "fernet_key_version")
# Set by `keys create/rotate`, not by a pushed template.
MANAGED = ("fernet_key_version",)
# Stored as SecureString and masked wherever printed; names ending in these suffixes too.
SECRET_KEYS = frozenset({"role_external_id"})
SECRET_SUFFIXES = ("_secret", "_password", "_token")
DEFAULTS = {
    "prefix": "",
    "cloudwatch_namespace": "hdfs2s3kit",
    "notify_on": "default",
    "authz_policy": "group",
}
NOTIFY_MODES = ("default", "failure", "always", "summary")
MASK = "****"

_cache = {}
# SSM parameter names: letters, digits and .-_ in slash-separated parts.
_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._-]+)+$")


def is_secret(name):
    return name in SECRET_KEYS or name.endswith(SECRET_SUFFIXES)


class Config:
    def __init__(self, prefix, values, secure=()):
        self.prefix = prefix
        self._values = dict(values)
        # names that SSM holds as SecureString: masked like the documented secrets
        self.secure = frozenset(secure)

    def __contains__(self, name):
        return name in self._values

    def __getitem__(self, name):
        return self._values[name]

    def items(self):
        return self._values.items()

    def get(self, name, default=None):
        v = self._values.get(name)
        return default if v in (None, "") else v

    def value(self, name):
        """The value, else its documented default (DEFAULTS, or derived for
        `pipeline` and `fernet_key_param`), else None."""
        if name == "fernet_key_param":
            return self.key_param()
        if name == "pipeline":
            return self.get("pipeline") or (self.prefix.rsplit("/", 1)[-1] if self.prefix else None)
        return self.get(name, DEFAULTS.get(name))

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

    def is_secret(self, name):
        return name in self.secure or is_secret(name)

    def masked(self, name):
        """The value safe to print: secrets replaced by a fixed mask."""
        v = self.get(name)
        return MASK if v is not None and self.is_secret(name) else v

    def missing(self, names=REQUIRED):
        return [n for n in names if self.get(n) is None]

    def require(self, *names):
        missing = self.missing(names)
        if missing:
            if not self.prefix:
                raise no_config_error(missing)
            raise errors.ConfigError(
                f"config {self.prefix}: missing required value(s): {', '.join(missing)}")
        return [self._values[n] for n in names]

    def key_param(self):
        default = f"{self.prefix}/{KEYS_SUBPATH}/fernet" if self.prefix else None
        return self.get("fernet_key_param", default)


def no_config_error(needed=()):
    """The one error for "no config prefix given", naming what needed it."""
    tail = f" (needed: {', '.join(needed)})" if needed else ""
    return errors.ConfigError(f"no config: pass --config PREFIX or set {ENV_VAR}{tail}")


def resolve_prefix(prefix=None):
    """The config prefix: --config, else $HDFS2S3_CONFIG; a site policy that pins one
    (sitepolicy) makes it the only prefix there is: another one given is refused."""
    from . import sitepolicy

    given = prefix or os.environ.get(ENV_VAR) or None
    pinned, where = sitepolicy.pinned_prefix()
    if pinned is not None:
        if given is not None and "/" + given.strip("/") != pinned:
            how = "--config" if prefix else ENV_VAR
            raise errors.ConfigError(f"site policy {where} pins the config prefix {pinned}; "
                                     f"{how} {given} refused")
        given = pinned
    p = given
    if p is None:
        return None
    p = "/" + p.strip("/")
    if not _PREFIX_RE.match(p) or p.lower().startswith(("/aws", "/ssm")):
        raise errors.ConfigError(
            f"config prefix {p!r} is not a valid SSM path (letters, digits, . - _ between slashes; "
            "not under /aws or /ssm)")
    return p


def fetch_parameter_types(ssm, prefix):
    """All parameters under prefix as {relative name: (value, SSM type)}, following NextToken."""
    out = {}
    keys_root = f"{prefix}/{KEYS_SUBPATH}/"
    kwargs = {"Path": prefix, "Recursive": True, "WithDecryption": True, "MaxResults": 10}
    while True:
        page = ssm.get_parameters_by_path(**kwargs)
        for p in page.get("Parameters", []):
            if p["Name"].startswith(keys_root):
                continue  # key material is fetched by the keyring, by version, never cached here
            out[p["Name"][len(prefix) + 1 :]] = (p["Value"], p.get("Type", "String"))
        token = page.get("NextToken")
        if not token:
            return out
        kwargs["NextToken"] = token


def fetch_parameters(ssm, prefix):
    """All parameters under prefix as {relative name: value}, following NextToken."""
    return {k: v for k, (v, _t) in fetch_parameter_types(ssm, prefix).items()}


def load_config(prefix=None, session=None, *, refresh=False, allow_empty=False):
    """The config for PREFIX (or $HDFS2S3_CONFIG); an empty Config when neither is set.

    An existing prefix with no parameters is a ConfigError unless allow_empty
    (`config push` and `keys create` start from nothing)."""
    prefix = resolve_prefix(prefix)
    if prefix is None:
        return Config(None, {})
    if prefix in _cache and not refresh:
        return _cache[prefix]
    session = session or aws.base_session()
    ssm = aws.client(session, "ssm")
    try:
        typed = fetch_parameter_types(ssm, prefix)
    except Exception as e:  # noqa: BLE001 - mapped to a one-line KitError
        err = aws.as_kit_error(e, f"reading config {prefix} from SSM")
        if err.code == errors.UNAVAILABLE and "cannot reach" not in err.message:
            err = errors.ConfigError(err.message)
        raise err from None
    if not typed and not allow_empty:
        raise errors.ConfigError(f"config {prefix}: no parameters found in SSM under that prefix "
                                 f"in region {ssm.meta.region_name} (is AWS_REGION the config's region?)")
    cfg = Config(prefix, {k: v for k, (v, _t) in typed.items()},
                 secure={k for k, (_v, t) in typed.items() if t == "SecureString"})
    if typed:
        _cache[prefix] = cfg
    return cfg


def clear_cache():
    """Forget every cached config (after this process changed SSM itself)."""
    _cache.clear()
