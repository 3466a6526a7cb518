"""Validate the vendor's daily review file row by row.

The vendor promises a UTF-8 CSV with a header, required columns `cid` and `review_str`, optional
`review_id`, `film_id` and `score` (1-5). Vendors break promises, so:
- good rows go on; each bad row is kept for quarantine with its line number, raw text and reason;
- the encoding is read off the start of the file: a byte-order mark says UTF-8, UTF-16 (LE/BE) or
  UTF-32; without one, each line is UTF-8, or else Windows-1252 (the usual culprit; counted), or else
  quarantined. A file that is none of these (NUL bytes without a byte-order mark, mostly non-ASCII
  bytes that are not UTF-8, a compressed archive) is refused as a whole (UnreadableFile), not
  quarantined line by line;
- control characters in the text fields (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F and
  U+007F-U+009F: NUL included; tab and line breaks stay) are replaced by a space and counted, so
  every warehouse (Redshift's VARCHAR takes no NUL) stores what was validated;
- the delimiter is taken from the header when it is `;`, tab or `|` instead of `,` (and noted);
- a header without the required columns quarantines every line, the first one included (a file sent
  without its header would otherwise lose its first row): the file is unusable, but the run and the
  other source go on, and the quarantine says why;
- a quoted field that never closes (at the end of the file, or after MAX_RECORD_CHARS characters)
  quarantines the line that opened it, and the lines after it are read again as rows; likewise a
  record spanning several lines that the CSV parser rejects, so one stray quote does not swallow the
  good rows that follow it;
- a physical line longer than MAX_LINE_BYTES is not read whole: it is skipped in chunks and
  quarantined with its first QUARANTINE_RAW_CHARS characters;
- rows are read and handed on in batches, so memory does not grow with the file (except for the
  keys remembered to find duplicate rows).

Row accounting: raw_rows = valid_rows + quarantined_rows; blank lines are not rows. A row is a CSV
record, so a review whose quoted text spans three lines is one row, numbered by its first line.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

import pyarrow as pa

REQUIRED_COLUMNS = ("cid", "review_str")
OPTIONAL_COLUMNS = ("review_id", "film_id", "score")
DELIMITERS = (",", ";", "\t", "|")
MAX_RECORD_CHARS = 1 << 20  # one review longer than this is not a review
MAX_LINE_BYTES = 4 * MAX_RECORD_CHARS  # a line this long is over MAX_RECORD_CHARS in any encoding: not read whole
QUARANTINE_RAW_CHARS = 10_000  # how much of a bad record the quarantine keeps
_SKIP_CHUNK_BYTES = 1 << 16

RAW_REVIEW_SCHEMA = pa.schema(
    [
        pa.field("review_id", pa.string(), nullable=False),
        pa.field("cid", pa.int64(), nullable=False),
        pa.field("film_id", pa.int64()),
        pa.field("score", pa.int32()),
        pa.field("review_str", pa.string(), nullable=False),
        pa.field("source_line", pa.int64(), nullable=False),
    ]
)
QUARANTINE_SCHEMA = pa.schema(
    [
        pa.field("source_file", pa.string(), nullable=False),
        pa.field("line_number", pa.int64(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),
        pa.field("raw_line", pa.string(), nullable=False),
    ]
)

# ASCII digits only: `\d` would also take other scripts' digits, and str.isdigit() takes '²', which int() refuses.
_POSITIVE_INT = re.compile(r"\+?[0-9]{1,18}")
_SCORE = re.compile(r"\+?[0-9]{1,9}")

# Reasons, as counted in ReviewFileReport.reasons; the quarantine's reason column adds the details.
BAD_HEADER = "header lacks required columns"
UNDECODABLE = "not decodable as UTF-8 or Windows-1252"
TOO_LONG = "record too long"
UNTERMINATED = "unterminated quoted field"
MALFORMED = "malformed CSV"
FIELD_COUNT = "wrong number of fields"
BAD_CID = "cid is not a positive integer"
EMPTY_REVIEW = "review_str is empty"
BAD_FILM = "film_id is not a positive integer"
BAD_SCORE = "score is not an integer from 1 to 5"
DUPLICATE = "duplicate"

csv.field_size_limit(1 << 30)  # long records are quarantined by length below, not by the parser

TEXT_COLUMNS = ("review_id", "review_str")
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
SNIFF_BYTES = 1 << 16  # how much of the file the encoding is read from
# A byte-order mark decides; UTF-32's marks begin with UTF-16's, so they are tried first.
BYTE_ORDER_MARKS = [(codecs.BOM_UTF32_LE, "utf-32", "UTF-32 LE"), (codecs.BOM_UTF32_BE, "utf-32", "UTF-32 BE"),
                    (codecs.BOM_UTF8, None, "UTF-8 with BOM"), (codecs.BOM_UTF16_LE, "utf-16", "UTF-16 LE"),
                    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16 BE")]
NOT_TEXT = [(b"\x1f\x8b", "a gzip archive"), (b"PK\x03\x04", "a zip archive (or an Excel workbook)"),
            (b"PAR1", "a Parquet file"), (b"%PDF", "a PDF document")]
MAX_NUL_SHARE = 0.1  # UTF-16 or UTF-32 without a byte-order mark is a third to three quarters NUL bytes
MAX_FOREIGN_SHARE = 0.3  # Windows-1252 text is mostly ASCII; multi-byte legacy encodings are not


class UnreadableFile(ValueError):
    """The file as a whole is not text in an encoding the platform can tell: nothing of it is landed."""


def detect_encoding(head: bytes, source_file: str) -> tuple[str | None, str]:
    """(codec to decode the whole file with, or None for UTF-8 / Windows-1252 line by line; what was
    detected), from the file's first bytes. Raises UnreadableFile when the file is not text the platform can decode."""
    for mark, codec, name in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            return codec, name
    for magic, what in NOT_TEXT:
        if head.startswith(magic):
            raise UnreadableFile(f"{source_file}: not a CSV file: it starts like {what}")
    if not head:
        return None, "empty"
    nul_share = head.count(0) / len(head)
    if nul_share > MAX_NUL_SHARE:
        raise UnreadableFile(
            f"{source_file}: encoding cannot be determined: {nul_share:.0%} of the first {len(head)} bytes are NUL "
            "and there is no byte-order mark (UTF-16 or UTF-32 sent without one, or not text); send UTF-8, "
            "or UTF-16 with its byte-order mark")
    try:
        head.decode("utf-8")
        return None, "UTF-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3 and exc.reason == "unexpected end of data":
            return None, "UTF-8"  # a character cut by the end of the sample
    foreign_share = sum(b >= 0x80 for b in head) / len(head)
    if foreign_share > MAX_FOREIGN_SHARE:
        raise UnreadableFile(
            f"{source_file}: encoding cannot be determined: not UTF-8, no byte-order mark, and {foreign_share:.0%} "
            f"of the first {len(head)} bytes are non-ASCII (Windows-1252 text is mostly ASCII); send UTF-8")
    return None, "UTF-8 and Windows-1252 lines"


