"""The production stack in deploy/: the compose file's structure (and `docker compose config`
where a compose plugin answers), the image, and the systemd units for a plain host."""

from __future__ import annotations

import configparser
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reminders.config import refuse_unknown_variables

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
LONG_RUNNING = {"postgres", "redis", "worker", "beat", "web", "caddy"}
OURS = {"migrate", "worker", "beat", "web"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())
    return document


def test_the_stack_has_every_part(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == LONG_RUNNING | {"migrate"}


def test_every_long_running_part_restarts_and_has_a_healthcheck(compose: dict[str, Any]) -> None:
    for name in LONG_RUNNING:
        service = compose["services"][name]
        assert service["restart"] == "unless-stopped", name
        assert service["healthcheck"]["test"], name
    assert compose["services"]["migrate"]["restart"] == "no"


def test_redis_keeps_its_queue_in_an_append_only_file(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(volume.endswith(":/data") for volume in redis["volumes"])


def test_workers_scale_and_beat_is_one(compose: dict[str, Any]) -> None:
    worker, beat = compose["services"]["worker"], compose["services"]["beat"]
    # A fixed name or a published port would stop `--scale worker=N`.
    assert "container_name" not in worker and "ports" not in worker
    assert worker["command"][:4] == ["celery", "-A", "worker", "worker"]
    assert "--beat" not in worker["command"]
    # A fixed name makes `--scale beat=2` fail: exactly one beat.
    assert beat["container_name"] and beat["command"][:4] == ["celery", "-A", "worker", "beat"]


def test_only_the_reverse_proxy_is_published_and_it_serves_tls(compose: dict[str, Any]) -> None:
    published = {name for name, service in compose["services"].items() if "ports" in service}
    assert published == {"caddy"}
    assert "443:443" in compose["services"]["caddy"]["ports"]
    assert "reverse_proxy {$CONSOLE_UPSTREAM:web:8000}" in (DEPLOY / "Caddyfile").read_text()
    assert compose["services"]["web"]["command"][:2] == ["reminders", "web"]


def test_our_services_wait_for_the_migration_and_take_secrets_from_files(
    compose: dict[str, Any],
) -> None:
    declared = set(compose["secrets"])
    for name in OURS - {"migrate"}:
        service = compose["services"][name]
        condition = service["depends_on"]["migrate"]["condition"]
        assert condition == "service_completed_successfully", name
        environment = service["environment"]
        assert environment["REMINDERS_DATABASE_URL_FILE"] == "/run/secrets/database_url"
        assert "REMINDERS_TWILIO_AUTH_TOKEN" not in environment
        for variable, path in environment.items():
            if variable.endswith("_FILE"):
                assert Path(path).name in set(service["secrets"]) <= declared, variable
    for secret in declared:
        assert (DEPLOY / "secrets.example" / secret).is_file(), secret


def test_every_setting_the_stack_names_exists() -> None:
    """A typo in the compose file or the example environment would stop every container."""
    compose_text = (DEPLOY / "docker-compose.yml").read_text()
    names = {word.rstrip(":") for word in compose_text.split() if word.startswith("REMINDERS_")}
    example = (DEPLOY / "reminders.env.example").read_text().splitlines()
    names |= {line.split("=", 1)[0] for line in example if line.startswith("REMINDERS_")}
    refuse_unknown_variables(dict.fromkeys(names, "x"))
    assert "REMINDERS_RETENTION_DAYS" in names


def test_the_image_installs_the_wheel_and_runs_as_a_user() -> None:
    lines = (DEPLOY / "Dockerfile").read_text().splitlines()
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    assert any("pip wheel" in line for line in lines)
    assert any("pip install" in line and ".whl" in line for line in lines)


UNITS = ["reminders-worker@.service", "reminders-beat.service", "reminders-web.service"]


@pytest.mark.parametrize("unit", UNITS)
def test_each_systemd_unit_runs_as_the_service_user_and_restarts(unit: str) -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(DEPLOY / "systemd" / unit)

    service = parser["Service"]
    assert service["User"] == "reminders"
    assert service["Restart"] == "always"
    assert service["ExecStart"].startswith("/opt/reminders/venv/bin/")
    assert "REMINDERS_DATABASE_URL_FILE=%d/database_url" in (DEPLOY / "systemd" / unit).read_text()
    assert parser["Unit"]["Requires"] == "reminders-migrate.service"


def test_each_worker_instance_is_a_host_of_its_own() -> None:
    text = (DEPLOY / "systemd" / "reminders-worker@.service").read_text()
    assert "--hostname=worker%i@%H" in text
    assert "REMINDERS_STATE_DIR=/var/lib/reminders/worker-%i" in text


def _compose_plugin() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    found = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=30)
    return found.returncode == 0


@pytest.mark.skipif(not _compose_plugin(), reason="no docker compose plugin on this machine")
def test_docker_compose_accepts_the_file(tmp_path: Path) -> None:
    stack = tmp_path / "deploy"
    shutil.copytree(DEPLOY, stack)
    shutil.copytree(stack / "secrets.example", stack / "secrets")
    (stack / "reminders.env").write_text((stack / "reminders.env.example").read_text())
    checked = subprocess.run(
        ["docker", "compose", "-f", str(stack / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin", "CONSOLE_DOMAIN": "clinic.example"},
    )
    assert checked.returncode == 0, checked.stderr
