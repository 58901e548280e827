"""Input lines of the mapper: SRC, SRC<TAB>DEST, OFFSET<TAB>SRC (NLineInputFormat), and bad lines."""

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hdfs2s3kit import mapper


def parsed(line):
    item = mapper.parse_line(line, 7)
    return None if item is None else (item.src, item.dest, item.error)


@pytest.mark.parametrize("line,src,dest", [
    ("/data/q3.csv", "/data/q3.csv", None),
    ("hdfs://nn:8020/data/q3.csv\n", "hdfs://nn:8020/data/q3.csv", None),
    ("/data/q3.csv\ts3://b/k/q3.enc", "/data/q3.csv", "s3://b/k/q3.enc"),
    ("0\t/data/q3.csv", "/data/q3.csv", None),
    ("4711\tviewfs://c/user/a/f\n", "viewfs://c/user/a/f", None),
    ("4711\tfile:///tmp/x", "file:///tmp/x", None),
    ("12\t/data/a\ts3://b/a", "/data/a", "s3://b/a"),           # NLineInputFormat over SRC<TAB>DEST lines
    ("2024\ts3://b/k", "2024", "s3://b/k"),                      # a relative source named "2024", with DEST
    ("123\tdata/rel", "data/rel", None),                          # offset, then a relative HDFS path
])
def test_each_input_form_gives_source_and_destination(line, src, dest):
    assert parsed(line) == (src, dest, None)


def test_blank_lines_are_skipped():
    assert mapper.parse_line("\n") is None
    assert mapper.parse_line("   \r\n") is None


@pytest.mark.parametrize("line,words", [
    ("-rf", "starts with '-'"),
    ("0\t--help", "starts with '-'"),
    ("/a\t/b", "not an s3:// URL"),
    ("/a\tb\tc\td", "4 tab-separated fields"),
    ("x\t/a\ts3://b/k", "3 tab-separated fields"),
    # a CR is part of the name, never stripped (issue 13): a line listing cannot carry it
    ("4711\tviewfs://c/user/a/f\r\n", "use -0: NUL-separated"),
])
def test_bad_lines_are_reported_with_their_line_number(line, words):
    src, dest, err = parsed(line)
    assert err.startswith("line 7: ") and words in err


@given(offset=st.integers(min_value=0, max_value=10**15),
       path=st.text(alphabet=st.characters(blacklist_characters="\t\r\n", blacklist_categories=("Cs",)),
                    min_size=1, max_size=40).map(lambda s: "/" + s.strip()))
def test_an_offset_key_is_never_taken_for_the_source(offset, path):
    assert parsed(f"{offset}\t{path}") == (path.strip(), None, None)
    assert parsed(f"{offset}\t{path}\ts3://bkt/k") == (path.strip(), "s3://bkt/k", None)


def test_batches_keep_line_numbers_and_size():
    lines = io.StringIO("/a\n\n/b\n/c\n-x\n/e\n")
    batches = list(mapper.read_batches(lines, 2))
    assert [[i.lineno for i in b] for b in batches] == [[1, 3], [4, 5], [6]]
    assert batches[1][1].error is not None


def test_tsv_line_has_seven_fields_and_no_stray_tabs():
    rec = {"status": "io_error", "src": "/a\tb", "bucket": "bk", "key": "k", "src_bytes": 10, "bytes": 99,
           "xxh3_128": None, "duration_s": 0.5, "error": "short\tread\nat 5"}
    cells = mapper.tsv_line(rec).split("\t")
    assert cells == ["io_error", "/a b", "s3://bk/k", "10", "", "0.500", "short read at 5"]


def test_task_identity_comes_from_hadoop_streaming_env():
    env = {"mapreduce_task_attempt_id": "attempt_1_0001_m_000003_1", "mapreduce_task_id": "task_1_0001_m_000003"}
    assert mapper.task_identity(env) == ("task_1_0001_m_000003", "attempt_1_0001_m_000003_1")
    task, attempt = mapper.task_identity({})
    assert task == "local" and attempt != mapper.task_identity({})[1]
