"""The data lake: a local folder (embedded default) or an S3 bucket/prefix, one interface, and the
lake assets' I/O manager (`LakeIOManager`).

Datasets are laid out by partition, as Hive/Spectrum expect:
    <root>/<dataset path>/insert_date=<YYYY-MM-DD>/part-*.parquet
A partition is written aside (under `<dataset path>/_staging/`) and then published in one step,
so readers see the old or the new partition, never a half-written one. Each staging name carries the
id of the Dagster run writing it, so what a killed run left behind can be told from what a running
one is writing (`staging_leftovers`, ubm_platform/runs.py).

The I/O manager owns every location: the lake assets write through it (a streaming writer, Spark or
DuckDB write into the staging directory it hands out, and it publishes), and a downstream asset gets
its inputs from it as locations (`LakePartitions`, the current model's URI), never as rows in memory.
It is not Dagster's `UPathIOManager`, which stores and loads Python objects per partition
(`dump_to_path` / `load_from_path`): here the data is written by engines, partition by partition and
checked before it is published, and it is read by engines too.
"""

from __future__ import annotations

import io
import json
import os
import posixpath
import re
import uuid
from dataclasses import dataclass
from contextlib import contextmanager
from typing import Iterator

import pyarrow.fs as pafs
from dagster import ConfigurableIOManager, ConfigurableResource, Failure, InitResourceContext, InputContext, OutputContext
from pydantic import Field, PrivateAttr

from ubm_platform.partitions import granularity, partition_window

# Dataset -> path under the lake root; the same layout locally and on S3.
DATASET_PATHS = {
    "user_purchase_staging": "stage/user_purchase",
    "movie_review_raw": "raw/movie_review",
    "movie_review_quarantine": "quarantine/movie_review",
    "classified_movie_review": "stage/classified_movie_review",
    "rental_staging": "stage/rental",
    "customer_staging": "stage/customer",
    "film_staging": "stage/film",
    "film_category_staging": "stage/film_category",
    "film_actor_staging": "stage/film_actor",
    "sentiment_model": "models/sentiment",
}
CURRENT_MODEL_POINTER = f"{DATASET_PATHS['sentiment_model']}/current.json"


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
    final: str | None

    def join(self, *names: str) -> str:
        """A file or folder inside the staging directory."""
        return posixpath.join(self.path, *names)


@dataclass(frozen=True)
class LakePartitions:
    """Partitions of a lake dataset, as the I/O manager hands them to a downstream asset: where they are,
    never their rows (engines read them: Spark, DuckDB, pyarrow batch by batch)."""

    lake: "LakeIOManager"
    dataset: str
    keys: tuple[str, ...]

    @property
    def uri(self) -> str:
        """The dataset's location, all partitions below it (what Spark and the external tables read)."""
        return self.lake.dataset_uri(self.dataset)

    def partition_path(self, key: str) -> str:
        return self.lake.partition_path(self.dataset, key)

    def partition_folders(self) -> dict[str, str]:
        """Each partition key's folder below the dataset's location (insert_date=.../[insert_hour=...])."""
        return {key: partition_window(key).path for key in self.keys}

    def every_partition_uri(self) -> str:
        """A glob of the Parquet files of every published partition."""
        return self.lake.uri(f"{DATASET_PATHS[self.dataset]}/{granularity().path_glob}/*.parquet")


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