class _Utf8Lines:
    """A file in a codec other than UTF-8 read as UTF-8 lines (what _Lines reads), in bounded memory."""

    def __init__(self, stream: BinaryIO, codec: str, source_file: str):
        # newline="\n": lines end where they end in bytes; a CR stays in the line for the CSV parser.
        self._text = io.TextIOWrapper(stream, encoding=codec, errors="strict", newline="\n")
        self._source_file = source_file
        self._codec = codec

    def readline(self, limit: int) -> bytes:
        try:
            return self._text.readline(limit).encode("utf-8")
        except UnicodeDecodeError as exc:
            raise UnreadableFile(f"{self._source_file}: declared {self._codec} by its byte-order mark, "
                                 f"but not valid {self._codec}: {exc.reason}") from None


@dataclass
class ReviewFileReport:
    source_file: str
    delimiter: str = ","
    encoding: str = "UTF-8"
    raw_rows: int = 0
    valid_rows: int = 0
    quarantined_rows: int = 0
    decoded_as_cp1252: int = 0
    control_characters_replaced: int = 0
    reasons: Counter = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {
            "source_file": self.source_file,
            "raw_rows": self.raw_rows,
            "valid_rows": self.valid_rows,
            "quarantined_rows": self.quarantined_rows,
            "encoding": self.encoding,
            "decoded_as_cp1252": self.decoded_as_cp1252,
            "control_characters_replaced": self.control_characters_replaced,
            "delimiter": self.delimiter,
            "quarantine_reasons": dict(self.reasons),
            "notes": "; ".join(self.notes),
        }


