"""deploy/: the compose file, the image, nginx, the Redis and Sentinel configuration and the
systemd units, checked without a container engine. What can run here runs for real: nginx with
deploy/nginx's configuration in front of the Procfile's web process, and two Redis servers with
three Sentinels from deploy/redis's files, failing over."""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from ipaddress import ip_address
from pathlib import Path
from statistics import median

import pytest
import redis
import requests
import yaml

from bench.common import Web, percentile
from config.settings import ROOT, SECRETS, Settings
from gateway import localredis
from gateway.localredis import free_port
from gateway.privacy import new_key
from menus.languages import ERROR_END
from testing.env import EXAMPLE_DIRECTORY, make_env
from testing.processes import procfile, stop_group, wait_for
from testing.ussd import Help, form, http_help, new_session

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "hamdam.env.example"
APP_SERVICES = ("web", "worker", "clock")
SENTINELS = ("sentinel-1", "sentinel-2", "sentinel-3")
REDIS_SERVERS = ("redis-primary", "redis-replica")
SERVICES = {"proxy", *APP_SERVICES, *REDIS_SERVERS, *SENTINELS}
MASTER_SET = "hamdam"
SENTINEL_URL = (
    "redis+sentinel://sentinel-1:26379,sentinel-2:26379,sentinel-3:26379/" + MASTER_SET + "/0"
)
# The longest timeout any job is given (gateway/jobs.py): a warm shutdown waits for it.
LONGEST_JOB = 120
EXACT_TAG = re.compile(r"^\d+\.\d+\.\d+(-[a-z0-9][a-z0-9.-]*)?$")
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
NO_NGINX = "nginx is not installed (`make tools` installs Debian's nginx-light as root)"


# ---- reading the files ---------------------------------------------------------------------
def compose_text() -> str:
    return COMPOSE.read_text(encoding="utf-8")


def compose() -> dict:
    return yaml.safe_load(compose_text())


def env_example() -> tuple[dict[str, str], set[str]]:
    """The example's NAME=value lines, and the names it documents (set or commented out)."""
    values, documented = {}, set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        match = re.fullmatch(r"(#\s*)?([A-Z][A-Z0-9_]*)=(.*)", line.strip())
        if match is None:
            continue
        commented, name, value = match.groups()
        documented.add(name)
        if not commented:
            assert name not in values, f"{name} is set twice"
            values[name] = value
    return values, documented


# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?error}, $NAME; `$$` is a literal `$`.
_VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)"
    r"|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


def variables(text: str) -> dict[str, bool]:
    """The variables compose interpolates in `text`: name -> whether a default is given."""
    found: dict[str, bool] = {}
    for match in _VARIABLE.finditer(text):
        name = match.group("braced") or match.group("named")
        if name:
            has_default = (match.group("op") or "").lstrip(":") == "-"
            found[name] = found.get(name, False) or has_default
    return found


def interpolate(value, env: dict[str, str]):
    """Compose's interpolation of a loaded file (the subset the file uses)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match) -> str:
        if match.group("escaped"):
            return "$"
        name = match.group("braced") or match.group("named")
        op, arg = match.group("op") or "", match.group("arg") or ""
        given = env.get(name)
        if op == ":-":
            return given if given else arg
        if op == "-":
            return arg if given is None else given
        assert given, f"{name} must be set"
        return given

    return _VARIABLE.sub(substitute, value)


def unescaped(command: str) -> str:
    """A compose string as the container's shell receives it (`$$` is a literal `$`)."""
    return command.replace("$$", "$")


def shell_line(command: list[str]) -> str:
    """The command line inside ["sh", "-c", "exec LINE"] (how testing/processes.py runs the
    Procfile's lines)."""
    assert command[:2] == ["sh", "-c"] and len(command) == 3, command
    assert command[2].startswith("exec "), command[2]
    return command[2].removeprefix("exec ")


def procfile_defaults() -> dict[str, str]:
    """The Procfile's ${NAME:-default} variables and their defaults."""
    text = "\n".join(procfile().values())
    return dict(re.findall(r"\$\{([A-Z_]+):-([^}]*)\}", text))


