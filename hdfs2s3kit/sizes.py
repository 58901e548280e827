"""Byte sizes as users type them ('8MiB', '1.5GiB'), for every command's size options.

A module of its own so that a filter that only parses a size (fernet-encrypt
--expected-size) does not import the uploader and, through it, boto3.
"""

from . import errors

MiB = 1 << 20
GiB = 1 << 30

_UNITS = {"": 1, "B": 1, "K": 1 << 10, "KB": 1 << 10, "KIB": 1 << 10, "M": MiB, "MB": MiB, "MIB": MiB,
          "G": GiB, "GB": GiB, "GIB": GiB, "T": 1 << 40, "TB": 1 << 40, "TIB": 1 << 40}


def parse_size(text, what="size"):
    """'123', '8M', '8MiB', '1.5GiB' -> bytes (binary units); None stays None."""
    if text is None:
        return None
    t = str(text).strip().upper().replace(" ", "")
    num = t.rstrip("KMGTIB")
    unit = t[len(num):]
    try:
        value = float(num) if "." in num else int(num)
    except ValueError:
        value = None
    if value is None or unit not in _UNITS or value < 0:
        raise errors.UsageError(f"{what}: not a size: {text!r} (e.g. 1048576, 8MiB, 2GiB)")
    return int(value * _UNITS[unit])