class LakeIOManager(StorageLocation, ConfigurableIOManager):
    """Partitioned Parquet datasets and the sentiment models under a root: a local path or
    s3://bucket/prefix. The lake assets' I/O manager, and the resource through which they write."""

    _run_id: str | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: InitResourceContext) -> None:
        self._run_id = context.run.run_id if context.run else None  # no run: build_resources

    # -- the I/O manager -----------------------------------------------------------------
    def load_input(self, context: InputContext) -> LakePartitions | str:
        """An upstream lake asset for a downstream one: its partitions of the run (a LakePartitions),
        or, for sentiment_model, the current model's location."""
        dataset = context.asset_key.path[-1]
        if dataset == "sentiment_model":
            return self.current_model_uri()
        keys = context.asset_partition_keys if context.has_asset_partitions else []
        return LakePartitions(self, dataset, tuple(keys))

    def handle_output(self, context: OutputContext, obj: None) -> None:
        """Nothing to store: a lake asset writes and publishes its partitions through this manager while
        it runs (each checked before it is published), and returns no value."""
        if obj is not None:
            raise TypeError(f"{context.asset_key.to_user_string()} returned a {type(obj).__name__}: lake assets "
                            "write their partitions through the lake I/O manager and return nothing")

    # -- the sentiment models ------------------------------------------------------------
    def has_current_model(self) -> bool:
        return self.exists(CURRENT_MODEL_POINTER)

    def _current_model(self) -> dict | None:
        """The current model's pointer ({"version", "path"}), None before the first model."""
        return json.loads(self.read_text(CURRENT_MODEL_POINTER)) if self.has_current_model() else None

    def current_model_uri(self) -> str:
        """Where the current model lives; fails clearly when none has been trained."""
        current = self._current_model()
        if current is None:
            raise Failure(
                description=f"No sentiment model yet ({self.uri(CURRENT_MODEL_POINTER)} is missing): "
                "materialize the sentiment_model asset first (the UI, `dg launch --assets sentiment_model`, or "
                "`ubm run`)."
            )
        return self.uri(current["path"])

    def current_model_version(self) -> str | None:
        current = self._current_model()
        return current.get("version") if current else None

    @contextmanager
    def staged_model(self) -> Iterator[StagedDirectory]:
        """A staging directory for a model being trained; set `.final` (from `model_path`) to publish it."""
        with self.staged_directory(f"{DATASET_PATHS['sentiment_model']}/unversioned") as staged:
            staged.final = None
            yield staged

    def model_path(self, version: str) -> str:
        return f"{DATASET_PATHS['sentiment_model']}/{version}"

    def make_current_model(self, version: str) -> None:
        self.write_text(CURRENT_MODEL_POINTER, json.dumps({"version": version, "path": self.model_path(version)}))

    def _staging_name(self, parent: str, kind: str) -> str:
        return f"{parent}/{STAGING}/{kind}-{self._run_id or 'norun'}-{uuid.uuid4().hex[:12]}"

    def dataset_uri(self, dataset: str) -> str:
        """Where a dataset's partitions are (what the warehouse's external tables read)."""
        return self.uri(DATASET_PATHS[dataset])

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
        """Replace a file whole: a reader sees the old text or the new, never part of it (an S3 PUT is
        atomic; a local file is written beside and renamed)."""
        fs, _ = self.filesystem()
        fs.create_dir(posixpath.dirname(self._abs(relative)), recursive=True)
        written = self._abs(relative) if self.is_s3 else f"{self._abs(relative)}.{os.getpid()}.tmp"
        with fs.open_output_stream(written) as f:
            f.write(text.encode("utf-8"))
        if written != self._abs(relative):
            fs.move(written, self._abs(relative))

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
    def staged_partition(self, dataset: str, partition_key: str) -> Iterator[StagedDirectory]:
        """A fresh staging directory for a partition, published when the block succeeds."""
        with self.staged_directory(self.partition_path(dataset, partition_key)) as staged:
            yield staged

    @contextmanager
    def staged_directory(self, final_relative: str) -> Iterator[StagedDirectory]:
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
        if staged.final is None:
            fs.delete_dir(self._abs(staged.path))
            raise ValueError(f"staged {staged.path} has no final location to publish to")
        self.publish(staged.path, staged.final)

    @contextmanager
    def staging_area(self, dataset: str) -> Iterator[StagedDirectory]:
        """A fresh folder under the dataset's `_staging/` for one run's work (e.g. a range of partitions
        written by one Spark job, then checked and published one by one); removed when the block ends."""
        fs, _ = self.filesystem()
        area = StagedDirectory(self._staging_name(DATASET_PATHS[dataset], "run"), None)
        fs.create_dir(self._abs(area.path), recursive=True)
        try:
            yield area
        finally:
            if fs.get_file_info(self._abs(area.path)).type != pafs.FileType.NotFound:
                fs.delete_dir(self._abs(area.path))

    def publish_partition(self, staged: str, dataset: str, partition_key: str) -> str:
        """Publish a staged folder as a dataset's partition; its path."""
        partition = self.partition_path(dataset, partition_key)
        self.publish(staged, partition)
        return partition

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

    def __init__(self, lake: LakeIOManager, relative: str, schema):
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
