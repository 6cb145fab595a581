//! Tests of `config`.

#![allow(clippy::unwrap_used)]

use super::*;
use secrecy::ExposeSecret;
use std::collections::HashMap;

fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Config::from_lookup(|k| map.get(k).cloned())
}

#[test]
fn defaults_run_out_of_the_box() {
    let config = load(&[]).unwrap();
    assert_eq!(config.bind.to_string(), "127.0.0.1:3000");
    assert_eq!(config.public_url, None);
    assert_eq!(config.data_dir, PathBuf::from("./data"));
    assert_eq!(
        config.database_url.expose_secret(),
        "sqlite://./data/oauth-vault.db"
    );
    assert!(matches!(
        config.keys,
        KeySource::File { ref path, generate: true } if path == &PathBuf::from("./data/vault.keys")
    ));
    assert_eq!(config.log_format, LogFormat::Text);
}

#[test]
fn token_care_is_configurable() {
    let config = load(&[
        ("OAUTH_VAULT_REFRESH_MARGIN_SECS", "120"),
        ("OAUTH_VAULT_REFRESH_LEASE_SECS", "90"),
        ("OAUTH_VAULT_WORKER_INTERVAL_SECS", "0"),
        ("OAUTH_VAULT_REFRESH_CONCURRENCY", "8"),
    ])
    .unwrap();
    assert_eq!(config.token_care.refresh_concurrency, 8);
    assert_eq!(config.token_care.refresh_margin_ms, 120_000);
    assert_eq!(config.token_care.lease_ms, 90_000);
    assert_eq!(config.token_care.worker_interval_ms, 0);
    let defaults = load(&[]).unwrap().token_care;
    assert_eq!(defaults.refresh_margin_ms, 300_000);
    assert_eq!(defaults.health_check_interval_ms, 6 * 3_600_000);
}

#[test]
fn data_dir_moves_database_and_key_file() {
    let config = load(&[("OAUTH_VAULT_DATA_DIR", "/var/lib/vault")]).unwrap();
    assert_eq!(
        config.database_url.expose_secret(),
        "sqlite:///var/lib/vault/oauth-vault.db"
    );
}

#[test]
fn wrong_values_name_the_variable_and_the_fix() {
    for (var, value) in [
        ("OAUTH_VAULT_BIND", "localhost"),
        ("OAUTH_VAULT_PUBLIC_URL", "vault.example.com"),
        ("OAUTH_VAULT_PUBLIC_URL", "ftp://vault.example.com"),
        ("OAUTH_VAULT_PUBLIC_URL", "https://vault.example.com/?x=1"),
        ("DATABASE_URL", "mysql://root@localhost/vault"),
        ("OAUTH_VAULT_LOG_FORMAT", "xml"),
        ("OAUTH_VAULT_ALLOWED_HOSTS", "https://idp.internal"),
        ("OAUTH_VAULT_DB_MAX_CONNECTIONS", "0"),
        ("OAUTH_VAULT_REFRESH_LEASE_SECS", "1"),
        ("OAUTH_VAULT_METRICS_TOKEN", "too-short"),
        ("OAUTH_VAULT_METRICS_BIND", "9300"),
        ("OAUTH_VAULT_REFRESH_MARGIN_SECS", "soon"),
        ("OAUTH_VAULT_REFRESH_BACKOFF_SECS", "0"),
        ("OAUTH_VAULT_REFRESH_FAILURES_BEFORE_ERROR", "0"),
        ("OAUTH_VAULT_HEALTH_CHECK_INTERVAL_SECS", "1"),
        ("OAUTH_VAULT_WORKER_INTERVAL_SECS", "-1"),
        ("OAUTH_VAULT_REFRESH_CONCURRENCY", "0"),
        ("OAUTH_VAULT_API_CACHE_TTL_MS", "61000"),
        ("OAUTH_VAULT_TOKEN_READ_AUDIT", "sometimes"),
        ("OAUTH_VAULT_TOKEN_READ_AUDIT_WINDOW_SECS", "0"),
        ("OAUTH_VAULT_TOKEN_READ_AUDIT_WINDOW_SECS", "a minute"),
        ("OAUTH_VAULT_API_RATE_LIMIT", "-1"),
        ("OAUTH_VAULT_API_RATE_LIMIT", "lots"),
        ("OAUTH_VAULT_API_RATE_LIMIT", "1000001"),
    ] {
        let error = load(&[(var, value)]).err().unwrap();
        assert_eq!(error.var, var, "{value}");
        assert!(
            error.message.contains("use") || error.message.contains("must"),
            "{error}"
        );
    }
}

