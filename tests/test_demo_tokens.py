"""The demo tokens (examples/, printed in the README) serve on loopback only (DESIGN §4)."""
from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from meter.app import create_app
from meter.config.exposure import DEMO_DIGESTS, is_loopback
from meter.config.settings import Settings, TokenEntry, load_pool_config
from meter.core.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "examples" / "demo-pool.toml"


def test_every_token_of_the_examples_is_known_as_a_demo_token():
    for path in (ROOT / "examples").glob("*.toml"):
        for raw in tomllib.loads(path.read_text()).get("tokens", []):
            assert TokenEntry.model_validate(raw).digest() in DEMO_DIGESTS, (path, raw["role"])


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_the_demo_pool_serves_on_loopback(host):
    create_app(Settings(http_host=host, config=DEMO))  # builds; nothing connects until it starts


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "meter.example.org"])
def test_the_demo_pool_refuses_a_non_loopback_address(host):
    assert not is_loopback(host)
    with pytest.raises(ConfigError, match=r"tokens\[0\], tokens\[1\], tokens\[2\], tokens\[3\] is a demo token"):
        create_app(Settings(http_host=host, config=DEMO))


def test_a_demo_token_named_by_its_digest_is_refused_too(tmp_path):
    import hashlib

    pool = tmp_path / "pool.toml"
    digest = hashlib.sha256(b"demo-reader-token").hexdigest()
    pool.write_text(f'[[tokens]]\nrole = "admin"\ntoken = "a-real-secret-1"\n'
                    f'[[tokens]]\nrole = "reader"\nsha256 = "{digest}"\n')
    with pytest.raises(ConfigError, match=r"tokens\[1\] is a demo token"):
        create_app(Settings(http_host="0.0.0.0", config=pool), load_pool_config(pool))


def test_meter_serve_on_every_address_with_the_demo_pool_exits_with_the_reason(tmp_path):
    env = {**os.environ, "METER_HTTP_HOST": "0.0.0.0", "METER_CONFIG": str(DEMO), "METER_DATA_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "meter", "serve"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2 and "is a demo token" in done.stderr, done.stderr[-2000:]
