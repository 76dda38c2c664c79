"""Webhooks (DESIGN §4): a real key, no redirect followed, one session for every delivery."""
from __future__ import annotations

import base64

import pytest
from aiohttp import web

from meter.alerts.webhook import WebhookTransport
from meter.config.settings import parse_pool_config
from meter.core.errors import ConfigError
from meter.mail.smtp import DeliveryError

SECRET = "whsec_" + base64.b64encode(b"k" * 24).decode()


@pytest.mark.parametrize("secret", ["whsec_", "whsec_" + base64.b64encode(b"k" * 23).decode(), "whsec_not base64!",
                                    base64.b64encode(b"k" * 32).decode()])
def test_a_webhook_secret_without_a_real_key_refuses_the_pool_file(secret):
    with pytest.raises(ConfigError, match="webhook_secret"):
        parse_pool_config(f'[alerts]\nwebhook_url = "http://127.0.0.1:9/hook"\nwebhook_secret = "{secret}"\n')


def test_a_key_of_24_bytes_or_more_is_accepted():
    config = parse_pool_config(f'[alerts]\nwebhook_url = "http://127.0.0.1:9/hook"\nwebhook_secret = "{SECRET}"\n')
    assert config.alerts.webhook_secret == SECRET


def entry(url: str, n: int = 1) -> dict:
    return {"id": f"msg-{n}", "payload": b'{"alert": 1}', "meta": {"url": url}}


@pytest.fixture
async def receivers(aiohttp_server):
    """A receiver that bounces to an internal address, the internal address, and a good one."""
    seen: dict[str, list] = {"internal": [], "good": []}

    async def internal(request: web.Request) -> web.Response:
        seen["internal"].append(dict(request.headers))
        return web.Response(status=200)

    async def good(request: web.Request) -> web.Response:
        seen["good"].append(request.transport.get_extra_info("peername"))
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/internal", internal)
    app.router.add_post("/good", good)
    server = await aiohttp_server(app)

    async def bounce(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(str(server.make_url("/internal")))

    app2 = web.Application()
    app2.router.add_post("/hook", bounce)
    bouncer = await aiohttp_server(app2)
    return server, bouncer, seen


async def test_a_redirect_is_a_failed_delivery_and_is_not_followed(receivers):
    server, bouncer, seen = receivers
    transport = WebhookTransport(SECRET)
    try:
        with pytest.raises(DeliveryError, match="307"):
            await transport(entry(str(bouncer.make_url("/hook"))))
    finally:
        await transport.close()
    assert seen["internal"] == []  # neither the body nor its signature went on


async def test_one_session_and_connection_serve_every_delivery(receivers):
    server, _, seen = receivers
    transport = WebhookTransport(SECRET)
    try:
        for n in range(3):
            await transport(entry(str(server.make_url("/good")), n))
    finally:
        await transport.close()
    assert len(seen["good"]) == 3 and len(set(seen["good"])) == 1  # one client port: the connection kept
