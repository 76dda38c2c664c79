"""docker-compose.yml against the Compose Specification, since no Docker engine runs here.

The check is the `compose-spec` package (PyPI): a parser of the specification (the `compose_spec`
Rust crate) that refuses unknown keys (outside `x-` extensions), values outside the enums
(restart policies, depends_on conditions), bad durations and bad port syntax; its pydantic models,
generated from the specification's JSON schema, then type the result. It does not check that names
refer to something (a depends_on target, a volume, a variable), so the tests below do.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from compose_spec import ComposeSpecification, PyCompose

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    spec = PyCompose.from_yaml(TEXT)
    ComposeSpecification.model_validate(spec.to_dict())
    return spec.to_dict()


@pytest.mark.parametrize("typo", [("depends_on:", "depend_on:"), ("service_healthy", "service_happy"),
                                  ("interval: 5s", "interval: 5 parsecs"),
                                  ("restart: unless-stopped", "restart: sometimes")])
def test_the_validator_refuses_what_the_specification_refuses(typo):
    with pytest.raises(ValueError):
        PyCompose.from_yaml(TEXT.replace(*typo, 1))


def test_the_stack_is_complete(compose):
    assert set(compose["services"]) == {"meter", "redis", "clickhouse", "grafana", "prometheus", "mailpit"}


def test_every_dependency_waits_for_a_healthy_service(compose):
    services = compose["services"]
    for name, service in services.items():
        if name != "meter":  # meter's health check is its image's HEALTHCHECK (Dockerfile)
            assert service["healthcheck"]["test"], name
        for target, cond in service.get("depends_on", {}).items():
            assert target in services and cond["condition"] == "service_healthy", (name, target)
    assert set(services["meter"]["depends_on"]) == {"redis", "clickhouse", "mailpit"}
    assert "HEALTHCHECK" in (ROOT / "Dockerfile").read_text()


def test_redis_fsyncs_every_write_and_never_evicts(compose):
    command = compose["services"]["redis"]["command"]
    assert command[command.index("--appendfsync") + 1] == "always"
    assert command[command.index("--maxmemory-policy") + 1] == "noeviction"


def test_mounts_and_volumes_exist(compose):
    declared = set(compose.get("volumes", {}))
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0] if isinstance(volume, str) else volume["source"]
            if source.startswith("./"):
                assert (ROOT / source).exists(), (name, source)
            else:
                assert source in declared, (name, source)


def test_grafana_prometheus_and_mail_are_wired(compose):
    s = compose["services"]
    assert "grafana-clickhouse-datasource" in s["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    assert "./dashboards/provisioning:/etc/grafana/provisioning:ro" in s["grafana"]["volumes"]
    assert "./deploy/prometheus:/etc/prometheus:ro" in s["prometheus"]["volumes"]
    assert s["meter"]["environment"]["METER_SMTP_URL"] == "smtp://mailpit:1025"


def test_no_secret_in_the_file_and_every_variable_in_env_example(compose):
    example = (ROOT / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_]+)=", example, re.M))
    used = set(re.findall(r"\$\{([A-Z_]+)", TEXT))
    assert used and used <= documented, used - documented
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key):
                assert str(value).startswith("${"), (name, key)
        url = (service.get("environment") or {}).get("METER_CLICKHOUSE_URL", "")
        assert not re.search(r"//[^:]+:[^$@][^@]*@", url), "a password written into the URL"


def test_provisioning_matches_the_dashboards_and_the_mounts(compose):
    sources = (ROOT / "dashboards/provisioning/datasources/meter.yml").read_text()
    provider = (ROOT / "dashboards/provisioning/dashboards/meter.yml").read_text()
    for uid in ("meter-clickhouse", "meter-prometheus"):
        assert f"uid: {uid}" in sources
    for key in ("host", "port", "protocol", "username", "defaultDatabase"):  # the plugin's jsonData keys
        assert re.search(rf"^\s+{key}: \S", sources, re.M), key
    path = re.search(r"path: (\S+)", provider)[1]  # type: ignore[index]
    assert f"./dashboards/json:{path}:ro" in compose["services"]["grafana"]["volumes"]
    assert "$GRAFANA_CLICKHOUSE_PASSWORD" in sources


def test_services_without_a_login_are_published_on_loopback_only(compose):
    for name in ("mailpit", "prometheus"):  # every partner's report; every metric
        ports = compose["services"][name]["ports"]
        assert ports and all(str(p).startswith("127.0.0.1:") for p in ports), (name, ports)


def test_meter_takes_its_tokens_from_env_not_from_the_demo_pool(compose, monkeypatch):
    meter = compose["services"]["meter"]
    assert "./deploy/compose/pool.toml:/etc/meter/pool.toml:ro" in meter["volumes"]
    assert not any("examples/" in str(v) for v in meter["volumes"])
    pool = (ROOT / "deploy/compose/pool.toml").read_text()
    assert not re.search(r"^\s*(token|sha256)\s*=", pool, re.M)  # no secret in the file
    names = re.findall(r'^token_env = "([A-Z_]+)"', pool, re.M)
    assert sorted(names) == ["METER_ADMIN_TOKEN", "METER_GATEWAY_TOKEN", "METER_PRODUCER_TOKEN", "METER_READER_TOKEN"]
    for name in names:
        assert meter["environment"][name] == f"${{{name}:?set it in .env (make secrets)}}"
        monkeypatch.setenv(name, f"secret-of-{name.lower()}")
    from meter.app import create_app
    from meter.config.settings import Settings, load_pool_config

    path = ROOT / "deploy/compose/pool.toml"
    config = load_pool_config(path)
    assert {t.role for t in config.tokens} == {"admin", "gateway", "producer", "reader"}
    create_app(Settings(http_host="0.0.0.0", config=path), config)  # no demo token: it may listen everywhere


def test_a_pool_file_token_from_an_unset_variable_stops_start_up(monkeypatch):
    from meter.config.settings import load_pool_config
    from meter.core.errors import ConfigError

    monkeypatch.delenv("METER_ADMIN_TOKEN", raising=False)
    with pytest.raises(ConfigError, match="METER_ADMIN_TOKEN must hold the token"):
        load_pool_config(ROOT / "deploy/compose/pool.toml")


def test_make_secrets_writes_a_random_value_for_every_variable(tmp_path):
    import subprocess

    (tmp_path / ".env.example").write_text((ROOT / ".env.example").read_text())
    make = ["make", "-s", "-f", str(ROOT / "Makefile"), "-C", str(tmp_path), "secrets"]
    subprocess.run(make, check=True, capture_output=True)
    written = dict(line.split("=", 1) for line in (tmp_path / ".env").read_text().splitlines())
    documented = re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M)
    assert sorted(written) == sorted(documented)
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in written.values())
    assert len(set(written.values())) == len(written)
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0
    again = subprocess.run(make, capture_output=True, text=True)
    assert again.returncode != 0 and "exists" in again.stderr  # never overwritten
