//! The settings of the mail server (invitation emails) and of single
//! sign-on, checked together with the rest of the configuration.

use super::{err, ConfigError, Env};
use secrecy::SecretString;
use std::fmt;
use url::Url;

/// The mail server (its URL holds credentials: never printed).
pub struct Smtp {
    pub url: SecretString,
    pub from: String,
}

impl fmt::Debug for Smtp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Smtp")
            .field("url", &"[redacted]")
            .field("from", &self.from)
            .finish()
    }
}

/// The mail server, checked: the URL must be one the mailer can use, and a
/// sender is required with it.
pub(super) fn smtp(env: &Env) -> Result<Option<Smtp>, ConfigError> {
    let Some(url) = env.get("OAUTH_VAULT_SMTP_URL") else {
        return Ok(None);
    };
    let from = env.get("OAUTH_VAULT_SMTP_FROM").ok_or_else(|| {
        err(
            "OAUTH_VAULT_SMTP_FROM",
            "set it with OAUTH_VAULT_SMTP_URL: the address invitations come from, e.g. \"OAuth Vault <vault@example.com>\"",
        )
    })?;
    let url = SecretString::from(url);
    match app::infra::mail::Mailer::new(&url, &from) {
        Ok(_) => Ok(Some(Smtp { url, from })),
        Err(e @ app::infra::mail::MailError::BadFrom(_)) => {
            Err(err("OAUTH_VAULT_SMTP_FROM", e.to_string()))
        }
        Err(e) => Err(err("OAUTH_VAULT_SMTP_URL", e.to_string())),
    }
}

/// Single sign-on: the issuer, client id and secret go together.
pub(super) fn sso(env: &Env) -> Result<Option<app::services::sso::SsoConfig>, ConfigError> {
    let issuer = env.get("OAUTH_VAULT_SSO_ISSUER");
    let client_id = env.get("OAUTH_VAULT_SSO_CLIENT_ID");
    let client_secret = env.get("OAUTH_VAULT_SSO_CLIENT_SECRET");
    let Some(issuer) = issuer else {
        if client_id.is_some() || client_secret.is_some() {
            return Err(err(
                "OAUTH_VAULT_SSO_ISSUER",
                "set it with OAUTH_VAULT_SSO_CLIENT_ID and OAUTH_VAULT_SSO_CLIENT_SECRET: the OpenID provider's issuer URL, e.g. https://login.example.com/realms/staff",
            ));
        }
        return Ok(None);
    };
    let url = Url::parse(&issuer).map_err(|_| {
        err(
            "OAUTH_VAULT_SSO_ISSUER",
            format!("'{issuer}' is not a URL; use the issuer URL exactly as the provider's discovery document names it"),
        )
    })?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(err("OAUTH_VAULT_SSO_ISSUER", "use an https:// URL"));
    }
    let client_id = client_id.ok_or_else(|| {
        err(
            "OAUTH_VAULT_SSO_CLIENT_ID",
            "set it: the client id the vault has at the OpenID provider",
        )
    })?;
    let client_secret = client_secret.ok_or_else(|| {
        err(
            "OAUTH_VAULT_SSO_CLIENT_SECRET",
            "set it: the client secret the vault has at the OpenID provider",
        )
    })?;
    let mut allowed_domains = Vec::new();
    for domain in env
        .get("OAUTH_VAULT_SSO_ALLOWED_DOMAINS")
        .unwrap_or_default()
        .split(',')
        .map(|d| d.trim().trim_start_matches('@').to_ascii_lowercase())
        .filter(|d| !d.is_empty())
    {
        let valid = domain.contains('.')
            && domain
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
        if !valid {
            return Err(err(
                "OAUTH_VAULT_SSO_ALLOWED_DOMAINS",
                format!(
                    "'{domain}' is not an email domain; list domains like example.com,example.org"
                ),
            ));
        }
        allowed_domains.push(domain);
    }
    Ok(Some(app::services::sso::SsoConfig {
        issuer,
        client_id,
        client_secret: SecretString::from(client_secret),
        name: env
            .get("OAUTH_VAULT_SSO_NAME")
            .map(|n| n.chars().take(60).collect())
            .unwrap_or_else(|| "single sign-on".to_string()),
        allowed_domains,
    }))
}
