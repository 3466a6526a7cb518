import pytest

from ubm_platform import sql_files
from ubm_platform.settings import SQL_DIR


def test_named_parameters_become_driver_placeholders():
    sql = "SELECT x::date, '12:30' FROM t WHERE a = :day AND b = CAST(:day AS DATE) AND c LIKE '5%'"
    assert sql_files.to_paramstyle(sql, "dollar") == (
        "SELECT x::date, '12:30' FROM t WHERE a = $day AND b = CAST($day AS DATE) AND c LIKE '5%'")
    assert sql_files.to_paramstyle(sql, "pyformat") == (
        "SELECT x::date, '12:30' FROM t WHERE a = %(day)s AND b = CAST(%(day)s AS DATE) AND c LIKE '5%%'")


def test_template_slots_refuse_anything_but_plain_names_and_paths():
    rendered = sql_files.render("warehouse/duckdb/external_table.sql", table="t1", location="/lake/stage/x")
    assert "spectrum.t1" in rendered and "'/lake/stage/x/insert_date=*/*.parquet'" in rendered
    with pytest.raises(ValueError, match="unsafe"):
        sql_files.render("warehouse/duckdb/external_table.sql", table="t1", location="/x'); DROP TABLE y; --")


def test_every_sql_file_is_read_from_the_sql_folder():
    names = [p.relative_to(SQL_DIR).as_posix() for p in SQL_DIR.rglob("*.sql")]
    assert "oltp/extract_user_purchase.sql" in names
    for name in names:
        assert sql_files.load(name).strip()


def test_statements_split_on_semicolons_at_line_ends():
    text = "-- comment only;\nCREATE SCHEMA a;\nSELECT ';' AS x;\n-- trailing\n"
    assert sql_files.statements(text) == ["CREATE SCHEMA a", "SELECT ';' AS x"]