#[test]
fn database_url_errors_do_not_echo_passwords() {
    let error = load(&[("DATABASE_URL", "mysql://root:hunter2@db/vault")])
        .err()
        .unwrap();
    assert!(!error.to_string().contains("hunter2"));
}

#[test]
fn debug_redacts_secrets() {
    let config = load(&[
        ("DATABASE_URL", "postgres://vault:hunter2@db/vault"),
        (
            "OAUTH_VAULT_KEYS",
            "k1:c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0MTI=",
        ),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    assert!(!debug.contains("hunter2"));
    assert!(!debug.contains("c2VjcmV0"));
}

#[test]
fn api_rate_limit_is_configurable_and_zero_is_off() {
    assert_eq!(load(&[]).unwrap().api_rate_limit, 1200);
    let config = load(&[("OAUTH_VAULT_API_RATE_LIMIT", "60")]).unwrap();
    assert_eq!(config.api_rate_limit, 60);
    let config = load(&[("OAUTH_VAULT_API_RATE_LIMIT", "0")]).unwrap();
    assert_eq!(config.api_rate_limit, 0);
    let error = load(&[("OAUTH_VAULT_API_RATE_LIMIT", "fast")])
        .err()
        .unwrap();
    assert_eq!(
        error.to_string(),
        "OAUTH_VAULT_API_RATE_LIMIT: 'fast' must be a whole number from 0 to 1000000"
    );
}

#[test]
fn allowed_hosts_are_normalised() {
    let config = load(&[(
        "OAUTH_VAULT_ALLOWED_HOSTS",
        " IdP.Internal , 127.0.0.1:9000,",
    )])
    .unwrap();
    assert_eq!(config.allowed_hosts, vec!["idp.internal", "127.0.0.1:9000"]);
}

#[test]
fn public_url_derivation() {
    assert_eq!(
        derive_public_url("0.0.0.0:8080".parse().unwrap()),
        "http://localhost:8080"
    );
    assert_eq!(
        derive_public_url("127.0.0.1:3000".parse().unwrap()),
        "http://127.0.0.1:3000"
    );
    let url = parse_public_url("https://vault.example.com/").unwrap();
    assert_eq!(public_base(&url), "https://vault.example.com");
    // the derived default of a wildcard bind address is accepted too
    assert!(parse_public_url(&derive_public_url("0.0.0.0:8080".parse().unwrap())).is_ok());
}

#[test]
fn plain_http_public_urls_are_only_for_loopback() {
    for ok in [
        "http://localhost:3000",
        "http://LOCALHOST",
        "http://vault.localhost:8080/",
        "http://127.0.0.1:3000",
        "http://127.8.9.10",
        "http://[::1]:3000",
        "https://vault.example.com",
        "https://203.0.113.7",
    ] {
        assert!(parse_public_url(ok).is_ok(), "{ok}");
    }
    for refused in [
        "http://vault.example.com",
        "http://203.0.113.7:3000",
        "http://10.0.0.5",
        "http://0.0.0.0:3000",
        "http://[::]:3000",
        "http://localhost.example.com",
        "http://[2001:db8::1]",
    ] {
        let error = parse_public_url(refused).err().unwrap();
        assert_eq!(error.var, "OAUTH_VAULT_PUBLIC_URL");
        assert!(error.message.contains("https://"), "{error}");
        assert!(error.message.contains("TLS"), "{error}");
    }
    let error = load(&[("OAUTH_VAULT_PUBLIC_URL", "http://vault.example.com")])
        .err()
        .unwrap();
    assert_eq!(error.var, "OAUTH_VAULT_PUBLIC_URL");
}

#[test]
fn mail_and_single_sign_on_settings_are_checked_and_never_printed() {
    let config = load(&[
        (
            "OAUTH_VAULT_SMTP_URL",
            "smtps://vault:mailpass42@mail.example.com:465",
        ),
        ("OAUTH_VAULT_SMTP_FROM", "OAuth Vault <vault@example.com>"),
        (
            "OAUTH_VAULT_SSO_ISSUER",
            "http://10.0.0.5:8080/realms/staff",
        ),
        ("OAUTH_VAULT_SSO_CLIENT_ID", "vault"),
        ("OAUTH_VAULT_SSO_CLIENT_SECRET", "ssosecret99"),
        (
            "OAUTH_VAULT_SSO_ALLOWED_DOMAINS",
            "Example.com, @corp.example",
        ),
        ("OAUTH_VAULT_PASSWORD_LOGIN", "false"),
    ])
    .unwrap();
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("mailpass42") && !debug.contains("ssosecret99"),
        "{debug}"
    );
    let sso = config.sso.as_ref().unwrap();
    assert_eq!(sso.allowed_domains, ["example.com", "corp.example"]);
    assert_eq!(sso.name, "single sign-on");
    assert!(!config.password_login);
    // the operator named the identity provider: the vault may call it
    assert!(config.allowed_hosts.contains(&"10.0.0.5:8080".to_string()));

    let refused = |vars: &[(&str, &str)], var: &str| {
        let error = load(vars).err().unwrap();
        assert_eq!(error.var, var, "{error}");
        assert!(!error.to_string().contains("mailpass42"), "{error}");
    };
    refused(
        &[(
            "OAUTH_VAULT_SMTP_URL",
            "smtps://vault:mailpass42@mail.example.com",
        )],
        "OAUTH_VAULT_SMTP_FROM",
    );
    refused(
        &[
            (
                "OAUTH_VAULT_SMTP_URL",
                "ftp://vault:mailpass42@mail.example.com",
            ),
            ("OAUTH_VAULT_SMTP_FROM", "a@example.com"),
        ],
        "OAUTH_VAULT_SMTP_URL",
    );
    refused(
        &[
            ("OAUTH_VAULT_SMTP_URL", "smtp://mail.example.com"),
            ("OAUTH_VAULT_SMTP_FROM", "not an address"),
        ],
        "OAUTH_VAULT_SMTP_FROM",
    );
    refused(
        &[("OAUTH_VAULT_PASSWORD_LOGIN", "false")],
        "OAUTH_VAULT_PASSWORD_LOGIN",
    );
    refused(
        &[("OAUTH_VAULT_SSO_CLIENT_ID", "vault")],
        "OAUTH_VAULT_SSO_ISSUER",
    );
    refused(
        &[("OAUTH_VAULT_SSO_ISSUER", "https://id.example.com")],
        "OAUTH_VAULT_SSO_CLIENT_ID",
    );
    refused(
        &[
            ("OAUTH_VAULT_SSO_ISSUER", "https://id.example.com"),
            ("OAUTH_VAULT_SSO_CLIENT_ID", "v"),
            ("OAUTH_VAULT_SSO_CLIENT_SECRET", "s"),
            ("OAUTH_VAULT_SSO_ALLOWED_DOMAINS", "not a domain"),
        ],
        "OAUTH_VAULT_SSO_ALLOWED_DOMAINS",
    );
}
