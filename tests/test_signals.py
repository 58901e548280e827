"""Every stop signal a user can send (HUP, INT, QUIT, TERM) ends a run the same way, and a
request whose answer decides the record is not cut short by one."""

import os
import signal

import pytest

from hdfs2s3kit import errors, mapper, signals


@pytest.mark.parametrize("sig", signals.STOP_SIGNALS)
def test_each_stop_signal_becomes_interrupted_with_128_plus_n(sig):
    old = {s: signal.getsignal(s) for s in signals.STOP_SIGNALS}
    try:
        signals.install_handlers()
        with pytest.raises(errors.Interrupted) as e:
            os.kill(os.getpid(), sig)         # the handler runs before the next line
        assert e.value.code == 128 + sig and e.value.status == "interrupted"
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def test_deferred_finishes_its_block_and_raises_the_first_signal_after():
    done = []
    with pytest.raises(errors.Interrupted) as e:
        with signals.Deferred():
            os.kill(os.getpid(), signal.SIGHUP)
            os.kill(os.getpid(), signal.SIGTERM)
            done.append("the request finished")
    assert done == ["the request finished"] and e.value.code == 129


def test_the_mapper_stops_between_files_on_a_hangup():
    class OneFile:
        def __init__(self):
            self.calls = []

        def one(self, src, dest=None, force=False):
            self.calls.append(src)
            if len(self.calls) == 1:
                os.kill(os.getpid(), signal.SIGHUP)   # lands where no exception can escape
            from hdfs2s3kit import status

            return status.finish(status.new_record("map", src=src), "ok", 0)

    import io

    t = OneFile()
    m = mapper.Mapper(t, out=io.StringIO(), reporter=mapper.Reporter(io.StringIO()), heartbeat_s=0)
    old = signal.getsignal(signal.SIGHUP)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    try:
        with pytest.raises(errors.Interrupted) as e:
            m.run(["/a\n", "/b\n", "/c\n"])
    finally:
        signal.signal(signal.SIGHUP, old)
    assert e.value.code == 129 and t.calls == ["/a"]
