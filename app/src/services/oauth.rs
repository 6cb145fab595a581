//! Talking OAuth 2.0 to a provider: the authorization URL (with the `oauth2`
//! crate: state, PKCE S256, scopes, extra parameters), the token request, and
//! reading the account identity.
//!
//! Token responses are parsed here rather than by `oauth2`'s strict types:
//! real providers omit `token_type`, send `expires_in` as a string and `scope`
//! as an array, and the refresh engine needs the HTTP status of a failure to
//! tell a rejected grant from a passing outage.

use crate::{
    catalogue::{
        loader::Catalogue, ClientAuth, IdentityMethod, IdentitySource, IdentitySpec, OAuthSpec,
        ProviderDefinition, TokenLifecycle, TokenResponseSpec, TokenSpec,
    },
    domain::grants::{AccountIdentity, TokenSet, MAX_LIFETIME_SECS},
    domain::provider_configs::ConfigView,
    infra::outbound::{Fetched, Outbound, OutboundError},
};
use base64::{engine::general_purpose::STANDARD as B64, Engine as _};
use oauth2::{AuthUrl, ClientId, CsrfToken, PkceCodeChallenge, RedirectUrl, Scope};
use reqwest::{header, Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use std::sync::Arc;

/// Everything the vault needs to run OAuth with one provider configuration:
/// the catalogue definition, or the developer's own endpoints.
#[derive(Debug, Clone)]
pub struct ProviderProfile {
    pub name: String,
    pub oauth: OAuthSpec,
    pub identity: Option<IdentitySpec>,
    pub tokens: TokenSpec,
    /// The proxy's base URL and headers.
    pub api: Option<crate::catalogue::ApiSpec>,
    pub definition: Option<Arc<ProviderDefinition>>,
}

impl ProviderProfile {
    /// The definition's lifetime for tokens whose answer names none.
    pub fn fallback_lifetime_secs(&self) -> i64 {
        i64::try_from(self.tokens.fallback_lifetime_secs).unwrap_or(i64::MAX)
    }

    /// The profile of `config`, or `None` if its catalogue provider is gone.
    pub fn of(config: &ConfigView, catalogue: &Catalogue) -> Option<Self> {
        if let Some(custom) = &config.custom {
            let oauth = OAuthSpec {
                authorization_url: custom.authorization_url.clone(),
                token_url: custom.token_url.clone(),
                revocation_url: custom.revocation_url.clone(),
                revocation_auth: Default::default(),
                introspection_url: custom.introspection_url.clone(),
                pkce: custom.pkce,
                client_auth: custom.client_auth,
                scopes_in_authorize: true,
                scope_separator: custom.scope_separator.clone(),
                issuer: custom.issuer.clone(),
                authorization_response_iss: custom.authorization_response_iss,
                extra_authorize_params: Default::default(),
                extra_token_params: Default::default(),
            };
            // OpenID Connect userinfo: `sub` is the account.
            let identity = custom.userinfo_url.clone().map(|url| IdentitySpec {
                source: Default::default(),
                url,
                method: Default::default(),
                body: None,
                account_id: "sub".into(),
                account_name: Some("name".into()),
                account_slug: Some("email".into()),
                account_picture: Some("picture".into()),
                scopes: None,
                active: None,
            });
            return Some(Self {
                name: config.display_name.clone(),
                oauth,
                identity,
                tokens: TokenSpec {
                    lifecycle: TokenLifecycle::Refresh,
                    health_check: crate::catalogue::HealthCheck::None,
                    fallback_lifetime_secs: 3600,
                },
                api: None,
                definition: None,
            });
        }
        let def = catalogue.get(&config.provider)?;
        Some(Self {
            name: def.name.clone(),
            oauth: def.oauth.clone(),
            identity: def.identity.clone(),
            tokens: def.tokens.clone(),
            api: def.api.clone(),
            definition: Some(def.clone()),
        })
    }
}

/// A prepared authorization request.
pub struct Authorization {
    /// Where the browser goes; carries `state` and the PKCE challenge, never a secret.
    pub url: String,
    pub state: SecretString,
    pub pkce_verifier: Option<SecretString>,
}

impl std::fmt::Debug for Authorization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authorization")
            .field("url", &"[REDACTED: carries state]")
            .finish_non_exhaustive()
    }
}

