"""Key ID -> Fernet master key, from a key file or SSM Parameter Store.

Encryption uses the active key; decryption uses the key named in the stream
header, so rotated keys keep old streams readable. Key material never goes
into messages: errors name key IDs, parameter names and paths only.

Key IDs:
- SSM: `PARAM:VERSION`, e.g. `/hdfs2s3/prod/keys/fernet:3` (SecureString,
  read WithDecryption; SSM calls KMS for us).
- key file: `fp:` + 16 hex of SHA-256(b"hdfs2s3kit-key-id\\0" + raw key), a
  fingerprint that reveals nothing useful about the key.
"""

import os
import re
import stat as statmod
import threading

from .errors import ConfigError, DataError, NoInputError

FP_DOMAIN = b"hdfs2s3kit-key-id\0"
CONFIG_ENV = "HDFS2S3_CONFIG"   # = config.ENV_VAR; config imports boto3, a key file needs none


def fingerprint_id(key):
    import hashlib   # here: authz-check imports this module for CONFIG_ENV alone (OpenSSL's init, ~5 ms)

    from .streamfmt import raw_key

    return "fp:" + hashlib.sha256(FP_DOMAIN + raw_key(key)).hexdigest()[:16]


def _checked_key(text, where):
    """The key as urlsafe-base64 bytes, or ConfigError naming where it came from."""
    from .streamfmt import raw_key

    key = text.strip() if isinstance(text, (bytes, str)) else text
    if isinstance(key, str):
        key = key.encode("ascii", "replace")
    try:
        raw_key(key)
        if len(key) == 32:
            raise ValueError
    except ValueError:
        raise ConfigError(f"{where} does not hold a Fernet key (44 characters of urlsafe base64)") from None
    return key


class Keyring:
    """Base: `active() -> (key_id, key_b64)`, `key(key_id) -> key_b64`."""

    def active(self):
        raise NotImplementedError

    def key(self, key_id):
        raise NotImplementedError


class StaticKeyring(Keyring):
    """Keys held in memory: {key_id: key_b64}; for in-process callers and tests."""

    def __init__(self, keys, active=None):
        self._keys = {k: _checked_key(v, f"key {k}") for k, v in keys.items()}
        self._active = active

    def active(self):
        if self._active is None:
            raise ConfigError("no active key in this keyring")
        return self._active, self._keys[self._active]

    def key(self, key_id):
        try:
            return self._keys[key_id]
        except KeyError:
            known = ", ".join(sorted(self._keys)) or "none"
            raise DataError(f"unknown key ID {key_id} (this keyring holds: {known})") from None


def from_key(key_b64):
    """A one-key keyring whose key ID is the key's fingerprint."""
    key = _checked_key(key_b64, "the key")
    kid = fingerprint_id(key)
    return StaticKeyring({kid: key}, active=kid)


# Exactly one key: 44 characters of urlsafe base64, and at most one line ending after it.
_KEY_FILE = re.compile(rb"[A-Za-z0-9_-]{43}=(\r?\n)?")


def from_key_file(path):
    """The one key in PATH. Refused, like ssh does with a private key: a file that group or
    others may read or write, and anything but exactly one key (trailing junk, two keys)."""
    try:
        with open(path, "rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            text = f.read(4096)
    except FileNotFoundError:
        raise NoInputError(f"key file {path}: no such file") from None
    except IsADirectoryError:
        raise NoInputError(f"key file {path}: is a directory") from None
    except PermissionError:
        raise NoInputError(f"key file {path}: permission denied") from None
    except OSError as e:
        raise NoInputError(f"key file {path}: {e.strerror or e}") from None
    if statmod.S_IMODE(mode) & 0o077:
        raise ConfigError(f"key file {path} is accessible by group or others (mode "
                          f"{statmod.S_IMODE(mode):04o}): refusing it; run `chmod 600 {path}`")
    if not _KEY_FILE.fullmatch(text):
        raise ConfigError(f"key file {path} must hold exactly one Fernet key (44 characters of urlsafe "
                          "base64, one line) and nothing else")
    return from_key(_checked_key(text, f"key file {path}"))


class SSMKeyring(Keyring):
    """Master keys as versions of one SecureString parameter (config.key_param()).

    Active version: config `fernet_key_version`, else the parameter's latest.
    Values are cached per key ID for the life of the object."""

    def __init__(self, config, session=None):
        self.param = config.key_param()
        if not self.param:
            raise ConfigError("no key parameter: the config names no fernet_key_param and has no prefix")
        self._version = config.get("fernet_key_version")
        if self._version is not None and not str(self._version).isdigit():
            raise ConfigError(f"config {config.where('fernet_key_version')}: not a version number: "
                              f"{self._version!r}")
        self._session = session
        self._ssm = None
        self._cache = {}
        self._lock = threading.Lock()

    def _client(self):
        if self._ssm is None:
            from . import aws

            self._ssm = aws.client(self._session or aws.base_session(), "ssm")
        return self._ssm

    def _get(self, name, key_id):
        from . import aws

        try:
            p = self._client().get_parameter(Name=name, WithDecryption=True)["Parameter"]
        except Exception as e:  # noqa: BLE001 - mapped to a one-line KitError
            code = aws.error_code(e)
            if code in ("ParameterNotFound", "ParameterVersionNotFound"):
                if key_id is None:
                    raise ConfigError(f"key parameter {name} not found in SSM") from None
                raise DataError(f"unknown key ID {key_id}: no such parameter version in SSM") from None
            raise aws.as_kit_error(e, f"reading key {key_id or name} from SSM") from None
        kid = f"{self.param}:{p['Version']}"
        return kid, _checked_key(p["Value"], f"SSM parameter {kid}")

    def active(self):
        with self._lock:
            if self._version is None:
                kid, key = self._get(self.param, None)
                self._version = kid.rpartition(":")[2]
                self._cache[kid] = key
                return kid, key
        kid = f"{self.param}:{self._version}"
        if kid not in self._cache:
            try:
                return kid, self.key(kid)
            except DataError as e:
                raise ConfigError(f"active key {kid} (fernet_key_version): {e.message}") from None
        return kid, self._cache[kid]

    def key(self, key_id):
        param, sep, version = key_id.rpartition(":")
        if not sep or not version.isdigit():
            raise DataError(f"unknown key ID {key_id}: not an SSM key ID (PARAM:VERSION)")
        if param != self.param:
            raise DataError(f"key ID {key_id} names parameter {param}, outside this config's {self.param}")
        with self._lock:
            if key_id not in self._cache:
                kid, key = self._get(key_id, key_id)
                self._cache[key_id] = key
            return self._cache[key_id]


def load_keyring(key_file=None, config=None, session=None):
    """The keyring for a command: `--key-file` wins; else the SSM config
    (a Config, a prefix, or $HDFS2S3_CONFIG). Neither: ConfigError (78)."""
    if key_file:
        return from_key_file(key_file)
    from . import config as config_mod

    if config is None or isinstance(config, str):
        prefix = config_mod.resolve_prefix(config)
        if prefix is None:
            raise ConfigError(f"no key: pass --key-file PATH, or --config PREFIX / set {config_mod.ENV_VAR}")
        config = config_mod.load_config(prefix, session=session)
    return SSMKeyring(config, session=session)
