//! Authorization server discovery: reads an issuer's metadata (RFC 8414
//! `/.well-known/oauth-authorization-server`, else OpenID Connect
//! `/.well-known/openid-configuration`) through the outbound client, so that
//! a custom provider's form can be filled in from its issuer.

use crate::catalogue::ClientAuth;
use crate::infra::outbound::{Outbound, OutboundError};
use axum::http::Method;
use serde_json::Value;
use url::Url;

/// What the metadata says, in the provider form's terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovered {
    pub issuer: String,
    pub authorization_url: String,
    pub token_url: String,
    pub revocation_url: Option<String>,
    pub introspection_url: Option<String>,
    pub userinfo_url: Option<String>,
    /// `S256` is among `code_challenge_methods_supported`.
    pub pkce: bool,
    /// From `token_endpoint_auth_methods_supported`, when it names one we use.
    pub client_auth: Option<ClientAuth>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207).
    pub authorization_response_iss: bool,
}

/// Why nothing could be discovered, in one line for the form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    #[error("{0}")]
    BadIssuer(String),
    #[error("The issuer is refused: {0}")]
    Refused(String),
    #[error(
        "The issuer could not be reached ({0}). Check the URL, or fill in the endpoints yourself."
    )]
    Unreachable(String),
    #[error("The issuer publishes no metadata at /.well-known/oauth-authorization-server or /.well-known/openid-configuration (HTTP {0}). Fill in the endpoints yourself.")]
    NotFound(u16),
    #[error("The issuer's metadata is not a JSON object. Fill in the endpoints yourself.")]
    NotJson,
    #[error("The metadata names another issuer ({0}); it must be exactly the one entered.")]
    IssuerMismatch(String),
    #[error("The metadata lacks {0}. Fill in the endpoints yourself.")]
    Missing(&'static str),
}

/// The metadata addresses to try for `issuer`, in order: RFC 8414 inserts
/// the well-known segment before the issuer's path; OpenID Connect appends
/// it.
fn metadata_urls(issuer: &Url) -> Vec<String> {
    let origin = issuer.origin().ascii_serialization();
    let path = issuer.path().trim_end_matches('/');
    vec![
        format!("{origin}/.well-known/oauth-authorization-server{path}"),
        format!("{origin}{path}/.well-known/openid-configuration"),
    ]
}

/// Reads and checks the metadata of `issuer_text`.
pub async fn discover(http: &Outbound, issuer_text: &str) -> Result<Discovered, DiscoveryError> {
    let issuer = parse_issuer(issuer_text)?;
    let mut last_status = 404;
    for url in metadata_urls(&issuer) {
        let request = http
            .request(Method::GET, &url)
            .map_err(|e| match e {
                OutboundError::Refused(why) => DiscoveryError::Refused(why),
                other => DiscoveryError::Unreachable(other.to_string()),
            })?
            .header("accept", "application/json");
        let fetched = http.send(request).await.map_err(|e| match e {
            OutboundError::Refused(why) => DiscoveryError::Refused(why),
            other => DiscoveryError::Unreachable(other.to_string()),
        })?;
        if !fetched.status.is_success() {
            last_status = fetched.status.as_u16();
            continue;
        }
        let Some(Value::Object(meta)) = fetched.json() else {
            return Err(DiscoveryError::NotJson);
        };
        return read_metadata(issuer_text.trim(), &Value::Object(meta));
    }
    Err(DiscoveryError::NotFound(last_status))
}

fn parse_issuer(text: &str) -> Result<Url, DiscoveryError> {
    let url = Url::parse(text.trim()).map_err(|_| {
        DiscoveryError::BadIssuer("Enter the issuer's URL, e.g. https://auth.example.com".into())
    })?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(DiscoveryError::BadIssuer(
            "An issuer has no query or fragment (RFC 8414)".into(),
        ));
    }
    Ok(url)
}

/// The form's values from metadata `meta` of `issuer` (RFC 8414 §3.3: the
/// metadata's `issuer` must be identical to the one asked for).
pub fn read_metadata(issuer: &str, meta: &Value) -> Result<Discovered, DiscoveryError> {
    let text = |key: &str| meta.get(key).and_then(Value::as_str).map(str::to_string);
    let named = text("issuer").ok_or(DiscoveryError::Missing("issuer"))?;
    if named != issuer {
        return Err(DiscoveryError::IssuerMismatch(named));
    }
    let strings = |key: &str| -> Vec<String> {
        meta.get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let auth_methods = strings("token_endpoint_auth_methods_supported");
    // RFC 8414: absent means client_secret_basic
    let client_auth =
        if auth_methods.is_empty() || auth_methods.iter().any(|m| m == "client_secret_basic") {
            Some(ClientAuth::Basic)
        } else if auth_methods.iter().any(|m| m == "client_secret_post") {
            Some(ClientAuth::Body)
        } else {
            None
        };
    Ok(Discovered {
        issuer: named,
        authorization_url: text("authorization_endpoint")
            .ok_or(DiscoveryError::Missing("authorization_endpoint"))?,
        token_url: text("token_endpoint").ok_or(DiscoveryError::Missing("token_endpoint"))?,
        revocation_url: text("revocation_endpoint"),
        introspection_url: text("introspection_endpoint"),
        userinfo_url: text("userinfo_endpoint"),
        pkce: strings("code_challenge_methods_supported")
            .iter()
            .any(|m| m == "S256"),
        client_auth,
        authorization_response_iss: meta
            .get("authorization_response_iss_parameter_supported")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_addresses_follow_rfc_8414_and_openid() {
        let urls = metadata_urls(&Url::parse("https://as.example.com/tenant/1").unwrap());
        assert_eq!(
            urls,
            vec![
                "https://as.example.com/.well-known/oauth-authorization-server/tenant/1",
                "https://as.example.com/tenant/1/.well-known/openid-configuration",
            ]
        );
        let urls = metadata_urls(&Url::parse("https://as.example.com").unwrap());
        assert_eq!(
            urls[0],
            "https://as.example.com/.well-known/oauth-authorization-server"
        );
        assert_eq!(
            urls[1],
            "https://as.example.com/.well-known/openid-configuration"
        );
    }

    #[test]
    fn metadata_fills_the_form_and_must_name_the_same_issuer() {
        let meta = json!({
            "issuer": "https://as.example.com",
            "authorization_endpoint": "https://as.example.com/authorize",
            "token_endpoint": "https://as.example.com/token",
            "revocation_endpoint": "https://as.example.com/revoke",
            "code_challenge_methods_supported": ["plain", "S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post"],
            "authorization_response_iss_parameter_supported": true
        });
        let d = read_metadata("https://as.example.com", &meta).unwrap();
        assert!(d.pkce && d.authorization_response_iss);
        assert_eq!(d.client_auth, Some(ClientAuth::Body));
        assert_eq!(
            d.revocation_url.as_deref(),
            Some("https://as.example.com/revoke")
        );
        assert_eq!(
            read_metadata("https://other.example.com", &meta),
            Err(DiscoveryError::IssuerMismatch(
                "https://as.example.com".into()
            ))
        );
        let bare = json!({"issuer": "https://a.example", "token_endpoint": "https://a.example/t"});
        assert_eq!(
            read_metadata("https://a.example", &bare),
            Err(DiscoveryError::Missing("authorization_endpoint"))
        );
    }
}
