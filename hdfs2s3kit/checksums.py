"""S3 additional checksums computed locally: per part in worker threads, then
combined into the full-object value without a second pass over the data.

CRC64NVME and CRC32C come from awscrt (hardware CRC, ~50 GB/s, GIL released);
without awscrt the default is CRC32 from zlib, which every Python has. All
three are reflected CRCs with all-ones pre/post conditioning, so one combine
formula (zlib's crc32_combine, generalised to the polynomial) serves them all.
"""

import base64
import zlib

from .errors import UsageError


class _LazyCrt:
    """awscrt's checksums, loaded on first use of a large buffer: loading the native library costs
    ~90 ms of CPU, most of a small upload's start-up. Inputs up to SMALL bytes are hashed by the
    table-driven code below instead (identical values).

    The CRC entry points are called through ctypes WITHOUT initialising the `_awscrt` extension
    module: its init (aws-c-common, aws-c-io, its own libcrypto, event loops...) adds ~4.7 MiB of
    RSS that a CRC never uses, and at 1 TiB every MiB counts (issue 12: peak <= 128 MiB with a
    105 MiB part). The bound functions are awscrt's own Python wrappers (aws_py_checksums_*:
    argument parsing, the GIL released for large buffers), so values and threading are awscrt's.
    They are checked against the standard check values on load; if anything differs or is
    missing, the ordinary `from awscrt import checksums` is used."""

    _CHECK = {"crc32c": 0xE3069283, "crc64nvme": 0xAE8B14860A799888}   # of b"123456789"

    def __init__(self):
        import importlib.util

        self.present = importlib.util.find_spec("awscrt") is not None
        self._mod = None

    def __bool__(self):
        return self.present

    def _load(self):
        if self._mod is None:
            import sys

            if "_awscrt" not in sys.modules:      # initialised by someone else: nothing to save
                self._mod = _native_crcs(self._CHECK)
            if self._mod is None:
                from awscrt import checksums

                self._mod = checksums
        return self._mod

    def crc32c(self, data, prev=0):
        return _small("CRC32C", data, prev) if len(data) <= SMALL else self._load().crc32c(data, prev)

    def crc64nvme(self, data, prev=0):
        return _small("CRC64NVME", data, prev) if len(data) <= SMALL else self._load().crc64nvme(data, prev)


class _NativeCrcs:
    """crc32c(data, prev) / crc64nvme(data, prev) over awscrt's wrappers bound with ctypes."""

    def __init__(self, fns):
        self._fns = fns

    def crc32c(self, data, prev=0):
        return self._fns["crc32c"](None, (data, prev))

    def crc64nvme(self, data, prev=0):
        return self._fns["crc64nvme"](None, (data, prev))


def _native_crcs(check):
    """-> _NativeCrcs, or None when awscrt's binary does not offer what it must (another build)."""
    try:
        import ctypes
        import importlib.util

        spec = importlib.util.find_spec("_awscrt")
        if spec is None or not spec.origin:
            return None
        # PyDLL: called with the GIL held and Python errors raised, as for any C function of a
        # module; the wrapper itself releases the GIL around large buffers.
        lib = ctypes.PyDLL(spec.origin)
        proto = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.py_object, ctypes.py_object)
        fns = {name: proto(("aws_py_checksums_" + name, lib)) for name in check}
        crcs = _NativeCrcs(fns)
        if all(getattr(crcs, name)(b"123456789", 0) == want for name, want in check.items()):
            return crcs
    except Exception:  # noqa: BLE001 - any doubt: the ordinary import
        pass
    return None


SMALL = 16 * 1024
_TABLES = {}


def _table(name):
    t = _TABLES.get(name)
    if t is None:
        poly = _POLY[name][0]
        t = []
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ poly if c & 1 else c >> 1
            t.append(c)
        _TABLES[name] = t
    return t


