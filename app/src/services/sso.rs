//! Single sign-on for the portal with the company's OpenID Connect provider:
//! discovery, the authorization request (state, nonce, PKCE S256), the code
//! exchange, and the ID token's checks against the issuer's JWKS (signature,
//! `iss`, `aud`, `exp`, `nonce`) with the `openidconnect` crate.
//!
//! What a sign-in has to remember between the two legs (state, nonce, PKCE
//! verifier, where to go next) travels in a cookie sealed with the vault's
//! key: any server process can finish what another started, and the state
//! is bound to the browser that started, so nobody can slip their own sign-in
//! into another's browser.

use crate::infra::crypto::Aad;
use crate::infra::crypto::Keyring;
use crate::infra::outbound::Outbound;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenVerifier, CoreJsonWebKeySet, CoreProviderMetadata,
};
use openidconnect::{ClientId, ClientSecret, IssuerUrl, Nonce};
use reqwest::{header, Method};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// How long a sign-in may take at the identity provider.
pub const LOGIN_TTL_SECS: i64 = 10 * 60;
/// How long a failed discovery is remembered before the next try.
const RETRY_AFTER: Duration = Duration::from_secs(30);
/// The cookie of a sign-in under way.
pub const COOKIE: &str = "ov_sso";

/// The operator's settings (`OAUTH_VAULT_SSO_*`).
#[derive(Clone)]
pub struct SsoConfig {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// The button's label: "Sign in with {name}".
    pub name: String,
    /// Email domains whose people get an account on their first sign-in.
    pub allowed_domains: Vec<String>,
}

impl std::fmt::Debug for SsoConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoConfig")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("name", &self.name)
            .field("allowed_domains", &self.allowed_domains)
            .finish()
    }
}

/// What discovery found.
#[derive(Debug)]
struct Discovered {
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
    /// The token endpoint takes the client secret in the form body
    /// (`client_secret_post`) rather than HTTP Basic.
    secret_in_body: bool,
}

#[derive(Debug)]
enum Discovery {
    Ready(Arc<Discovered>),
    Failed { reason: String, at: Instant },
    Pending,
}

/// Single sign-on, as configured; discovery runs at start-up and again on
/// use until it succeeds.
#[derive(Debug)]
pub struct Sso {
    pub config: SsoConfig,
    /// `{public URL}/auth/sso/callback`
    pub redirect_uri: String,
    discovery: RwLock<Discovery>,
}

/// Why a sign-in failed: each says what to do, and none holds a secret.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    #[error("Single sign-on is not available right now: the identity provider could not be reached or answered wrongly ({0}). Try again in a minute, or sign in with your password.")]
    Unavailable(String),
    #[error("This sign-in could not be matched to the one this browser started, or it took longer than 10 minutes. Start again.")]
    BadState,
    #[error("The identity provider refused the sign-in ({0}).")]
    Refused(String),
    #[error("The identity provider's answer could not be verified ({0}). Ask your operator to check the single sign-on settings.")]
    BadToken(String),
    #[error("Your identity provider did not confirm your email address, so it cannot be matched to an account. Verify it there first.")]
    UnverifiedEmail,
}

/// A sign-in under way, sealed into its cookie.
#[derive(Serialize, Deserialize)]
struct Pending {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    expires_at: i64,
}

impl Sso {
    pub fn new(config: SsoConfig, public_url: &str) -> Self {
        Self {
            config,
            redirect_uri: format!("{public_url}/auth/sso/callback"),
            discovery: RwLock::new(Discovery::Pending),
        }
    }

    /// Why single sign-on cannot be used now, if it cannot.
    pub fn problem(&self) -> Option<String> {
        match &*self.discovery.read().ok()? {
            Discovery::Failed { reason, .. } => Some(reason.clone()),
            _ => None,
        }
    }

    /// Discovers the provider's endpoints now; the log says how to fix a
    /// failure.
    pub async fn discover(&self, http: &Outbound) -> Result<(), String> {
        let found = fetch_metadata(http, &self.config.issuer).await;
        let mut slot = self
            .discovery
            .write()
            .map_err(|_| "a lock was poisoned".to_string())?;
        match found {
            Ok(found) => {
                tracing::info!(issuer = %self.config.issuer, "single sign-on is ready");
                *slot = Discovery::Ready(Arc::new(found));
                Ok(())
            }
            Err(reason) => {
                tracing::warn!(issuer = %self.config.issuer, %reason, "single sign-on is not available: check OAUTH_VAULT_SSO_ISSUER (its /.well-known/openid-configuration must answer, and a host on a private network must be reachable from this server); retried on the next sign-in");
                *slot = Discovery::Failed {
                    reason: reason.clone(),
                    at: Instant::now(),
                };
                Err(reason)
            }
        }
    }

