"""`keys create/list/rotate`: Fernet master keys as versions of one SSM SecureString.

The parameter (config.key_param(), default PREFIX/keys/fernet) holds one key
per SSM version; key ID = "PARAM:VERSION"; the config value
fernet_key_version names the active (encrypting) one. Old versions stay
readable so old objects still decrypt. Each version gets the label vN: SSM
keeps 100 versions and silently drops the oldest unless it is labelled, so
the labels make SSM refuse a 101st key instead of losing one.

Key material is generated here and goes straight into PutParameter: never
printed, never in argv, never returned by list.
"""

import collections

from . import aws, config, errors

KeyVersion = collections.namedtuple("KeyVersion", "key_id param version created active labels")
Created = collections.namedtuple("Created", "key activated previous warnings")
PROBE = b"hdfs2s3kit key probe"


def key_id(param, version):
    return f"{param}:{int(version)}"


def key_param(cfg):
    param = cfg.key_param()
    if not param:
        raise config.no_config_error()
    inside = cfg.prefix and param.startswith(cfg.prefix + "/")
    if inside and not param.startswith(f"{cfg.prefix}/{config.KEYS_SUBPATH}/"):
        raise errors.ConfigError(f"fernet_key_param {param} is inside {cfg.prefix} but not under "
                                 f"{cfg.prefix}/{config.KEYS_SUBPATH}/: key material would be read as config")
    return param


def _ssm(session):
    return aws.client(session or aws.base_session(), "ssm")


def history(ssm, param):
    """[(version, LastModifiedDate, labels)] oldest first, without key material; [] if none."""
    out, kw = [], {"Name": param, "WithDecryption": False, "MaxResults": 50}
    try:
        while True:
            page = ssm.get_parameter_history(**kw)
            for p in page.get("Parameters", []):
                out.append((int(p["Version"]), p.get("LastModifiedDate"), tuple(p.get("Labels") or ())))
            if not page.get("NextToken"):
                break
            kw["NextToken"] = page["NextToken"]
    except Exception as e:  # noqa: BLE001
        if aws.error_code(e) == "ParameterNotFound":
            return []
        raise aws.as_kit_error(e, f"GetParameterHistory {param}") from None
    return sorted(out)


def active_version(cfg):
    v = cfg.get("fernet_key_version")
    try:
        return int(v) if v is not None else None
    except ValueError:
        raise errors.ConfigError(f"config {cfg.where('fernet_key_version')}: not a version number: {v!r}") from None


def list_keys(cfg, session=None):
    """[KeyVersion] oldest first; ConfigError when there is no key yet."""
    param = key_param(cfg)
    versions = history(_ssm(session), param)
    if not versions:
        raise errors.ConfigError(f"no keys in {param} yet: run `hdfs2s3kit keys create`")
    active = active_version(cfg)
    return [KeyVersion(key_id(param, v), param, v, when, v == active, labels) for v, when, labels in versions]


def probe(ssm, param, version):
    """Fetch one key version and Fernet-encrypt/decrypt a probe in memory.
    Raises KitError (never showing the key) if it is missing or not a Fernet key."""
    from cryptography.fernet import Fernet, InvalidToken

    kid = key_id(param, version)
    try:
        value = ssm.get_parameter(Name=kid, WithDecryption=True)["Parameter"]["Value"]
    except Exception as e:  # noqa: BLE001
        raise aws.as_kit_error(e, f"GetParameter {kid}") from None
    try:
        f = Fernet(value.encode("ascii"))
        ok = f.decrypt(f.encrypt(PROBE)) == PROBE
    except (ValueError, UnicodeError, InvalidToken):
        ok = False
    if not ok:
        raise errors.DataError(f"{kid} is not a valid Fernet key (32 url-safe base64 bytes)")


def _set_active(ssm, cfg, version):
    name = f"{cfg.prefix}/fernet_key_version"
    try:
        ssm.put_parameter(Name=name, Value=str(int(version)), Type="String", Overwrite=True,
                          Description="hdfs2s3kit: active version of the Fernet key parameter")
    except Exception as e:  # noqa: BLE001
        raise aws.as_kit_error(e, f"PutParameter {name}") from None
    config.clear_cache()


def create(cfg, *, session=None, activate=False, kms_key_id=None):
    """Store a fresh Fernet key as a new version; activate it if asked or if
    no version is active yet. -> Created(KeyVersion, activated, previous, warnings)."""
    from cryptography.fernet import Fernet

    if not cfg.prefix:
        raise config.no_config_error()
    param = key_param(cfg)
    ssm = _ssm(session)
    existing = history(ssm, param)
    kw = {"Name": param, "Type": "SecureString", "Overwrite": bool(existing),
          "Description": "hdfs2s3kit Fernet master keys: each version is a key, ID = name:version"}
    if kms_key_id:
        kw["KeyId"] = kms_key_id
    try:
        version = int(ssm.put_parameter(Value=Fernet.generate_key().decode("ascii"), **kw)["Version"])
    except Exception as e:  # noqa: BLE001
        if aws.error_code(e) == "ParameterMaxVersionLimitExceeded":
            raise errors.ConfigError(
                f"{param} already holds 100 key versions, the SSM limit; the oldest is labelled so it is "
                "not dropped silently. Re-encrypt objects under it, then `aws ssm unlabel-parameter-version` "
                "it, or set fernet_key_param to a new parameter") from None
        raise aws.as_kit_error(e, f"PutParameter {param}") from None
    warnings = []
    try:
        ssm.label_parameter_version(Name=param, ParameterVersion=version, Labels=[f"v{version}"])
    except Exception as e:  # noqa: BLE001 - the key exists; the label is a safety net
        warnings.append(f"could not label {key_id(param, version)} (SSM may drop it after 100 versions): "
                        f"{aws.as_kit_error(e, 'LabelParameterVersion').message}")
    previous = active_version(cfg)
    activated = activate or previous is None
    if activated:
        _set_active(ssm, cfg, version)
    labels = () if warnings else (f"v{version}",)
    return Created(KeyVersion(key_id(param, version), param, version, None, activated, labels),
                   activated, previous, warnings)


def rotate(cfg, version=None, *, session=None):
    """Make VERSION (default: the newest) the active key after checking that
    it is a working Fernet key. -> (KeyVersion, previous active version)."""
    param = key_param(cfg)
    ssm = _ssm(session)
    versions = {v: (when, labels) for v, when, labels in history(ssm, param)}
    if not versions:
        raise errors.ConfigError(f"no keys in {param} yet: run `hdfs2s3kit keys create`")
    target = max(versions) if version is None else int(version)
    if target not in versions:
        raise errors.UsageError(f"{key_id(param, target)} does not exist (versions: "
                                f"{', '.join(map(str, sorted(versions)))})")
    probe(ssm, param, target)
    previous = active_version(cfg)
    if previous != target:
        _set_active(ssm, cfg, target)
    when, labels = versions[target]
    return KeyVersion(key_id(param, target), param, target, when, True, labels), previous
