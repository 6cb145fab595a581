"""Both clients against a real vault, through the testbed:

    node clients/testbed/testbed.mjs clients/python/run-tests

Skipped when OV_TESTBED is unset (run-tests refuses to run without it). Each
scenario is written once, against the async surface, and runs on the async
client and on the sync client behind a thin adapter.
"""

import asyncio
import json
import os
import time
import uuid
from typing import Any, Awaitable, Callable, Dict, List, Optional

import httpx
import pytest

from oauth_vault import AsyncOAuthVault, OAuthVault, OAuthVaultError, WebhookVerificationError, vault_error, verify_webhook

pytestmark = pytest.mark.skipif(not os.environ.get("OV_TESTBED"), reason="needs the testbed (OV_TESTBED)")


@pytest.fixture(scope="module")
def testbed() -> Dict[str, Any]:
    with open(os.environ["OV_TESTBED"], encoding="utf-8") as f:
        return json.load(f)


@pytest.fixture(scope="module", params=["sync", "async"])
def kind(request: pytest.FixtureRequest) -> str:
    return request.param


class SyncAsAsync:
    """The sync client with the async client's surface, to share scenarios."""

    def __init__(self, vault: OAuthVault) -> None:
        self.vault = vault

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.vault, name)
        if name == "list_connections":

            def iterate(**kwargs: Any) -> Any:
                async def items() -> Any:
                    for item in method(**kwargs):
                        yield item

                return items()

            return iterate

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


Scenario = Callable[[Any], Awaitable[Any]]


def run(kind: str, testbed: Dict[str, Any], scenario: Scenario, api_key: Optional[str] = None) -> Any:
    """Runs `scenario(vault)` with a fresh client of `kind`."""
    key = api_key or testbed["apiKey"]

    async def main() -> Any:
        if kind == "sync":
            with OAuthVault(key, testbed["baseUrl"]) as vault:
                return await scenario(SyncAsAsync(vault))
        async with AsyncOAuthVault(key, testbed["baseUrl"]) as vault:
            return await scenario(vault)

    return asyncio.run(main())


def consent(testbed: Dict[str, Any], connect_url: str, provider: str = "fakeoauth") -> str:
    """The end user connects through the testbed's browser; the new connection's id."""
    answer = httpx.post(
        f"{testbed['controlUrl']}/consent", json={"connect_url": connect_url, "provider": provider}, timeout=60
    )
    answer.raise_for_status()
    outcome = answer.json()
    assert outcome["status"] == "success", outcome
    return str(outcome["connection_id"])


async def connect(vault: Any, testbed: Dict[str, Any], end_user_id: str) -> str:
    session = await vault.create_connect_session(
        end_user_id=end_user_id, providers=["fakeoauth"], return_url=testbed["returnUrl"]
    )
    return consent(testbed, session["connect_url"])


def webhooks_until(testbed: Dict[str, Any], found: Callable[[Dict[str, Any]], bool], within: float = 30) -> Dict[str, Any]:
    """The first delivery the testbed's receiver got for which `found` holds."""
    since = 0
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        answer = httpx.get(f"{testbed['controlUrl']}/webhooks", params={"since": since, "wait_ms": 5000}, timeout=30)
        answer.raise_for_status()
        for delivery in answer.json()["deliveries"]:
            since = max(since, delivery["index"] + 1)
            if found(delivery):
                return dict(delivery)
    raise AssertionError("no such webhook delivery arrived")


@pytest.fixture(scope="module")
def connected(kind: str, testbed: Dict[str, Any]) -> Dict[str, Any]:
    """Two end users, each with a connection through the fake provider, made
    with `kind`'s client (the fake has one account: one connection per end user)."""
    end_users = [f"user-{kind}-{uuid.uuid4().hex[:8]}" for _ in range(2)]

    async def scenario(vault: Any) -> List[str]:
        return [await connect(vault, testbed, end_user_id) for end_user_id in end_users]

    ids = run(kind, testbed, scenario)
    assert len(set(ids)) == 2
    return {"end_user_id": end_users[0], "end_users": end_users, "ids": ids}


def test_connect_session(kind: str, testbed: Dict[str, Any]) -> None:
    async def scenario(vault: Any) -> None:
        session = await vault.create_connect_session(
            end_user_id="user-session",
            end_user_name="Ada Lovelace",
            end_user_email="ada@example.com",
            providers=["fakeoauth", "attio"],
            return_url=testbed["returnUrl"],
        )
        assert session["connect_url"].startswith(testbed["baseUrl"])
        assert session["connect_url"].endswith(session["token"])
        assert session["expires_at"]

    run(kind, testbed, scenario)


def test_get_connection(kind: str, testbed: Dict[str, Any], connected: Dict[str, Any]) -> None:
    async def scenario(vault: Any) -> None:
        connection = await vault.get_connection(connected["ids"][0])
        assert connection["id"] == connected["ids"][0]
        assert connection["provider"] == "fakeoauth"
        assert connection["status"] == "active"
        assert connection["end_user"]["id"] == connected["end_user_id"]

    run(kind, testbed, scenario)


def test_list_connections_across_pages(kind: str, testbed: Dict[str, Any], connected: Dict[str, Any]) -> None:
    async def scenario(vault: Any) -> None:
        page = await vault.list_connections_page(provider="fakeoauth", limit=1)
        assert len(page["data"]) == 1 and page["next_cursor"]
        second = await vault.list_connections_page(provider="fakeoauth", limit=1, cursor=page["next_cursor"])
        assert len(second["data"]) == 1 and second["data"][0]["id"] != page["data"][0]["id"]
        # one connection a page: the iterator walks every page
        listed = [c["id"] async for c in vault.list_connections(provider="fakeoauth", limit=1)]
        assert len(listed) == len(set(listed)) and set(connected["ids"]) <= set(listed)
        active = [c async for c in vault.list_connections(provider="fakeoauth", status="active", limit=1)]
        assert set(connected["ids"]) <= {c["id"] for c in active} and {c["status"] for c in active} == {"active"}
        mine = [c["id"] async for c in vault.list_connections(end_user_id=connected["end_users"][1])]
        assert mine == [connected["ids"][1]]

    run(kind, testbed, scenario)


