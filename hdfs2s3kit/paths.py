"""Paths stay exactly what was given: listings, relative paths, line formats.

- A NUL-separated listing (`-0`) carries any name byte for byte; nothing is stripped.
- A line listing cannot carry a name holding a newline, a carriage return or (where
  TAB separates SRC from DEST) a TAB: such a record is refused, never trimmed or split
  into something else.
- A relative HDFS path is resolved the way the Hadoop client resolves it (against the
  user's home, /user/NAME, NAME = the Hadoop identity: hadoopident) *before* the
  decision, and the absolute path is what is decided, read and audited.
"""

import re

from . import errors

HOME_PREFIX = "/user"
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
LINE_UNSAFE = {"\n": "a newline", "\r": "a carriage return", "\t": "a TAB"}


def has_scheme(path):
    return bool(_SCHEME.match(path))


def hadoop_user():
    """The user the Hadoop client acts as (hadoopident): under simple auth $HADOOP_USER_NAME, else
    the login user; under Kerberos the short name of the token's owner or the ticket's principal."""
    from . import hadoopident

    return hadoopident.current().name


def absolute(path):
    """PATH unchanged if it has a scheme or starts with '/'; else /user/NAME/PATH."""
    if not path or path.startswith("/") or has_scheme(path) or path.startswith("-"):
        return path
    return f"{HOME_PREFIX}/{hadoop_user()}/{path}"


def line_problem(path, unsafe=("\n", "\r", "\t")):
    """Why PATH cannot be one record of a line listing (None if it can)."""
    for c in unsafe:
        if c in path:
            return f"path holds {LINE_UNSAFE[c]}, which a line listing cannot carry (use -0: NUL-separated)"
    return None


def check_line_safe(path, unsafe=("\n", "\r", "\t")):
    why = line_problem(path, unsafe)
    if why:
        raise errors.UsageError(f"refusing {errors.printable(path)}: {why}")
    return path


def records(stream, null):
    """Records of a binary stream as str (undecodable bytes kept as surrogates): NUL-separated
    records exactly as given when null, else lines without their '\\n' (a '\\r' stays, for the
    caller to refuse). Empty records are skipped."""
    sep = b"\0" if null else b"\n"
    buf = b""
    while chunk := stream.read(1 << 16):
        *items, buf = (buf + chunk).split(sep)
        yield from (i.decode(errors="surrogateescape") for i in items if i)
    if buf:
        yield buf.decode(errors="surrogateescape")
