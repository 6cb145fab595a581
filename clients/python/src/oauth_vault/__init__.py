"""OAuth Vault's Python client.

    from oauth_vault import OAuthVault

    with OAuthVault("ovk_…", "https://vault.example.com") as vault:
        token = vault.get_access_token("conn_…")["access_token"]
"""

from . import _models
from ._models import *  # noqa: F401,F403 (the API's JSON shapes)
from .client import DEFAULT_TIMEOUT, AsyncOAuthVault, OAuthVault, __version__
from .errors import OAuthVaultError, WebhookVerificationError, vault_error
from .webhooks import WebhookEvent, verify_webhook

__all__ = [
    "AsyncOAuthVault",
    "DEFAULT_TIMEOUT",
    "OAuthVault",
    "OAuthVaultError",
    "WebhookEvent",
    "WebhookVerificationError",
    "__version__",
    "vault_error",
    "verify_webhook",
]
__all__ += _models.__all__
