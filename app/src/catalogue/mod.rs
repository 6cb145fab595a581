//! Provider definitions: what the vault knows about an OAuth provider, as
//! data. The catalogue (`providers/*.toml` in the repository, embedded in the
//! binary, plus an operator's override folder) is loaded and validated at
//! start-up by [`catalogue`]; these types are shared with the browser so the
//! portal can render them.

#[cfg(feature = "ssr")]
pub mod loader;
#[cfg(feature = "ssr")]
pub mod urls;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The id of the template for providers that developers describe themselves.
pub const CUSTOM_PROVIDER: &str = "custom";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderDefinition {
    pub id: String,
    pub name: String,
    pub category: String,
    pub tagline: String,
    /// Path of a logo under the site root; without one the portal draws a
    /// monogram.
    #[serde(default)]
    pub logo: Option<String>,
    #[serde(default)]
    pub docs_url: Option<String>,
    /// Where developers register an OAuth app at the provider.
    #[serde(default)]
    pub console_url: Option<String>,
    pub oauth: OAuthSpec,
    #[serde(default)]
    pub identity: Option<IdentitySpec>,
    #[serde(default)]
    pub api: Option<ApiSpec>,
    pub tokens: TokenSpec,
    pub display: DisplaySpec,
    /// Shown in the portal; `{redirect_uri}` is replaced by the vault's own.
    #[serde(default)]
    pub setup_steps: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    /// Shown above the scope catalogue.
    #[serde(default)]
    pub scope_note: Option<String>,
    #[serde(default)]
    pub default_scopes: Vec<String>,
    #[serde(default)]
    pub scope_groups: Vec<ScopeGroup>,
    /// Values substituted into the URLs as `{name}`: asked of the developer
    /// (per configuration) or of the end user (on the connect page).
    #[serde(default)]
    pub parameters: Vec<ParameterSpec>,
    /// Where the token answer holds the token and the values later calls
    /// need.
    #[serde(default)]
    pub token_response: TokenResponseSpec,
    /// Query parameters of the authorization callback kept with the
    /// connection.
    #[serde(default)]
    pub callback: CallbackSpec,
}

/// Who supplies a connection parameter.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppliedBy {
    /// In the provider configuration form.
    Developer,
    /// On the connect page.
    EndUser,
}

/// A value substituted into the provider's URLs, checked by its pattern
/// (it ends up in a URL the vault calls).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParameterSpec {
    pub name: String,
    pub label: String,
    #[serde(default)]
    pub description: String,
    /// A regular expression anchored with `^…$`.
    pub pattern: String,
    pub example: String,
    #[serde(default)]
    pub default: Option<String>,
    pub supplied_by: SuppliedBy,
    #[serde(default = "yes")]
    pub required: bool,
}

/// Paths (dotted; array elements by index) into the token answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenResponseSpec {
    #[serde(default = "access_token_path")]
    pub access_token: String,
    #[serde(default = "refresh_token_path")]
    pub refresh_token: String,
    /// Values kept with the connection: name → path.
    #[serde(default)]
    pub values: BTreeMap<String, String>,
}

impl Default for TokenResponseSpec {
    fn default() -> Self {
        Self {
            access_token: access_token_path(),
            refresh_token: refresh_token_path(),
            values: BTreeMap::new(),
        }
    }
}

fn access_token_path() -> String {
    "access_token".into()
}

fn refresh_token_path() -> String {
    "refresh_token".into()
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallbackSpec {
    /// Query parameter names.
    #[serde(default)]
    pub values: Vec<String>,
}

/// How a revocation request authenticates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RevocationAuth {
    /// RFC 7009: the token in the form, with client authentication.
    #[default]
    Client,
    /// The access token as a bearer token, no body.
    Bearer,
}

