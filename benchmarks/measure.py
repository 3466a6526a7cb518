"""Run one benchmark stage as a subprocess: wall time, peak memory of its process tree, timeout.

Peak memory is the peak of the SUM of the resident set sizes (RSS) of the stage's whole process
tree (the Python process and every descendant: the Spark JVM that pyspark starts through
spark-submit, DuckDB, ...), sampled with psutil every `interval_s` (50 ms by default). RSS counts
shared pages once per process, so a sum can overstate what the machine really gives the tree; for
the processes here (one Python, one JVM, short-lived shells) the overlap is small.

The embedded PostgreSQL server is a separate, long-lived process tree (its postmaster is not a
child of the stage); it is sampled on its own, by the pid in `<pgdata>/postmaster.pid`, and reported
in a separate column, so "peak RSS" stays the cost of the stage's own processes.

A stage's stdout is read line by line and written to its log with the time since the stage started
(`[+12.345s] line`), which gives per-asset timings for `ubm run`; stderr goes to the same log file's
`.stderr` neighbour. Lines starting with `BENCH_RESULT ` carry a JSON object from the helper probes.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

RESULT_PREFIX = "BENCH_RESULT "


@dataclass
class Measured:
    seconds: float
    returncode: int | None
    timed_out: bool
    peak_rss_bytes: int
    pg_peak_rss_bytes: int | None
    samples: int
    started_epoch: float = 0.0
    timeout_s: float = 0.0
    stdout_lines: list[tuple[float, str]] = field(default_factory=list)
    results: list[dict] = field(default_factory=list)
    stdout_path: str = ""
    stderr_path: str = ""

    def tail(self, n_chars: int = 2500) -> str:
        """The end of the stage's output (stdout and stderr), for error reports."""
        out = "\n".join(line for _t, line in self.stdout_lines[-40:])
        try:
            err = Path(self.stderr_path).read_text(errors="replace")
        except OSError:
            err = ""
        text = (out + "\n--- stderr ---\n" + err[-n_chars:]) if err.strip() else out
        text = text[-n_chars:]
        if self.timed_out:  # the last line is what the summary shows
            text += f"\ntimed out after {self.timeout_s:.0f} s (stopped with its process tree)"
        return text


def _tree_rss(proc: psutil.Process) -> int:
    """Sum of RSS of a process and all its descendants (processes vanishing meanwhile are skipped)."""
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return 0
    for member in members:
        try:
            total += member.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            pass
    return total


def postmaster_pid(pgdata: Path) -> int | None:
    """The embedded PostgreSQL server's pid (first line of postmaster.pid), if it runs."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if psutil.pid_exists(pid) else None


class _Sampler(threading.Thread):
    def __init__(self, pid: int, pgdata: Path | None, interval_s: float):
        super().__init__(daemon=True)
        self.pid, self.pgdata, self.interval_s = pid, pgdata, interval_s
        self.peak = 0
        self.pg_peak: int | None = None
        self.samples = 0
        self._halt = threading.Event()

    def run(self) -> None:
        try:
            proc = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        pg_proc: psutil.Process | None = None
        while not self._halt.is_set():
            self.peak = max(self.peak, _tree_rss(proc))
            if self.pgdata is not None:
                if pg_proc is None or not pg_proc.is_running():
                    pid = postmaster_pid(self.pgdata)
                    pg_proc = psutil.Process(pid) if pid else None
                if pg_proc is not None:
                    self.pg_peak = max(self.pg_peak or 0, _tree_rss(pg_proc))
            self.samples += 1
            self._halt.wait(self.interval_s)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=5)


def _kill_tree(pid: int) -> None:
    """Stop a stage we started: its process group (it runs in its own session) and every descendant,
    each by its pid (the Spark JVM included)."""
    try:
        root = psutil.Process(pid)
        members = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        members = []
    for member in members:
        try:
            member.terminate()
        except psutil.NoSuchProcess:
            pass
    _gone, alive = psutil.wait_procs(members, timeout=10)
    for member in alive:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    try:
        os.killpg(pid, signal.SIGKILL)  # the stage's own process group (start_new_session=True)
    except (ProcessLookupError, PermissionError):
        pass


def run_measured(
    command: list[str],
    *,
    env: dict,
    cwd: Path,
    log_path: Path,
    timeout_s: float,
    pgdata: Path | None = None,
    interval_s: float = 0.05,
) -> Measured:
    """Run `command`, timing it and sampling its process tree's memory until it exits or times out."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    stderr_path = log_path.with_suffix(".stderr.log")
    lines: list[tuple[float, str]] = []
    results: list[dict] = []
    with open(log_path, "w", encoding="utf-8") as log, open(stderr_path, "w", encoding="utf-8") as err:
        log.write("$ " + " ".join(command) + "\n")
        log.flush()
        began, started_epoch = time.monotonic(), time.time()
        proc = subprocess.Popen(
            command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
            text=True, encoding="utf-8", errors="replace", bufsize=1, start_new_session=True,
        )
        sampler = _Sampler(proc.pid, pgdata, interval_s)
        sampler.start()

        def read_stdout() -> None:
            for line in proc.stdout:
                at = time.monotonic() - began
                line = line.rstrip("\n")
                lines.append((at, line))
                log.write(f"[+{at:9.3f}s] {line}\n")
                log.flush()
                if line.startswith(RESULT_PREFIX):
                    try:
                        results.append(json.loads(line[len(RESULT_PREFIX):]))
                    except json.JSONDecodeError:
                        pass

        reader = threading.Thread(target=read_stdout, daemon=True)
        reader.start()
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_tree(proc.pid)
            proc.wait(timeout=30)
        seconds = time.monotonic() - began
        sampler.stop()
        reader.join(timeout=10)
        log.write(f"# exit {proc.returncode} after {seconds:.3f}s" + (" (TIMEOUT)" if timed_out else "") + "\n")
    return Measured(
        seconds=seconds,
        returncode=proc.returncode,
        timed_out=timed_out,
        peak_rss_bytes=sampler.peak,
        pg_peak_rss_bytes=sampler.pg_peak,
        samples=sampler.samples,
        started_epoch=started_epoch,
        timeout_s=timeout_s,
        stdout_lines=lines,
        results=results,
        stdout_path=str(log_path),
        stderr_path=str(stderr_path),
    )