    async fn ready(&self, http: &Outbound) -> Result<Arc<Discovered>, SsoError> {
        let retry = match self.discovery.read().as_deref() {
            Ok(Discovery::Ready(found)) => return Ok(found.clone()),
            Ok(Discovery::Failed { reason, at }) if at.elapsed() < RETRY_AFTER => {
                return Err(SsoError::Unavailable(reason.clone()))
            }
            _ => true,
        };
        if retry {
            self.discover(http).await.map_err(SsoError::Unavailable)?;
        }
        match self.discovery.read().as_deref() {
            Ok(Discovery::Ready(found)) => Ok(found.clone()),
            _ => Err(SsoError::Unavailable("not discovered".into())),
        }
    }

    /// Starts a sign-in: the provider's authorization URL, and the sealed
    /// cookie value that the callback needs.
    pub async fn start(
        &self,
        http: &Outbound,
        keyring: &Keyring,
        next: &str,
    ) -> Result<(String, String), SsoError> {
        let found = self.ready(http).await?;
        let verifier = crate::infra::tokens::random_token();
        let challenge = B64.encode(sha256(verifier.as_bytes()));
        let pending = Pending {
            state: crate::infra::tokens::random_token(),
            nonce: crate::infra::tokens::random_token(),
            verifier,
            next: next.to_string(),
            expires_at: crate::infra::db::now_ms() / 1000 + LOGIN_TTL_SECS,
        };
        let mut url = url::Url::parse(&found.authorization_endpoint)
            .map_err(|_| SsoError::Unavailable("the authorization endpoint is not a URL".into()))?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.config.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", "openid email profile")
            .append_pair("state", &pending.state)
            .append_pair("nonce", &pending.nonce)
            .append_pair("code_challenge", &challenge)
            .append_pair("code_challenge_method", "S256");
        let cookie = seal(keyring, &pending)?;
        Ok((url.to_string(), cookie))
    }

    /// Finishes a sign-in: checks the state against the browser's cookie,
    /// exchanges the code, and verifies the ID token. Returns the verified
    /// email address (lower-cased) and where to go next.
    pub async fn finish(
        &self,
        http: &Outbound,
        keyring: &Keyring,
        cookie: Option<&str>,
        state: &str,
        code: &str,
    ) -> Result<(String, String), SsoError> {
        let pending = cookie
            .and_then(|c| open(keyring, c))
            .ok_or(SsoError::BadState)?;
        let fresh = pending.expires_at > crate::infra::db::now_ms() / 1000;
        let same: bool =
            subtle::ConstantTimeEq::ct_eq(pending.state.as_bytes(), state.as_bytes()).into();
        if !fresh || !same {
            return Err(SsoError::BadState);
        }
        let found = self.ready(http).await?;
        let id_token = self.exchange(http, &found, code, &pending.verifier).await?;
        let jwks = fetch_json::<CoreJsonWebKeySet>(http, &found.jwks_uri)
            .await
            .map_err(SsoError::Unavailable)?;
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|_| SsoError::BadToken("the issuer is not a URL".into()))?;
        let verifier = CoreIdTokenVerifier::new_confidential_client(
            ClientId::new(self.config.client_id.clone()),
            ClientSecret::new(self.config.client_secret.expose_secret().to_string()),
            issuer,
            jwks,
        );
        let token: CoreIdToken = id_token
            .parse()
            .map_err(|_| SsoError::BadToken("the ID token is not a JWT".into()))?;
        let nonce = Nonce::new(pending.nonce.clone());
        let claims = token
            .claims(&verifier, &nonce)
            .map_err(|e| SsoError::BadToken(e.to_string()))?;
        if claims.email_verified() != Some(true) {
            return Err(SsoError::UnverifiedEmail);
        }
        let email = claims
            .email()
            .map(|e| e.as_str().to_string())
            .ok_or(SsoError::UnverifiedEmail)?;
        let email =
            crate::domain::users::normalise_email(&email).map_err(|_| SsoError::UnverifiedEmail)?;
        Ok((email, pending.next))
    }

    async fn exchange(
        &self,
        http: &Outbound,
        found: &Discovered,
        code: &str,
        verifier: &str,
    ) -> Result<String, SsoError> {
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("code_verifier", verifier),
        ];
        let secret = self.config.client_secret.expose_secret();
        if found.secret_in_body {
            form.push(("client_id", &self.config.client_id));
            form.push(("client_secret", secret));
        }
        let mut request = http
            .request(Method::POST, &found.token_endpoint)
            .map_err(|e| SsoError::Unavailable(e.to_string()))?
            .header(header::ACCEPT, "application/json")
            .form(&form);
        if !found.secret_in_body {
            request = request.basic_auth(
                form_encode(&self.config.client_id),
                Some(form_encode(secret)),
            );
        }
        let answer = http
            .send(request)
            .await
            .map_err(|e| SsoError::Unavailable(e.to_string()))?;
        let json = answer.json().unwrap_or_default();
        if !answer.status.is_success() {
            let code = json
                .get("error")
                .and_then(|v| v.as_str())
                .map(|s| s.chars().take(60).collect::<String>())
                .unwrap_or_else(|| format!("HTTP {}", answer.status.as_u16()));
            return Err(SsoError::Refused(code));
        }
        json.get("id_token")
            .and_then(|v| v.as_str())
            .map(str::to_string)
            .ok_or_else(|| SsoError::BadToken("the token response has no id_token".into()))
    }
}

