"""The clients against httpx.MockTransport, without a server."""

import asyncio
import json
from typing import Callable, List

import httpx
import pytest

from oauth_vault import AsyncOAuthVault, OAuthVault, OAuthVaultError, vault_error

BASE = "https://vault.test"
KEY = "ovk_test_key"

Handler = Callable[[httpx.Request], httpx.Response]


def error(status: int, code: str, message: str = "it failed", headers=None, **extra) -> httpx.Response:
    """The vault's own error: its JSON body, marked with its header."""
    marked = {"oauth-vault-error": code, **(headers or {})}
    return httpx.Response(status, json={"error": {"code": code, "message": message, **extra}}, headers=marked)


def sync_client(handler: Handler, **kwargs) -> OAuthVault:
    return OAuthVault(KEY, BASE + "/", http_client=httpx.Client(transport=httpx.MockTransport(handler)), **kwargs)


def async_client(handler: Handler) -> AsyncOAuthVault:
    return AsyncOAuthVault(KEY, BASE, http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)))


def connection(n: int) -> dict:
    return {"id": f"con_{n}", "provider": "fakeoauth", "status": "active"}


class Recorder:
    """Answers with `answer` and keeps the requests."""

    def __init__(self, answer: Callable[[httpx.Request], httpx.Response]):
        self.answer = answer
        self.requests: List[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self.answer(request)


# requests


def test_requests_carry_the_key_and_ask_for_json():
    seen = Recorder(lambda r: httpx.Response(200, json=connection(1)))
    with sync_client(seen) as vault:
        assert vault.get_connection("con_1")["id"] == "con_1"
    request = seen.requests[0]
    assert request.method == "GET"
    assert str(request.url) == f"{BASE}/v1/connections/con_1"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "application/json"
    assert request.headers["user-agent"].startswith("oauth-vault-python/")


def test_create_connect_session_sends_only_the_given_fields():
    session = {"token": "t", "connect_url": f"{BASE}/connect/t", "expires_at": "2030-01-01T00:00:00Z"}
    seen = Recorder(lambda r: httpx.Response(201, json=session))
    with sync_client(seen) as vault:
        assert vault.create_connect_session(end_user_id="u1", providers=["fakeoauth"]) == session
    request = seen.requests[0]
    assert (request.method, request.url.path) == ("POST", "/v1/connect/sessions")
    assert json.loads(request.content) == {"end_user_id": "u1", "providers": ["fakeoauth"]}


def test_ids_are_escaped_and_must_not_be_empty():
    seen = Recorder(lambda r: httpx.Response(200, json={"access_token": "a"}))
    with sync_client(seen) as vault:
        vault.get_access_token("con/../x?y", force_refresh=True)
        vault.get_access_token("con_1")
        for call in (vault.get_connection, vault.disconnect, vault.get_access_token):
            with pytest.raises(ValueError):
                call("")
    assert seen.requests[0].url.raw_path == b"/v1/connections/con%2F..%2Fx%3Fy/access-token?force_refresh=true"
    assert seen.requests[1].url.query == b""


# errors


def test_an_error_answer_raises_with_its_code_and_details():
    answer = error(
        422,
        "validation_failed",
        "return_url: not allowed",
        headers={"x-request-id": "req_1"},
        errors=[{"field": "return_url", "message": "not allowed"}],
    )
    with sync_client(lambda r: answer) as vault:
        with pytest.raises(OAuthVaultError) as raised:
            vault.create_connect_session(end_user_id="u1", return_url="https://elsewhere.test")
    e = raised.value
    assert (e.status, e.code, e.message) == (422, "validation_failed", "return_url: not allowed")
    assert e.errors[0]["field"] == "return_url"
    assert e.request_id == "req_1"
    assert e.reconnect_url is None and e.retry_after is None
    assert "validation_failed" in str(e) and "req_1" in str(e)


def test_a_bad_key_is_unauthorized():
    with sync_client(lambda r: error(401, "unauthorized")) as vault:
        with pytest.raises(OAuthVaultError) as raised:
            vault.list_connections_page()
    assert (raised.value.status, raised.value.code) == (401, "unauthorized")


def test_needs_reauthorization_carries_the_reconnect_url():
    answer = error(409, "needs_reauthorization", reconnect_url=f"{BASE}/connect/abc")
    with sync_client(lambda r: answer) as vault:
        with pytest.raises(OAuthVaultError) as raised:
            vault.get_access_token("con_1")
    assert raised.value.code == "needs_reauthorization"
    assert raised.value.reconnect_url == f"{BASE}/connect/abc"


def test_rate_limited_carries_retry_after():
    with sync_client(lambda r: error(429, "rate_limited", headers={"retry-after": "7"})) as vault:
        with pytest.raises(OAuthVaultError) as raised:
            vault.get_connection("con_1")
    assert (raised.value.code, raised.value.retry_after) == ("rate_limited", 7.0)


def test_retry_after_as_an_http_date():
    answer = error(503, "provider_unavailable", headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    with sync_client(lambda r: answer) as vault:
        with pytest.raises(OAuthVaultError) as raised:
            vault.get_access_token("con_1")
    assert raised.value.retry_after == 0.0  # long past


def test_an_answer_that_is_not_the_vaults_error_has_no_code():
    with sync_client(lambda r: httpx.Response(502, text="<html>Bad gateway</html>")) as vault:
        with pytest.raises(OAuthVaultError) as raised:
            vault.get_connection("con_1")
    assert (raised.value.status, raised.value.code) == (502, None)
    assert "Bad gateway" in raised.value.message


def test_a_success_that_is_not_json_raises():
    with sync_client(lambda r: httpx.Response(200, text="hello")) as vault:
        with pytest.raises(OAuthVaultError) as raised:
            vault.get_connection("con_1")
    assert (raised.value.status, raised.value.code) == (200, None)


# disconnect


def test_disconnect_succeeds_on_204_and_on_an_already_revoked_connection():
    answers = iter([httpx.Response(204), error(410, "connection_revoked")])
    with sync_client(lambda r: next(answers)) as vault:
        assert vault.disconnect("con_1") is None
        assert vault.disconnect("con_1") is None


def test_disconnect_raises_on_other_errors():
    for answer in (error(404, "not_found"), error(410, "gone_for_another_reason")):
        with sync_client(lambda r: answer) as vault:
            with pytest.raises(OAuthVaultError) as raised:
                vault.disconnect("con_1")
        assert raised.value.status == answer.status_code


# pagination


def pages(n_pages: int) -> Recorder:
    """`n_pages` pages of two connections, chained by cursors."""

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("cursor") or 0)
        next_cursor = str(page + 1) if page + 1 < n_pages else None
        data = [connection(2 * page), connection(2 * page + 1)]
        return httpx.Response(200, json={"data": data, "next_cursor": next_cursor})

    return Recorder(answer)


def test_list_connections_follows_the_cursors():
    seen = pages(3)
    with sync_client(seen) as vault:
        ids = [c["id"] for c in vault.list_connections(end_user_id="u1", status="revoked", limit=2)]
    assert ids == [f"con_{n}" for n in range(6)]
    assert [r.url.params.get("cursor") for r in seen.requests] == [None, "1", "2"]
    for r in seen.requests:
        assert r.url.path == "/v1/connections"
        assert dict(r.url.params, cursor=None) == {"end_user_id": "u1", "status": "revoked", "limit": "2", "cursor": None}


def test_list_connections_is_lazy():
    seen = pages(3)
    with sync_client(seen) as vault:
        iterator = vault.list_connections()
        assert seen.requests == []
        assert next(iterator)["id"] == "con_0"
        assert len(seen.requests) == 1


def test_list_connections_page_returns_one_page():
    seen = pages(2)
    with sync_client(seen) as vault:
        page = vault.list_connections_page(provider="fakeoauth", cursor="1")
    assert page["next_cursor"] is None and [c["id"] for c in page["data"]] == ["con_2", "con_3"]
    assert dict(seen.requests[0].url.params) == {"provider": "fakeoauth", "cursor": "1"}


def test_an_empty_list():
    with sync_client(lambda r: httpx.Response(200, json={"data": [], "next_cursor": None})) as vault:
        assert list(vault.list_connections()) == []


# proxy


def test_proxy_forwards_and_returns_the_providers_answer_as_is():
    seen = Recorder(lambda r: httpx.Response(500, json={"error": {"code": "their_own", "message": "x"}}))
    with sync_client(seen) as vault:
        response = vault.proxy(
            "con_1",
            "/api/anything?a=1",
            "post",
            params={"b": "2"},
            headers={"X-Custom": "yes", "Authorization": "Bearer not-sent"},
            json={"hello": "world"},
        )
    assert response.status_code == 500
    assert vault_error(response) is None  # not one of the vault's codes
    request = seen.requests[0]
    assert request.method == "POST"
    assert request.url.path == "/v1/proxy/con_1/api/anything"
    assert dict(request.url.params) == {"a": "1", "b": "2"}
    assert request.headers["x-custom"] == "yes"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert "accept" not in request.headers or request.headers["accept"] != "application/json"
    assert json.loads(request.content) == {"hello": "world"}


def test_proxy_keeps_a_query_in_the_path():
    seen = Recorder(lambda r: httpx.Response(200, json={}))
    with sync_client(seen) as vault:
        vault.proxy("con_1", "objects?limit=1")
        vault.proxy("con_1", "")
    assert str(seen.requests[0].url) == f"{BASE}/v1/proxy/con_1/objects?limit=1"
    assert seen.requests[1].url.path == "/v1/proxy/con_1/"


def test_proxy_refuses_dot_segments():
    with sync_client(lambda r: httpx.Response(200)) as vault:
        for path in ("../connections", "a/./b", "a/.."):
            with pytest.raises(ValueError):
                vault.proxy("con_1", path)


def test_vault_error_tells_the_vaults_errors_from_the_providers():
    ours = error(410, "connection_revoked", "disconnected")
    found = vault_error(ours)
    assert found is not None and (found.status, found.code) == (410, "connection_revoked")
    assert vault_error(httpx.Response(404, json={"message": "no such record"})) is None
    assert vault_error(httpx.Response(404, text="not found")) is None
    assert vault_error(httpx.Response(200, json={"error": {"code": "not_found", "message": "x"}})) is None
    # a provider's error of the vault's very shape, without the vault's mark
    assert vault_error(httpx.Response(404, json={"error": {"code": "not_found", "message": "x"}})) is None


# the client's life


def test_a_client_passed_in_stays_open_and_one_made_here_is_closed():
    mine = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(204)))
    with OAuthVault(KEY, BASE, http_client=mine) as vault:
        vault.disconnect("con_1")
    assert not mine.is_closed
    mine.close()
    vault = OAuthVault(KEY, BASE, timeout=5)
    vault.close()
    assert vault._client.is_closed


