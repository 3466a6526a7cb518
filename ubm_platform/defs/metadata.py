"""Materialization metadata shared by the lake assets: row count, location, schema, a preview."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from dagster import MetadataValue, TableColumn, TableSchema

from ubm_platform.resources.lake import LakeIOManager

PREVIEW_ROWS = 5


def table_schema(schema: pa.Schema) -> TableSchema:
    return TableSchema(columns=[TableColumn(f.name, str(f.type)) for f in schema])


def markdown_table(columns: list[str], rows: list[tuple]) -> str:
    def cell(value) -> str:
        text = "" if value is None else str(value)
        return (text[:60] + "...") if len(text) > 60 else text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def lake_partition_metadata(lake: LakeIOManager, partition: str, rows: int) -> dict:
    """Row count, location, column schema and the first rows of a published partition, read from its files."""
    files = lake.list_files(partition, ".parquet")
    schema, first_rows = None, None
    for i, relative in enumerate(files):
        with lake.open_input_file(relative) as source:
            parquet = pq.ParquetFile(source)
            if i == 0:
                schema = parquet.schema_arrow
            batch = next(parquet.iter_batches(batch_size=PREVIEW_ROWS), None)
        if batch is not None and batch.num_rows:
            first_rows = batch
            break
    return written_partition_metadata(lake, partition, rows, len(files), schema, first_rows)


def written_partition_metadata(
    lake: LakeIOManager, partition: str, rows: int, files: int, schema: pa.Schema | None,
    first_rows: pa.Table | pa.RecordBatch | None,
) -> dict:
    """The same metadata from what the writer knows (its schema, the first rows it wrote): no file read."""
    metadata = {
        "dagster/row_count": rows,
        "location": MetadataValue.path(lake.uri(partition)),
        "files": files,
    }
    if schema is not None:
        metadata["dagster/column_schema"] = table_schema(schema)
    preview = "(no rows)"
    if first_rows is not None and first_rows.num_rows:
        head = first_rows.slice(0, PREVIEW_ROWS)
        preview = markdown_table(head.schema.names, [tuple(r.values()) for r in head.to_pylist()])
    metadata["preview"] = MetadataValue.md(preview)
    return metadata