/// RFC 6749 §2.3.1: the client id and secret are form-encoded before Basic.
fn form_encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}

fn seal(keyring: &Keyring, pending: &Pending) -> Result<String, SsoError> {
    let json = serde_json::to_vec(pending).map_err(|e| SsoError::Unavailable(e.to_string()))?;
    let blob = keyring
        .encrypt(&json, Aad::new("cookie", COOKIE, "sso-login"))
        .map_err(|e| SsoError::Unavailable(e.to_string()))?;
    Ok(B64.encode(blob))
}

fn open(keyring: &Keyring, cookie: &str) -> Option<Pending> {
    let blob = B64.decode(cookie).ok()?;
    let json = keyring
        .decrypt(&blob, Aad::new("cookie", COOKIE, "sso-login"))
        .ok()?;
    serde_json::from_slice(&json).ok()
}

/// Reads the provider's OpenID configuration and checks that it is the
/// issuer's own (OpenID Connect Discovery 1.0 §4.3).
async fn fetch_metadata(http: &Outbound, issuer: &str) -> Result<Discovered, String> {
    let url = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let metadata = fetch_json::<CoreProviderMetadata>(http, &url).await?;
    if metadata.issuer().as_str().trim_end_matches('/') != issuer.trim_end_matches('/') {
        return Err(format!(
            "the configuration names another issuer, {}",
            metadata.issuer().as_str()
        ));
    }
    let token_endpoint = metadata
        .token_endpoint()
        .map(|u| u.as_str().to_string())
        .ok_or("the configuration names no token endpoint")?;
    let secret_in_body = metadata
        .token_endpoint_auth_methods_supported()
        .is_some_and(|methods| {
            let names: Vec<String> = methods
                .iter()
                .filter_map(|m| serde_json::to_value(m).ok())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            !names.iter().any(|n| n == "client_secret_basic")
                && names.iter().any(|n| n == "client_secret_post")
        });
    Ok(Discovered {
        authorization_endpoint: metadata.authorization_endpoint().as_str().to_string(),
        token_endpoint,
        jwks_uri: metadata.jwks_uri().as_str().to_string(),
        secret_in_body,
    })
}

async fn fetch_json<T: serde::de::DeserializeOwned>(
    http: &Outbound,
    url: &str,
) -> Result<T, String> {
    let request = http
        .request(Method::GET, url)
        .map_err(|e| format!("{url}: {e}"))?
        .header(header::ACCEPT, "application/json");
    let answer = http
        .send(request)
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    if !answer.status.is_success() {
        return Err(format!("{url} answered HTTP {}", answer.status.as_u16()));
    }
    serde_json::from_slice(&answer.body).map_err(|e| format!("{url} is not what was expected: {e}"))
}