def test_a_key_and_a_url_are_required():
    with pytest.raises(ValueError):
        OAuthVault("", BASE)
    with pytest.raises(ValueError):
        AsyncOAuthVault(KEY, "")


def test_timeouts():
    seen = Recorder(lambda r: httpx.Response(200, json=connection(1)))
    with sync_client(seen, timeout=3) as vault:
        vault.get_connection("con_1")
    assert seen.requests[0].extensions["timeout"]["read"] == 3
    with OAuthVault(KEY, BASE) as vault:
        assert vault._client.timeout.read == 30 and vault._client.timeout.connect == 10


# the async client, same surface


def test_async_client():
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path == "/v1/connect/sessions":
            return httpx.Response(201, json={"token": "t", "connect_url": "u", "expires_at": "e"})
        if path == "/v1/connections":
            return pages(2).answer(request)
        if path.endswith("/access-token"):
            return httpx.Response(200, json={"access_token": request.url.params.get("force_refresh", "cached")})
        if path.startswith("/v1/proxy/"):
            return httpx.Response(418, text="teapot")
        if request.method == "DELETE":
            return error(410, "connection_revoked")
        if path == "/v1/connections/con_missing":
            return error(404, "not_found")
        return httpx.Response(200, json=connection(1))

    async def scenario() -> None:
        async with async_client(answer) as vault:
            assert (await vault.create_connect_session(end_user_id="u"))["token"] == "t"
            assert [c["id"] async for c in vault.list_connections(limit=2)] == [f"con_{n}" for n in range(4)]
            assert (await vault.list_connections_page())["next_cursor"] == "1"
            assert (await vault.get_connection("con_1"))["id"] == "con_1"
            assert (await vault.get_access_token("con_1"))["access_token"] == "cached"
            assert (await vault.get_access_token("con_1", force_refresh=True))["access_token"] == "true"
            assert (await vault.proxy("con_1", "brew", "BREW")).status_code == 418
            assert await vault.disconnect("con_1") is None
            with pytest.raises(OAuthVaultError) as raised:
                await vault.get_connection("con_missing")
            assert (raised.value.status, raised.value.code) == (404, "not_found")

    asyncio.run(scenario())


def test_async_client_closes_its_own_client():
    async def scenario() -> None:
        vault = AsyncOAuthVault(KEY, BASE)
        async with vault:
            pass
        assert vault._client.is_closed

    asyncio.run(scenario())
