"""Validate the vendor's daily review file row by row.

The vendor promises a UTF-8 CSV with a header, required columns `cid` and `review_str`, optional
`review_id`, `film_id` and `score` (1-5). Vendors break promises, so:
- good rows go on; each bad row is kept for quarantine with its line number, raw text and reason;
- a line that is not UTF-8 is decoded as Windows-1252 (the usual culprit) and counted; a line that
  is neither is quarantined;
- the delimiter is taken from the header when it is `;`, tab or `|` instead of `,`;
- a header without the required columns quarantines every row (the file is unusable, but the run
  and the other source go on, and the quarantine says why);
- rows are read and handed on in batches, so memory does not grow with the file.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO, Callable, Iterator

import pyarrow as pa

REQUIRED_COLUMNS = ("cid", "review_str")
OPTIONAL_COLUMNS = ("review_id", "film_id", "score")
DELIMITERS = (",", ";", "\t", "|")
MAX_RECORD_CHARS = 1 << 20  # one review longer than this is not a review
QUARANTINE_RAW_CHARS = 10_000  # how much of a bad record the quarantine keeps

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

_POSITIVE_INT = re.compile(r"^\+?\d{1,18}$")

csv.field_size_limit(1 << 30)  # long records are quarantined by length below, not by the parser


@dataclass
class ReviewFileReport:
    source_file: str
    delimiter: str = ","
    raw_rows: int = 0
    valid_rows: int = 0
    quarantined_rows: int = 0
    decoded_as_cp1252: int = 0
    reasons: Counter = field(default_factory=Counter)
    first_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_metadata(self) -> dict:
        return {
            "source_file": self.source_file,
            "raw_rows": self.raw_rows,
            "valid_rows": self.valid_rows,
            "quarantined_rows": self.quarantined_rows,
            "decoded_as_cp1252": self.decoded_as_cp1252,
            "delimiter": self.delimiter,
            "quarantine_reasons": dict(self.reasons),
            "notes": "; ".join(self.notes),
        }


class _Lines:
    """Decoded physical lines of the file, remembering those that the current record consumed."""

    def __init__(self, stream: BinaryIO, report: ReviewFileReport):
        self._stream = stream
        self._report = report
        self.line_number = 0
        self.consumed: list[str] = []
        self.undecodable = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        raw = self._stream.readline()
        if not raw:
            raise StopIteration
        self.line_number += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            try:
                text = raw.decode("cp1252")
                self._report.decoded_as_cp1252 += 1
            except UnicodeDecodeError:
                text = raw.decode("utf-8", errors="backslashreplace")
                self.undecodable = True
        if self.line_number == 1:
            text = text.lstrip("\ufeff")
        self.consumed.append(text)
        return text


def _sniff_header(header_line: str) -> tuple[str, list[str]] | None:
    for delimiter in DELIMITERS:
        columns = [c.strip().lower() for c in next(csv.reader([header_line], delimiter=delimiter))]
        if all(c in columns for c in REQUIRED_COLUMNS):
            return delimiter, columns
    return None


def _check_row(values: dict[str, str]) -> tuple[str | None, dict]:
    """(reason it is bad or None, parsed row)."""
    cid = values.get("cid", "").strip()
    if not _POSITIVE_INT.match(cid) or int(cid) <= 0:
        return f"cid is not a positive integer: {cid[:40]!r}", {}
    text = values.get("review_str", "")
    if not text.strip():
        return "review_str is empty", {}
    film = values.get("film_id", "").strip()
    if film and (not _POSITIVE_INT.match(film) or int(film) <= 0):
        return f"film_id is not a positive integer: {film[:40]!r}", {}
    score = values.get("score", "").strip()
    if score and (not score.isdigit() or not 1 <= int(score) <= 5):
        return f"score is not an integer from 1 to 5: {score[:40]!r}", {}
    return None, {
        "review_id": values.get("review_id", "").strip(),
        "cid": int(cid),
        "film_id": int(film) if film else None,
        "score": int(score) if score else None,
        "review_str": text.strip(),
    }


def validate_reviews(
    stream: BinaryIO,
    source_file: str,
    day: str,
    on_valid: Callable[[pa.Table], None],
    on_quarantined: Callable[[pa.Table], None],
    batch_rows: int = 50_000,
    log: Callable[[str], None] = lambda _msg: None,
) -> ReviewFileReport:
    """Read a vendor file, hand valid rows and quarantined rows on in batches; return the counts."""
    report = ReviewFileReport(source_file=source_file)
    lines = _Lines(stream, report)
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

    def quarantine(line_number: int, raw: str, reason: str) -> None:
        report.quarantined_rows += 1
        report.reasons[reason.split(":")[0]] += 1
        message = f"{source_file}: line {line_number}: {reason}"
        if len(report.first_errors) < 20:
            report.first_errors.append(message)
            log(message)
        bad.append({"source_file": source_file, "line_number": line_number, "reason": reason,
                    "raw_line": raw[:QUARANTINE_RAW_CHARS]})

    header_line = next(lines, None)
    if header_line is None:
        report.notes.append("empty file")
        flush(force=True)
        return report
    sniffed = _sniff_header(header_line)
    if sniffed is None:
        missing = ", ".join(REQUIRED_COLUMNS)
        reason = f"header lacks required columns ({missing}): {header_line.strip()[:200]!r}"
        report.notes.append(reason)
        for raw in lines:
            if raw.strip():
                report.raw_rows += 1
                quarantine(lines.line_number, raw, reason)
            lines.consumed.clear()
        flush(force=True)
        return report
    report.delimiter, columns = sniffed
    if report.delimiter != ",":
        report.notes.append(f"delimiter {report.delimiter!r} instead of ','")
    lines.consumed.clear()

    reader = csv.reader(lines, delimiter=report.delimiter, strict=True)
    seen: dict[object, int] = {}
    while True:
        start_line = lines.line_number + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raw = "".join(lines.consumed)
            lines.consumed.clear()
            report.raw_rows += 1
            quarantine(start_line, raw, f"malformed CSV: {exc}")
            continue
        raw = "".join(lines.consumed)
        lines.consumed.clear()
        if not record or (len(record) == 1 and not record[0].strip()):
            continue  # blank line: no row
        report.raw_rows += 1
        if lines.undecodable:
            lines.undecodable = False
            quarantine(start_line, raw, "not decodable as UTF-8 or Windows-1252")
            continue
        if len(raw) > MAX_RECORD_CHARS:
            quarantine(start_line, raw, f"record longer than {MAX_RECORD_CHARS} characters ({len(raw)})")
            continue
        if len(record) != len(columns):
            quarantine(start_line, raw, f"expected {len(columns)} fields, found {len(record)}")
            continue
        reason, row = _check_row(dict(zip(columns, record)))
        if reason:
            quarantine(start_line, raw, reason)
            continue
        # A repeated review_id is a duplicate; without an id, a repeated (cid, film, text) is.
        key_hash = hash(("id", row["review_id"]) if row["review_id"] else
                        ("row", row["cid"], row["film_id"], row["review_str"]))
        row["review_id"] = row["review_id"] or f"{day}:{start_line}"
        if key_hash in seen:
            quarantine(start_line, raw, f"duplicate of line {seen[key_hash]}")
            continue
        seen[key_hash] = start_line
        row["source_line"] = start_line
        valid.append(row)
        report.valid_rows += 1
        flush()
    flush(force=True)
    return report