@dataclass
class _Line:
    number: int  # 1-based physical line number in the file
    text: str  # what the CSV parser is given
    raw: str  # what the quarantine keeps
    problem: tuple[str, str] | None = None  # (reason, detail) that makes any record holding this line bad


class _Lines:
    """Decoded physical lines of the file, fed to csv.reader; remembers the lines of the current record.

    Lines can be pushed back to be read again. While a record is open (inside a quoted field), the
    iterator stops once the record holds more than MAX_RECORD_CHARS characters (`cut`), so that an
    unterminated quote cannot make the parser buffer the rest of the file.
    """

    def __init__(self, stream: BinaryIO, report: ReviewFileReport):
        self._stream = stream
        self._report = report
        self._last_number = 0
        self._pushed_back: deque[_Line] = deque()
        self.consumed: list[_Line] = []
        self._consumed_chars = 0
        self.cut = False  # the current record was stopped for length
        self.ended = False  # the current record ran into the end of the file

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self.consumed and self._consumed_chars > MAX_RECORD_CHARS:
            self.cut = True
            raise StopIteration
        line = self.read()
        if line is None:
            if self.consumed:
                self.ended = True
            raise StopIteration
        self.consumed.append(line)
        self._consumed_chars += len(line.raw)
        return line.text

    def take(self) -> list[_Line]:
        """The lines of the record just parsed (or rejected); starts the next record."""
        taken, self.consumed = self.consumed, []
        self._consumed_chars, self.cut, self.ended = 0, False, False
        return taken

    def push_back(self, lines: list[_Line]) -> None:
        self._pushed_back.extendleft(reversed(lines))

    def read(self) -> _Line | None:
        """The next physical line, or None at the end of the file."""
        if self._pushed_back:
            return self._pushed_back.popleft()
        data = self._stream.readline(MAX_LINE_BYTES + 1)
        if not data:
            return None
        self._last_number += 1
        number = self._last_number
        if number == 1 and data.startswith(codecs.BOM_UTF8):
            data = data[len(codecs.BOM_UTF8):]
        if len(data) > MAX_LINE_BYTES and not data.endswith(b"\n"):
            return self._skip_long_line(number, data)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = data.decode("cp1252")
                self._report.decoded_as_cp1252 += 1
            except UnicodeDecodeError as exc:
                text = data.decode("utf-8", errors="backslashreplace")
                return _Line(number, text, text, (UNDECODABLE, f"byte {data[exc.start]:#04x} at offset {exc.start}"))
        return _Line(number, text, text)

    def _skip_long_line(self, number: int, head: bytes) -> _Line:
        raw = head[: 4 * QUARANTINE_RAW_CHARS].decode("utf-8", errors="replace")[:QUARANTINE_RAW_CHARS]
        length = len(head)
        chunk = head
        while not chunk.endswith(b"\n"):
            chunk = self._stream.readline(_SKIP_CHUNK_BYTES)
            if not chunk:
                break
            length += len(chunk)
        # The parser sees an empty line: the record holding it is quarantined for the problem anyway.
        return _Line(number, "\n", raw, (TOO_LONG, f"one line of {length} bytes, over {MAX_LINE_BYTES}"))