def redis_directives(path: Path) -> list[list[str]]:
    """The directives of a redis.conf-style file, each as its words."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [line.split() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def directive(path: Path, *words: str) -> list[list[str]]:
    """The directives of `path` that start with these words."""
    return [d for d in redis_directives(path) if d[: len(words)] == list(words)]


# ---- the Compose file's keys, checked without an engine ---------------------------------------
# The Compose specification's service attributes, healthcheck and depends_on keys that a file of
# ours may use (compose-spec.io); a misspelt key is silently ignored by some engines.
SERVICE_KEYS = {
    "build", "cap_add", "cap_drop", "command", "configs", "container_name", "depends_on",
    "deploy", "entrypoint", "env_file", "environment", "expose", "extra_hosts", "healthcheck",
    "hostname", "image", "init", "labels", "logging", "networks", "ports", "read_only",
    "restart", "secrets", "security_opt", "stop_grace_period", "stop_signal", "sysctls",
    "tmpfs", "ulimits", "user", "volumes", "working_dir",
}  # fmt: skip
HEALTHCHECK_KEYS = {"test", "interval", "timeout", "retries", "start_period", "start_interval"}
DEPENDS_KEYS = {"condition", "restart", "required"}
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
RESTART = {"no", "always", "on-failure", "unless-stopped"}
TOP_KEYS = {"name", "services", "volumes", "networks", "configs", "secrets"}


def compose_errors(model: dict) -> list[str]:
    """Keys the Compose specification does not have, and values of the wrong kind."""
    errors = [f"/{k}" for k in model if k not in TOP_KEYS and not k.startswith("x-")]
    for name, service in model.get("services", {}).items():
        where = f"/services/{name}"
        errors += [f"{where}/{k}" for k in service if k not in SERVICE_KEYS]
        check = service.get("healthcheck", {})
        errors += [f"{where}/healthcheck/{k}" for k in check if k not in HEALTHCHECK_KEYS]
        if "restart" in service and service["restart"] not in RESTART:
            errors.append(f"{where}/restart: {service['restart']!r}")
        for key in ("init", "read_only"):
            if key in service and not isinstance(service[key], bool):
                errors.append(f"{where}/{key}: {service[key]!r} is not true or false")
        depends = service.get("depends_on", {})
        for other, how in depends.items() if isinstance(depends, dict) else []:
            errors += [f"{where}/depends_on/{other}/{k}" for k in how if k not in DEPENDS_KEYS]
            if how.get("condition", "service_started") not in CONDITIONS:
                errors.append(f"{where}/depends_on/{other}/condition: {how['condition']!r}")
    return errors


def interpolated_compose() -> dict:
    """The compose model as `docker compose --env-file deploy/hamdam.env.example` sees it."""
    return interpolate(compose(), env_example()[0])


# ---- compose -------------------------------------------------------------------------------
def test_compose_file_uses_only_keys_of_the_compose_specification():
    assert compose_errors(interpolated_compose()) == []


def test_the_key_check_finds_a_misspelt_key_and_a_wrong_type():
    model = interpolated_compose()
    model["services"]["web"]["restrat"] = "always"
    model["services"]["worker"]["healthcheck"] = {"intervall": "10s"}
    model["services"]["clock"]["init"] = ["yes"]
    errors = compose_errors(model)
    assert any("/services/web/restrat" in e for e in errors), errors
    assert any("/services/worker/healthcheck/intervall" in e for e in errors), errors
    assert any("/services/clock/init" in e for e in errors), errors


def docker_compose() -> str | None:
    """The docker CLI when its compose plugin answers, else None."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    version = [docker, "compose", "version"]
    answer = subprocess.run(version, capture_output=True, text=True, check=False)
    return docker if answer.returncode == 0 else None


