"""The errors the client raises."""

from __future__ import annotations

import email.utils
import time
from typing import Any, Dict, List, Optional, get_args

import httpx

from ._models import ErrorCode, FieldError

__all__ = ["OAuthVaultError", "WebhookVerificationError", "vault_error"]

#: Every code in the API's ``ErrorCode``.
ERROR_CODES = frozenset(get_args(ErrorCode))


class OAuthVaultError(Exception):
    """The vault answered with an error.

    Branch on :attr:`code`, the API's stable error code (``"unauthorized"``,
    ``"not_found"``, ``"validation_failed"``, ``"connection_revoked"``, …);
    it is ``None`` when the answer was not the vault's JSON error (a proxy in
    front of the vault answering, say).
    """

    status: int
    """The HTTP status, e.g. 404."""
    code: Optional[ErrorCode]
    message: str
    errors: List[FieldError]
    """With ``validation_failed``: each field at fault."""
    reconnect_url: Optional[str]
    """With ``needs_reauthorization``: a link that lets the end user connect again."""
    retry_after: Optional[float]
    """Seconds to wait before retrying (``Retry-After``), e.g. with ``rate_limited``."""
    request_id: Optional[str]
    """The ``X-Request-Id`` of the answer, when there is one."""
    response: Optional[httpx.Response]

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: Optional[ErrorCode] = None,
        errors: Optional[List[FieldError]] = None,
        reconnect_url: Optional[str] = None,
        retry_after: Optional[float] = None,
        request_id: Optional[str] = None,
        response: Optional[httpx.Response] = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors or []
        self.reconnect_url = reconnect_url
        self.retry_after = retry_after
        self.request_id = request_id
        self.response = response

    def __str__(self) -> str:
        text = f"{self.status} {self.code or 'error'}: {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status}, code={self.code!r}, message={self.message!r})"

    @classmethod
    def from_response(cls, response: httpx.Response) -> OAuthVaultError:
        """The error an (already read) error answer of the vault stands for."""
        detail = _error_detail(response)
        headers = response.headers
        common: Dict[str, Any] = {
            "status": response.status_code,
            "retry_after": _retry_after(headers.get("retry-after")),
            "request_id": headers.get("x-request-id"),
            "response": response,
        }
        if detail is None:
            text = response.text.strip()
            message = text[:200] if text else (response.reason_phrase or "no body")
            return cls(f"The vault answered {response.status_code}: {message}", **common)
        errors = detail.get("errors")
        return cls(
            str(detail.get("message") or ""),
            code=detail.get("code"),
            errors=errors if isinstance(errors, list) else [],
            reconnect_url=detail.get("reconnect_url"),
            **common,
        )


def vault_error(response: httpx.Response) -> Optional[OAuthVaultError]:
    """The vault's own error in an answer of :meth:`OAuthVault.proxy`, if it is one.

    The proxy hands back the provider's answer as it is, whatever its status;
    when the vault itself refuses or fails (a bad key, an unknown or revoked
    connection, one that needs re-authorization, the provider unreachable,
    the rate limit, …) the answer is instead the vault's JSON error, marked
    with the ``OAuth-Vault-Error`` header (the proxy never passes a
    provider's header of that name on). This returns that error, or ``None``
    for the provider's answers.
    """
    if response.is_success or "oauth-vault-error" not in response.headers:
        return None
    return OAuthVaultError.from_response(response)


class WebhookVerificationError(Exception):
    """A webhook's signature or timestamp does not check out: reject the request (HTTP 400)."""


def _error_detail(response: httpx.Response) -> Optional[Dict[str, Any]]:
    """``error`` of a JSON error body, if the body is one."""
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    detail = body.get("error") if isinstance(body, dict) else None
    return detail if isinstance(detail, dict) and "code" in detail else None


def _retry_after(value: Optional[str]) -> Optional[float]:
    """``Retry-After`` in seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - time.time())
