"""CloudWatch metrics from status records: batched PutMetricData, never fatal.

Per record: Transfers=1, Successes=1|0, Failures=0|1 (so Average is the
success/failure rate and Sum the count) and, for `ok` records, Bytes,
Duration and Throughput. Values are buffered as value->count and sent with
Values/Counts, many per call. A monitoring outage must never fail or stall a
transfer: clients use short timeouts and few retries, a failed call is
warned about once on stderr, its data dropped, and calls pause for a while;
only `strict=True` turns it into an exception (TempFailError, 75).
"""

import collections
import datetime
import re
import sys
import time

from . import aws, errors, status

# CloudWatch rules for a custom namespace: printable ASCII from this set,
# 1..255 characters, not only spaces, not starting with ':' or 'AWS/'.
_NAMESPACE_RE = re.compile(r"^[0-9A-Za-z.\-_/#: ]{1,255}$")
MAX_VALUES_PER_DATUM = 150     # PutMetricData limit for Values/Counts
MAX_DATUMS_PER_CALL = 50       # keeps each request far below the 1 MB payload limit
FLUSH_VALUES = 1000            # distinct buffered values that trigger a send
FLUSH_SECONDS = 60.0           # ... or the age of the oldest buffered value
PAUSE_AFTER_FAILURE = 60.0     # no calls for this long after a failed one
MONITORING_CLIENT = {"retries": 2, "connect_timeout": 2, "read_timeout": 5}


def namespace_problem(namespace):
    """None if `namespace` is a valid custom CloudWatch namespace, else why not."""
    if not namespace:
        return "empty namespace"
    if not _NAMESPACE_RE.match(namespace):
        return ("namespace must be 1-255 characters of A-Z a-z 0-9 . - _ / # : and space "
                f"(got {namespace!r:.80})")
    if not namespace.strip():
        return "namespace must contain a non-space character"
    if namespace.startswith(":"):
        return "namespace must not start with ':'"
    if namespace.startswith("AWS/"):
        return "namespaces starting with 'AWS/' are reserved for AWS services"
    return None


def monitoring_client(session, service, region=None):
    """A client that gives up fast: an outage costs seconds, not minutes."""
    return aws.client(session, service, max_pool=2, region=region, **MONITORING_CLIENT)


def _dims(dimensions):
    items = dimensions.items() if isinstance(dimensions, dict) else (dimensions or ())
    out = []
    for name, value in items:
        if value not in (None, ""):
            out.append((str(name)[:255], str(value)[:1024]))
    return tuple(out)


class Metrics:
    """Buffer records' metrics and send them in batches.

    `dimensions`: {name: value} (e.g. Pipeline, Bucket) on every datum; when it
    has no Bucket, a record's own bucket becomes the Bucket dimension.
    """

    def __init__(self, session, namespace, dimensions=None, *, strict=False, prog="hdfs2s3kit",
                 region=None, client=None):
        self.namespace = namespace
        self.dimensions = _dims(dimensions)
        self.strict = strict
        self.prog = prog
        self.failed = False        # a call failed (or metrics could not start)
        self.sent_values = 0
        self.dropped_values = 0
        self._session = session
        self._region = region
        self._client = client
        self._buf = collections.defaultdict(collections.Counter)  # (dims, name, unit) -> {value: n}
        self._distinct = 0
        self._oldest = None
        self._paused_until = 0.0
        self._warned = False
        problem = namespace_problem(namespace)
        self.problem = problem     # why metrics are off (misconfigured), else None
        if problem:
            self._fail(errors.ConfigError(f"CloudWatch metrics off: {problem}"))

    # -- collecting ---------------------------------------------------
    def add(self, record):
        dims = self.dimensions
        if record.get("bucket") and not any(n == "Bucket" for n, _ in dims):
            dims = dims + (("Bucket", str(record["bucket"])[:1024]),)
        failed = status.is_failure(record)
        self._put_value(dims, "Transfers", "Count", 1)
        self._put_value(dims, "Successes", "Count", 0 if failed else 1)
        self._put_value(dims, "Failures", "Count", 1 if failed else 0)
        if record.get("status") == "ok":
            nbytes, dur = _num(record.get("bytes")), _num(record.get("duration_s"))
            if nbytes is not None:
                self._put_value(dims, "Bytes", "Bytes", nbytes)
            if dur is not None:
                self._put_value(dims, "Duration", "Seconds", round(dur, 3))
            if nbytes is not None and dur:
                self._put_value(dims, "Throughput", "Bytes/Second", float(f"{nbytes / dur:.4g}"))
        if self._distinct >= FLUSH_VALUES or time.monotonic() - self._oldest >= FLUSH_SECONDS:
            self.flush()

    def _put_value(self, dims, name, unit, value):
        counter = self._buf[(dims, name, unit)]
        if value not in counter:
            self._distinct += 1
        counter[value] += 1
        if self._oldest is None:
            self._oldest = time.monotonic()

    # -- sending ------------------------------------------------------
    def datums(self):
        """The buffered data as PutMetricData MetricData entries (and empty the buffer)."""
        now = datetime.datetime.now(datetime.timezone.utc)
        out = []
        for (dims, name, unit), counter in self._buf.items():
            pairs = sorted(counter.items())
            for i in range(0, len(pairs), MAX_VALUES_PER_DATUM):
                chunk = pairs[i : i + MAX_VALUES_PER_DATUM]
                out.append({
                    "MetricName": name, "Unit": unit, "Timestamp": now,
                    "Dimensions": [{"Name": n, "Value": v} for n, v in dims],
                    "Values": [float(v) for v, _ in chunk], "Counts": [float(c) for _, c in chunk],
                })
        self._buf.clear()
        self._distinct, self._oldest = 0, None
        return out

    def flush(self):
        """Send everything buffered. Returns True if it all went (or nothing was due)."""
        data = self.datums()
        if not data:
            return True
        n_values = sum(len(d["Values"]) for d in data)
        if self.problem or time.monotonic() < self._paused_until:
            self.dropped_values += n_values
            return False
        try:
            if self._client is None:
                self._client = monitoring_client(self._session, "cloudwatch", self._region)
            for i in range(0, len(data), MAX_DATUMS_PER_CALL):
                batch = data[i : i + MAX_DATUMS_PER_CALL]
                self._client.put_metric_data(Namespace=self.namespace, MetricData=batch)
                sent = sum(len(d["Values"]) for d in batch)
                self.sent_values += sent
                n_values -= sent
        except Exception as e:  # noqa: BLE001 - any failure here is an outage to report, not to crash on
            self.dropped_values += n_values
            self._paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
            self._fail(aws.as_kit_error(e, f"CloudWatch PutMetricData {self.namespace}"))
            return False
        return True

    def finish(self, note=None):
        """The end of the stream (same call as Notifier.finish): send the rest."""
        ok = self.flush()
        if self.dropped_values and not self.problem:
            print(f"{self.prog}: warning: {self.dropped_values} metric value(s) not delivered",
                  file=sys.stderr, flush=True)
        return ok

    def _fail(self, err):
        self.failed = True
        if not self._warned:
            self._warned = True
            print(f"{self.prog}: warning: {err.message} (metrics dropped; records still pass through)",
                  file=sys.stderr, flush=True)
        if self.strict:
            if isinstance(err, errors.ConfigError):
                raise err
            raise errors.TempFailError(err.message) from None


def _num(v):
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != v or v < 0:
        return None
    return v
