"""The API clients: :class:`OAuthVault` (sync) and :class:`AsyncOAuthVault`."""

from __future__ import annotations

from types import TracebackType
from typing import Any, AsyncIterator, Dict, Iterator, List, Mapping, Optional, Type, TypeVar, Union, cast
from urllib.parse import quote

import httpx

from ._models import AccessToken, Connection, ConnectionList, ConnectionStatusName, ConnectSession
from .errors import OAuthVaultError

__all__ = ["AsyncOAuthVault", "OAuthVault", "DEFAULT_TIMEOUT"]

__version__ = "0.1.0"

#: Seconds: 30 for a whole request, 10 to connect.
DEFAULT_TIMEOUT = httpx.Timeout(30.0, connect=10.0)

TimeoutTypes = Union[float, httpx.Timeout, None]
QueryParams = Mapping[str, Union[str, int, float, bool, None, List[str]]]

_Self = TypeVar("_Self")
_UNSET: Any = object()


class _Core:
    """What both clients share: requests built, answers read."""

    def __init__(self, api_key: str, base_url: str, timeout: TimeoutTypes) -> None:
        if not api_key:
            raise ValueError("api_key is required: an API key of the app (ovk_…)")
        if not base_url:
            raise ValueError("base_url is required: the vault's URL, e.g. https://vault.example.com")
        self.base_url = base_url.rstrip("/")
        self._timeout = httpx.USE_CLIENT_DEFAULT if timeout is _UNSET else timeout
        self._auth = {"Authorization": f"Bearer {api_key}"}
        self._headers = {
            "Accept": "application/json",
            "User-Agent": f"oauth-vault-python/{__version__}",
        }

    def _new_client_timeout(self, timeout: TimeoutTypes) -> TimeoutTypes:
        return DEFAULT_TIMEOUT if timeout is _UNSET else timeout

    def _build(
        self,
        client: Union[httpx.Client, httpx.AsyncClient],
        method: str,
        path: str,
        *,
        params: Optional[Mapping[str, Any]] = None,
        json: Any = None,
        headers: Optional[Mapping[str, str]] = None,
        content: Union[str, bytes, None] = None,
        api: bool = True,
    ) -> httpx.Request:
        merged = httpx.Headers(self._headers if api else {"User-Agent": self._headers["User-Agent"]})
        merged.update(headers or {})
        merged.update(self._auth)
        url = httpx.URL(self.base_url + path)
        if params:
            # merged with any query already in the path
            url = url.copy_merge_params({k: v for k, v in params.items() if v is not None})
        return client.build_request(
            method,
            url,
            json=json,
            content=content,
            headers=merged,
            timeout=self._timeout,
        )

    @staticmethod
    def _read(response: httpx.Response) -> Any:
        if not response.is_success:
            raise OAuthVaultError.from_response(response)
        if response.status_code == 204:
            return None
        try:
            return response.json()
        except ValueError:
            raise OAuthVaultError(
                f"The vault answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
                request_id=response.headers.get("x-request-id"),
                response=response,
            ) from None

    @staticmethod
    def _disconnected(response: httpx.Response) -> None:
        """Disconnecting twice is fine: a revoked connection counts as done."""
        if response.status_code == 410:
            error = OAuthVaultError.from_response(response)
            if error.code == "connection_revoked":
                return None
            raise error
        _Core._read(response)
        return None


def _session_body(**fields: Any) -> Dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def _list_params(
    end_user_id: Optional[str],
    provider: Optional[str],
    status: Optional[ConnectionStatusName],
    limit: Optional[int],
    cursor: Optional[str],
) -> Dict[str, Any]:
    return {"end_user_id": end_user_id, "provider": provider, "status": status, "limit": limit, "cursor": cursor}


def _connection_path(connection_id: str, suffix: str = "") -> str:
    if not connection_id:
        raise ValueError("connection_id must not be empty")
    return f"/v1/connections/{quote(connection_id, safe='')}{suffix}"


def _proxy_path(connection_id: str, path: str) -> str:
    if not connection_id:
        raise ValueError("connection_id must not be empty")
    relative = path[1:] if path.startswith("/") else path
    if any(segment in (".", "..") for segment in relative.split("?", 1)[0].split("/")):
        raise ValueError("the proxy path may not have '.' or '..' segments")
    return f"/v1/proxy/{quote(connection_id, safe='')}/{relative}"


