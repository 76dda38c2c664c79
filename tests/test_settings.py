"""Settings and the pool file: defaults are the convention's quotas; mistakes are named (pure)."""
import pytest

from meter.config.settings import DEFAULT_POOL_FILE, load_pool_config, load_settings, parse_pool_config
from meter.core.errors import ConfigError


def test_defaults_are_the_conventions_quotas():
    cfg = parse_pool_config("")
    assert cfg.caps.api_calls == 300_000 and cfg.caps.update_bytes == 10**9
    assert cfg.caps.records == 20_000_000 and cfg.caps.raw_bytes == 9 * 10**9
    assert cfg.caps.content_bytes == 30 * 10**9 and cfg.caps.dataset_records == 300_000
    assert cfg.pool.timezone == "Europe/Paris" and cfg.allocation.policy == "none"
    assert cfg.enforcement.fail_mode("api_calls") == "fail_open"
    assert cfg.enforcement.fail_mode("update_bytes") == "fail_closed"


def test_demo_pool_file_loads():
    cfg = load_pool_config(DEFAULT_POOL_FILE)
    assert cfg.pool.id == "demo" and {t.role for t in cfg.tokens} == {"admin", "gateway", "producer", "reader"}


@pytest.mark.parametrize("text, named", [
    ("[caps]\napi_calls = -1", "caps.api_calls"),
    ("[caps]\napi_call = 5", "caps.api_call"),
    ("[pool]\ntimezone = \"Mars/Olympus\"", "pool.timezone"),
    ("[pool]\nid = \"Bad Id\"", "pool.id"),
    ("[allocation]\npolicy = \"random\"", "allocation.policy"),
    ("[[tokens]]\nrole = \"root\"\ntoken = \"12345678\"", "tokens.0.role"),
    ("[[tokens]]\nrole = \"admin\"", "tokens.0"),
    ("[enforcement]\nfail_modes = { api_calls = \"maybe\" }", "enforcement.fail_modes.api_calls"),
    ("[enforcement]\ntrusted_gateways = [\"10.0.0.0/33\"]", "enforcement.trusted_gateways"),
    ("[caps\n", "not valid TOML"),
])
def test_mistakes_stop_start_up_naming_the_key(text, named):
    with pytest.raises(ConfigError) as err:
        parse_pool_config(text, "pool.toml")
    assert named in err.value.message and "pool.toml" in err.value.message


def test_environment_mistakes_name_the_variable(monkeypatch):
    monkeypatch.setenv("METER_HTTP_PORT", "eighty")
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "METER_HTTP_PORT" in err.value.message


def test_missing_pool_file_is_named(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_pool_config(tmp_path / "nope.toml")
    assert "nope.toml" in err.value.message and "METER_CONFIG" in err.value.message


@pytest.mark.parametrize(("url", "named"), [("unix:///run/redis.sock", "over TCP"),
                                            ("redis://127.0.0.1:7000/2", "only database 0")])
def test_a_cluster_needs_a_nodes_address_and_database_0(monkeypatch, url, named):
    monkeypatch.setenv("METER_REDIS_CLUSTER", "true")
    monkeypatch.setenv("METER_REDIS_URL", url)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert "METER_REDIS_CLUSTER" in err.value.message and named in err.value.message


def test_cluster_and_wait_settings_read_from_the_environment(monkeypatch):
    for name, value in {"CLUSTER": "true", "URL": "redis://10.0.0.5:7000", "WAIT_REPLICAS": "1",
                        "WAIT_MS": "250"}.items():
        monkeypatch.setenv(f"METER_REDIS_{name}", value)
    s = load_settings()
    assert (s.redis_cluster, s.redis_wait_replicas, s.redis_wait_ms) == (True, 1, 250)