def test_access_token_and_forced_refresh(kind: str, testbed: Dict[str, Any], connected: Dict[str, Any]) -> None:
    async def scenario(vault: Any) -> None:
        first = await vault.get_access_token(connected["ids"][0])
        assert first["access_token"] and first["token_type"].lower() == "bearer"
        again = await vault.get_access_token(connected["ids"][0])
        assert again["access_token"] == first["access_token"]
        refreshed = await vault.get_access_token(connected["ids"][0], force_refresh=True)
        assert refreshed["access_token"] != first["access_token"]

    run(kind, testbed, scenario)


def test_proxy(kind: str, testbed: Dict[str, Any], connected: Dict[str, Any]) -> None:
    async def scenario(vault: Any) -> None:
        # the fake provider echoes what it received
        response = await vault.proxy(connected["ids"][0], "/api/anything", params={"q": "hello"})
        assert response.status_code == 200, response.text
        assert vault_error(response) is None
        assert response.headers["x-fake"] == "yes"
        echoed = response.json()
        assert (echoed["method"], echoed["path"], echoed["query"]) == ("GET", "/api/anything", "q=hello")
        response = await vault.proxy(
            connected["ids"][0], "api/anything/more", "POST", json={"hello": "world"}, headers={"X-Extra": "1"}
        )
        echoed = response.json()
        assert (echoed["method"], echoed["path"], echoed["body_len"]) == ("POST", "/api/anything/more", 17)
        # the path leaves the provider's API base: the vault refuses
        refused = vault_error(await vault.proxy(connected["ids"][0], "api/a%2Fb"))
        assert refused is not None and (refused.status, refused.code) == (422, "validation_failed")

    run(kind, testbed, scenario)


def test_disconnect(kind: str, testbed: Dict[str, Any]) -> None:
    end_user_id = f"user-gone-{kind}-{uuid.uuid4().hex[:8]}"

    async def scenario(vault: Any) -> None:
        connection_id = await connect(vault, testbed, end_user_id)
        assert await vault.disconnect(connection_id) is None
        for call in (vault.get_connection, vault.get_access_token):
            with pytest.raises(OAuthVaultError) as raised:
                await call(connection_id)
            assert (raised.value.status, raised.value.code) == (410, "connection_revoked")
        response = await vault.proxy(connection_id, "api/anything")
        revoked = vault_error(response)
        assert revoked is not None and (revoked.status, revoked.code) == (410, "connection_revoked")
        assert await vault.disconnect(connection_id) is None  # again: no error
        assert [c["id"] async for c in vault.list_connections(end_user_id=end_user_id)] == []
        listed = [c async for c in vault.list_connections(end_user_id=end_user_id, status="revoked")]
        assert [(c["id"], c["status"]) for c in listed] == [(connection_id, "revoked")]

    run(kind, testbed, scenario)


def test_webhook_connection_created(testbed: Dict[str, Any], connected: Dict[str, Any]) -> None:
    def created(delivery: Dict[str, Any]) -> bool:
        body = json.loads(delivery["body"])
        return bool(body.get("type") == "connection.created" and body["data"].get("connection_id") == connected["ids"][0])

    delivery = webhooks_until(testbed, created)
    event = verify_webhook(delivery["body"], delivery["headers"], testbed["webhookSecret"])
    assert event["type"] == "connection.created"
    assert event["data"]["end_user_id"] == connected["end_user_id"]
    assert event["data"]["provider"] == "fakeoauth"
    event = verify_webhook(delivery["body"].encode("utf-8"), delivery["headers"], testbed["webhookSecret"])
    assert event["data"]["connection_id"] == connected["ids"][0]
    tampered = delivery["body"].replace(connected["ids"][0], connected["ids"][1])
    with pytest.raises(WebhookVerificationError):
        verify_webhook(tampered, delivery["headers"], testbed["webhookSecret"])
    with pytest.raises(WebhookVerificationError):
        verify_webhook(delivery["body"], delivery["headers"], testbed["webhookSecret"], now=time.time() + 3600)


def test_a_bad_api_key_is_unauthorized(kind: str, testbed: Dict[str, Any]) -> None:
    async def scenario(vault: Any) -> None:
        with pytest.raises(OAuthVaultError) as raised:
            await vault.list_connections_page()
        assert (raised.value.status, raised.value.code) == (401, "unauthorized")

    run(kind, testbed, scenario, api_key="ovk_not_a_key_of_this_vault")


def test_validation_and_not_found(kind: str, testbed: Dict[str, Any]) -> None:
    async def scenario(vault: Any) -> None:
        with pytest.raises(OAuthVaultError) as raised:
            await vault.create_connect_session(end_user_id="user-x", return_url="https://not-allowed.example/back")
        e = raised.value
        assert (e.status, e.code) == (422, "validation_failed")
        assert e.errors[0]["field"] == "return_url"
        with pytest.raises(OAuthVaultError) as raised:
            await vault.list_connections_page(limit=1000)
        assert raised.value.code == "validation_failed" and raised.value.errors[0]["field"] == "limit"
        with pytest.raises(OAuthVaultError) as raised:
            await vault.get_connection("con_does_not_exist")
        assert (raised.value.status, raised.value.code) == (404, "not_found")

    run(kind, testbed, scenario)
