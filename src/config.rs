//! Configuration from environment variables (and an optional `.env`), with
//! defaults that run out of the box on localhost. Every wrong value fails fast
//! with a message that names the variable and says how to fix it.

use app::domain::users::SignupMode;
use app::infra::net::Cidr;
use secrecy::SecretString;
use std::{fmt, net::SocketAddr, path::PathBuf};
use url::Url;

pub const DEFAULT_BIND: &str = "127.0.0.1:3000";
pub const DEFAULT_DATA_DIR: &str = "./data";
/// Where the client assets are when neither `OAUTH_VAULT_SITE_ROOT` nor
/// the executable's own folder says (`site/` beside `bin/`, as in the
/// release archive; `target/site` for `target/debug/oauth-vault`).
pub const DEFAULT_SITE_ROOT: &str = "target/site";

/// `site/` next to the executable's folder: `<exe dir>/../site`.
fn site_beside_executable() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.join("site"))
}
/// See `app::infra::cache` for what this trades.
pub const DEFAULT_API_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// Requests a minute per API key on `/v1`, per server process: 20 a second
/// sustained, with bursts of a whole minute's worth — far above what a
/// backend fetching a token before its provider calls needs, low enough
/// that one runaway key cannot take the whole server.
pub const DEFAULT_API_RATE_LIMIT: u32 = 1200;
/// File name of the generated key file inside the data folder.
pub const KEY_FILE_NAME: &str = "vault.keys";
pub const DB_FILE_NAME: &str = "oauth-vault.db";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the encryption keys come from.
pub enum KeySource {
    /// `OAUTH_VAULT_KEYS`: the keys themselves.
    Inline(SecretString),
    /// A key file; `generate` is true for the default location in the data
    /// folder, which is created on first start.
    File { path: PathBuf, generate: bool },
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline([REDACTED])"),
            Self::File { path, generate } => f
                .debug_struct("File")
                .field("path", path)
                .field("generate", generate)
                .finish(),
        }
    }
}

pub struct Config {
    pub bind: SocketAddr,
    /// `None`: derived from the address actually bound.
    pub public_url: Option<Url>,
    pub data_dir: PathBuf,
    pub database_url: SecretString,
    pub db_max_connections: Option<u32>,
    /// How long the API may reuse a key or connection it read
    /// (`OAUTH_VAULT_API_CACHE_TTL_MS`; 0: not at all).
    pub api_cache_ttl: std::time::Duration,
    /// `OAUTH_VAULT_TOKEN_READ_AUDIT`: `durable`, the token API waits until
    /// its read is committed to the audit log; `buffered` (the default),
    /// only until it is queued.
    pub durable_read_audit: bool,
    /// `OAUTH_VAULT_TOKEN_READ_AUDIT_WINDOW_SECS`: token reads are audited
    /// as one entry per API key, connection and window of this length.
    pub token_read_audit_window: std::time::Duration,
    pub keys: KeySource,
    pub providers_dir: Option<PathBuf>,
    pub allowed_hosts: Vec<String>,
    pub site_root: PathBuf,
    pub log_format: LogFormat,
    pub token_care: app::services::tokens::TokenCare,
    /// `OAUTH_VAULT_SIGNUP`: who may create an account (default `invite`).
    pub signup: SignupMode,
    /// `OAUTH_VAULT_TRUSTED_PROXIES`: reverse proxies whose
    /// `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<Cidr>,
    /// `OAUTH_VAULT_SIGNUPS_PER_ADDRESS`: sign-ups per client address per
    /// 15 minutes.
    pub signups_per_address: i64,
    /// `OAUTH_VAULT_API_RATE_LIMIT`: `/v1` requests a minute per API key
    /// and process; 0: no limit.
    pub api_rate_limit: u32,
    /// `OAUTH_VAULT_SMTP_URL` and `OAUTH_VAULT_SMTP_FROM`: where invitation
    /// emails go out, and from whom; without them, the members page shows
    /// the link to copy.
    pub smtp: Option<Smtp>,
    /// `OAUTH_VAULT_SSO_*`: single sign-on with an OpenID Connect provider.
    pub sso: Option<app::services::sso::SsoConfig>,
    /// `OAUTH_VAULT_PASSWORD_LOGIN`: `false` hides and refuses password
    /// sign-in (only with single sign-on; the CLI's reset still works).
    pub password_login: bool,
    /// `OAUTH_VAULT_METRICS_TOKEN`: `/metrics` on the main port, for this
    /// bearer token (at least 16 characters).
    pub metrics_token: Option<SecretString>,
    /// `OAUTH_VAULT_METRICS_BIND`: `/metrics` on an address of its own.
    pub metrics_bind: Option<SocketAddr>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use secrecy::ExposeSecret;
        f.debug_struct("Config")
            .field("bind", &self.bind)
            .field("public_url", &self.public_url.as_ref().map(Url::as_str))
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &app::infra::db::redact_url(self.database_url.expose_secret()),
            )
            .field("db_max_connections", &self.db_max_connections)
            .field("api_cache_ttl", &self.api_cache_ttl)
            .field("durable_read_audit", &self.durable_read_audit)
            .field("token_read_audit_window", &self.token_read_audit_window)
            .field("keys", &self.keys)
            .field("providers_dir", &self.providers_dir)
            .field("allowed_hosts", &self.allowed_hosts)
            .field("site_root", &self.site_root)
            .field("log_format", &self.log_format)
            .field("token_care", &self.token_care)
            .field("signup", &self.signup)
            .field("trusted_proxies", &self.trusted_proxies)
            .field(
                "metrics_token",
                &self.metrics_token.as_ref().map(|_| "[REDACTED]"),
            )
            .field("metrics_bind", &self.metrics_bind)
            .field("signups_per_address", &self.signups_per_address)
            .field("api_rate_limit", &self.api_rate_limit)
            .field("smtp", &self.smtp)
            .field("sso", &self.sso)
            .field("password_login", &self.password_login)
            .finish()
    }
}