/// Builds the authorization URL for `profile` with a fresh 256-bit `state`
/// and, where the provider takes it, a PKCE S256 challenge.
pub fn authorization(
    profile: &ProviderProfile,
    client_id: &str,
    redirect_uri: &str,
    scopes: &[String],
) -> Result<Authorization, String> {
    let auth_url = AuthUrl::new(profile.oauth.authorization_url.clone())
        .map_err(|_| "the authorization URL is not a valid URL".to_string())?;
    let redirect = RedirectUrl::new(redirect_uri.to_string())
        .map_err(|_| "the redirect URI is not a valid URL".to_string())?;
    let client = oauth2::basic::BasicClient::new(ClientId::new(client_id.to_string()))
        .set_auth_uri(auth_url)
        .set_redirect_uri(redirect);
    let state = crate::infra::tokens::random_token();
    let state_for_request = state.clone();
    let mut request = client.authorize_url(move || CsrfToken::new(state_for_request));
    let mut verifier = None;
    if profile.oauth.pkce {
        let (challenge, pkce_verifier) = PkceCodeChallenge::new_random_sha256();
        request = request.set_pkce_challenge(challenge);
        verifier = Some(SecretString::from(pkce_verifier.secret().clone()));
    }
    if profile.oauth.scopes_in_authorize && !scopes.is_empty() {
        request = request.add_scope(Scope::new(scopes.join(&profile.oauth.scope_separator)));
    }
    for (name, value) in &profile.oauth.extra_authorize_params {
        request = request.add_extra_param(name.clone(), value.clone());
    }
    let (url, _) = request.url();
    Ok(Authorization {
        url: url.to_string(),
        state: SecretString::from(state),
        pkce_verifier: verifier,
    })
}

/// Why a token request failed. Messages never carry what the provider sent
/// beyond a short RFC 6749 error code.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// The provider refused the grant (`invalid_grant`, `invalid_client`, …).
    #[error("the provider refused the request ({code})")]
    Rejected { code: String },
    /// 5xx or 429: the provider may accept the same request later.
    #[error("the provider failed to answer (HTTP {status})")]
    Unavailable {
        status: u16,
        retry_after_secs: Option<u64>,
    },
    #[error("the provider's answer is not a valid token response")]
    Invalid,
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

impl TokenError {
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unavailable { .. } => true,
            Self::Outbound(e) => e.is_transient(),
            _ => false,
        }
    }

    /// The grant itself is dead: only the end user can fix it by
    /// authorizing again (RFC 6749 §5.2).
    pub fn needs_reauthorization(&self) -> bool {
        matches!(self, Self::Rejected { code } if matches!(code.as_str(), "invalid_grant" | "invalid_client" | "unauthorized_client"))
    }
}

/// An RFC 6749 error code from a JSON error body, if it looks like one.
fn error_code(body: &[u8]) -> Option<String> {
    let value: Value = serde_json::from_slice(body).ok()?;
    let code = value.get("error")?.as_str()?;
    let plausible = !code.is_empty()
        && code.len() <= 64
        && code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit());
    plausible.then(|| code.to_string())
}