def _sniff_header(header_line: str) -> tuple[str, list[str]] | None:
    for delimiter in DELIMITERS:
        try:
            parsed = next(csv.reader([header_line], delimiter=delimiter), [])
        except csv.Error:
            continue
        columns = [c.strip().lower() for c in parsed]
        if all(c in columns for c in REQUIRED_COLUMNS):
            return delimiter, columns
    return None


def _check_row(values: dict[str, str]) -> tuple[tuple[str, str] | None, dict]:
    """((reason, detail) it is bad for or None, parsed row)."""
    cid = values.get("cid", "").strip()
    if not _POSITIVE_INT.fullmatch(cid) or int(cid) <= 0:
        return (BAD_CID, repr(cid[:40])), {}
    text = values.get("review_str", "")
    if not text.strip():
        return (EMPTY_REVIEW, ""), {}
    film = values.get("film_id", "").strip()
    if film and (not _POSITIVE_INT.fullmatch(film) or int(film) <= 0):
        return (BAD_FILM, repr(film[:40])), {}
    score = values.get("score", "").strip()
    if score and (not _SCORE.fullmatch(score) or not 1 <= int(score) <= 5):
        return (BAD_SCORE, repr(score[:40])), {}
    return None, {
        "review_id": values.get("review_id", "").strip(),
        "cid": int(cid),
        "film_id": int(film) if film else None,
        "score": int(score) if score else None,
        "review_str": text.strip(),
    }


def _is_blank(record: list[str]) -> bool:
    return not record or (len(record) == 1 and not record[0].strip())


def _head(stream: BinaryIO) -> bytes:
    """The file's first bytes, left unread in the stream."""
    if hasattr(stream, "peek"):  # the lake's streams: what is buffered already
        return stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    head = stream.read(SNIFF_BYTES)
    stream.seek(0)
    return head


