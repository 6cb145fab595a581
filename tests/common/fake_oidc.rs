//! An in-process OpenID Connect provider (the company's identity provider
//! of the portal's single sign-on), on one local address: discovery, an
//! authorization endpoint that approves at once (PKCE S256 required), a
//! token endpoint that checks the code, verifier, redirect URI and client
//! (HTTP Basic), and ID tokens signed RS256 with a key published in its
//! JWKS. Switches make it misbehave on purpose: another signing key, another
//! audience, another nonce, an expired token, an unverified email.
//!
//! Endpoints: `GET /.well-known/openid-configuration`, `GET /authorize`,
//! `POST /token`, `GET /jwks`.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use super::fake_server::Served;
use axum::{
    extract::{Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Form, Json, Router,
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine as _};
use rsa::pkcs1v15::SigningKey;
use rsa::signature::{SignatureEncoding, Signer};
use rsa::traits::PublicKeyParts;
use rsa::RsaPrivateKey;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "vault-portal";
pub const CLIENT_SECRET: &str = "fake-oidc-secret-0123456789abcdef";

/// What the next ID tokens say, and how they go wrong.
#[derive(Debug, Clone)]
pub struct Knobs {
    pub email: String,
    pub email_verified: bool,
    /// Signed with a key that is not in the JWKS.
    pub foreign_key: bool,
    pub audience: Option<String>,
    pub nonce: Option<String>,
    pub expired: bool,
}

impl Default for Knobs {
    fn default() -> Self {
        Self {
            email: "alice@corp.example".into(),
            email_verified: true,
            foreign_key: false,
            audience: None,
            nonce: None,
            expired: false,
        }
    }
}

struct Grant {
    nonce: String,
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    issuer: String,
    key: RsaPrivateKey,
    other_key: RsaPrivateKey,
    knobs: Mutex<Knobs>,
    grants: Mutex<HashMap<String, Grant>>,
}

pub struct FakeOidc {
    served: Served,
    inner: Arc<Inner>,
}

impl FakeOidc {
    pub async fn start() -> FakeOidc {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        let mut rng = rsa::rand_core::OsRng;
        let inner = Arc::new(Inner {
            issuer: format!("http://{addr}"),
            key: RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            other_key: RsaPrivateKey::new(&mut rng, 2048).unwrap(),
            knobs: Mutex::new(Knobs::default()),
            grants: Mutex::new(HashMap::new()),
        });
        let router = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/jwks", get(jwks))
            .with_state(inner.clone());
        let served = Served::start(addr, router).await.unwrap();
        FakeOidc { served, inner }
    }

    /// The issuer URL (`http://127.0.0.1:<port>`).
    pub fn issuer(&self) -> String {
        self.inner.issuer.clone()
    }

    pub fn set(&self, change: impl FnOnce(&mut Knobs)) {
        change(&mut self.inner.knobs.lock().unwrap());
    }

    /// The server settings that configure single sign-on with this provider.
    pub fn vars(&self) -> Vec<(&'static str, String)> {
        vec![
            ("OAUTH_VAULT_SSO_ISSUER", self.issuer()),
            ("OAUTH_VAULT_SSO_CLIENT_ID", CLIENT_ID.into()),
            ("OAUTH_VAULT_SSO_CLIENT_SECRET", CLIENT_SECRET.into()),
            ("OAUTH_VAULT_SSO_NAME", "Corp ID".into()),
            ("OAUTH_VAULT_SSO_ALLOWED_DOMAINS", "corp.example".into()),
        ]
    }
}

async fn discovery(State(inner): State<Arc<Inner>>) -> Json<Value> {
    let base = &inner.issuer;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": ["openid", "email", "profile"]
    }))
}

async fn jwks(State(inner): State<Arc<Inner>>) -> Json<Value> {
    let public = inner.key.to_public_key();
    Json(json!({"keys": [{
        "kty": "RSA", "use": "sig", "alg": "RS256", "kid": "k1",
        "n": B64.encode(public.n().to_bytes_be()),
        "e": B64.encode(public.e().to_bytes_be()),
    }]}))
}

/// Approves at once: back to the redirect URI with a code and the state.
async fn authorize(
    State(inner): State<Arc<Inner>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let ok = q.get("client_id").map(String::as_str) == Some(CLIENT_ID)
        && q.get("response_type").map(String::as_str) == Some("code")
        && q.get("code_challenge_method").map(String::as_str) == Some("S256")
        && q.get("scope")
            .is_some_and(|s| s.split(' ').any(|s| s == "openid"));
    let (Some(redirect), Some(state), Some(nonce), Some(challenge)) = (
        q.get("redirect_uri"),
        q.get("state"),
        q.get("nonce"),
        q.get("code_challenge"),
    ) else {
        return (StatusCode::BAD_REQUEST, "missing parameters").into_response();
    };
    if !ok {
        return (StatusCode::BAD_REQUEST, "bad request").into_response();
    }
    let code = format!("code-{}", uuid::Uuid::new_v4());
    inner.grants.lock().unwrap().insert(
        code.clone(),
        Grant {
            nonce: nonce.clone(),
            challenge: challenge.clone(),
            redirect_uri: redirect.clone(),
        },
    );
    let mut url = url::Url::parse(redirect).unwrap();
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state);
    (StatusCode::SEE_OTHER, [(header::LOCATION, url.to_string())]).into_response()
}

async fn token(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}"))
    );
    if headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        != Some(expected.as_str())
    {
        return error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let Some(grant) = form
        .get("code")
        .and_then(|c| inner.grants.lock().unwrap().remove(c))
    else {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    let challenge = B64.encode(Sha256::digest(verifier.as_bytes()));
    if challenge != grant.challenge
        || form.get("redirect_uri") != Some(&grant.redirect_uri)
        || form.get("grant_type").map(String::as_str) != Some("authorization_code")
    {
        return error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let knobs = inner.knobs.lock().unwrap().clone();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let exp = if knobs.expired { now - 600 } else { now + 300 };
    let claims = json!({
        "iss": inner.issuer,
        "sub": format!("sub-{}", knobs.email),
        "aud": knobs.audience.clone().unwrap_or_else(|| CLIENT_ID.into()),
        "exp": exp,
        "iat": now - 5,
        "nonce": knobs.nonce.clone().unwrap_or(grant.nonce),
        "email": knobs.email,
        "email_verified": knobs.email_verified,
    });
    let key = if knobs.foreign_key {
        &inner.other_key
    } else {
        &inner.key
    };
    let id_token = sign(key, &claims);
    Json(json!({
        "access_token": format!("at-{}", uuid::Uuid::new_v4()),
        "token_type": "Bearer",
        "expires_in": 300,
        "id_token": id_token,
    }))
    .into_response()
}

fn error(status: StatusCode, code: &str) -> Response {
    (status, Json(json!({ "error": code }))).into_response()
}

/// A compact JWS, RS256, key id `k1`.
fn sign(key: &RsaPrivateKey, claims: &Value) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": "k1"});
    let input = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let signer = SigningKey::<Sha256>::new(key.clone());
    let signature = signer.sign(input.as_bytes());
    format!("{input}.{}", B64.encode(signature.to_bytes()))
}
