"""spark-submit on this machine: a cancelled job and a job whose run dies leave no process behind."""

import os
import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil

from ubm_platform.resources.spark import SparkSubmitResource, job_command_line
from ubm_platform_tests.conftest import write_labelled_reviews

# Training's fixed costs (word vectors, two fits) keep the job running for tens of seconds.
START_TRAINING = """
import json, sys
from types import SimpleNamespace
from ubm_platform.resources.spark import SparkSubmitResource, job_command_line
log = SimpleNamespace(info=lambda message: None)
resource = SparkSubmitResource()
arguments = json.loads(sys.argv[1])
job = resource.submit("train_sentiment_model.py", "test", job_command_line("train_sentiment_model.py", arguments),
                      {}, SimpleNamespace(log=log))
print(job.process.pid, flush=True)
job.process.wait()
"""


def _training_arguments(tmp_path) -> dict:
    write_labelled_reviews(tmp_path / "labelled.csv", 400, seed=3)
    return {"labeled_path": str(tmp_path / "labelled.csv"), "out_dir": str(tmp_path / "model")}


def _tree(pid: int) -> list[psutil.Process]:
    process = psutil.Process(pid)
    return [process, *process.children(recursive=True)]


def _wait_for_python_driver(pid: int, timeout_s: float = 60) -> list[psutil.Process]:
    """spark-submit's JVM and, once it has started it, the Python driver."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        tree = _tree(pid)
        if any("python" in p.name() for p in tree[1:]):
            return tree
        time.sleep(0.2)
    raise AssertionError(f"no Python driver under spark-submit {pid}: {[p.name() for p in _tree(pid)]}")


def test_a_cancelled_job_stops_the_jvm_and_its_python_driver(tmp_path):
    arguments = _training_arguments(tmp_path)
    log = SimpleNamespace(info=lambda message: None)
    resource = SparkSubmitResource()
    job = resource.submit("train_sentiment_model.py", "test", job_command_line("train_sentiment_model.py", arguments),
                          {}, SimpleNamespace(log=log))
    tree = _wait_for_python_driver(job.process.pid)
    resource.cancel(job)
    _, alive = psutil.wait_procs(tree, timeout=5)
    assert not alive, [p.cmdline()[:3] for p in alive]
    assert not (tmp_path / "model" / "ubm_model.json").exists()


def test_a_job_ends_when_the_process_that_started_it_is_killed(tmp_path):
    import json

    starter = subprocess.Popen([sys.executable, "-c", START_TRAINING, json.dumps(_training_arguments(tmp_path))],
                               stdout=subprocess.PIPE, text=True)
    try:
        tree = _wait_for_python_driver(int(starter.stdout.readline()))
        os.kill(starter.pid, signal.SIGKILL)  # the run's process only, as `kill -9 <pid>` does
        _, alive = psutil.wait_procs(tree, timeout=30)
        assert not alive, [p.cmdline()[:3] for p in alive]
        assert not (tmp_path / "model" / "ubm_model.json").exists()
    finally:
        starter.kill()
