"""Every SQL statement the platform runs lives in sql/; this module loads them.

SQL files take values as named parameters (`:name`), bound by the database driver, never formatted
into the text. The few things that cannot be parameters (a location for an external table) are
`{{name}}` template slots, filled only with values validated by `render`, or with the partition
columns of the configured granularity (`{{partition_filter}}`, ...; see partitions.py).
"""

from __future__ import annotations

import re
from functools import lru_cache

from ubm_platform.settings import SQL_DIR

_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)\b")
_SLOT = re.compile(r"\{\{\s*([a-z_][a-z0-9_]*)\s*\}\}")
_SAFE_LITERAL = re.compile(r"^[\w./:=*\-]+$")


@lru_cache(maxsize=None)
def load(name: str) -> str:
    """The text of sql/<name>, e.g. load("warehouse/user_behavior_metric_partition_preview.sql")."""
    return (SQL_DIR / name).read_text()


def render(name: str, fragments: dict[str, str] | None = None, **literals: str) -> str:
    """Fill `{{slot}}` template slots.

    `literals` (paths, dates, identifiers) are validated. `fragments` are SQL built by our code from
    constants, never from input: the `{{partition_*}}` fragments of the configured partition
    granularity (partitions.Granularity.sql_fragments) are always available, and a caller may add
    others (a Spectrum partition spec built from a parsed partition key).
    """
    from ubm_platform.partitions import granularity

    trusted = {**granularity().sql_fragments(), **(fragments or {})}

    def fill(match: re.Match) -> str:
        key = match.group(1)
        if key not in literals:
            if key not in trusted:
                raise KeyError(f"no value for SQL template slot {key!r} in {name}")
            return trusted[key]
        value = str(literals[key])
        if not _SAFE_LITERAL.match(value):
            raise ValueError(f"unsafe value for SQL template slot {key!r} in {name}: {value!r}")
        return value

    return _SLOT.sub(fill, load(name))


def to_paramstyle(sql: str, style: str) -> str:
    """Rewrite `:name` parameters for a driver: 'dollar' ($name, DuckDB) or 'pyformat' (%(name)s)."""
    if style == "dollar":
        return _PARAM.sub(lambda m: "$" + m.group(1), sql)
    if style == "pyformat":
        return _PARAM.sub(lambda m: f"%({m.group(1)})s", sql.replace("%", "%%"))
    raise ValueError(f"unknown paramstyle {style!r}")


def with_literals(sql: str, params: dict) -> str:
    """Replace `:name` parameters by SQL literals that psycopg adapts (quotes, escapes, types).

    Only for a statement the driver cannot take parameters with: psycopg binds COPY's parameters
    this way itself, and ADBC's PostgreSQL driver streams only unbound queries (a bound query's
    whole result is read into memory)."""
    from psycopg import sql as pg_sql

    return _PARAM.sub(lambda m: pg_sql.Literal(params[m.group(1)]).as_string(None), sql)


def statements(sql: str) -> list[str]:
    """Split a file of several statements on ';' at line ends (our files keep one statement per block)."""
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", sql) if s.strip() and not _only_comments(s)]


def _only_comments(block: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in block.splitlines())