def validate_reviews(
    stream: BinaryIO,
    source_file: str,
    day: str,
    on_valid: Callable[[pa.Table], None],
    on_quarantined: Callable[[pa.Table], None],
    batch_rows: int = 50_000,
    log: Callable[[str], None] = lambda _msg: None,
) -> ReviewFileReport:
    """Read a vendor file, hand valid rows and quarantined rows on in batches; return the counts.
    Raises UnreadableFile, before anything is handed on, when the file's encoding cannot be told."""
    report = ReviewFileReport(source_file=source_file)
    codec, report.encoding = detect_encoding(_head(stream), source_file)
    lines = _Lines(stream if codec is None else _Utf8Lines(stream, codec, source_file), report)
    valid: list[dict] = []
    bad: list[dict] = []

    def flush(force: bool = False) -> None:
        nonlocal valid, bad
        if valid and (force or len(valid) >= batch_rows):
            on_valid(pa.Table.from_pylist(valid, RAW_REVIEW_SCHEMA))
            valid = []
        if bad and (force or len(bad) >= batch_rows):
            on_quarantined(pa.Table.from_pylist(bad, QUARANTINE_SCHEMA))
            bad = []

    def quarantine(line_number: int, raw: str, reason: str, detail: str = "") -> None:
        report.raw_rows += 1
        report.quarantined_rows += 1
        report.reasons[reason] += 1
        full_reason = f"{reason}: {detail}" if detail else reason
        message = f"{source_file}: line {line_number}: {full_reason}"
        if len(report.first_errors) < 20:
            report.first_errors.append(message)
            log(message)
        bad.append({"source_file": source_file, "line_number": line_number, "reason": full_reason,
                    "raw_line": raw[:QUARANTINE_RAW_CHARS]})
        flush()

    header = lines.read()
    while header is not None and header.problem is None and not header.text.strip():
        header = lines.read()  # blank lines before the header
    if header is None:
        report.notes.append("empty file")
        return report
    sniffed = None if header.problem else _sniff_header(header.text)
    if sniffed is None:
        detail = f"({', '.join(REQUIRED_COLUMNS)}) in line {header.number}: {header.raw.strip()[:200]!r}"
        report.notes.append(f"{BAD_HEADER} {detail}")
        if "\r" in header.text.rstrip("\r\n"):
            report.notes.append("lines end with a bare CR: the file reads as one line")
        # The first line is kept too: without a header, it is the first row.
        line: _Line | None = header
        while line is not None:
            if line.problem or line.raw.strip():
                quarantine(line.number, line.raw, BAD_HEADER, detail)
            line = lines.read()
        flush(force=True)
        return report
    report.delimiter, columns = sniffed
    if report.delimiter != ",":
        report.notes.append(f"delimiter {report.delimiter!r} instead of ','")

    reader = csv.reader(lines, delimiter=report.delimiter, strict=True)
    seen: dict[int, int] = {}
    while True:
        error: str | None = None
        try:
            record = next(reader)
        except StopIteration:
            if not lines.cut:
                break
            error = "cut"
        except csv.Error as exc:
            error = str(exc)
        cut, ended = lines.cut, lines.ended
        taken = lines.take()
        if error is not None:
            # The parser gave up on a record that began at taken[0]: quarantine that line, and read the
            # lines after it again, so that one stray quote does not take the following rows with it.
            first = taken[0]
            if first.problem:
                quarantine(first.number, first.raw, *first.problem)
            elif cut and len(first.raw) > MAX_RECORD_CHARS:
                quarantine(first.number, first.raw, TOO_LONG, f"{len(first.raw)} characters, over {MAX_RECORD_CHARS}")
            elif cut:
                quarantine(first.number, first.raw, UNTERMINATED,
                           f"quoted field still open after {MAX_RECORD_CHARS} characters")
            elif ended:
                quarantine(first.number, first.raw, UNTERMINATED, "quoted field still open at the end of the file")
            else:
                where = f" (on line {taken[-1].number})" if len(taken) > 1 else ""
                quarantine(first.number, first.raw, MALFORMED, error + where)
            lines.push_back(taken[1:])
            continue
        start_line = taken[0].number
        problem = next((line.problem for line in taken if line.problem), None)
        if problem is None and _is_blank(record):
            continue  # blank line: no row
        raw = "".join(line.raw for line in taken)
        if problem:
            quarantine(start_line, raw, *problem)
            continue
        if len(raw) > MAX_RECORD_CHARS:
            quarantine(start_line, raw, TOO_LONG, f"{len(raw)} characters, over {MAX_RECORD_CHARS}")
            continue
        if len(record) != len(columns):
            quarantine(start_line, raw, FIELD_COUNT, f"expected {len(columns)}, found {len(record)}")
            continue
        values = dict(zip(columns, record))
        replaced = 0
        for column in TEXT_COLUMNS:
            if column in values:
                values[column], n = CONTROL_CHARACTERS.subn(" ", values[column])
                replaced += n
        reason, row = _check_row(values)
        if reason:
            quarantine(start_line, raw, *reason)
            continue
        # A repeated review_id is a duplicate; without an id, a repeated (cid, film, text) is.
        key_hash = hash(("id", row["review_id"]) if row["review_id"] else
                        ("row", row["cid"], row["film_id"], row["review_str"]))
        if key_hash in seen:
            quarantine(start_line, raw, DUPLICATE, f"of line {seen[key_hash]}")
            continue
        seen[key_hash] = start_line
        row["review_id"] = row["review_id"] or f"{day}:{start_line}"
        row["source_line"] = start_line
        report.raw_rows += 1
        report.valid_rows += 1
        report.control_characters_replaced += replaced
        valid.append(row)
        flush()
    if report.raw_rows == 0:
        report.notes.append("no rows after the header")
    flush(force=True)
    return report
