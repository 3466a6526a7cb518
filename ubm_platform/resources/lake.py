"""The data lake: a local folder (embedded default) or an S3 bucket/prefix, one interface.

Datasets are laid out by partition, as Hive/Spectrum expect:
    <root>/<dataset path>/insert_date=<YYYY-MM-DD>/part-*.parquet
A partition is written aside (under `<dataset path>/_staging/`) and then published in one step,
so readers see the old or the new partition, never a half-written one. Each staging name carries the
id of the Dagster run writing it, so what a killed run left behind can be told from what a running
one is writing (`staging_leftovers`, ubm_platform/runs.py).
"""

from __future__ import annotations

import io
import posixpath
import re
import uuid
from dataclasses import dataclass
from contextlib import contextmanager
from typing import Iterator

import pyarrow.fs as pafs
from dagster import ConfigurableResource, InitResourceContext
from pydantic import Field, PrivateAttr

from ubm_platform.partitions import granularity, partition_window

# Dataset -> path under the lake root; the same layout locally and on S3.
DATASET_PATHS = {
    "user_purchase_staging": "stage/user_purchase",
    "movie_review_raw": "raw/movie_review",
    "movie_review_quarantine": "quarantine/movie_review",
    "classified_movie_review": "stage/classified_movie_review",
    "sentiment_model": "models/sentiment",
}


class _RawStream(io.RawIOBase):
    """pyarrow's input streams as a Python raw stream (for io.BufferedReader's readline)."""

    def __init__(self, native):
        self._native = native

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._native.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._native.close()
        super().close()


# A Dagster run id (a UUID) in a staging name.
_RUN_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
STAGING = "_staging"


@dataclass
class StagedDirectory:
    path: str
    final: str


@dataclass
class StagingLeftover:
    """A folder under a `_staging/` of the lake: whose it is and when something in it last changed."""

    path: str
    run_id: str | None  # None: named by a version that did not put the run id in staging names
    modified: float | None  # newest modification time under it (seconds since the epoch), if known


class StorageLocation(ConfigurableResource):
    """A root on a local disk or in S3, read and written through pyarrow's filesystems."""

    root: str = Field(description="Local directory or s3://bucket/prefix.")
    endpoint_url: str = Field(default="", description="S3-compatible endpoint (tests, MinIO).")
    region: str = Field(default="", description="AWS region of the bucket.")

    @property
    def is_s3(self) -> bool:
        return self.root.startswith("s3://")

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """(pyarrow filesystem, base path inside it)."""
        if self.is_s3:
            fs = pafs.S3FileSystem(
                endpoint_override=self.endpoint_url or None, region=self.region or None
            )
            return fs, self.root[len("s3://") :].rstrip("/")
        return pafs.LocalFileSystem(), self.root.rstrip("/")

    def uri(self, relative: str) -> str:
        """Full location for engines that read it themselves (Spark, DuckDB, Redshift) and for people."""
        return f"{self.root.rstrip('/')}/{relative}" if relative else self.root.rstrip("/")

    def _abs(self, relative: str) -> str:
        return posixpath.join(self.filesystem()[1], relative)

    def exists(self, relative: str) -> bool:
        fs, _ = self.filesystem()
        return fs.get_file_info(self._abs(relative)).type != pafs.FileType.NotFound

    def open_input(self, relative: str) -> io.BufferedReader:
        """A buffered binary stream (with readline) over a file of the location."""
        fs, _ = self.filesystem()
        return io.BufferedReader(_RawStream(fs.open_input_stream(self._abs(relative))), buffer_size=1 << 20)

    def open_input_file(self, relative: str):
        """A seekable file (what Parquet readers need)."""
        fs, _ = self.filesystem()
        return fs.open_input_file(self._abs(relative))


class LandingResource(StorageLocation):
    """Where the vendor drops its files: <root>/movie_review/<YYYY-MM-DD>/movie_review.csv, or with
    hourly partitions <root>/movie_review/<YYYY-MM-DD>/<HH>/movie_review.csv."""

    def review_file(self, partition_key: str) -> str:
        return f"movie_review/{partition_window(partition_key).landing_folder}/movie_review.csv"

    def arrived_review_files(self) -> dict[str, str]:
        """Partition key -> signature (size and modification time) of every review file in the landing area."""
        fs, _ = self.filesystem()
        folder = self._abs("movie_review")
        selector = pafs.FileSelector(folder, recursive=True, allow_not_found=True)
        scheme = granularity()
        arrived = {}
        for info in fs.get_file_info(selector):
            if info.type == pafs.FileType.File and info.base_name == "movie_review.csv":
                key = scheme.key_for_landing_folder(posixpath.relpath(posixpath.dirname(info.path), folder))
                if key is not None:  # other folders are not the vendor's files of this granularity
                    arrived[key] = f"{info.size}-{info.mtime_ns}"
        return arrived


