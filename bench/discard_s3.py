"""A stand-in S3 on 127.0.0.1 that keeps nothing: enough of the multipart protocol for
`s3-put-sts` to run to the end, every body read and dropped at socket speed.

For measuring the client (memory, CPU, --bwlimit) at sizes and rates no emulator can hold: moto
keeps every byte in RAM and is GIL-bound. HeadObject after Complete answers with the size and
checksum the client sent with its Complete -- it cannot check them, it only lets the run finish.
For downloads, `add_zeros(bucket, key, size)` registers an object of that many zero bytes (no
checksum) that HEAD and ranged GETs serve from one reused buffer. Loopback only.
Run alone: `python bench/discard_s3.py` prints its URL and serves until killed.
"""

import fcntl
import hashlib
import http.server
import os
import socket
import sys
import threading
import time
import uuid

_CHUNK = 1 << 20
_ZEROS = memoryview(bytes(_CHUNK))
_ZERO_ETAG = '"00000000000000000000000000000000"'


class _State:
    def __init__(self):
        self.lock = threading.Lock()
        self.objects = {}        # key -> headers for HEAD
        self.zeros = {}          # key -> size: objects of zero bytes served to GET
        self.bytes = 0
        self.sent = 0
        self.timeline = None     # [(monotonic, bytes received, bytes sent)] when asked for

    def tick(self, received=0, sent=0):
        """Count body bytes as they cross the socket (and note when, if a timeline is kept)."""
        with self.lock:
            self.bytes += received
            self.sent += sent
            if self.timeline is not None:
                self.timeline.append((time.monotonic(), self.bytes, self.sent))


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    state = None

    def log_message(self, *a):
        pass

    def _drain(self, md5=False):
        n = int(self.headers.get("Content-Length") or 0)
        h = hashlib.md5(usedforsecurity=False) if md5 else None
        left = n
        if h is None and n > _CHUNK:
            left = self._splice_away(n)
        buf = bytearray(_CHUNK)
        mv = memoryview(buf)
        while left:
            got = self.rfile.readinto(mv[: min(left, _CHUNK)])
            if not got:
                break
            if h is not None:
                h.update(mv[:got])
            left -= got
            self.state.tick(received=got)
        return n, (h.hexdigest() if h is not None else uuid.uuid4().hex)

    def _splice_away(self, n):
        """Drop n body bytes in the kernel (socket -> pipe -> /dev/null, no copy to us);
        -> bytes still to read the ordinary way (those already in rfile's buffer first)."""
        pre = self.rfile.peek(1)[: n]
        self.rfile.read(len(pre))
        self.state.tick(received=len(pre))
        left = n - len(pre)
        pr, pw = os.pipe()
        null = os.open(os.devnull, os.O_WRONLY)
        try:
            fcntl.fcntl(pw, 1031, _CHUNK)           # F_SETPIPE_SZ
            sock = self.connection.fileno()
            while left:
                got = os.splice(sock, pw, min(left, _CHUNK))
                if not got:
                    break
                left -= got
                self.state.tick(received=got)
                while got:
                    got -= os.splice(pr, null, got)
        finally:
            for fd in (pr, pw, null):
                os.close(fd)
        return left

    def _reply(self, code, body=b"", headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        if not any(k == "Content-Length" for k, _ in headers):
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def _key(self):
        return self.path.split("?", 1)[0]

    def _checksum_headers(self):
        return [(k, v) for k, v in self.headers.items() if k.lower().startswith("x-amz-checksum-")
                and k.lower() != "x-amz-checksum-type"]

    def do_HEAD(self):
        with self.state.lock:
            hdrs = self.state.objects.get(self._key())
            if hdrs is None and self._key() in self.state.zeros:
                hdrs = [("ETag", _ZERO_ETAG), ("Content-Length", str(self.state.zeros[self._key()]))]
        if hdrs is None:
            self._reply(404)
        else:
            self._reply(200, b"", hdrs)

    def do_GET(self):
        if "uploads" in self.path:
            self._reply(200, b'<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult>'
                             b"<IsTruncated>false</IsTruncated></ListMultipartUploadsResult>")
            return
        with self.state.lock:
            size = self.state.zeros.get(self._key())
        if size is None:
            self._reply(404)
            return
        start, end = 0, size - 1
        rng = self.headers.get("Range")
        if rng and rng.startswith("bytes="):
            a, _, b = rng[6:].partition("-")
            start, end = int(a or 0), min(int(b) if b else size - 1, size - 1)
        n = max(0, end - start + 1)
        hdrs = [("ETag", _ZERO_ETAG), ("Content-Length", str(n)), ("Content-Type", "binary/octet-stream")]
        if rng:
            hdrs.append(("Content-Range", f"bytes {start}-{end}/{size}"))
        self.send_response(206 if rng else 200)
        for k, v in hdrs:
            self.send_header(k, v)
        self.end_headers()
        left = n
        while left:
            step = min(left, _CHUNK)
            self.wfile.write(_ZEROS[:step])
            left -= step
            self.state.tick(sent=step)

    def do_PUT(self):
        single = "partNumber=" not in self.path
        n, etag = self._drain(md5=single)
        hdrs = [("ETag", f'"{etag}"')] + self._checksum_headers()
        if single:
            with self.state.lock:
                self.state.objects[self._key()] = [("ETag", f'"{etag}"'), ("Content-Length", str(n))] + \
                    self._checksum_headers()[:1]
        self._reply(200, b"", hdrs)

    def do_POST(self):
        if self.path.endswith("?uploads") or "?uploads&" in self.path:
            self._drain()
            key = self._key()
            bucket, _, obj = key.lstrip("/").partition("/")
            body = (f'<?xml version="1.0" encoding="UTF-8"?><InitiateMultipartUploadResult><Bucket>{bucket}'
                    f"</Bucket><Key>{obj}</Key><UploadId>{uuid.uuid4().hex}</UploadId>"
                    "</InitiateMultipartUploadResult>").encode()
            self._reply(200, body)
            return
        self._drain()                      # CompleteMultipartUpload
        size = self.headers.get("x-amz-mp-object-size", "0")
        etag = uuid.uuid4().hex + "-1"
        with self.state.lock:
            self.state.objects[self._key()] = [("ETag", f'"{etag}"'), ("Content-Length", size)] + \
                self._checksum_headers()
        body = (f'<?xml version="1.0" encoding="UTF-8"?><CompleteMultipartUploadResult><ETag>"{etag}"</ETag>'
                "</CompleteMultipartUploadResult>").encode()
        self._reply(200, body)

    def do_DELETE(self):
        self._reply(204)


class DiscardS3:
    def __init__(self):
        state = _State()
        handler = type("Handler", (_Handler,), {"state": state})
        self.state = state
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._t = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._t.start()

    def keep_timeline(self, on=True):
        """Note (time, bytes received, bytes sent) at every chunk from now on (None: stop)."""
        with self.state.lock:
            self.state.timeline = [] if on else None

    def steady_rate(self, which="received", lo=0.25, hi=0.9):
        """Bytes per second on the wire between the moments the timeline's run had moved `lo`
        and `hi` of its bytes: past the start-up and any burst, before the tail."""
        col = 1 if which == "received" else 2
        with self.state.lock:
            tl = list(self.state.timeline or ())
        if len(tl) < 3:
            return None
        first, last = tl[0][col], tl[-1][col]
        total = last - first
        a = next(t for t in tl if t[col] - first >= lo * total)
        b = next(t for t in tl if t[col] - first >= hi * total)
        return (b[col] - a[col]) / (b[0] - a[0]) if b[0] > a[0] else None

    def add_zeros(self, bucket, key, size):
        """An object of `size` zero bytes at s3://bucket/key for HEAD and (ranged) GET."""
        with self.state.lock:
            self.state.zeros[f"/{bucket}/{key}"] = int(size)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    s = DiscardS3()
    print(s.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        sys.exit(0)
