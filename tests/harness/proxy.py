"""A small TCP proxy on 127.0.0.1 that misbehaves on purpose.

Put its URL in AWS_ENDPOINT_URL in front of the moto server to make the
network fail in ways a real one does: `cut` resets a connection once it has
carried N request bytes (a connection reset mid-part), `corrupt` flips one
byte of the request stream (what S3's checksum header exists to catch),
`corrupt_reply_at` one byte of a response, `slowdowns` answers UploadParts
with 503 SlowDown (S3's throttling), `lose_reply` ({kind: n}) lets a request
reach the server and then drops its answer (the connection is reset instead:
S3 acted, the client never heard), `stall_reply` ({kind: seconds}) holds an
answer back, `hold_request` ({kind: seconds}) holds a request back before
the server sees it. Kinds: create, complete, part, put, head, list, abort, delete
(`kinds` counts the requests seen of each).
Each fault fires a bounded number of times, then the proxy just forwards.
Loopback only: it binds 127.0.0.1 and forwards to a 127.0.0.1 URL.
"""

import collections
import re
import socket
import struct
import threading
import time
import urllib.parse

_REQUEST = re.compile(rb"(GET|PUT|POST|HEAD|DELETE) (/\S*) HTTP/1\.1\r\n")


def request_kind(method, target):
    if method == b"POST":
        return "create" if target.endswith(b"?uploads") or b"?uploads&" in target or b"&uploads" in target \
            else "complete" if b"uploadId=" in target else "post"
    if method == b"PUT":
        return "part" if b"partNumber=" in target else "put"
    if method == b"DELETE":
        return "abort" if b"uploadId=" in target else "delete"
    if method == b"GET":
        return "list" if b"uploads" in target else "get"
    return "head"


_SLOWDOWN_BODY = (b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code>'
                  b'<Message>Please reduce your request rate.</Message></Error>')
_SLOWDOWN = (b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\nConnection: close\r\n"
             b"Content-Length: " + str(len(_SLOWDOWN_BODY)).encode() + b"\r\n\r\n" + _SLOWDOWN_BODY)


class FaultyProxy:
    def __init__(self, target_url, *, cut_after=None, cuts=0, corrupt_at=None, corruptions=0,
                 corrupt_reply_at=None, slowdowns=0, lose_reply=None, stall_reply=None,
                 hold_request=None):
        u = urllib.parse.urlparse(target_url)
        if u.hostname not in ("127.0.0.1", "localhost"):
            raise ValueError("the test proxy forwards to loopback only")
        self.target = (u.hostname, u.port)
        self.cut_after, self.cuts_left = cut_after, cuts
        self.corrupt_at, self.corruptions_left = corrupt_at, corruptions
        self.corrupt_reply_at = corrupt_reply_at      # same budget, on the server -> client side
        self.slowdowns_left = slowdowns    # answer an UploadPart with 503 SlowDown instead of forwarding
        self.cuts_done = self.corruptions_done = self.slowdowns_done = self.connections = 0
        self.lose_left = dict(lose_reply or {})
        self.stall = dict(stall_reply or {})
        self.hold = dict(hold_request or {})
        self.lost = collections.Counter()      # answers dropped, by kind
        self.kinds = collections.Counter()     # requests seen, by kind
        self._lock = threading.Lock()
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        self._stop = False
        self._conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._stop:
            try:
                client, _ = self._sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=30)
            except OSError:
                client.close()
                continue
            with self._lock:
                self.connections += 1
                self._conns += [client, upstream]
            state = {"lose": None, "stall": 0.0}
            threading.Thread(target=self._pump_up, args=(client, upstream, state), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(upstream, client, state), daemon=True).start()

    def _take(self, what):
        with self._lock:
            left = getattr(self, what + "_left")
            if left <= 0:
                return False
            setattr(self, what + "_left", left - 1)
            return True

    def _corrupt(self, data, seen, at, corrupt):
        """Flip the byte at stream offset `at` (data starts at offset `seen`), on the
        connections chosen to corrupt; `corrupt` is that choice, made once on reaching `at`."""
        if corrupt is None and at is not None and seen + len(data) > at:
            corrupt = self._take("corruptions")
            if corrupt:
                i = at - seen
                data = data[:i] + bytes([data[i] ^ 0xFF]) + data[i + 1:]
                with self._lock:
                    self.corruptions_done += 1
        return data, corrupt

    def _note_requests(self, data, state):
        for m in _REQUEST.finditer(data[:4096]):
            kind = request_kind(m.group(1), m.group(2))
            with self._lock:
                self.kinds[kind] += 1
            if self.hold.get(kind):
                time.sleep(self.hold[kind])
            with self._lock:
                if self.lose_left.get(kind, 0) > 0:
                    self.lose_left[kind] -= 1
                    state["lose"] = kind
                state["stall"] = self.stall.get(kind, 0.0)

    def _pump_up(self, src, dst, state):
        """Client -> server, where the faults are injected."""
        seen = 0
        cut = corrupt = None
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._note_requests(data, state)
                if seen == 0 and self._is_upload_part(data) and self._take("slowdowns"):
                    src.sendall(_SLOWDOWN)
                    with self._lock:
                        self.slowdowns_done += 1
                    self._reset(src, dst)
                    return
                if cut is None and self.cut_after is not None and seen + len(data) > self.cut_after:
                    cut = self._take("cuts")
                    if cut:
                        # forward part of it, then RST both sides: a reset mid-request
                        dst.sendall(data[: max(0, self.cut_after - seen)])
                        with self._lock:
                            self.cuts_done += 1
                        self._reset(src, dst)
                        return
                data, corrupt = self._corrupt(data, seen, self.corrupt_at, corrupt)
                seen += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._half_close(dst)

    def _pump_down(self, src, dst, state):
        seen, corrupt = 0, None
        at = self.corrupt_reply_at
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if state["stall"] and not data.startswith(b"HTTP/1.1 100 "):
                    time.sleep(state["stall"])
                    state["stall"] = 0.0
                if state["lose"] and not data.startswith(b"HTTP/1.1 100 "):   # not `100 Continue`
                    with self._lock:
                        self.lost[state["lose"]] += 1
                    # shutdown first: it wakes the other pump, blocked in recv on this socket,
                    # so that the close really happens (and, with linger 0, resets)
                    for sock in (dst, src):
                        try:
                            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                            sock.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    self._reset(src, dst)
                    return
                data, corrupt = self._corrupt(data, seen, at, corrupt)
                seen += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            self._half_close(dst)

    @staticmethod
    def _is_upload_part(data):
        line = data.split(b"\r\n", 1)[0]
        return line.startswith(b"PUT ") and b"partNumber=" in line

    @staticmethod
    def _half_close(s):
        try:
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    @staticmethod
    def _reset(*socks):
        for s in socks:
            try:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            except OSError:
                pass

    def close(self):
        self._stop = True
        self._sock.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