fn number_or_string(value: Option<&Value>) -> Option<i64> {
    match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

/// Scopes given as one string (space- or comma-separated) or an array.
pub fn scope_list(value: Option<&Value>) -> Option<Vec<String>> {
    match value? {
        Value::String(s) => Some(
            s.split(|c: char| c.is_whitespace() || c == ',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
        ),
        _ => None,
    }
}

/// Parses a successful token response tolerantly: a missing `token_type`
/// is Bearer, `expires_in` may be a number or a string, `scope` a string or
/// an array, unknown fields are ignored.
pub fn parse_token_response(body: &[u8]) -> Result<TokenSet, TokenError> {
    parse_token_answer(body, &TokenResponseSpec::default(), None)
}

/// [`parse_token_response`] where the definition says where the tokens and
/// the values to keep are (`spec`), and whether the answer names the
/// account (`identity`).
pub fn parse_token_answer(
    body: &[u8],
    spec: &TokenResponseSpec,
    identity: Option<&IdentitySpec>,
) -> Result<TokenSet, TokenError> {
    let value: Value = serde_json::from_slice(body).map_err(|_| TokenError::Invalid)?;
    let access_token = text_at(&value, &spec.access_token)
        .filter(|t| !t.is_empty())
        .ok_or(TokenError::Invalid)?;
    let token_type = match value.get("token_type").and_then(Value::as_str) {
        None => "Bearer".to_string(),
        Some(t) if t.eq_ignore_ascii_case("bearer") => "Bearer".to_string(),
        Some(t) => t
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(32)
            .collect(),
    };
    let refresh_token = text_at(&value, &spec.refresh_token)
        .filter(|t| !t.is_empty())
        .map(SecretString::from);
    let returned = spec
        .values
        .iter()
        .filter_map(|(name, path)| Some((name.clone(), text_at(&value, path)?)))
        .map(|(name, v)| (name, crate::domain::parameters::normalised(&v)))
        .collect();
    let identity = match identity {
        Some(spec) if spec.source == IdentitySource::TokenResponse => {
            Some(identity_in(spec, &value).map_err(|_| TokenError::Invalid)?)
        }
        _ => None,
    };
    Ok(TokenSet {
        returned,
        identity,
        access_token: SecretString::from(access_token),
        refresh_token,
        token_type,
        // whatever the provider sent: a positive number of seconds, at most
        // ten years
        expires_in: number_or_string(value.get("expires_in"))
            .filter(|s| *s > 0)
            .map(|s| s.min(MAX_LIFETIME_SECS)),
        scopes: scope_list(value.get("scope")),
    })
}

/// The client's credentials for the token endpoint.
pub struct ClientCredentials<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a SecretString,
}

/// Sends a token request (`grant` holds `grant_type` and its parameters)
/// with the provider's client authentication, and parses the answer.
pub async fn token_request(
    http: &Outbound,
    profile: &ProviderProfile,
    client: &ClientCredentials<'_>,
    grant: Vec<(&str, &str)>,
) -> Result<TokenSet, TokenError> {
    let mut form: Vec<(&str, &str)> = grant;
    for (name, value) in &profile.oauth.extra_token_params {
        form.push((name.as_str(), value.as_str()));
    }
    let fetched = client_post(http, &profile.oauth.token_url, profile, client, form).await?;
    token_outcome_for(&fetched, profile)
}

/// POSTs `form` to an endpoint of the provider with the client's
/// authentication (HTTP Basic or in the body, as the provider wants).
pub async fn client_post(
    http: &Outbound,
    url: &str,
    profile: &ProviderProfile,
    client: &ClientCredentials<'_>,
    form: Vec<(&str, &str)>,
) -> Result<Fetched, OutboundError> {
    client_post_as(http, url, profile.oauth.client_auth, client, form).await
}

/// [`client_post`] with the client authentication named, for calls that
/// outlive their provider configuration (queued revocations).
pub async fn client_post_as(
    http: &Outbound,
    url: &str,
    client_auth: ClientAuth,
    client: &ClientCredentials<'_>,
    mut form: Vec<(&str, &str)>,
) -> Result<Fetched, OutboundError> {
    let mut request = http
        .request(Method::POST, url)?
        .header(header::ACCEPT, "application/json");
    match client_auth {
        ClientAuth::Basic => {
            // RFC 6749 §2.3.1: both parts form-urlencoded before Basic encoding.
            let id: String =
                url::form_urlencoded::byte_serialize(client.client_id.as_bytes()).collect();
            let secret: String = url::form_urlencoded::byte_serialize(
                client.client_secret.expose_secret().as_bytes(),
            )
            .collect();
            request = request.header(
                header::AUTHORIZATION,
                format!("Basic {}", B64.encode(format!("{id}:{secret}"))),
            );
        }
        ClientAuth::Body => {
            form.push(("client_id", client.client_id));
            form.push(("client_secret", client.client_secret.expose_secret()));
        }
    }
    let body = serde_urlencoded::to_string(&form).map_err(|_| OutboundError::Network)?;
    http.send(
        request
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body),
    )
    .await
}

/// Seconds of a `Retry-After` header (the delay form; a date is ignored).
pub fn retry_after_secs(fetched: &Fetched) -> Option<u64> {
    fetched
        .headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

fn token_outcome_for(fetched: &Fetched, profile: &ProviderProfile) -> Result<TokenSet, TokenError> {
    let spec = profile
        .definition
        .as_ref()
        .map(|d| d.token_response.clone())
        .unwrap_or_default();
    token_outcome_with(fetched, &spec, profile.identity.as_ref())
}

#[cfg(test)]
fn token_outcome(fetched: &Fetched) -> Result<TokenSet, TokenError> {
    token_outcome_with(fetched, &TokenResponseSpec::default(), None)
}

fn token_outcome_with(
    fetched: &Fetched,
    spec: &TokenResponseSpec,
    identity: Option<&IdentitySpec>,
) -> Result<TokenSet, TokenError> {
    let status = fetched.status;
    if status.is_success() {
        return parse_token_answer(&fetched.body, spec, identity);
    }
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        return Err(TokenError::Unavailable {
            status: status.as_u16(),
            retry_after_secs: retry_after_secs(fetched),
        });
    }
    Err(TokenError::Rejected {
        code: error_code(&fetched.body).unwrap_or_else(|| format!("http_{}", status.as_u16())),
    })
}

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// 401/403, or `active: false`: the token does not work.
    #[error("the provider does not accept the token")]
    Unauthorized,
    #[error("the identity endpoint failed (HTTP {status})")]
    Unavailable { status: u16 },
    #[error("the identity answer has no account id")]
    Invalid,
    #[error(transparent)]
    Outbound(#[from] OutboundError),
}