/// A configuration variable with a wrong value.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{var}: {message}")]
pub struct ConfigError {
    pub var: &'static str,
    pub message: String,
}

fn err(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads configuration through `get`; empty values count as unset.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(&get);
        let bind_text = env
            .get("OAUTH_VAULT_BIND")
            .unwrap_or_else(|| DEFAULT_BIND.to_string());
        let bind: SocketAddr = bind_text.parse().map_err(|_| {
            err(
                "OAUTH_VAULT_BIND",
                format!("'{bind_text}' is not an address and port; use e.g. 127.0.0.1:3000 or 0.0.0.0:8080"),
            )
        })?;
        let public_url = env
            .get("OAUTH_VAULT_PUBLIC_URL")
            .map(|text| parse_public_url(&text))
            .transpose()?;
        let sso = sso(&env)?;
        let password_login = env.choice(
            "OAUTH_VAULT_PASSWORD_LOGIN",
            &[("true", true), ("false", false)],
            true,
        )?;
        if !password_login && sso.is_none() {
            return Err(err(
                "OAUTH_VAULT_PASSWORD_LOGIN",
                "'false' needs single sign-on (OAUTH_VAULT_SSO_ISSUER and its client): nobody could sign in",
            ));
        }
        let mut allowed_hosts = env
            .get("OAUTH_VAULT_ALLOWED_HOSTS")
            .map(|text| parse_allowed_hosts(&text))
            .transpose()?
            .unwrap_or_default();
        // the operator named the identity provider: the vault may call it
        // even on a private network
        if let Some(host) = sso
            .as_ref()
            .and_then(|s| Url::parse(&s.issuer).ok())
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        {
            allowed_hosts.push(host.to_ascii_lowercase());
        }
        let data_dir = PathBuf::from(
            env.get("OAUTH_VAULT_DATA_DIR")
                .unwrap_or_else(|| DEFAULT_DATA_DIR.to_string()),
        );
        Ok(Self {
            bind,
            public_url,
            database_url: SecretString::from(database_url(&env, &data_dir)?),
            db_max_connections: env.number("OAUTH_VAULT_DB_MAX_CONNECTIONS", 1..=1000)?,
            api_cache_ttl: env
                .number::<u64>("OAUTH_VAULT_API_CACHE_TTL_MS", 0..=60_000)?
                .map(std::time::Duration::from_millis)
                .unwrap_or(DEFAULT_API_CACHE_TTL),
            durable_read_audit: env.choice(
                "OAUTH_VAULT_TOKEN_READ_AUDIT",
                &[("buffered", false), ("durable", true)],
                false,
            )?,
            token_read_audit_window: env
                .number::<u64>("OAUTH_VAULT_TOKEN_READ_AUDIT_WINDOW_SECS", 1..=3600)?
                .map(std::time::Duration::from_secs)
                .unwrap_or(app::services::usage::DEFAULT_READ_WINDOW),
            keys: key_source(&env, &data_dir)?,
            providers_dir: env.get("OAUTH_VAULT_PROVIDERS_DIR").map(PathBuf::from),
            allowed_hosts,
            site_root: env
                .get("OAUTH_VAULT_SITE_ROOT")
                .map(PathBuf::from)
                .or_else(site_beside_executable)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_SITE_ROOT)),
            log_format: env.choice(
                "OAUTH_VAULT_LOG_FORMAT",
                &[("text", LogFormat::Text), ("json", LogFormat::Json)],
                LogFormat::Text,
            )?,
            token_care: token_care(&env)?,
            signup: env.choice(
                "OAUTH_VAULT_SIGNUP",
                &[
                    ("invite", SignupMode::Invite),
                    ("open", SignupMode::Open),
                    ("closed", SignupMode::Closed),
                ],
                SignupMode::Invite,
            )?,
            metrics_token: metrics_token(&env)?,
            metrics_bind: env
                .get("OAUTH_VAULT_METRICS_BIND")
                .map(|text| {
                    text.parse().map_err(|_| {
                        err(
                            "OAUTH_VAULT_METRICS_BIND",
                            format!("'{text}' is not an address and port; use e.g. 127.0.0.1:9300"),
                        )
                    })
                })
                .transpose()?,
            trusted_proxies: env
                .get("OAUTH_VAULT_TRUSTED_PROXIES")
                .map(|text| parse_trusted_proxies(&text))
                .transpose()?
                .unwrap_or_default(),
            signups_per_address: env
                .number("OAUTH_VAULT_SIGNUPS_PER_ADDRESS", 1..=100_000)?
                .unwrap_or(DEFAULT_SIGNUPS_PER_ADDRESS),
            api_rate_limit: env
                .number("OAUTH_VAULT_API_RATE_LIMIT", 0..=1_000_000)?
                .unwrap_or(DEFAULT_API_RATE_LIMIT),
            smtp: smtp(&env)?,
            sso,
            password_login,
            data_dir,
        })
    }
}