/// Where the account identity comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentitySource {
    /// A call to `url`.
    #[default]
    Url,
    /// The token answer itself.
    TokenResponse,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum IdentityMethod {
    #[default]
    Get,
    Post,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// HTTP Basic with client id and secret (RFC 6749 §2.3.1).
    Basic,
    /// `client_id` and `client_secret` in the form body.
    Body,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthSpec {
    pub authorization_url: String,
    pub token_url: String,
    #[serde(default)]
    pub revocation_url: Option<String>,
    #[serde(default)]
    pub revocation_auth: RevocationAuth,
    #[serde(default)]
    pub introspection_url: Option<String>,
    #[serde(default = "yes")]
    pub pkce: bool,
    pub client_auth: ClientAuth,
    /// Whether the authorization request carries `scope`.
    #[serde(default = "yes")]
    pub scopes_in_authorize: bool,
    #[serde(default = "space")]
    pub scope_separator: String,
    /// The issuer identifier, checked against `iss` where the provider sends it.
    #[serde(default)]
    pub issuer: Option<String>,
    /// Whether the provider sends `iss` on the authorization response (RFC 9207);
    /// when true, a missing `iss` is rejected.
    #[serde(default)]
    pub authorization_response_iss: bool,
    #[serde(default)]
    pub extra_authorize_params: BTreeMap<String, String>,
    #[serde(default)]
    pub extra_token_params: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

fn space() -> String {
    " ".to_string()
}

/// Where the account identity and the granted scopes are read from, and which
/// fields of the JSON answer hold them (dotted paths).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentitySpec {
    #[serde(default)]
    pub source: IdentitySource,
    /// The endpoint (empty when the source is the token answer).
    #[serde(default)]
    pub url: String,
    #[serde(default)]
    pub method: IdentityMethod,
    /// A JSON body for `POST` (e.g. a GraphQL query).
    #[serde(default)]
    pub body: Option<String>,
    pub account_id: String,
    #[serde(default)]
    pub account_name: Option<String>,
    #[serde(default)]
    pub account_slug: Option<String>,
    #[serde(default)]
    pub account_picture: Option<String>,
    #[serde(default)]
    pub scopes: Option<String>,
    #[serde(default)]
    pub active: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSpec {
    pub base_url: String,
    /// Headers the proxy sends with every call (e.g. an API version).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// A header that carries the access token as it is, instead of
    /// `Authorization: Bearer …` (e.g. `X-Shopify-Access-Token`); used by
    /// the proxy and the identity call.
    #[serde(default)]
    pub token_header: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenLifecycle {
    /// Access tokens expire and are renewed with a refresh token.
    Refresh,
    /// As `Refresh`, and each refresh returns a new refresh token.
    RotatingRefresh,
    /// Access tokens do not expire; kept alive by health checks.
    LongLived,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthCheck {
    Identity,
    Introspection,
    None,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSpec {
    pub lifecycle: TokenLifecycle,
    #[serde(default = "no_health_check")]
    pub health_check: HealthCheck,
    /// Lifetime assumed when a token response has no `expires_in`.
    #[serde(default = "one_hour")]
    pub fallback_lifetime_secs: u64,
}

fn no_health_check() -> HealthCheck {
    HealthCheck::None
}

fn one_hour() -> u64 {
    3600
}

/// Values of the portal's property table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplaySpec {
    pub pkce: String,
    pub token_refresh: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeGroup {
    pub name: String,
    pub scopes: Vec<ScopeDefinition>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Access {
    Read,
    ReadWrite,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopeDefinition {
    pub name: String,
    pub access: Access,
    pub description: String,
}

impl ProviderDefinition {
    pub fn scope(&self, name: &str) -> Option<&ScopeDefinition> {
        self.scope_groups
            .iter()
            .flat_map(|g| g.scopes.iter())
            .find(|s| s.name == name)
    }

    /// The read scope that a read-write scope of the same group includes.
    pub fn implied_read_scope(&self, name: &str) -> Option<&str> {
        let group = self
            .scope_groups
            .iter()
            .find(|g| g.scopes.iter().any(|s| s.name == name))?;
        let scope = group.scopes.iter().find(|s| s.name == name)?;
        if scope.access != Access::ReadWrite {
            return None;
        }
        // only where the group names one resource: its one read scope
        let mut reads = group.scopes.iter().filter(|s| s.access == Access::Read);
        match (reads.next(), reads.next()) {
            (Some(read), None) => Some(read.name.as_str()),
            _ => None,
        }
    }

    /// `selected` in catalogue order, with the read scope added wherever its
    /// read-write scope is selected (read-write includes read). Unknown names
    /// are returned as the error.
    pub fn normalise_scopes(&self, selected: &[String]) -> Result<Vec<String>, Vec<String>> {
        let unknown: Vec<String> = selected
            .iter()
            .filter(|s| self.scope(s).is_none())
            .cloned()
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        let mut wanted: Vec<&str> = selected.iter().map(String::as_str).collect();
        for s in selected {
            if let Some(read) = self.implied_read_scope(s) {
                wanted.push(read);
            }
        }
        Ok(self
            .scope_groups
            .iter()
            .flat_map(|g| g.scopes.iter())
            .filter(|s| wanted.contains(&s.name.as_str()))
            .map(|s| s.name.clone())
            .collect())
    }

    /// Setup steps with the vault's redirect URI filled in.
    pub fn setup_steps_for(&self, redirect_uri: &str) -> Vec<String> {
        self.setup_steps
            .iter()
            .map(|s| s.replace("{redirect_uri}", redirect_uri))
            .collect()
    }
}