class LakeResource(StorageLocation):
    """Partitioned Parquet datasets under a root: a local path or s3://bucket/prefix."""

    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._run_id = context.run.run_id if context.run else None  # no run: build_resources

    def _staging_name(self, parent: str, kind: str) -> str:
        return f"{parent}/{STAGING}/{kind}-{self._run_id or 'norun'}-{uuid.uuid4().hex[:12]}"

    def dataset_path(self, dataset: str) -> str:
        return DATASET_PATHS[dataset]

    def partition_path(self, dataset: str, partition_key: str) -> str:
        """<dataset>/insert_date=<day>[/insert_hour=<HH>] (partitions.PartitionWindow.path)."""
        return f"{DATASET_PATHS[dataset]}/{partition_window(partition_key).path}"

    # -- reads and writes ----------------------------------------------------------------
    def list_files(self, relative: str, suffix: str = "", recursive: bool = False) -> list[str]:
        fs, base = self.filesystem()
        selector = pafs.FileSelector(self._abs(relative), allow_not_found=True, recursive=recursive)
        infos = fs.get_file_info(selector)
        return sorted(
            posixpath.relpath(i.path, base)
            for i in infos
            if i.type == pafs.FileType.File and i.path.endswith(suffix)
        )

    def read_text(self, relative: str) -> str:
        fs, _ = self.filesystem()
        with fs.open_input_stream(self._abs(relative)) as f:
            return f.read().decode("utf-8")

    def write_text(self, relative: str, text: str) -> None:
        fs, _ = self.filesystem()
        fs.create_dir(posixpath.dirname(self._abs(relative)), recursive=True)
        with fs.open_output_stream(self._abs(relative)) as f:
            f.write(text.encode("utf-8"))

    def open_output(self, relative: str):
        fs, _ = self.filesystem()
        fs.create_dir(posixpath.dirname(self._abs(relative)), recursive=True)
        return fs.open_output_stream(self._abs(relative))

    def local_path(self, relative: str) -> str:
        """A local filesystem path (only for the local lake; Spark and DuckDB read it directly)."""
        if self.is_s3:
            raise ValueError("local_path() is only defined for a local lake")
        return self._abs(relative)

    # -- publishing ----------------------------------------------------------------------
    @contextmanager
    def staged_directory(self, final_relative: str) -> Iterator["StagedDirectory"]:
        """A fresh staging directory, published as `.final` when the block succeeds.

        On error the staging directory is removed and the published data is untouched. A caller
        that learns the final name only from the data (a model's version) may set `.final` inside.
        """
        fs, _ = self.filesystem()
        parent, leaf = posixpath.split(final_relative)
        staged = StagedDirectory(self._staging_name(parent, leaf), final_relative)
        fs.create_dir(self._abs(staged.path), recursive=True)
        try:
            yield staged
        except BaseException:
            fs.delete_dir(self._abs(staged.path))
            raise
        self.publish(staged.path, staged.final)

    @contextmanager
    def staging_area(self, dataset: str) -> Iterator[str]:
        """A fresh folder under the dataset's `_staging/` for one run's work (e.g. a range of partitions
        written by one Spark job, then checked and published one by one); removed when the block ends."""
        fs, _ = self.filesystem()
        area = self._staging_name(DATASET_PATHS[dataset], "run")
        fs.create_dir(self._abs(area), recursive=True)
        try:
            yield area
        finally:
            if fs.get_file_info(self._abs(area)).type != pafs.FileType.NotFound:
                fs.delete_dir(self._abs(area))

    def staging_leftovers(self) -> list[StagingLeftover]:
        """Every folder directly under a `_staging/` of the datasets: staged partitions, run areas, trash."""
        fs, base = self.filesystem()
        found: dict[str, StagingLeftover] = {}
        for dataset_path in sorted(set(DATASET_PATHS.values())):
            selector = pafs.FileSelector(self._abs(dataset_path), recursive=True, allow_not_found=True)
            for info in fs.get_file_info(selector):
                parts = posixpath.relpath(info.path, base).split("/")
                if STAGING not in parts[:-1]:
                    continue  # not under a staging folder, or the `_staging` folder itself
                cut = parts.index(STAGING) + 2
                path = "/".join(parts[:cut])
                entry = found.setdefault(path, StagingLeftover(path, _run_id_in(parts[cut - 1]), None))
                if info.mtime is not None:
                    entry.modified = max(entry.modified or 0.0, info.mtime.timestamp())
        return list(found.values())

    def remove(self, relative: str) -> None:
        fs, _ = self.filesystem()
        if fs.get_file_info(self._abs(relative)).type != pafs.FileType.NotFound:
            fs.delete_dir(self._abs(relative))

    def publish(self, staging_relative: str, final_relative: str) -> None:
        """Replace `final_relative` by the staged directory."""
        fs, _ = self.filesystem()
        final = self._abs(final_relative)
        if self.is_s3:
            # S3 has no directory rename: copy the staged objects, then drop what is left of the old ones.
            new_names = set()
            for rel in self.list_files(staging_relative, recursive=True):
                name = posixpath.relpath(rel, staging_relative)
                fs.copy_file(self._abs(rel), posixpath.join(final, name))
                new_names.add(name)
            for rel in self.list_files(final_relative, recursive=True):
                if posixpath.relpath(rel, final_relative) not in new_names:
                    fs.delete_file(self._abs(rel))
            fs.delete_dir(self._abs(staging_relative))
            return
        parent = posixpath.dirname(final)
        trash = self._abs(self._staging_name(posixpath.dirname(final_relative), "trash"))
        fs.create_dir(parent, recursive=True)
        had_old = fs.get_file_info(final).type != pafs.FileType.NotFound
        if had_old:
            fs.move(final, trash)
        fs.move(self._abs(staging_relative), final)
        if had_old:
            fs.delete_dir(trash)


def _run_id_in(name: str) -> str | None:
    match = _RUN_ID.search(name)
    return match.group(0) if match else None


class ParquetFileWriter:
    """Write Parquet batches to one lake file; the file exists (with its schema) even with no rows."""

    def __init__(self, lake: LakeResource, relative: str, schema):
        import pyarrow.parquet as pq

        self._stream = lake.open_output(relative)
        self._writer = pq.ParquetWriter(self._stream, schema, compression="zstd")
        self.rows = 0

    def write(self, table) -> None:
        self._writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> None:
        self._writer.close()
        self._stream.close()

    def __enter__(self) -> "ParquetFileWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