/// The configuration's variables, trimmed; empty ones count as unset.
struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Env<'_> {
    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    }

    /// A whole number within `range`, if set.
    fn number<T>(
        &self,
        var: &'static str,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display,
    {
        let Some(text) = self.get(var) else {
            return Ok(None);
        };
        match text.parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(Some(n)),
            _ => Err(err(
                var,
                format!(
                    "'{text}' must be a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    /// A number of seconds within `min..=max`, in milliseconds.
    fn seconds(
        &self,
        var: &'static str,
        default_ms: i64,
        min: i64,
        max: i64,
    ) -> Result<i64, ConfigError> {
        match self.get(var) {
            None => Ok(default_ms),
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(n * 1000),
                _ => Err(err(
                    var,
                    format!("'{text}' must be a whole number of seconds from {min} to {max}"),
                )),
            },
        }
    }

    /// One of `choices` by name.
    fn choice<T: Copy>(
        &self,
        var: &'static str,
        choices: &[(&str, T)],
        default: T,
    ) -> Result<T, ConfigError> {
        let Some(text) = self.get(var) else {
            return Ok(default);
        };
        choices
            .iter()
            .find(|(name, _)| *name == text)
            .map(|(_, value)| *value)
            .ok_or_else(|| {
                let names: Vec<&str> = choices.iter().map(|(name, _)| *name).collect();
                err(
                    var,
                    format!("'{text}' must be one of: {}", names.join(", ")),
                )
            })
    }
}

fn database_url(env: &Env, data_dir: &std::path::Path) -> Result<String, ConfigError> {
    match env.get("DATABASE_URL") {
        Some(url) if app::infra::db::DbKind::from_url(&url).is_none() => Err(err(
            "DATABASE_URL",
            format!(
                "'{}' is not supported; use sqlite://<path to file> or postgres://<user>@<host>/<database>",
                app::infra::db::redact_url(&url)
            ),
        )),
        Some(url) => Ok(url),
        None => Ok(format!(
            "sqlite://{}",
            data_dir.join(DB_FILE_NAME).display()
        )),
    }
}

fn key_source(env: &Env, data_dir: &std::path::Path) -> Result<KeySource, ConfigError> {
    Ok(
        match (
            env.get("OAUTH_VAULT_KEYS"),
            env.get("OAUTH_VAULT_KEYS_FILE"),
        ) {
            (Some(_), Some(_)) => {
                return Err(err(
                    "OAUTH_VAULT_KEYS",
                    "set either OAUTH_VAULT_KEYS or OAUTH_VAULT_KEYS_FILE, not both",
                ))
            }
            (Some(keys), None) => KeySource::Inline(SecretString::from(keys)),
            (None, Some(path)) => KeySource::File {
                path: PathBuf::from(path),
                generate: false,
            },
            (None, None) => KeySource::File {
                path: data_dir.join(KEY_FILE_NAME),
                generate: true,
            },
        },
    )
}

fn token_care(env: &Env) -> Result<app::services::tokens::TokenCare, ConfigError> {
    let defaults = app::services::tokens::TokenCare::default();
    let lease_ms = env.seconds("OAUTH_VAULT_REFRESH_LEASE_SECS", defaults.lease_ms, 2, 3600)?;
    Ok(app::services::tokens::TokenCare {
        refresh_margin_ms: env.seconds(
            "OAUTH_VAULT_REFRESH_MARGIN_SECS",
            defaults.refresh_margin_ms,
            0,
            86_400,
        )?,
        lease_ms,
        wait_ms: defaults.wait_ms.max(lease_ms / 2),
        backoff_ms: env.seconds(
            "OAUTH_VAULT_REFRESH_BACKOFF_SECS",
            defaults.backoff_ms,
            1,
            3600,
        )?,
        failures_before_error: env
            .number("OAUTH_VAULT_REFRESH_FAILURES_BEFORE_ERROR", 1..=100)?
            .unwrap_or(defaults.failures_before_error),
        health_check_interval_ms: env.seconds(
            "OAUTH_VAULT_HEALTH_CHECK_INTERVAL_SECS",
            defaults.health_check_interval_ms,
            60,
            30 * 86_400,
        )?,
        worker_interval_ms: env.seconds(
            "OAUTH_VAULT_WORKER_INTERVAL_SECS",
            defaults.worker_interval_ms,
            0,
            3600,
        )?,
        refresh_concurrency: env
            .number("OAUTH_VAULT_REFRESH_CONCURRENCY", 1..=256)?
            .unwrap_or(defaults.refresh_concurrency),
    })
}

fn parse_public_url(text: &str) -> Result<Url, ConfigError> {
    const VAR: &str = "OAUTH_VAULT_PUBLIC_URL";
    let url = Url::parse(text).map_err(|_| {
        err(
            VAR,
            format!("'{text}' is not a URL; use the address users reach the vault at, e.g. https://vault.example.com"),
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(err(
            VAR,
            format!("'{text}' must be an http:// or https:// URL with a host"),
        ));
    }
    if url.query().is_some() || url.fragment().is_some() || !url.username().is_empty() {
        return Err(err(
            VAR,
            format!("'{text}' must not carry credentials, a query or a fragment"),
        ));
    }
    if url.scheme() == "http" && !is_loopback_host(&url) {
        return Err(err(
            VAR,
            format!("'{text}' must use https:// (put TLS in front of the vault); plain http:// is only for localhost, 127.0.0.0/8 and [::1]"),
        ));
    }
    Ok(url)
}

/// `localhost` (or a name under it), `127.0.0.0/8` or `::1`.
fn is_loopback_host(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Hosts (optionally `host:port`) that outbound OAuth requests may reach even
/// when they resolve to private addresses or use plain http.
/// Sign-ups per client address per 15 minutes, unless configured.
pub const DEFAULT_SIGNUPS_PER_ADDRESS: i64 = 10;

/// A comma-separated list of address ranges (`10.0.0.0/8, ::1`).
fn parse_trusted_proxies(text: &str) -> Result<Vec<Cidr>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| {
            t.parse::<Cidr>()
                .map_err(|e| err("OAUTH_VAULT_TRUSTED_PROXIES", e))
        })
        .collect()
}

fn parse_allowed_hosts(text: &str) -> Result<Vec<String>, ConfigError> {
    text.split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|host| {
            let valid = !host.contains("://")
                && !host.contains('/')
                && Url::parse(&format!("http://{host}/"))
                    .map(|u| u.host_str().is_some())
                    .unwrap_or(false);
            if valid {
                Ok(host.to_ascii_lowercase())
            } else {
                Err(err(
                    "OAUTH_VAULT_ALLOWED_HOSTS",
                    format!("'{host}' is not a host name; use host names like idp.internal,127.0.0.1:9000 (no scheme or path)"),
                ))
            }
        })
        .collect()
}

/// The public base URL as a string without a trailing slash.
pub fn public_base(url: &Url) -> String {
    url.as_str().trim_end_matches('/').to_string()
}

/// The public URL derived from the address actually bound: a wildcard bind
/// address is reached as `localhost`.
fn metrics_token(env: &Env<'_>) -> Result<Option<SecretString>, ConfigError> {
    let Some(token) = env.get("OAUTH_VAULT_METRICS_TOKEN") else {
        return Ok(None);
    };
    if token.chars().count() < 16 || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(err(
            "OAUTH_VAULT_METRICS_TOKEN",
            "use at least 16 characters without spaces (e.g. the output of `openssl rand -hex 32`)",
        ));
    }
    Ok(Some(SecretString::from(token)))
}

pub fn derive_public_url(addr: SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}

#[path = "config_mail_sso.rs"]
mod mail_sso;
pub use mail_sso::Smtp;
use mail_sso::{smtp, sso};

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