/// The value at a dotted path (`a.b.c`, array elements by index: `0.id`)
/// of a JSON document, as text.
pub fn text_at(value: &Value, path: &str) -> Option<String> {
    match value_at(value, path)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

pub fn value_at<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    let mut current = value;
    for part in path.split('.') {
        current = match current {
            Value::Array(items) => items.get(part.parse::<usize>().ok()?)?,
            _ => current.get(part)?,
        };
    }
    Some(current)
}

/// Reads the account identity and granted scopes with `access_token`.
pub async fn identify(
    http: &Outbound,
    spec: &IdentitySpec,
    token_type: &str,
    access_token: &SecretString,
) -> Result<AccountIdentity, IdentityError> {
    identify_as(http, spec, None, token_type, access_token).await
}

/// [`identify`] for `profile`, whose API may take the token in a header of
/// its own.
pub async fn identify_for(
    http: &Outbound,
    profile: &ProviderProfile,
    spec: &IdentitySpec,
    token_type: &str,
    access_token: &SecretString,
) -> Result<AccountIdentity, IdentityError> {
    let header = profile.api.as_ref().and_then(|a| a.token_header.as_deref());
    identify_as(http, spec, header, token_type, access_token).await
}

async fn identify_as(
    http: &Outbound,
    spec: &IdentitySpec,
    token_header: Option<&str>,
    token_type: &str,
    access_token: &SecretString,
) -> Result<AccountIdentity, IdentityError> {
    let method = match spec.method {
        IdentityMethod::Get => Method::GET,
        IdentityMethod::Post => Method::POST,
    };
    let request = http
        .request(method, &spec.url)?
        .header(header::ACCEPT, "application/json");
    let mut request = match token_header {
        Some(name) => request.header(name, access_token.expose_secret()),
        None => request.header(
            header::AUTHORIZATION,
            format!("{token_type} {}", access_token.expose_secret()),
        ),
    };
    if let Some(body) = &spec.body {
        request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.clone());
    }
    let fetched = http.send(request).await?;
    read_identity(spec, &fetched)
}

pub fn read_identity(
    spec: &IdentitySpec,
    fetched: &Fetched,
) -> Result<AccountIdentity, IdentityError> {
    let status = fetched.status;
    if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
        return Err(IdentityError::Unauthorized);
    }
    if !status.is_success() {
        return Err(IdentityError::Unavailable {
            status: status.as_u16(),
        });
    }
    let value = fetched.json().ok_or(IdentityError::Invalid)?;
    identity_in(spec, &value)
}

/// The account named in a JSON document (an identity answer, or a token
/// answer that names it).
pub fn identity_in(spec: &IdentitySpec, value: &Value) -> Result<AccountIdentity, IdentityError> {
    let value = value.clone();
    if let Some(active) = &spec.active {
        if value_at(&value, active).and_then(Value::as_bool) == Some(false) {
            return Err(IdentityError::Unauthorized);
        }
    }
    let id = text_at(&value, &spec.account_id).ok_or(IdentityError::Invalid)?;
    let short = |s: String| s.chars().take(200).collect::<String>();
    Ok(AccountIdentity {
        id: short(id),
        name: spec
            .account_name
            .as_deref()
            .and_then(|p| text_at(&value, p))
            .map(short),
        slug: spec
            .account_slug
            .as_deref()
            .and_then(|p| text_at(&value, p))
            .map(short),
        picture: spec
            .account_picture
            .as_deref()
            .and_then(|p| text_at(&value, p))
            .filter(|u| u.starts_with("https://"))
            .map(short),
        scopes: spec
            .scopes
            .as_deref()
            .and_then(|p| scope_list(value_at(&value, p))),
    })
}

#[cfg(test)]
#[path = "oauth_tests.rs"]
mod tests;
