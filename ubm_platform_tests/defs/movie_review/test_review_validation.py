"""validate_reviews against the ways a vendor file goes wrong (issue "Bad vendor input").

Every test builds its input bytes here and writes the expected rows from that input. `run` checks, for
every file, what must always hold: the batches have the published schemas, the report's counts agree
with what was handed on, and raw rows = valid + quarantined.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import io
import random
import tracemalloc
from collections import Counter
from dataclasses import dataclass

import pyarrow as pa
import pytest

from ubm_platform.defs.movie_review import validation
from ubm_platform.defs.movie_review.validation import (
    QUARANTINE_SCHEMA,
    RAW_REVIEW_SCHEMA,
    ReviewFileReport,
    UnreadableFile,
    validate_reviews,
)

DAY = "2024-05-01"
SOURCE = "landing/reviews/reviews_2024-05-01.csv"


@dataclass
class Result:
    report: ReviewFileReport
    valid_batches: list[pa.Table]
    bad_batches: list[pa.Table]

    @property
    def valid(self) -> list[dict]:
        return [row for table in self.valid_batches for row in table.to_pylist()]

    @property
    def bad(self) -> list[dict]:
        return [row for table in self.bad_batches for row in table.to_pylist()]

    def valid_by_line(self) -> dict[int, dict]:
        rows = self.valid
        by_line = {row["source_line"]: row for row in rows}
        assert len(by_line) == len(rows), "two valid rows with the same source line"
        return by_line

    def bad_by_line(self) -> dict[int, dict]:
        rows = self.bad
        by_line = {row["line_number"]: row for row in rows}
        assert len(by_line) == len(rows), "two quarantined rows with the same line number"
        return by_line


def run(data: bytes, batch_rows: int = 50_000) -> Result:
    valid_batches: list[pa.Table] = []
    bad_batches: list[pa.Table] = []
    logged: list[str] = []
    report = validate_reviews(
        io.BytesIO(data), SOURCE, DAY, valid_batches.append, bad_batches.append, batch_rows=batch_rows,
        log=logged.append,
    )
    result = Result(report, valid_batches, bad_batches)
    for table in valid_batches:
        assert table.schema == RAW_REVIEW_SCHEMA
        assert 0 < table.num_rows <= batch_rows
    for table in bad_batches:
        assert table.schema == QUARANTINE_SCHEMA
        assert 0 < table.num_rows <= batch_rows
    bad = result.bad
    assert report.valid_rows == len(result.valid)
    assert report.quarantined_rows == len(bad)
    assert report.raw_rows == report.valid_rows + report.quarantined_rows
    assert sum(report.reasons.values()) == report.quarantined_rows
    assert {row["source_file"] for row in bad} <= {SOURCE}
    assert all(len(row["raw_line"]) <= validation.QUARANTINE_RAW_CHARS for row in bad)
    assert len(logged) == min(20, len(bad))
    return result


def reason_of(row: dict) -> str:
    """The reason's kind, as counted in the report (the quarantine's reason adds details after ': ')."""
    return row["reason"].split(": ")[0]


# --- the file as a whole ---------------------------------------------------------------------------


def test_empty_file():
    result = run(b"")
    assert (result.report.raw_rows, result.valid_batches, result.bad_batches) == (0, [], [])
    assert "empty file" in result.report.notes


def test_file_of_blank_lines_is_empty():
    result = run(b"\n\r\n\n")
    assert (result.report.raw_rows, result.valid_batches, result.bad_batches) == (0, [], [])
    assert "empty file" in result.report.notes


@pytest.mark.parametrize("data", [b"cid,review_str\n", b"cid,review_str", b"cid,review_str\r\n\r\n\n"])
def test_header_only(data):
    result = run(data)
    assert (result.report.raw_rows, result.valid_batches, result.bad_batches) == (0, [], [])
    assert "no rows after the header" in result.report.notes


def test_wrong_columns_quarantine_every_line_with_the_reason():
    result = run(b"customer,text\n1,great film\n2,dull\n")
    assert result.valid == []
    bad = result.bad_by_line()
    assert sorted(bad) == [1, 2, 3]  # line 1 too: it could be a row of a file sent without header
    assert bad[2]["raw_line"] == "1,great film\n"
    assert all(reason_of(row) == "header lacks required columns" for row in bad.values())
    assert "'customer,text'" in bad[2]["reason"]
    assert result.report.reasons == Counter({"header lacks required columns": 3})
    assert any("header lacks required columns" in note for note in result.report.notes)


def test_missing_required_column():
    result = run(b"cid,film_id,score\n1,2,3\n4,5,1\n")
    assert result.valid == []
    assert sorted(result.bad_by_line()) == [1, 2, 3]


def test_file_sent_without_header_keeps_its_first_row_in_quarantine():
    result = run(b"1,great film\n2,dull\n")
    assert result.valid == []
    bad = result.bad_by_line()
    assert bad[1]["raw_line"] == "1,great film\n"
    assert bad[2]["raw_line"] == "2,dull\n"


def test_header_with_extra_unknown_columns_in_another_order():
    data = (
        b" Review_Str ,vendor_flag,FILM_ID,cid,score,review_id,ingested_by\n"
        b"Loved it,x,12,7,5,r-1,bot\n"
        b"Meh,,,8,,,\n"
    )
    result = run(data)
    assert result.report.quarantined_rows == 0
    assert result.valid_by_line() == {
        2: {"review_id": "r-1", "cid": 7, "film_id": 12, "score": 5, "review_str": "Loved it", "source_line": 2},
        3: {"review_id": f"{DAY}:3", "cid": 8, "film_id": None, "score": None, "review_str": "Meh",
            "source_line": 3},
    }


def test_row_with_a_field_too_many_or_too_few():
    result = run(b"cid,review_str,score\n1,good,5\n2,too,many,4\n3,too few\n4,fine,\n")
    assert sorted(result.valid_by_line()) == [2, 5]
    bad = result.bad_by_line()
    assert {line: reason_of(row) for line, row in bad.items()} == {3: "wrong number of fields",
                                                                    4: "wrong number of fields"}
    assert bad[3]["reason"] == "wrong number of fields: expected 3, found 4"
    assert bad[4]["raw_line"] == "3,too few\n"


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_other_delimiter_is_taken_from_the_header_and_noted(delimiter):
    d = delimiter
    data = f"cid{d}review_str{d}score\n1{d}Great, really{d}5\n2{d}\"has {d} inside\"{d}\n".encode()
    result = run(data)
    assert result.report.delimiter == delimiter
    assert f"delimiter {delimiter!r} instead of ','" in result.report.notes
    rows = result.valid_by_line()
    assert (rows[2]["review_str"], rows[2]["score"]) == ("Great, really", 5)
    assert (rows[3]["review_str"], rows[3]["score"]) == (f"has {d} inside", None)
    assert result.report.quarantined_rows == 0


def test_semicolon_file_with_a_comma_row_quarantines_that_row():
    result = run(b"cid;review_str\n1;good\n2,comma row\n")
    assert result.report.delimiter == ";"
    assert sorted(result.valid_by_line()) == [2]
    assert reason_of(result.bad_by_line()[3]) == "wrong number of fields"


def test_crlf_line_endings():
    result = run(b"cid,review_str,score\r\n1,first,4\r\n2,\"two\r\nlines\",\r\n3,third,\r\n")
    rows = result.valid_by_line()
    assert [(r["cid"], r["review_str"], r["score"]) for r in rows.values()] == [
        (1, "first", 4), (2, "two\r\nlines", None), (3, "third", None)]
    assert sorted(rows) == [2, 3, 5]


def test_utf8_bom():
    result = run("\ufeffcid,review_str\n1,Très bien\n".encode("utf-8"))
    assert result.report.quarantined_rows == 0
    assert result.valid[0]["review_str"] == "Très bien"
    assert result.report.decoded_as_cp1252 == 0


def test_utf8_bom_on_a_cp1252_file():
    # the BOM is taken off before decoding, so a header line in Windows-1252 does not start with 'ï»¿'
    result = run(b"\xef\xbb\xbfcid,review_str\n1,caf\xe9\n")
    assert result.valid[0]["review_str"] == "café"


def test_blank_lines_are_not_rows():
    result = run(b"\n\ncid,review_str\n\n1,a\n   \n\r\n2,b\n\n")
    assert sorted(result.valid_by_line()) == [5, 8]
    assert result.report.raw_rows == 2


def test_bare_cr_line_endings_do_not_crash_and_lose_nothing():
    result = run(b"cid,review_str\r1,good\r2,bad\r")
    assert result.valid == []
    bad = result.bad
    assert len(bad) == 1 and bad[0]["raw_line"] == "cid,review_str\r1,good\r2,bad\r"
    assert any("bare CR" in note for note in result.report.notes)


# --- encodings -------------------------------------------------------------------------------------


ENCODED_TEXT = 'review_id,cid,review_str\nr1,1,“Amélie” – très charmant\r\nr2,2,"two\nlines, one review"\nr3,3,ça va\n'
ENCODED_ROWS = [("r1", 1, "“Amélie” – très charmant"), ("r2", 2, "two\nlines, one review"), ("r3", 3, "ça va")]


@pytest.mark.parametrize("encoded, detected", [
    (ENCODED_TEXT.encode("utf-8"), "UTF-8"),
    (codecs.BOM_UTF8 + ENCODED_TEXT.encode("utf-8"), "UTF-8 with BOM"),
    (codecs.BOM_UTF16_LE + ENCODED_TEXT.encode("utf-16-le"), "UTF-16 LE"),
    (codecs.BOM_UTF16_BE + ENCODED_TEXT.encode("utf-16-be"), "UTF-16 BE"),
    (codecs.BOM_UTF32_LE + ENCODED_TEXT.encode("utf-32-le"), "UTF-32 LE"),
    (ENCODED_TEXT.encode("cp1252"), "UTF-8 and Windows-1252 lines"),
], ids=["utf-8", "utf-8-bom", "utf-16-le", "utf-16-be", "utf-32-le", "windows-1252"])
def test_every_supported_encoding_gives_the_same_rows(encoded, detected):
    result = run(encoded)
    assert [(r["review_id"], r["cid"], r["review_str"]) for r in result.valid] == ENCODED_ROWS
    assert sorted(result.valid_by_line()) == [2, 3, 5]  # line numbers of the file, whatever its encoding
    assert result.report.quarantined_rows == 0
    assert result.report.encoding == detected


def test_utf16_lines_are_read_in_bounded_pieces(monkeypatch):
    monkeypatch.setattr(validation, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(validation, "MAX_RECORD_CHARS", 250)
    text = "cid,review_str\n1,first\n2," + "x" * 5000 + "\n3,third\n"
    result = run(codecs.BOM_UTF16_LE + text.encode("utf-16-le"))
    assert [(r["cid"], r["review_str"]) for r in result.valid] == [(1, "first"), (3, "third")]
    assert [reason_of(r) for r in result.bad] == ["record too long"]


@pytest.mark.parametrize("data, detected", [
    (ENCODED_TEXT.encode("utf-16-le"), "NUL"),  # UTF-16 without its byte-order mark
    (ENCODED_TEXT.encode("utf-32-be"), "NUL"),
    (("cid,review_str\n" + "1,映画はとても良かった。素晴らしい演技でした\n" * 30).encode("shift_jis"), "non-ASCII"),
    (gzip.compress(ENCODED_TEXT.encode()), "gzip"),
    (b"PK\x03\x04" + bytes(200), "zip"),
], ids=["utf-16-no-bom", "utf-32-no-bom", "shift-jis", "gzip", "zip"])
def test_a_file_whose_encoding_cannot_be_told_is_refused_as_a_whole(data, detected):
    landed: list = []
    with pytest.raises(UnreadableFile) as refused:
        validate_reviews(io.BytesIO(data), SOURCE, DAY, landed.append, landed.append)
    assert SOURCE in str(refused.value) and detected in str(refused.value)
    assert landed == [], "nothing of a refused file is landed or quarantined"


def test_utf16_that_breaks_after_its_byte_order_mark_is_refused():
    data = codecs.BOM_UTF16_LE + "cid,review_str\n1,ok\n".encode("utf-16-le") + b"\x00\xd8\x41\x00"  # lone surrogate
    with pytest.raises(UnreadableFile, match="not valid utf-16"):
        validate_reviews(io.BytesIO(data), SOURCE, DAY, lambda t: None, lambda t: None)


def test_control_characters_in_text_become_spaces_and_are_counted():
    data = ("review_id,cid,review_str\nr\x001,1,nul\x00in the middle\n"
            "r2,2,bell\x07 and\ttab\x7f\x9f\n r3,3,\x00\x01\x1f\n").encode("utf-8")
    result = run(data)
    assert [(r["review_id"], r["review_str"]) for r in result.valid] == [
        ("r 1", "nul in the middle"), ("r2", "bell  and\ttab")]
    assert result.report.control_characters_replaced == 5  # in landed rows; r3's text was nothing but them
    assert [reason_of(r) for r in result.bad] == ["review_str is empty"]
    assert result.bad[0]["raw_line"] == " r3,3,\x00\x01\x1f\n", "the quarantine keeps the line as it came"
    assert all(not validation.CONTROL_CHARACTERS.search(r["review_str"] + r["review_id"]) for r in result.valid)


def test_windows_1252_is_decoded_and_counted():
    data = (
        b"cid,review_str\n"
        + "1,“Amélie” is a delight – très charmant\n".encode("cp1252")
        + "2,plain ascii\n".encode("cp1252")
        + "3,déjà vu in UTF-8\n".encode("utf-8")
        + "4,‘quoted’ and naïve\n".encode("cp1252")
    )
    result = run(data)
    assert result.report.quarantined_rows == 0
    assert {line: row["review_str"] for line, row in result.valid_by_line().items()} == {
        2: "“Amélie” is a delight – très charmant",
        3: "plain ascii",
        4: "déjà vu in UTF-8",
        5: "‘quoted’ and naïve",
    }
    assert result.report.decoded_as_cp1252 == 2  # lines 2 and 5; ASCII and UTF-8 lines decode as UTF-8
    assert result.report.as_metadata()["decoded_as_cp1252"] == 2


@pytest.mark.parametrize("byte", [b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"])
def test_bytes_undecodable_in_utf8_and_cp1252_are_quarantined(byte):
    data = b"cid,review_str\n1,fine\n2,bad " + byte + b" byte\n3,also fine\n"
    result = run(data)
    assert sorted(result.valid_by_line()) == [2, 4]
    bad = result.bad_by_line()
    assert list(bad) == [3]
    assert reason_of(bad[3]) == "not decodable as UTF-8 or Windows-1252"
    assert f"{byte[0]:#04x}" in bad[3]["reason"]
    assert bad[3]["raw_line"] == f"2,bad \\x{byte[0]:02x} byte\n"
    assert result.report.decoded_as_cp1252 == 0


def test_undecodable_line_inside_a_malformed_record_does_not_taint_the_next_row():
    result = run(b'cid,review_str\n1,"\x81 bad"x\n2,good\n')
    assert [r["cid"] for r in result.valid] == [2]
    assert list(result.bad_by_line()) == [2]


# --- quoting ---------------------------------------------------------------------------------------


def test_quotes_commas_and_newlines_inside_review_text():
    data = (
        b'cid,review_str,score\n'
        b'1,"He said ""wow"", then\nleft, twice.\n\nThe end",4\n'
        b'2,plain,\n'
    )
    result = run(data)
    rows = result.valid_by_line()
    assert rows[2]["review_str"] == 'He said "wow", then\nleft, twice.\n\nThe end'
    assert rows[2]["score"] == 4
    assert rows[6]["review_str"] == "plain"  # the line numbers after the multi-line record stay right
    assert result.report.raw_rows == 2


def test_bad_quoted_record_spanning_lines_is_reported_at_its_start_line():
    data = b'cid,review_str\n1,ok\n-5,"first\nsecond\nthird"\n2,ok\n'
    result = run(data)
    bad = result.bad_by_line()
    assert list(bad) == [3]
    assert reason_of(bad[3]) == "cid is not a positive integer"
    assert bad[3]["raw_line"] == '-5,"first\nsecond\nthird"\n'
    assert sorted(result.valid_by_line()) == [2, 6]


def test_quote_inside_an_unquoted_field_is_text():
    result = run(b'cid,review_str\n1,the "best" film\n')
    assert result.valid[0]["review_str"] == 'the "best" film'


def test_text_after_a_closing_quote_is_malformed():
    result = run(b'cid,review_str\n1,"abc"def\n2,good\n')
    bad = result.bad_by_line()
    assert list(bad) == [2] and reason_of(bad[2]) == "malformed CSV"
    assert bad[2]["raw_line"] == '1,"abc"def\n'
    assert [r["cid"] for r in result.valid] == [2]


def test_unterminated_quote_at_end_of_file():
    result = run(b'cid,review_str\n1,good\n2,"never closed\n3,a row\n4,another row\n')
    bad = result.bad_by_line()
    assert list(bad) == [3]
    assert reason_of(bad[3]) == "unterminated quoted field"
    assert bad[3]["raw_line"] == '2,"never closed\n'
    # the lines the open quote ran over are read again as rows
    assert {line: r["cid"] for line, r in result.valid_by_line().items()} == {2: 1, 4: 3, 5: 4}


def test_unterminated_quote_on_the_last_line_without_newline():
    result = run(b'cid,review_str\n1,good\n2,"never closed')
    assert reason_of(result.bad_by_line()[3]) == "unterminated quoted field"
    assert [r["cid"] for r in result.valid] == [1]


def test_stray_quote_mid_file_does_not_swallow_the_rows_after_it():
    data = b'cid,review_str\n1,"oops\n2,fine\n3,"quoted, ok"\n4,last\n'
    result = run(data)
    bad = result.bad_by_line()
    assert list(bad) == [2]
    assert reason_of(bad[2]) == "malformed CSV"
    assert bad[2]["raw_line"] == '1,"oops\n'
    assert {line: (r["cid"], r["review_str"]) for line, r in result.valid_by_line().items()} == {
        3: (2, "fine"), 4: (3, "quoted, ok"), 5: (4, "last")}


def test_quote_left_open_for_more_than_the_record_limit_is_cut(monkeypatch):
    monkeypatch.setattr(validation, "MAX_RECORD_CHARS", 100)
    lines = [f"{cid},plain review number {cid}\n" for cid in range(2, 40)]
    data = ("cid,review_str\n1,\"opens and never closes\n" + "".join(lines)).encode()
    result = run(data)
    bad = result.bad_by_line()
    assert list(bad) == [2]
    assert reason_of(bad[2]) == "unterminated quoted field"
    assert "after 100 characters" in bad[2]["reason"]
    assert {line: r["cid"] for line, r in result.valid_by_line().items()} == {cid + 1: cid for cid in range(2, 40)}


# --- values ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("cid", ["-5", "0", "abc", "1.5", "1e3", "", "  ", "١٢", "12 34", "99999999999999999999"])
def test_cid_not_a_positive_integer(cid):
    result = run(f"cid,review_str\n{cid},nice\n7,ok\n".encode())
    bad = result.bad_by_line()
    assert list(bad) == [2]
    assert reason_of(bad[2]) == "cid is not a positive integer"
    assert [r["cid"] for r in result.valid] == [7]


@pytest.mark.parametrize("cid, expected", [("42", 42), (" 42 ", 42), ("+42", 42), ("007", 7),
                                           ("999999999999999999", 999999999999999999)])
def test_cid_accepted_forms(cid, expected):
    result = run(f'cid,review_str\n"{cid}",nice\n'.encode())
    assert [r["cid"] for r in result.valid] == [expected]


@pytest.mark.parametrize("text", ["", "   ", '""', '"  \n  "'])
def test_empty_review_text(text):
    result = run(f"cid,review_str\n1,{text}\n2,fine\n".encode())
    bad = result.bad_by_line()
    assert list(bad) == [2]
    assert reason_of(bad[2]) == "review_str is empty"
    assert [r["cid"] for r in result.valid] == [2]


@pytest.mark.parametrize("score", ["0", "6", "-1", "4.5", "five", "²", "١", "99999999999999999999999"])
def test_score_out_of_range_or_not_an_integer(score):
    result = run(f"cid,review_str,score\n1,nice,{score}\n2,fine,3\n".encode())
    bad = result.bad_by_line()
    assert list(bad) == [2]
    assert reason_of(bad[2]) == "score is not an integer from 1 to 5"
    assert [(r["cid"], r["score"]) for r in result.valid] == [(2, 3)]


@pytest.mark.parametrize("score, expected", [("1", 1), ("5", 5), (" 3 ", 3), ("", None)])
def test_score_accepted(score, expected):
    result = run(f"cid,review_str,score\n1,nice,{score}\n".encode())
    assert [r["score"] for r in result.valid] == [expected]


@pytest.mark.parametrize("film", ["0", "-3", "x", "2.0"])
def test_film_id_not_a_positive_integer(film):
    result = run(f"cid,film_id,review_str\n1,{film},nice\n".encode())
    assert reason_of(result.bad_by_line()[2]) == "film_id is not a positive integer"


def test_duplicate_rows():
    data = (
        b"cid,film_id,review_str\n"
        b"1,10,Great\n"
        b"1,10,Great\n"  # the same row again
        b"1,10, Great \n"  # the same after trimming
        b"2,10,Great\n"  # another customer: not a duplicate
        b"1,11,Great\n"  # another film: not a duplicate
        b"1,10,Great\n"
    )
    result = run(data)
    assert sorted(result.valid_by_line()) == [2, 5, 6]
    bad = result.bad_by_line()
    assert {line: row["reason"] for line, row in bad.items()} == {
        3: "duplicate: of line 2", 4: "duplicate: of line 2", 7: "duplicate: of line 2"}
    assert result.report.reasons == Counter({"duplicate": 3})  # one reason, not one per line


def test_duplicate_review_id():
    data = b"review_id,cid,review_str\nr1,1,Great\nr2,1,Great\nr1,2,Other text\n"
    result = run(data)
    assert {line: r["review_id"] for line, r in result.valid_by_line().items()} == {2: "r1", 3: "r2"}
    assert result.bad_by_line()[4]["reason"] == "duplicate: of line 2"


def test_rows_without_review_id_get_one_from_day_and_line():
    result = run(b"cid,review_str\n1,a\n\n2,b\n")
    assert [r["review_id"] for r in result.valid] == [f"{DAY}:2", f"{DAY}:4"]


# --- size and batches ------------------------------------------------------------------------------


def test_two_megabyte_line_is_quarantined_by_length_and_rows_after_it_go_on():
    long_text = "a" * (2 * 1024 * 1024)
    data = f"cid,review_str\n1,before\n2,{long_text}\n3,after\n".encode()
    tracemalloc.start()
    try:
        result = run(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bad = result.bad_by_line()
    assert list(bad) == [3]
    assert reason_of(bad[3]) == "record too long"
    assert bad[3]["raw_line"] == ("2," + long_text)[: validation.QUARANTINE_RAW_CHARS]
    assert {line: r["review_str"] for line, r in result.valid_by_line().items()} == {2: "before", 4: "after"}
    assert peak < 40 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 2 MiB line"


def test_long_line_that_opens_a_quote_is_quarantined_by_length():
    long_text = "b" * (validation.MAX_RECORD_CHARS + 10)
    result = run(f'cid,review_str\n1,before\n2,"{long_text}\n3,after\n4,"closed"\n'.encode())
    bad = result.bad_by_line()
    assert list(bad) == [3]
    assert reason_of(bad[3]) == "record too long"
    assert {line: r["review_str"] for line, r in result.valid_by_line().items()} == {
        2: "before", 4: "after", 5: "closed"}


def test_line_over_the_read_limit_is_skipped_without_reading_it_whole():
    size = 3 * validation.MAX_LINE_BYTES  # 12 MiB on one line
    data = b"cid,review_str\n1,before\n2," + b'"' + b"x" * size + b"\n3,after\n"
    tracemalloc.start()  # the input itself is allocated before this
    try:
        result = run(data)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    bad = result.bad_by_line()
    assert list(bad) == [3]
    assert reason_of(bad[3]) == "record too long"
    assert f"{size + 4} bytes" in bad[3]["reason"]
    assert bad[3]["raw_line"] == ('2,"' + "x" * size)[: validation.QUARANTINE_RAW_CHARS]
    assert {line: r["review_str"] for line, r in result.valid_by_line().items()} == {2: "before", 4: "after"}
    assert peak < validation.MAX_LINE_BYTES + 4 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB"


def test_batches_are_flushed_every_batch_rows():
    data = b"cid,review_str\n" + b"".join(f"{cid},review {cid}\n".encode() for cid in range(1, 6))
    result = run(data, batch_rows=2)
    assert [t.num_rows for t in result.valid_batches] == [2, 2, 1]
    assert [r["cid"] for r in result.valid] == [1, 2, 3, 4, 5]


def test_quarantine_is_flushed_in_batches_even_without_valid_rows():
    data = b"cid,review_str\n" + b"".join(f"-{cid},review {cid}\n".encode() for cid in range(1, 6))
    seen_batches: list[int] = []
    validate_reviews(io.BytesIO(data), SOURCE, DAY, lambda t: None, lambda t: seen_batches.append(t.num_rows),
                     batch_rows=2)
    assert seen_batches == [2, 2, 1]


# --- the row accounting over a mixed file ----------------------------------------------------------

COLUMNS = ["review_id", "cid", "film_id", "score", "review_str"]
WORDS = ["good", "bad", "film", "plot", "comma,", 'a "quote"', "new\nline", "Amélie", "日本", "😀", ";", "|",
         "tab\there", "'s", "-lrb-"]


def _mixed_file(seed: int):
    """A file of good and bad lines.

    Returns (bytes, {line: expected valid row}, {line: reason}, {line: expected raw text of a bad line},
    number of lines in Windows-1252)."""
    rng = random.Random(seed)
    delimiter = rng.choice([",", ";", "|", "\t"])
    terminator = rng.choice(["\n", "\r\n"])
    columns = COLUMNS[:]
    rng.shuffle(columns)
    out = io.BytesIO()
    number = 0  # physical lines written so far

    def write(data: bytes) -> int:
        nonlocal number
        start = number + 1
        out.write(data)
        number += data.count(b"\n")
        return start

    def line_of(values: dict, encoding: str = "utf-8") -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=delimiter, lineterminator=terminator).writerow([values[c] for c in columns])
        return buffer.getvalue().encode(encoding)

    write(line_of({c: c for c in columns}))
    good: dict[int, dict] = {}
    bad: dict[int, str] = {}
    bad_raw: dict[int, str] = {}

    def write_bad(data: bytes, reason: str, text: str | None = None) -> None:
        line = write(data)
        bad[line] = reason
        bad_raw[line] = data.decode("utf-8") if text is None else text
    written_good: list[tuple[bytes, bool]] = []  # (line, written in Windows-1252)
    cp1252_lines = 0
    for i in range(300):
        values = {
            "review_id": f"id-{seed}-{i}" if rng.random() < 0.5 else "",
            "cid": str(rng.randint(1, 10**12)),
            "film_id": str(rng.randint(1, 1000)) if rng.random() < 0.7 else "",
            "score": str(rng.randint(1, 5)) if rng.random() < 0.4 else "",
            "review_str": f"#{i} " + " ".join(rng.choice(WORDS) for _ in range(rng.randint(1, 8))),
        }
        kind = rng.choice(["good"] * 8 + ["cp1252", "blank", "cid", "empty", "score", "film", "fields",
                                          "undecodable", "malformed", "duplicate"])
        if kind in ("good", "cp1252"):
            if kind == "cp1252":
                values["review_str"] = f"#{i} “Amélie” – très ‘bien’"
                cp1252_lines += 1
            line = line_of(values, "cp1252" if kind == "cp1252" else "utf-8")
            start = write(line)
            written_good.append((line, kind == "cp1252"))
        elif kind == "blank":
            write(rng.choice([terminator, "   " + terminator]).encode())
            continue
        elif kind == "cid":
            values["cid"] = rng.choice(["-1", "0", "x1", "1.0", ""])
            write_bad(line_of(values), "cid is not a positive integer")
            continue
        elif kind == "empty":
            values["review_str"] = rng.choice(["", "  "])
            write_bad(line_of(values), "review_str is empty")
            continue
        elif kind == "score":
            values["score"] = rng.choice(["0", "6", "2.5", "x"])
            write_bad(line_of(values), "score is not an integer from 1 to 5")
            continue
        elif kind == "film":
            values["film_id"] = rng.choice(["0", "-7", "film"])
            write_bad(line_of(values), "film_id is not a positive integer")
            continue
        elif kind == "fields":
            line = line_of(values)
            extra = (delimiter + "extra").encode()
            write_bad(line[: -len(terminator)] + extra + terminator.encode(), "wrong number of fields")
            continue
        elif kind == "undecodable":
            values["review_str"] = f"#{i} broken @@ byte"
            line = line_of(values)
            write_bad(line.replace(b"@@", b"\x81"), "not decodable as UTF-8 or Windows-1252",
                      line.decode().replace("@@", "\\x81"))
            continue
        elif kind == "malformed":
            values["review_str"] = "@@"
            write_bad(line_of(values).replace(b"@@", b'"closed"then more'), "malformed CSV")
            continue
        elif kind == "duplicate":
            if not written_good:
                continue
            line, in_cp1252 = rng.choice(written_good)
            write_bad(line, "duplicate", line.decode("cp1252" if in_cp1252 else "utf-8"))
            cp1252_lines += in_cp1252
            continue
        good[start] = {
            "review_id": values["review_id"] or f"{DAY}:{start}",
            "cid": int(values["cid"]),
            "film_id": int(values["film_id"]) if values["film_id"] else None,
            "score": int(values["score"]) if values["score"] else None,
            "review_str": values["review_str"],
            "source_line": start,
        }
    return out.getvalue(), good, bad, bad_raw, cp1252_lines


@pytest.mark.parametrize("seed", range(6))
def test_row_accounting_over_a_mixed_file(seed):
    data, good, bad, bad_raw, cp1252_lines = _mixed_file(seed)
    assert len(good) > 100 and len(bad) > 20
    result = run(data, batch_rows=37)
    assert result.valid_by_line() == good  # every good line once, with its values
    quarantined = result.bad_by_line()
    assert {line: reason_of(row) for line, row in quarantined.items()} == bad  # every bad line, at its line
    assert result.report.raw_rows == len(good) + len(bad)
    assert result.report.reasons == Counter(bad.values())
    assert result.report.decoded_as_cp1252 == cp1252_lines
    assert {line: row["raw_line"] for line, row in quarantined.items()} == bad_raw


@pytest.mark.parametrize("seed", range(20))
def test_random_bytes_never_crash_and_rows_add_up(seed):
    rng = random.Random(seed)
    alphabet = b'abc123,;"\n\r\t \x81\xe9\x93\xff\x00-+'
    body = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 3000)))
    header = rng.choice([b"", b"cid,review_str\n", b"cid;review_str;score\n", b'"cid,review_str\n'])
    try:
        run(header + body)  # run() checks the schemas and that the counts add up
    except UnreadableFile as refused:  # the other clear outcome: refused as a whole, naming the file
        assert str(refused).startswith(SOURCE)


# --- real review text ------------------------------------------------------------------------------


def test_real_review_sentences_all_pass():
    from ubm_platform_tests.conftest import shared_data

    path = shared_data("reviews/sst/stsa.fine.dev")
    sentences = [line.split(" ", 1) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["cid", "film_id", "score", "review_str"])
    for i, (label, text) in enumerate(sentences):
        writer.writerow([i + 1, i % 1000 + 1, int(label) + 1, text])
    result = run(buffer.getvalue().encode(), batch_rows=500)
    assert result.report.quarantined_rows == 0
    rows = result.valid
    assert len(rows) == len(sentences)
    assert [(r["cid"], r["score"], r["review_str"]) for r in rows] == [
        (i + 1, int(label) + 1, text.strip()) for i, (label, text) in enumerate(sentences)]