def _small(name, data, prev=0):
    """Reflected CRC with all-ones conditioning, byte at a time (the awscrt/zlib convention:
    `prev` is the value of the bytes before)."""
    table, mask = _table(name), (1 << _POLY[name][1]) - 1
    crc = prev ^ mask
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ mask

# reflected polynomial, width in bits (_POLY is read lazily by _table)
_POLY = {
    "CRC32": (0xEDB88320, 32),
    "CRC32C": (0x82F63B78, 32),
    "CRC64NVME": (0x9A6C9329AC4BC9B5, 64),
}

_crt = _LazyCrt()
if not _crt.present:  # pragma: no cover - exercised on hosts without awscrt
    _crt = None


def have_crt():
    return _crt is not None


def default_algorithm():
    return "CRC64NVME" if _crt is not None else "CRC32"


def available():
    return ("CRC64NVME", "CRC32C", "CRC32") if _crt is not None else ("CRC32",)


class _Gf2:
    """Multiplication modulo a reflected CRC polynomial (zlib's multmodp/x2nmodp)."""

    def __init__(self, poly, width):
        self.poly, self.width = poly, width
        self.top = 1 << (width - 1)          # x^0 in reflected order
        table = [self.top >> 1]              # x^1
        for _ in range(80):                  # x^(2^k): lengths up to 2^77 bytes
            table.append(self.mul(table[-1], table[-1]))
        self.x2n = table
        self._xpow_cache = {}

    def mul(self, a, b):
        m, p, poly = self.top, 0, self.poly
        while True:
            if a & m:
                p ^= b
                if (a & (m - 1)) == 0:
                    return p
            m >>= 1
            b = (b >> 1) ^ poly if b & 1 else b >> 1

    def xpow8n(self, nbytes):
        """x^(8*nbytes) mod P; part sizes repeat, so cache by length."""
        hit = self._xpow_cache.get(nbytes)
        if hit is not None:
            return hit
        p, k, n = self.top, 3, nbytes
        while n:
            if n & 1:
                p = self.mul(self.x2n[k], p)
            n >>= 1
            k += 1
        if len(self._xpow_cache) < 256:
            self._xpow_cache[nbytes] = p
        return p

    def combine(self, crc1, crc2, len2):
        return self.mul(self.xpow8n(len2), crc1) ^ crc2


_GF = {}


def _gf(name):
    if name not in _GF:
        _GF[name] = _Gf2(*_POLY[name])
    return _GF[name]


class Algorithm:
    """One checksum algorithm: compute(data, prev), combine(c1, c2, len2), b64(value)."""

    def __init__(self, name):
        name = name.upper()
        if name not in _POLY:
            raise UsageError(f"unknown checksum algorithm {name!r} (choose from {', '.join(_POLY)})")
        if name != "CRC32" and _crt is None:
            raise UsageError(f"checksum algorithm {name} needs the awscrt package (CRC32 works without it)")
        self.name = name
        self.nbytes = _POLY[name][1] // 8
        self._gf = _gf(name)
        if name == "CRC32":
            self._fn = zlib.crc32            # zlib releases the GIL for large buffers
        elif name == "CRC32C":
            self._fn = _crt.crc32c
        else:
            self._fn = _crt.crc64nvme

    @property
    def param(self):
        """The boto3 parameter / response field name, e.g. ChecksumCRC64NVME."""
        return "Checksum" + self.name

    def compute(self, data, prev=0):
        return self._fn(data, prev)

    def combine(self, crc1, crc2, len2):
        if len2 == 0:
            return crc1
        return self._gf.combine(crc1, crc2, len2)

    def b64(self, value):
        return base64.b64encode(value.to_bytes(self.nbytes, "big")).decode("ascii")

    def composite_b64(self, part_values):
        """S3's COMPOSITE multipart checksum: the checksum of the parts' binary checksums."""
        raw = b"".join(v.to_bytes(self.nbytes, "big") for v in part_values)
        return f"{self.b64(self._fn(raw, 0))}-{len(part_values)}"


def get(name=None):
    return Algorithm(name or default_algorithm())