def test_docker_compose_config_accepts_the_file(tmp_path):
    docker = docker_compose()
    if docker is None:
        pytest.skip("no `docker compose` plugin here; the key check above stands in for it")
    # A copy of deploy/ with what an installation adds (never written into the checkout).
    deploy = tmp_path / "deploy"
    shutil.copytree(DEPLOY, deploy)
    shutil.copy(ENV_EXAMPLE, deploy / "hamdam.env")
    shutil.copy(EXAMPLE_DIRECTORY, deploy / "directory.yaml")
    (deploy / "tls").mkdir()
    compose_file, env = deploy / "compose.yaml", deploy / "hamdam.env"
    result = subprocess.run(
        [docker, "compose", "-f", str(compose_file), "--env-file", str(env), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_has_the_stack_and_pins_every_image():
    services = compose()["services"]
    assert set(services) == SERVICES
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: no image or build"
        assert service.get("restart") == "unless-stopped", name
        image = service["image"]
        if service.get("build"):
            assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
            continue
        tag = image.partition(":")[2]
        assert EXACT_TAG.match(tag), f"{name}: {image} is not pinned to an exact version"


def test_web_worker_and_clock_run_the_procfiles_lines():
    services = compose()["services"]
    lines = procfile()
    for name in APP_SERVICES:
        command = [unescaped(part) for part in services[name]["command"]]
        assert shell_line(command) == lines[name], name
    assert variables(" ".join(services["web"]["command"])) == {}, "compose must not expand them"


def test_only_the_proxy_publishes_ports_and_only_80_and_443():
    services = compose()["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s}
    assert published == {"proxy": ["80:80", "443:443"]}
    assert not any("network_mode" in s for s in services.values())


def compose_variables() -> dict[str, bool]:
    """The variables compose itself interpolates (comments left out)."""
    return variables(json.dumps(compose()))


def test_every_compose_variable_has_a_default_or_is_in_the_env_example():
    values, _ = env_example()
    assert compose_variables(), "the check would find nothing"
    for name, has_default in compose_variables().items():
        assert has_default or values.get(name), f"${{{name}}} has no default and no value"


def test_depends_on_names_services_and_healthchecks_exist_where_waited_for():
    services = compose()["services"]
    for name, service in services.items():
        for needed, how in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on {needed}, which is no service"
            if how.get("condition") == "service_healthy":
                assert "healthcheck" in services[needed], f"{name} waits for {needed}'s health"
    for name in ("proxy", "web", *REDIS_SERVERS, *SENTINELS):
        assert services[name]["healthcheck"]["test"], name
    assert services["web"]["healthcheck"]["test"] == ["CMD", "python", "deploy/healthcheck.py"]


def test_app_services_share_the_env_file_the_var_volume_and_stop_gracefully():
    services = compose()["services"]
    var_dir = dockerfile_env()["VAR_DIR"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"] == "hamdam.env"  # the filled-in copy of the example
        assert f"hamdam-var:{var_dir}" in service["volumes"], name
        assert service["init"] is True and service["read_only"] is True, name
        assert service["cap_drop"] == ["ALL"], name
    grace = {name: int(services[name]["stop_grace_period"][:-1]) for name in APP_SERVICES}
    assert grace["worker"] > LONGEST_JOB  # RQ's warm shutdown finishes the running job
    assert grace["worker"] == int(unit_values("worker")["TimeoutStopSec"][0])
    # nginx reaches web:5000 whatever the env file says
    assert services["web"]["environment"]["PORT"] == "5000"


def test_redis_servers_and_sentinels_agree():
    services = compose()["services"]
    redis_dir = DEPLOY / "redis"
    # Sentinel: watches `hamdam` on redis-primary, 2 of the 3 agree, hostnames everywhere.
    sentinel = redis_dir / "sentinel.conf"
    (monitor,) = directive(sentinel, "sentinel", "monitor")
    assert monitor[2:] == [MASTER_SET, "redis-primary", "6379", "2"]
    quorum = int(monitor[5])
    assert quorum == len(SENTINELS) // 2 + 1 == 2
    words = [" ".join(d) for d in redis_directives(sentinel)]
    monitor_at = words.index(" ".join(monitor))
    for needed in ("sentinel resolve-hostnames yes", "sentinel announce-hostnames yes"):
        assert words.index(needed) < monitor_at, f"{needed} must come before the monitor line"
    assert directive(sentinel, "port") == [["port", "26379"]]
    for name in SENTINELS:
        assert services[name]["hostname"] == name
        assert "--sentinel announce-ip" in services[name]["command"][2]
        assert "/data/sentinel.conf" in services[name]["command"][2]
        assert f"{name}:/data" in services[name]["volumes"]
    # The servers: the replica follows the primary; the shared file never sets a role.
    assert directive(redis_dir / "redis-replica.conf", "replicaof") == [
        ["replicaof", "redis-primary", "6379"]
    ]
    assert directive(redis_dir / "redis-primary.conf", "replicaof") == []
    shared = redis_dir / "redis.conf"
    assert directive(shared, "replicaof") == [] and directive(shared, "slaveof") == []
    assert directive(shared, "appendonly") == [["appendonly", "yes"]]
    assert directive(shared, "maxmemory-policy") == [["maxmemory-policy", "noeviction"]]
    (maxmemory,) = directive(shared, "maxmemory")
    assert re.fullmatch(r"\d+[kmg]b", maxmemory[1])
    assert directive(shared, "port") == [["port", "6379"]]
    for name in REDIS_SERVERS:
        command = services[name]["command"][2]
        assert f"/etc/hamdam/redis/{name}.conf /data/redis.conf" in command
        assert "--include /etc/hamdam/redis/redis.conf" in command
        assert f"--replica-announce-ip {name}" in command
        assert "--replicaof" not in command  # the role lives in the file Sentinel rewrites
        assert f"{name}:/data" in services[name]["volumes"]
    # The gateway reaches Redis through the three Sentinels of this file.
    values, _ = env_example()
    assert values["REDIS_URL"] == SENTINEL_URL
    hosts = SENTINEL_URL.split("//", 1)[1].split("/", 1)[0].split(",")
    assert [h.split(":")[0] for h in hosts] == list(SENTINELS)
    assert values["REDIS_WAIT_REPLICAS"] == "1"


# ---- the env example -----------------------------------------------------------------------
def test_env_example_holds_no_secret_value():
    values, documented = env_example()
    for name in SECRETS:
        assert not values.get(name), f"{name} has a value in the example"
    for name in ("DATA_KEY", "USSD_KEY", "OPERATOR_PASSWORD", "TWILIO_AUTH_TOKEN"):
        assert name in documented
    assert values["HAMDAM_ENV"] == "production"
    assert values["PUBLIC_URL"].startswith("https://")


def test_env_example_filled_in_is_a_production_configuration(tmp_path):
    values, documented = env_example()
    env = {
        **values,
        "DATA_KEY": new_key(),
        "USSD_KEY": "deploy-test-ussd-key-0123",
        "OPERATOR_PASSWORD": "deploy-test-password",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "deploy-test-token",
        "TWILIO_FROM": "+15005550006",
        "DIRECTORY_FILE": str(EXAMPLE_DIRECTORY),  # in the container: the mounted directory
        "VAR_DIR": str(tmp_path / "var"),
    }
    settings = Settings.from_env(env)
    assert settings.production and settings.redis_url == SENTINEL_URL
    assert settings.redis_wait_replicas == 1
    compose_only = set(compose_variables())
    unknown = documented - set(settings.variables) - set(procfile_defaults()) - compose_only
    assert not unknown, f"the example documents variables nothing reads: {sorted(unknown)}"


# ---- the image -----------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions (continuation lines joined), as (INSTRUCTION, rest)."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            instruction, _, rest = line.strip().partition(" ")
            found.append((instruction.upper(), " ".join(rest.split())))
    return found


def dockerfile_env() -> dict[str, str]:
    env = {}
    for instruction, rest in dockerfile():
        if instruction == "ENV":
            env.update(dict(re.findall(r"([A-Z_]+)=(\S+)", rest)))
    return env


def test_dockerfile_pins_its_base_and_installs_the_pinned_requirements():
    steps = dockerfile()
    (base,) = [rest for instruction, rest in steps if instruction == "FROM"]
    image, _, tag = base.partition(":")
    assert image == "python" and EXACT_TAG.match(tag), base
    assert tag.startswith("3.11.") and "latest" not in tag
    runs = [rest for instruction, rest in steps if instruction == "RUN"]
    assert any("pip install -r requirements.txt -c constraints.txt" in run for run in runs)
    copies = [rest for instruction, rest in steps if instruction == "COPY"]
    assert copies[0] == "requirements.txt constraints.txt ./"  # before the app: a cached layer


def test_dockerfile_runs_as_a_non_root_user_with_no_secret_and_var_dir_on_a_volume():
    steps = dockerfile()
    names = [instruction for instruction, _ in steps]
    users = [rest for instruction, rest in steps if instruction == "USER"]
    assert len(users) == 1
    uid, _, gid = users[0].partition(":")
    assert int(uid) >= 1000 and int(gid) >= 1000
    assert names.index("USER") < names.index("CMD")
    assert "ENTRYPOINT" not in names
    env = dockerfile_env()
    for instruction, rest in steps:
        if instruction in ("ENV", "ARG"):
            assert not any(secret in rest for secret in SECRETS), rest
    assert env["HAMDAM_ENV"] == "production"
    (volume,) = [rest for instruction, rest in steps if instruction == "VOLUME"]
    assert json.loads(volume) == [env["VAR_DIR"]]
    (cmd,) = [rest for instruction, rest in steps if instruction == "CMD"]
    assert shell_line(json.loads(cmd)) == procfile()["web"]


def test_dockerignore_keeps_the_virtualenv_var_git_and_secrets_out():
    patterns = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    needed = {".git", ".venv", "var", "deploy/hamdam.env", "deploy/tls", "deploy/directory.yaml"}
    assert needed <= patterns
    assert not any(p.startswith("!") for p in patterns)


# ---- systemd -------------------------------------------------------------------------------
UNITS = DEPLOY / "systemd"
VENV_BIN = "/opt/hamdam/.venv/bin/"


def unit(name: str) -> dict[str, list[tuple[str, str]]]:
    """A unit file's sections, each a list of (key, value) in order."""
    sections: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in (UNITS / name).read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        assert sep and current is not None, f"{name}: {line!r}"
        current.append((key.strip(), value.strip()))
    return sections


def unit_values(process: str) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in unit(f"hamdam-{process}.service")["Service"]:
        values.setdefault(key, []).append(value)
    return values


def unit_environment(values: dict[str, list[str]]) -> dict[str, str]:
    return dict(pair.split("=", 1) for line in values["Environment"] for pair in line.split())


def test_systemd_units_run_the_procfiles_lines_from_the_virtualenv():
    defaults = procfile_defaults()
    for process, line in procfile().items():
        values = unit_values(process)
        (start,) = values["ExecStart"]
        assert start.startswith(VENV_BIN), start
        expected = re.sub(r"\$\{([A-Z_]+):-[^}]*\}", r"${\1}", line)
        assert start.removeprefix(VENV_BIN) == expected, process
        env = unit_environment(values)
        for name in variables(line):
            if name == "HOST":  # nginx is on the same machine: loopback, not 0.0.0.0
                assert ip_address(env["HOST"]).is_loopback
            else:
                assert env[name] == defaults[name], name


def test_systemd_units_are_hardened_and_stop_as_rq_and_gunicorn_want():
    for process in procfile():
        values = unit_values(process)
        single = {key: value[-1] for key, value in values.items()}
        assert single["User"] == "hamdam" and single["Group"] == "hamdam"
        assert single["WorkingDirectory"] == "/opt/hamdam"
        assert single["EnvironmentFile"] == "/etc/hamdam/hamdam.env"
        assert single["Restart"] == "always"
        assert single["NoNewPrivileges"] == "yes" and single["PrivateTmp"] == "yes"
        assert single["ProtectSystem"] == "strict"
        var_dir = unit_environment(values)["VAR_DIR"]
        assert var_dir in single["ReadWritePaths"].split()
        # SIGTERM to the main process alone: gunicorn's graceful stop, RQ's warm shutdown.
        assert single["KillMode"] == "mixed" and single["KillSignal"] == "SIGTERM"
        assert "hamdam.target" in dict(unit(f"hamdam-{process}.service")["Install"]).values()
    assert int(unit_values("worker")["TimeoutStopSec"][0]) > LONGEST_JOB
    target = dict(unit("hamdam.target")["Unit"])
    assert set(target["Wants"].split()) == {f"hamdam-{p}.service" for p in procfile()}


def rendered_units(tmp_path: Path) -> list[Path]:
    """The units with /opt/hamdam pointing at this checkout, whose virtualenv exists."""
    paths = []
    for source in sorted(UNITS.iterdir()):
        target = tmp_path / source.name
        target.write_text(source.read_text(encoding="utf-8").replace("/opt/hamdam", str(ROOT)))
        paths.append(target)
    return paths


def test_systemd_analyze_verify_accepts_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    result = subprocess.run(
        [analyze, "verify", *map(str, rendered_units(tmp_path))],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    # Unknown keys and bad values are warnings with exit status 0: any output is a failure.
    assert result.returncode == 0 and not (result.stdout + result.stderr).strip(), (
        result.stdout + result.stderr
    )
    # ... and such a warning does show: a misspelt key in a copy of the web unit.
    web = tmp_path / "hamdam-web.service"
    web.write_text(replace(web.read_text(), "RestartSec=2", "RestartSecs=2"))
    warned = subprocess.run(
        [analyze, "verify", str(web)], capture_output=True, text=True, check=False, cwd=tmp_path
    )
    assert "RestartSecs" in warned.stdout + warned.stderr


def test_systemd_analyze_security_rates_the_services_ok(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed here")
    for path in rendered_units(tmp_path):
        if path.suffix != ".service":
            continue
        result = subprocess.run(
            [analyze, "security", "--offline=true", "--no-pager", str(path)],
            capture_output=True,
            text=True,
            check=False,
        )
        if "--offline" in result.stderr:
            pytest.skip("this systemd-analyze has no --offline (systemd < 250)")
        match = re.search(r"Overall exposure level for \S+: ([\d.]+) (\w+)", result.stdout)
        assert match, result.stdout[-500:] + result.stderr
        assert float(match.group(1)) < 5.0, f"{path.name}: {match.group(0)}"


# ---- nginx ---------------------------------------------------------------------------------
def replace(text: str, old: str, new: str, count: int = 1) -> str:
    """`text` with `old` replaced; it must occur exactly `count` times (no silent misses)."""
    assert text.count(old) == count, f"{old!r} occurs {text.count(old)} times, not {count}"
    return text.replace(old, new)


def render_nginx(home: Path, upstream: int, cert: Path, key: Path) -> tuple[Path, int, int]:
    """deploy/nginx's two files with the addresses and paths of a loopback run in `home`;
    the main file, the HTTP and the HTTPS port."""
    http, https = free_port(), free_port()
    (home / "logs").mkdir(parents=True, exist_ok=True)
    (home / "acme").mkdir(exist_ok=True)
    site = (DEPLOY / "nginx" / "hamdam.conf").read_text(encoding="utf-8")
    site = replace(site, "listen 80 default_server;", f"listen 127.0.0.1:{http} default_server;")
    site = replace(site, "listen 443 ssl ", f"listen 127.0.0.1:{https} ssl ")
    site = replace(site, "server web:5000;", f"server 127.0.0.1:{upstream};")
    site = replace(
        site, "ssl_certificate /etc/nginx/tls/fullchain.pem;", f"ssl_certificate {cert};"
    )
    site = replace(site, "_key /etc/nginx/tls/privkey.pem;", f"_key {key};")
    site = replace(site, "root /var/www/acme;", f"root {home / 'acme'};")
    site = replace(site, "/var/log/nginx/", f"{home}/logs/", count=2)
    (home / "hamdam.conf").write_text(site, encoding="utf-8")
    main = (DEPLOY / "nginx" / "nginx.conf").read_text(encoding="utf-8")
    main = replace(main, "/etc/nginx/conf.d/hamdam.conf", str(home / "hamdam.conf"))
    main = replace(main, "/var/log/nginx/", f"{home}/logs/")
    main = replace(main, "/var/run/nginx.pid", str(home / "nginx.pid"))
    temp = "".join(
        f"    {kind}_temp_path {home}/{kind}_temp;\n"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    main = replace(main, "http {\n", "http {\n" + temp)
    if os.geteuid() == 0:
        # As root, nginx's workers would run as `nobody`, who cannot enter pytest's private
        # temporary folder (the ACME files and temporary paths are there).
        main = "user root;\n" + main
    (home / "nginx.conf").write_text(main, encoding="utf-8")
    return home / "nginx.conf", http, https


def nginx_command(config: Path) -> list[str]:
    home = config.parent
    return [NGINX or "nginx", "-p", f"{home}/", "-e", f"{home}/logs/error.log", "-c", str(config)]


@pytest.fixture(scope="module")
def tls(tmp_path_factory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (and its key), made with `cryptography`."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    folder = tmp_path_factory.mktemp("tls")
    loopback = ip_address("127.0.0.1")
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(loopback)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "fullchain.pem", folder / "privkey.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


class Nginx:
    """The machine's nginx serving deploy/nginx's configuration on loopback ports, every file
    it writes (pid, logs, temporary files) in `home`; stopped by stop(), even after a failed
    start."""

    def __init__(self, home: Path, upstream: int, tls: tuple[Path, Path]):
        self.home = home
        self.config, self.http, self.https = render_nginx(home, upstream, *tls)
        self.cert = tls[0]
        self.base = f"https://127.0.0.1:{self.https}"
        with (home / "logs" / "nginx.out").open("w") as out:
            self.proc = subprocess.Popen(
                [*nginx_command(self.config), "-g", "daemon off;"],
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            wait_for(self._listening, 20, f"nginx on 127.0.0.1:{self.https}")
        except BaseException:
            self.stop()
            raise

    def _listening(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.logs()}")
        try:
            with socket.create_connection(("127.0.0.1", self.https), timeout=1):
                return True
        except OSError:
            return False

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in (self.home / "logs").iterdir())

    def session(self) -> requests.Session:
        return TimedSession(self.cert)

    def stop(self) -> None:
        stop_group(self.proc, grace=10)


def test_nginx_accepts_the_configuration(tmp_path, tls):
    if NGINX is None:
        pytest.skip(NO_NGINX)
    config, _, _ = render_nginx(tmp_path, free_port(), *tls)
    result = subprocess.run(
        [*nginx_command(config), "-t"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def nginx_directive(name: str) -> list[str]:
    text = (DEPLOY / "nginx" / "hamdam.conf").read_text(encoding="utf-8")
    return re.findall(rf"^\s*{name}\s+([^;]+);", text, flags=re.MULTILINE)


def size(value: str) -> int:
    units = {"k": 1024, "m": 1024 * 1024}
    return int(value[:-1]) * units[value[-1].lower()] if value[-1].isalpha() else int(value)


def test_nginx_buffers_whole_requests_and_answers_within_the_apps_limits(app):
    assert nginx_directive("proxy_request_buffering") == ["on"]
    assert nginx_directive("proxy_buffering") == ["on"]
    (limit,) = nginx_directive("client_max_body_size")
    (buffer,) = nginx_directive("client_body_buffer_size")
    assert size(limit) == app.config["MAX_CONTENT_LENGTH"]
    assert size(buffer) >= size(limit)  # a webhook's body never reaches nginx's disk
    assert nginx_directive("proxy_max_temp_file_size") == ["0"]
    gunicorn = ast.parse((ROOT / "config" / "gunicorn.py").read_text(encoding="utf-8"))
    (keepalive,) = [
        node.value.value
        for node in gunicorn.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "keepalive"
    ]
    text = (DEPLOY / "nginx" / "hamdam.conf").read_text(encoding="utf-8")
    (upstream,) = re.findall(r"^upstream hamdam_web \{(.*?)^\}", text, re.MULTILINE | re.DOTALL)
    (upstream_idle,) = re.findall(r"^\s*keepalive_timeout (\d+)s;", upstream, re.MULTILINE)
    assert int(upstream_idle) < keepalive
    (unavailable,) = re.findall(r'return 503 "([^"]+)";', text)
    assert unavailable == "END " + ERROR_END


@pytest.fixture(scope="module")
def web(redis_url, tmp_path_factory):
    """The Procfile's web process alone (no worker: /healthz says degraded, Redis reachable)."""
    home = tmp_path_factory.mktemp("web")
    server = Web(make_env(redis_url, home / "var"), home / "web.log")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxy(web, tls, tmp_path_factory):
    if NGINX is None:
        pytest.skip(NO_NGINX)
    server = Nginx(tmp_path_factory.mktemp("nginx"), web.port, tls)
    try:
        yield server
    finally:
        server.stop()


def run_healthcheck(port: int) -> subprocess.CompletedProcess:
    """deploy/healthcheck.py as the web container runs it (standard library only)."""
    return subprocess.run(
        [sys.executable, str(DEPLOY / "healthcheck.py")],
        env={"PATH": os.environ["PATH"], "PORT": str(port)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_web_healthcheck_passes_while_web_serves_and_fails_without_it(web):
    served = run_healthcheck(web.port)
    assert served.returncode == 0, served.stderr  # degraded (no worker) but serving
    nobody = run_healthcheck(free_port())
    assert nobody.returncode == 1 and "no answer" in nobody.stderr


def test_healthz_and_ussd_through_nginx_over_https(proxy, web):
    with proxy.session() as http:
        health = http.get(proxy.base + "/healthz", timeout=10)
        assert health.status_code in (200, 503)
        assert health.json()["redis"]["reachable"] is True
        assert health.headers["Strict-Transport-Security"].startswith("max-age=")
        url = f"{proxy.base}/ussd/africastalking?key={web.env['USSD_KEY']}"
        first = http.post(url, data=form(new_session(), "+992900007001", []), timeout=10)
        assert first.status_code == 200 and first.text.startswith("CON ")
        assert first.headers["Content-Type"].startswith("text/plain")
        ref, _ = http_help(http, url, "+992900007002", Help())
        assert ref.isdigit()
    plain = requests.get(
        f"http://127.0.0.1:{proxy.http}/console/?a=1", allow_redirects=False, timeout=10
    )
    assert plain.status_code == 301
    assert plain.headers["Location"] == "https://127.0.0.1/console/?a=1"
    assert requests.get(f"http://127.0.0.1:{proxy.http}/nginx-health", timeout=10).text == "ok\n"
    challenge = proxy.home / "acme" / ".well-known" / "acme-challenge" / "token-1"
    challenge.parent.mkdir(parents=True, exist_ok=True)
    challenge.write_text("token-1.thumbprint")
    acme = requests.get(
        f"http://127.0.0.1:{proxy.http}/.well-known/acme-challenge/token-1", timeout=10
    )
    assert acme.status_code == 200 and acme.text == "token-1.thumbprint"
    logs = proxy.logs()
    assert '"POST /ussd/africastalking" 200' in logs  # logged, without its query string
    assert web.env["USSD_KEY"] not in logs


def test_an_oversized_ussd_form_gets_the_apps_own_answer_from_nginx(proxy, web):
    path = f"/ussd/africastalking?key={web.env['USSD_KEY']}"
    body = {"sessionId": "ATUid_big", "phoneNumber": "+992900007003", "text": "1" * 70_000}
    from_app = requests.post(web.url + path, data=body, timeout=10)
    with proxy.session() as http:
        from_nginx = http.post(proxy.base + path, data=body, timeout=10)
    assert from_app.status_code == from_nginx.status_code == 413
    assert from_nginx.text == from_app.text and from_nginx.text.startswith("END ")


def test_ussd_gets_the_neutral_end_when_no_web_process_answers(tmp_path, tls):
    if NGINX is None:
        pytest.skip(NO_NGINX)
    key = "deploy-test-ussd-key-0123"
    proxy = Nginx(tmp_path, free_port(), tls)  # nothing listens on its upstream port
    try:
        with proxy.session() as http:
            answer = http.post(
                f"{proxy.base}/ussd/africastalking?key={key}",
                data=form(new_session(), "+992900007004", []),
                timeout=10,
            )
            twilio = http.post(f"{proxy.base}/sms/twilio", data={"Body": "x"}, timeout=10)
    finally:
        proxy.stop()
    assert answer.status_code == 503
    assert answer.text == "END " + ERROR_END
    assert answer.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert twilio.status_code == 502  # elsewhere nginx's own answer
    logs = proxy.logs()
    assert "/ussd/africastalking" in logs and key not in logs  # ?key= never logged


class Crowd:
    """Idle TCP connections and TLS connections trickling their headers, held open to nginx."""

    def __init__(self, proxy: Nginx, idle: int, slow: int):
        self.socks: list[socket.socket] = []
        self.slow: list[ssl.SSLSocket] = []
        self.stopping = threading.Event()
        context = ssl.create_default_context(cafile=str(proxy.cert))
        try:
            for _ in range(idle):
                self.socks.append(socket.create_connection(("127.0.0.1", proxy.https), 5))
            for _ in range(slow):
                raw = socket.create_connection(("127.0.0.1", proxy.https), 5)
                sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
                sock.sendall(b"POST /ussd/africastalking HTTP/1.1\r\nHost: gateway\r\n")
                self.slow.append(sock)
        except BaseException:
            self.close()
            raise
        self.thread = threading.Thread(target=self._trickle, daemon=True)
        self.thread.start()

    def _trickle(self) -> None:
        while not self.stopping.wait(1.0):
            for sock in self.slow:
                try:
                    sock.sendall(b"X")
                except OSError:
                    pass  # closed by nginx: counted by open_slow()

    def open_slow(self) -> int:
        alive = 0
        for sock in self.slow:
            try:
                sock.setblocking(False)
                alive += sock.recv(1) != b""
            except (BlockingIOError, ssl.SSLWantReadError):
                alive += 1
            except OSError:
                pass
            finally:
                sock.setblocking(True)
        return alive

    def close(self) -> None:
        self.stopping.set()
        if hasattr(self, "thread"):
            self.thread.join(5)
        for sock in [*self.socks, *self.slow]:
            sock.close()


class TimedSession(requests.Session):
    """HTTPS to our nginx (its certificate trusted); records how long each answer took and
    how it began."""

    def __init__(self, cert: Path):
        super().__init__()
        self.verify = str(cert)
        self.trust_env = False  # else REQUESTS_CA_BUNDLE would win over `verify`
        self.seconds: list[float] = []
        self.kinds: list[str] = []

    def request(self, *args, **kwargs):
        started = time.perf_counter()
        response = super().request(*args, **kwargs)
        self.seconds.append(time.perf_counter() - started)
        self.kinds.append(response.text[:4])
        return response


FLOWS = 6  # help flows per run, one after the other (about 8 hops each)
IDLE, SLOW_HEADERS = 200, 20


def hops(proxy: Nginx, web: Web, first: int) -> TimedSession:
    http = TimedSession(proxy.cert)
    url = f"{proxy.base}/ussd/africastalking?key={web.env['USSD_KEY']}"
    with http:
        for n in range(first, first + FLOWS):
            ref, _ = http_help(http, url, f"+9929000{n:05d}", Help())
            assert ref.isdigit()
    return http


def test_ussd_hops_through_nginx_answer_beside_idle_and_slow_connections(proxy, web):
    quiet = hops(proxy, web, 7100)
    crowd = Crowd(proxy, IDLE, SLOW_HEADERS)
    try:
        time.sleep(1)  # every connection accepted and the trickle started
        crowded = hops(proxy, web, 7200)
        still_open = crowd.open_slow()
    finally:
        crowd.close()
    print(
        f"\nUSSD hops through nginx: without the crowd p50 {median(quiet.seconds) * 1000:.1f} ms,"
        f" p99 {percentile(quiet.seconds, 99) * 1000:.1f} ms over {len(quiet.seconds)} hops;"
        f" with {IDLE} idle and {SLOW_HEADERS} slow-header connections"
        f" p50 {median(crowded.seconds) * 1000:.1f} ms,"
        f" p99 {percentile(crowded.seconds, 99) * 1000:.1f} ms over {len(crowded.seconds)} hops"
        f" ({still_open} slow connections still open)"
    )
    assert len(crowded.seconds) == len(quiet.seconds)
    assert set(quiet.kinds + crowded.kinds) <= {"CON ", "END "}
    assert percentile(crowded.seconds, 99) < 2.0  # generous: the point is no stall
    assert still_open > 0  # the crowd was there while the hops ran


# ---- Redis and Sentinel, for real ----------------------------------------------------------
class Servers:
    """redis-server processes started from deploy/redis's files on loopback; stop() ends all."""

    def __init__(self, home: Path):
        binary = localredis.server_binary()
        if binary is None:
            pytest.skip("no redis-server here")
        self.binary, self.home = binary, home
        self.procs: dict[str, subprocess.Popen] = {}
        self.args: dict[str, tuple[list[str], int]] = {}

    def start(self, name: str, options: list[str], port: int) -> None:
        """redis-server FILE OPTIONS, on 127.0.0.1:port, its files in home/name."""
        folder = self.home / name
        self.args[name] = (options, port)
        args = [self.binary, *options, "--port", str(port), "--bind", "127.0.0.1"]
        args += ["--dir", str(folder), "--logfile", str(folder / "log")]
        self.procs[name] = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        client = redis.Redis(port=port, socket_timeout=1)
        try:
            wait_for(lambda: self._answers(name, client), 10, f"{name} on port {port}")
        finally:
            client.close()

    def _answers(self, name: str, client: redis.Redis) -> bool:
        if self.procs[name].poll() is not None:
            log = self.home / name / "log"
            raise RuntimeError(f"{name} exited: {log.read_text() if log.exists() else ''}")
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False

    def server(self, name: str, role_file: str, port: int, primary: int) -> Path:
        """A Redis server as compose runs it: its writable file made from its role file
        (redis-primary as 127.0.0.1:primary), then the shared file included after it."""
        folder = self.home / name
        folder.mkdir(parents=True)
        own = folder / "redis.conf"
        role = (DEPLOY / "redis" / role_file).read_text(encoding="utf-8")
        own.write_text(role.replace("redis-primary 6379", f"127.0.0.1 {primary}"))
        args = [str(own), "--include", str(DEPLOY / "redis" / "redis.conf")]
        self.start(name, [*args, "--replica-announce-ip", "127.0.0.1"], port)
        return own

    def sentinel(self, name: str, port: int, primary: int) -> None:
        folder = self.home / name
        folder.mkdir(parents=True)
        own = folder / "sentinel.conf"
        template = (DEPLOY / "redis" / "sentinel.conf").read_text(encoding="utf-8")
        own.write_text(replace(template, "redis-primary 6379", f"127.0.0.1 {primary}"))
        self.start(name, [str(own), "--sentinel", "announce-ip", "127.0.0.1"], port)

    def restart(self, name: str) -> None:
        """SIGTERM (Redis writes its AOF), then the same command again."""
        localredis.stop(self.procs[name])
        self.start(name, *self.args[name])

    def stop(self) -> None:
        for proc in self.procs.values():
            localredis.stop(proc)


def test_sentinels_fail_over_and_the_new_primary_keeps_its_role_after_a_restart(tmp_path):
    servers = Servers(tmp_path)
    primary_port, replica_port = free_port(), free_port()
    sentinel_ports = [free_port() for _ in SENTINELS]
    clients: list[redis.Redis] = []
    try:
        servers.server("redis-primary", "redis-primary.conf", primary_port, primary_port)
        replica_file = servers.server(
            "redis-replica", "redis-replica.conf", replica_port, primary_port
        )
        primary = redis.Redis(port=primary_port, socket_timeout=5)
        replica = redis.Redis(port=replica_port, socket_timeout=5)
        clients += [primary, replica]
        wait_for(
            lambda: replica.info("replication").get("master_link_status") == "up",
            15,
            "the replica in sync with the primary",
        )
        primary.set("deploy:case", "kept")
        assert primary.execute_command("WAIT", 1, 5000) == 1  # REDIS_WAIT_REPLICAS=1
        assert primary.config_get("maxmemory-policy")["maxmemory-policy"] == "noeviction"
        assert primary.config_get("appendonly")["appendonly"] == "yes"
        for name, port in zip(SENTINELS, sentinel_ports, strict=True):
            servers.sentinel(name, port, primary_port)
        sentinels = [
            redis.Redis(port=port, socket_timeout=5, decode_responses=True)
            for port in sentinel_ports
        ]
        clients += sentinels

        def quorum() -> bool:
            try:  # NOQUORUM is an error reply until the Sentinels have found each other
                answers = [s.execute_command("SENTINEL", "CKQUORUM", MASTER_SET) for s in sentinels]
            except redis.ResponseError:
                return False
            known = sentinels[0].execute_command("SENTINEL", "REPLICAS", MASTER_SET)
            return all(str(a).startswith("OK 3 usable") for a in answers) and len(known) == 1

        wait_for(quorum, 30, "three Sentinels agreeing, and the replica known")
        sentinels[0].execute_command("SENTINEL", "FAILOVER", MASTER_SET)

        def switched() -> bool:
            return all(
                s.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_SET)
                == ["127.0.0.1", str(replica_port)]
                for s in sentinels
            )

        wait_for(switched, 30, "every Sentinel naming redis-replica the primary")
        wait_for(lambda: replica.info("replication")["role"] == "master", 10, "promotion")
        # Sentinel recorded the promotion in the server's own file (CONFIG REWRITE) ...
        assert directive(replica_file, "replicaof") == []
        # ... so a restart brings it back as the primary, with its data (AOF).
        servers.restart("redis-replica")
        assert replica.info("replication")["role"] == "master"
        assert replica.get("deploy:case") == b"kept"
    finally:
        for client in clients:
            client.close()
        servers.stop()