class OAuthVault(_Core):
    """A client of the OAuth Vault API.

    ``api_key`` is an API key of your app (``ovk_…``); ``base_url`` the
    vault's URL (``https://vault.example.com``, without ``/v1``). Pass
    ``http_client`` to bring your own ``httpx.Client`` (proxies, transports,
    limits): the vault's URL and key are added to each request, and the
    client stays yours to close. Use it as a context manager, or call
    :meth:`close`.

    Every method raises :class:`~oauth_vault.OAuthVaultError` when the vault
    answers with an error, and httpx's exceptions (``httpx.TransportError``)
    when it cannot be reached.
    """

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: TimeoutTypes = _UNSET,
        http_client: Optional[httpx.Client] = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self._owned = http_client is None
        self._client = http_client or httpx.Client(timeout=self._new_client_timeout(timeout))

    def close(self) -> None:
        """Closes the HTTP client, unless it was passed in."""
        if self._owned:
            self._client.close()

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self._client.send(self._build(self._client, method, path, **kwargs))

    def create_connect_session(
        self,
        *,
        end_user_id: Optional[str] = None,
        providers: Optional[List[str]] = None,
        return_url: Optional[str] = None,
        connection_id: Optional[str] = None,
        end_user_name: Optional[str] = None,
        end_user_email: Optional[str] = None,
    ) -> ConnectSession:
        """Creates a connect session: send the end user to its ``connect_url``.

        ``end_user_id`` is your id for the end user (required unless
        ``connection_id`` names a connection to re-authorize); ``providers``
        limits the choice (default: every active provider of the app);
        ``return_url`` must be one of the app's allowed return URLs.
        """
        body = _session_body(
            end_user_id=end_user_id,
            end_user_name=end_user_name,
            end_user_email=end_user_email,
            providers=providers,
            return_url=return_url,
            connection_id=connection_id,
        )
        return cast(ConnectSession, self._read(self._send("POST", "/v1/connect/sessions", json=body)))

    def list_connections_page(
        self,
        *,
        end_user_id: Optional[str] = None,
        provider: Optional[str] = None,
        status: Optional[ConnectionStatusName] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> ConnectionList:
        """One page of connections, newest first: ``{"data": [...], "next_cursor": ...}``.

        Revoked connections are left out unless ``status="revoked"``. Pass a
        page's ``next_cursor`` as ``cursor`` for the next page; ``limit`` is
        the page size (1-100, default 50).
        """
        params = _list_params(end_user_id, provider, status, limit, cursor)
        return cast(ConnectionList, self._read(self._send("GET", "/v1/connections", params=params)))

    def list_connections(
        self,
        *,
        end_user_id: Optional[str] = None,
        provider: Optional[str] = None,
        status: Optional[ConnectionStatusName] = None,
        limit: Optional[int] = None,
    ) -> Iterator[Connection]:
        """Every matching connection, newest first, fetching page after page
        (of ``limit`` each) as the iteration goes on."""
        cursor: Optional[str] = None
        while True:
            page = self.list_connections_page(
                end_user_id=end_user_id, provider=provider, status=status, limit=limit, cursor=cursor
            )
            yield from page["data"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def get_connection(self, connection_id: str) -> Connection:
        """A connection's status, provider account, scopes and timestamps (never tokens)."""
        return cast(Connection, self._read(self._send("GET", _connection_path(connection_id))))

    def get_access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessToken:
        """A working access token of the connection, refreshed by the vault when
        it is about to expire (``force_refresh=True``: refreshed now). Fetch it
        when you need it rather than storing it."""
        params = {"force_refresh": "true"} if force_refresh else None
        path = _connection_path(connection_id, "/access-token")
        return cast(AccessToken, self._read(self._send("GET", path, params=params)))

    def disconnect(self, connection_id: str) -> None:
        """Disconnects the connection (revokes the grant, deletes the tokens).
        A connection already disconnected is no error."""
        self._disconnected(self._send("DELETE", _connection_path(connection_id)))

    def proxy(
        self,
        connection_id: str,
        path: str,
        method: str = "GET",
        *,
        params: Optional[QueryParams] = None,
        headers: Optional[Mapping[str, str]] = None,
        content: Union[str, bytes, None] = None,
        json: Any = None,
    ) -> httpx.Response:
        """Calls the provider's API with the connection's token, through the vault.

        ``path`` is below the provider's API base (``objects/people`` for
        Attio). Returns the provider's answer as it is, whatever its status:
        nothing is raised for it. When the vault itself refuses (unknown or
        revoked connection, re-authorization needed, provider unreachable,
        rate limit, …) the answer is the vault's JSON error instead:
        :func:`~oauth_vault.vault_error` tells it apart.
        """
        request = self._build(
            self._client,
            method.upper(),
            _proxy_path(connection_id, path),
            params=params,
            headers=headers,
            content=content,
            json=json,
            api=False,
        )
        return self._client.send(request)


class AsyncOAuthVault(_Core):
    """The asynchronous client: :class:`OAuthVault`'s methods, awaited, on an
    ``httpx.AsyncClient``. Use it with ``async with``, or call :meth:`aclose`.
    :meth:`list_connections` is an async iterator (``async for``)."""

    def __init__(
        self,
        api_key: str,
        base_url: str,
        *,
        timeout: TimeoutTypes = _UNSET,
        http_client: Optional[httpx.AsyncClient] = None,
    ) -> None:
        super().__init__(api_key, base_url, timeout)
        self._owned = http_client is None
        self._client = http_client or httpx.AsyncClient(timeout=self._new_client_timeout(timeout))

    async def aclose(self) -> None:
        """Closes the HTTP client, unless it was passed in."""
        if self._owned:
            await self._client.aclose()

    async def __aenter__(self: _Self) -> _Self:
        return self

    async def __aexit__(
        self,
        exc_type: Optional[Type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.aclose()

    async def _send(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self._client.send(self._build(self._client, method, path, **kwargs))

    async def create_connect_session(
        self,
        *,
        end_user_id: Optional[str] = None,
        providers: Optional[List[str]] = None,
        return_url: Optional[str] = None,
        connection_id: Optional[str] = None,
        end_user_name: Optional[str] = None,
        end_user_email: Optional[str] = None,
    ) -> ConnectSession:
        """See :meth:`OAuthVault.create_connect_session`."""
        body = _session_body(
            end_user_id=end_user_id,
            end_user_name=end_user_name,
            end_user_email=end_user_email,
            providers=providers,
            return_url=return_url,
            connection_id=connection_id,
        )
        return cast(ConnectSession, self._read(await self._send("POST", "/v1/connect/sessions", json=body)))

    async def list_connections_page(
        self,
        *,
        end_user_id: Optional[str] = None,
        provider: Optional[str] = None,
        status: Optional[ConnectionStatusName] = None,
        limit: Optional[int] = None,
        cursor: Optional[str] = None,
    ) -> ConnectionList:
        """See :meth:`OAuthVault.list_connections_page`."""
        params = _list_params(end_user_id, provider, status, limit, cursor)
        return cast(ConnectionList, self._read(await self._send("GET", "/v1/connections", params=params)))

    async def list_connections(
        self,
        *,
        end_user_id: Optional[str] = None,
        provider: Optional[str] = None,
        status: Optional[ConnectionStatusName] = None,
        limit: Optional[int] = None,
    ) -> AsyncIterator[Connection]:
        """See :meth:`OAuthVault.list_connections`; iterate with ``async for``."""
        cursor: Optional[str] = None
        while True:
            page = await self.list_connections_page(
                end_user_id=end_user_id, provider=provider, status=status, limit=limit, cursor=cursor
            )
            for connection in page["data"]:
                yield connection
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def get_connection(self, connection_id: str) -> Connection:
        """See :meth:`OAuthVault.get_connection`."""
        return cast(Connection, self._read(await self._send("GET", _connection_path(connection_id))))

    async def get_access_token(self, connection_id: str, *, force_refresh: bool = False) -> AccessToken:
        """See :meth:`OAuthVault.get_access_token`."""
        params = {"force_refresh": "true"} if force_refresh else None
        path = _connection_path(connection_id, "/access-token")
        return cast(AccessToken, self._read(await self._send("GET", path, params=params)))

    async def disconnect(self, connection_id: str) -> None:
        """See :meth:`OAuthVault.disconnect`."""
        self._disconnected(await self._send("DELETE", _connection_path(connection_id)))

    async def proxy(
        self,
        connection_id: str,
        path: str,
        method: str = "GET",
        *,
        params: Optional[QueryParams] = None,
        headers: Optional[Mapping[str, str]] = None,
        content: Union[str, bytes, None] = None,
        json: Any = None,
    ) -> httpx.Response:
        """See :meth:`OAuthVault.proxy`."""
        request = self._build(
            self._client,
            method.upper(),
            _proxy_path(connection_id, path),
            params=params,
            headers=headers,
            content=content,
            json=json,
            api=False,
        )
        return await self._client.send(request)
