use crate::domain::connect::*;
use crate::{
    domain::events::EventKind,
    domain::provider_configs::{ConfigStatus, ConfigView},
    infra::crypto::Aad,
    infra::db::{new_id, now_ms, Db},
    infra::tokens::{hash_token, random_token},
    services::oauth::{self, ClientCredentials, IdentityError, ProviderProfile, TokenError},
    store::connections::{record_event, save_authorized, Authorized, Event},
    store::provider_configs::{self as configs},
    store::sessions::{cookie_value, set_cookie},
    web::form_post::Submission,
    web::state::AppState,
};
use axum::{
    body::Body,
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, Request, StatusCode},
    response::{IntoResponse, Response},
};
use leptos::prelude::*;
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;
use std::collections::HashMap;
use subtle::ConstantTimeEq;

pub const TOKEN_PREFIX: &str = "ovcs_";

/// The cookie that binds an authorization to the browser that started it.
pub fn browser_cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-ov_oauth"
    } else {
        "ov_oauth"
    }
}

// ---- connect sessions -------------------------------------------------

#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub end_user_id: String,
    pub end_user_name: Option<String>,
    pub end_user_email: Option<String>,
    /// Provider ids (configuration slugs); empty for all.
    pub providers: Vec<String>,
    pub return_url: Option<String>,
    /// Re-authorizes this connection: it keeps its id.
    pub reconnect_id: Option<String>,
}

pub struct CreatedSession {
    pub id: String,
    pub token: SecretString,
    pub connect_url: String,
    pub expires_at: i64,
}

pub async fn create_session(
    state: &AppState,
    app_id: &str,
    input: &NewSession,
    actor: &crate::store::audit::Actor,
) -> Result<CreatedSession, sqlx::Error> {
    let token = format!("{TOKEN_PREFIX}{}", random_token());
    let id = new_id("cs");
    let now = now_ms();
    let expires_at = now + SESSION_TTL_MS;
    let mut tx = state.db.pool().begin().await?;
    sqlx::query(
        "INSERT INTO connect_sessions (id, app_id, token_hash, end_user_id, end_user_name, end_user_email, providers, return_url, created_at, expires_at, reconnect_id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&id)
    .bind(app_id)
    .bind(hash_token(&token))
    .bind(&input.end_user_id)
    .bind(input.end_user_name.as_deref())
    .bind(input.end_user_email.as_deref())
    .bind(input.providers.join(" "))
    .bind(input.return_url.as_deref())
    .bind(now)
    .bind(expires_at)
    .bind(input.reconnect_id.as_deref())
    .execute(&mut *tx)
    .await?;
    let detail = format!("for end user {}", input.end_user_id);
    let mut entry = crate::store::audit::Entry::new(if input.reconnect_id.is_some() {
        "connect_session.created_reconnect"
    } else {
        "connect_session.created"
    })
    .app(None, app_id)
    .detail(&detail);
    if let Some(connection) = &input.reconnect_id {
        entry = entry.target("connection", connection);
    }
    crate::store::audit::record(&mut tx, actor, entry).await?;
    tx.commit().await?;
    // Sessions a day past their expiry go, with their transactions.
    sqlx::query("DELETE FROM connect_sessions WHERE expires_at < $1")
        .bind(now - 24 * 60 * 60 * 1000)
        .execute(state.db.pool())
        .await?;
    let connect_url = format!("{}/connect/{token}", state.settings.public_url);
    Ok(CreatedSession {
        id,
        token: SecretString::from(token),
        connect_url,
        expires_at,
    })
}

/// The app's allowed return URLs.
pub async fn allowed_return_urls(db: &Db, app_id: &str) -> Result<Vec<String>, sqlx::Error> {
    let text: Option<String> = sqlx::query_scalar("SELECT return_urls FROM apps WHERE id = $1")
        .bind(app_id)
        .fetch_optional(db.pool())
        .await?;
    Ok(text
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect())
}

#[derive(Debug, Clone)]
pub struct OpenSession {
    pub id: String,
    pub app_id: String,
    pub app_name: String,
    pub end_user_id: String,
    pub end_user_name: Option<String>,
    pub end_user_email: Option<String>,
    pub providers: Vec<String>,
    pub return_url: Option<String>,
    pub reconnect_id: Option<String>,
}

pub enum SessionLookup {
    Unknown,
    Expired,
    Used,
    Open(Box<OpenSession>),
}

fn open_session(row: &sqlx::any::AnyRow) -> Result<OpenSession, sqlx::Error> {
    let providers: String = row.try_get("providers")?;
    Ok(OpenSession {
        id: row.try_get("id")?,
        app_id: row.try_get("app_id")?,
        app_name: row.try_get("app_name")?,
        end_user_id: row.try_get("end_user_id")?,
        end_user_name: row.try_get("end_user_name")?,
        end_user_email: row.try_get("end_user_email")?,
        providers: providers.split_whitespace().map(str::to_string).collect(),
        return_url: row.try_get("return_url")?,
        reconnect_id: row.try_get("reconnect_id")?,
    })
}

const SESSION_SELECT: &str = "SELECT s.id, s.app_id, a.name AS app_name, s.end_user_id, s.end_user_name, s.end_user_email, \
    s.providers, s.return_url, s.reconnect_id, s.expires_at, s.used_at FROM connect_sessions s JOIN apps a ON a.id = s.app_id";

pub async fn find_session(db: &Db, token: &str) -> Result<SessionLookup, sqlx::Error> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 100 {
        return Ok(SessionLookup::Unknown);
    }
    let row = sqlx::query(&format!("{SESSION_SELECT} WHERE s.token_hash = $1"))
        .bind(hash_token(token))
        .fetch_optional(db.pool())
        .await?;
    let Some(row) = row else {
        return Ok(SessionLookup::Unknown);
    };
    let used: Option<i64> = row.try_get("used_at")?;
    let expires: i64 = row.try_get("expires_at")?;
    if used.is_some() {
        return Ok(SessionLookup::Used);
    }
    if expires <= now_ms() {
        return Ok(SessionLookup::Expired);
    }
    Ok(SessionLookup::Open(Box::new(open_session(&row)?)))
}

async fn session_by_id(db: &Db, id: &str) -> Result<Option<OpenSession>, sqlx::Error> {
    sqlx::query(&format!("{SESSION_SELECT} WHERE s.id = $1"))
        .bind(id)
        .fetch_optional(db.pool())
        .await?
        .map(|r| open_session(&r))
        .transpose()
}

/// The active configurations a session offers, in the app's order.
async fn offered(
    state: &AppState,
    session: &OpenSession,
) -> Result<Vec<(ConfigView, ProviderProfile)>, sqlx::Error> {
    let all = configs::list(&state.db, &state.keyring, &session.app_id).await?;
    Ok(all
        .into_iter()
        .filter(|c| c.status == ConfigStatus::Active)
        .filter(|c| session.providers.is_empty() || session.providers.contains(&c.slug))
        .filter_map(|c| ProviderProfile::of(&c, &state.catalogue).map(|p| (c, p)))
        .collect())
}

// ---- pages -------------------------------------------------------------

fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}

/// The policy of the end-user pages: no script at all; forms may go to
/// this site and to the providers' authorization endpoints.
fn page_csp(form_targets: &[String]) -> String {
    let mut targets = String::from("'self'");
    for t in form_targets {
        targets.push(' ');
        targets.push_str(t);
    }
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action {targets}; \
         base-uri 'none'; frame-ancestors 'none'"
    )
}

fn html_page(status: StatusCode, title: &str, body: String, form_targets: &[String]) -> Response {
    let title = format!("{title} · OAuth Vault");
    let document = Owner::new().with(|| {
        view! {
            <html lang="en">
                <head>
                    <meta charset="utf-8" />
                    <meta name="viewport" content="width=device-width, initial-scale=1" />
                    <meta name="color-scheme" content="light dark" />
                    <meta name="robots" content="noindex" />
                    <title>{title}</title>
                    <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                    <link rel="stylesheet" href=format!("/pkg/{}.css", crate::util::OUTPUT_NAME) />
                </head>
                <body class="connect-body">
                    <main class="connect-card" inner_html=body></main>
                    <p class="connect-footer muted">"Secured by OAuth Vault"</p>
                </body>
            </html>
        }
        .to_html()
    });
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        format!("<!DOCTYPE html>{document}"),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Ok(v) = HeaderValue::from_str(&page_csp(form_targets)) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    response
}

/// A page that says what happened; every text is escaped by the renderer.
fn message_page(status: StatusCode, title: &str, text: &str, testid: &str) -> Response {
    let (title_owned, text_owned) = (title.to_string(), text.to_string());
    let body = Owner::new().with(|| {
        view! {
            <h1 data-testid=testid.to_string()>{title_owned}</h1>
            <p>{text_owned}</p>
        }
        .to_html()
    });
    html_page(status, title, body, &[])
}

fn failure_page(failure: ConnectFailure) -> Response {
    let (title, text) = failure.explain();
    let status = match failure {
        ConnectFailure::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ConnectFailure::TokenExchangeFailed
        | ConnectFailure::IdentityFailed
        | ConnectFailure::ProviderError => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = Owner::new().with(|| {
        view! {
            <h1 data-testid="connect-failed">{title}</h1>
            <p>{text}</p>
            <p class="muted">"Error code: " <code>{failure.code()}</code></p>
        }
        .to_html()
    });
    html_page(status, title, body, &[])
}

fn session_problem_page(lookup: &SessionLookup) -> Response {
    match lookup {
        SessionLookup::Expired => message_page(
            StatusCode::GONE,
            "This connect link has expired",
            "Connect links work for 30 minutes. Go back to the app and start again to get a new one.",
            "session-expired",
        ),
        SessionLookup::Used => message_page(
            StatusCode::GONE,
            "This connect link was already used",
            "Each connect link works for one connection. Go back to the app to connect again.",
            "session-used",
        ),
        _ => message_page(
            StatusCode::NOT_FOUND,
            "This connect link is not valid",
            "Check that you opened the whole link, or go back to the app and start again.",
            "session-unknown",
        ),
    }
}

fn internal(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "connect request failed");
    failure_page(ConnectFailure::ServerError)
}

/// `GET /connect/{token}`: the hosted connect page.
pub async fn get_connect(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request<Body>,
) -> Response {
    let csrf = request
        .extensions()
        .get::<crate::web::csrf::CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    connect_page(&state, &token, &csrf, None).await
}

async fn connect_page(state: &AppState, token: &str, csrf: &str, notice: Option<&str>) -> Response {
    let lookup = match find_session(&state.db, token).await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let SessionLookup::Open(session) = lookup else {
        return session_problem_page(&lookup);
    };
    let offered = match offered(state, &session).await {
        Ok(o) => o,
        Err(e) => return internal(e),
    };
    if offered.is_empty() {
        return message_page(
            StatusCode::CONFLICT,
            "Nothing to connect yet",
            "The app has no provider switched on for this link. Contact the app's support.",
            "no-providers",
        );
    }
    let form_targets: Vec<String> = offered
        .iter()
        .filter_map(|(_, p)| origin_of(&p.oauth.authorization_url))
        .collect();
    let action = format!("/connect/{token}");
    let app_name = session.app_name.clone();
    let who = session
        .end_user_email
        .clone()
        .or(session.end_user_name.clone());
    let notice = notice.map(str::to_string);
    let csrf = csrf.to_string();
    let cards: Vec<_> = offered
        .into_iter()
        .map(|(config, profile)| {
            let scopes: Vec<(String, String)> = config
                .scopes
                .iter()
                .map(|s| {
                    let description = profile
                        .definition
                        .as_ref()
                        .and_then(|d| d.scope(s))
                        .map(|d| d.description.clone())
                        .unwrap_or_default();
                    (s.clone(), description)
                })
                .collect();
            let logo = profile.definition.as_ref().map(|d| d.logo.clone());
            (config.id, profile.name, logo, scopes)
        })
        .collect();
    let title = format!("Connect to {app_name}");
    let body = Owner::new().with(move || {
        view! {
            <p class="muted connect-kicker">{app_name.clone()}</p>
            <h1>{format!("{app_name} wants to connect to your account")}</h1>
            {who.map(|w| view! { <p class="muted">"Connecting for " <strong>{w}</strong></p> })}
            {notice.map(|n| view! { <div class="alert alert-danger" role="alert">{n}</div> })}
            {cards.into_iter().map(|(config_id, name, logo, scopes)| {
                let button = format!("Connect {name}");
                let has_scopes = !scopes.is_empty();
                view! {
                    <section class="connect-provider">
                        <h2>
                            {logo.map(|l| view! { <img src=l alt="" width="28" height="28" /> })}
                            {name.clone()}
                        </h2>
                        {has_scopes.then(|| view! {
                            <p>{format!("{app_name} asks for this access at {name}:")}</p>
                            <ul class="scope-list" data-testid="requested-scopes">
                                {scopes.into_iter().map(|(scope, description)| view! {
                                    <li><code>{scope}</code>" "<span>{description}</span></li>
                                }).collect_view()}
                            </ul>
                        })}
                        <form method="post" action=action.clone()>
                            <input type="hidden" name="csrf" value=csrf.clone() />
                            <input type="hidden" name="provider_config" value=config_id />
                            <button type="submit" class="btn btn-primary btn-block">{button}</button>
                        </form>
                        <p class="muted small">{format!("You will sign in at {name} and choose what to allow. You can revoke access at any time.")}</p>
                    </section>
                }
            }).collect_view()}
        }
        .to_html()
    });
    html_page(StatusCode::OK, &title, body, &form_targets)
}

/// `POST /connect/{token}`: starts the authorization at the provider.
pub async fn post_connect(
    State(state): State<AppState>,
    Path(token): Path<String>,
    request: Request<Body>,
) -> Response {
    let form = match Submission::read(&state, request).await {
        Ok(f) => f,
        Err(r) => return r,
    };
    let lookup = match find_session(&state.db, &token).await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let SessionLookup::Open(session) = lookup else {
        return session_problem_page(&lookup);
    };
    let offered = match offered(&state, &session).await {
        Ok(o) => o,
        Err(e) => return internal(e),
    };
    let chosen = form.get("provider_config");
    let csrf = form.get("csrf");
    let Some((config, profile)) = offered.into_iter().find(|(c, _)| c.id == chosen) else {
        return connect_page(
            &state,
            &token,
            &csrf,
            Some("Choose one of the providers below."),
        )
        .await;
    };
    let redirect_uri = state.settings.redirect_uri();
    let authorization =
        match oauth::authorization(&profile, &config.client_id, &redirect_uri, &config.scopes) {
            Ok(a) => a,
            Err(e) => return internal(e),
        };
    // One binding cookie per browser; parallel authorizations share it.
    let secure = state.settings.secure_cookies;
    let cookie_name = browser_cookie_name(secure);
    let browser = cookie_value(&form.parts.headers, cookie_name)
        .filter(|v| v.len() == 43)
        .unwrap_or_else(random_token);
    let id = new_id("tx");
    let verifier = match authorization.pkce_verifier.as_ref().map(|v| {
        state.keyring.encrypt_str(
            v.expose_secret(),
            Aad::new("oauth_transactions", "code_verifier", &id),
        )
    }) {
        Some(Err(e)) => return internal(e),
        Some(Ok(sealed)) => Some(sealed),
        None => None,
    };
    let now = now_ms();
    let inserted = sqlx::query(
        "INSERT INTO oauth_transactions (id, state_hash, browser_hash, session_id, provider_config_id, code_verifier, issuer, redirect_uri, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&id)
    .bind(hash_token(authorization.state.expose_secret()))
    .bind(hash_token(&browser))
    .bind(&session.id)
    .bind(&config.id)
    .bind(verifier)
    .bind(profile.oauth.issuer.as_deref())
    .bind(&redirect_uri)
    .bind(now)
    .bind(now + TRANSACTION_TTL_MS)
    .execute(state.db.pool())
    .await;
    if let Err(e) = inserted {
        return internal(e);
    }
    let mut response = StatusCode::SEE_OTHER.into_response();
    let headers = response.headers_mut();
    match HeaderValue::from_str(&authorization.url) {
        Ok(v) => headers.insert(header::LOCATION, v),
        Err(e) => return internal(e),
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.append(
        header::SET_COOKIE,
        set_cookie(cookie_name, &browser, secure, TRANSACTION_TTL_MS / 1000),
    );
    response
}

// ---- callback ------------------------------------------------------------

struct Transaction {
    id: String,
    browser_hash: String,
    session_id: String,
    provider_config_id: String,
    code_verifier: Option<Vec<u8>>,
    issuer: Option<String>,
    redirect_uri: String,
    expires_at: i64,
    consumed_at: Option<i64>,
}

async fn find_transaction(db: &Db, state_value: &str) -> Result<Option<Transaction>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT id, browser_hash, session_id, provider_config_id, code_verifier, issuer, redirect_uri, expires_at, consumed_at \
         FROM oauth_transactions WHERE state_hash = $1",
    )
    .bind(hash_token(state_value))
    .fetch_optional(db.pool())
    .await?;
    row.map(|r| {
        Ok(Transaction {
            id: r.try_get("id")?,
            browser_hash: r.try_get("browser_hash")?,
            session_id: r.try_get("session_id")?,
            provider_config_id: r.try_get("provider_config_id")?,
            code_verifier: r.try_get("code_verifier")?,
            issuer: r.try_get("issuer")?,
            redirect_uri: r.try_get("redirect_uri")?,
            expires_at: r.try_get("expires_at")?,
            consumed_at: r.try_get("consumed_at")?,
        })
    })
    .transpose()
}

/// Marks the transaction used; false if another request did first.
async fn consume(db: &Db, id: &str) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE oauth_transactions SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL",
    )
    .bind(now_ms())
    .bind(id)
    .execute(db.pool())
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Where the end user goes after the callback.
fn finish(
    session: &OpenSession,
    outcome: Result<&str, ConnectFailure>,
    app_name: &str,
) -> Response {
    if let Some(return_url) = &session.return_url {
        let mut url = return_url.clone();
        url.push(if url.contains('?') { '&' } else { '?' });
        let params: Vec<(&str, &str)> = match outcome {
            Ok(id) => vec![("connection_id", id), ("status", "success")],
            Err(f) => vec![("status", "error"), ("error", f.code())],
        };
        url.push_str(&serde_urlencoded::to_string(params).unwrap_or_default());
        let mut response = StatusCode::SEE_OTHER.into_response();
        if let Ok(v) = HeaderValue::from_str(&url) {
            response.headers_mut().insert(header::LOCATION, v);
        }
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        return response;
    }
    match outcome {
        Ok(_) => message_page(
            StatusCode::OK,
            "Connected",
            &format!("Your account is now connected to {app_name}. You can close this window."),
            "connect-success",
        ),
        Err(f) => failure_page(f),
    }
}

/// `GET /oauth/callback`: the provider sends the browser back here.
pub async fn callback(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let Some(state_value) = query
        .get("state")
        .filter(|s| !s.is_empty() && s.len() <= 200)
    else {
        return failure_page(ConnectFailure::InvalidRequest);
    };
    let tx = match find_transaction(&state.db, state_value).await {
        Ok(Some(tx)) => tx,
        Ok(None) => return failure_page(ConnectFailure::UnknownState),
        Err(e) => return internal(e),
    };
    if tx.consumed_at.is_some() {
        return failure_page(ConnectFailure::StateUsed);
    }
    let secure = state.settings.secure_cookies;
    let bound = cookie_value(&headers, browser_cookie_name(secure))
        .map(|c| bool::from(hash_token(&c).as_bytes().ct_eq(tx.browser_hash.as_bytes())))
        .unwrap_or(false);
    if !bound {
        return failure_page(ConnectFailure::BrowserMismatch);
    }
    match consume(&state.db, &tx.id).await {
        Ok(true) => {}
        Ok(false) => return failure_page(ConnectFailure::StateUsed),
        Err(e) => return internal(e),
    }
    let session = match session_by_id(&state.db, &tx.session_id).await {
        Ok(Some(s)) => s,
        Ok(None) => return failure_page(ConnectFailure::UnknownState),
        Err(e) => return internal(e),
    };
    let app_name = session.app_name.clone();
    let outcome = complete(&state, &tx, &session, &query).await;
    if let Err(failure) = outcome {
        let message = format!("Connect attempt failed: {}", failure.code());
        tracing::warn!(code = failure.code(), "connect attempt failed");
        let recorded = match state.db.pool().acquire().await {
            Ok(mut conn) => {
                record_event(
                    &mut conn,
                    Event {
                        app_id: &session.app_id,
                        connection_id: None,
                        provider_config_id: Some(&tx.provider_config_id),
                        end_user_id: Some(&session.end_user_id),
                        kind: EventKind::ConnectFailed,
                        message: &message,
                    },
                )
                .await
            }
            Err(e) => Err(e),
        };
        if let Err(e) = recorded {
            tracing::error!(error = %e, "recording a failed connect attempt failed");
        }
    }
    finish(&session, outcome.as_deref().map_err(|f| *f), &app_name)
}

/// Checks the answer, exchanges the code, reads the account and stores
/// the connection. Any failure leaves nothing behind.
async fn complete(
    state: &AppState,
    tx: &Transaction,
    session: &OpenSession,
    query: &HashMap<String, String>,
) -> Result<String, ConnectFailure> {
    if tx.expires_at <= now_ms() {
        return Err(ConnectFailure::Expired);
    }
    let config = configs::find(
        &state.db,
        &state.keyring,
        &session.app_id,
        &tx.provider_config_id,
    )
    .await
    .map_err(|e| server_error(&e))?
    .ok_or(ConnectFailure::ProviderDisabled)?;
    if config.status != ConfigStatus::Active {
        return Err(ConnectFailure::ProviderDisabled);
    }
    let profile =
        ProviderProfile::of(&config, &state.catalogue).ok_or(ConnectFailure::ProviderDisabled)?;
    // RFC 9207: where the provider names itself, it must be the issuer
    // this authorization was started with.
    match (query.get("iss"), &tx.issuer) {
        (Some(iss), Some(expected)) if iss != expected => {
            return Err(ConnectFailure::IssuerMismatch)
        }
        (None, _) if profile.oauth.authorization_response_iss => {
            return Err(ConnectFailure::IssuerMismatch)
        }
        _ => {}
    }
    if let Some(error) = query.get("error") {
        return Err(if error == "access_denied" {
            ConnectFailure::AccessDenied
        } else {
            ConnectFailure::ProviderError
        });
    }
    let code = query
        .get("code")
        .filter(|c| !c.is_empty() && c.len() <= 2048)
        .ok_or(ConnectFailure::InvalidRequest)?;
    let verifier = tx
        .code_verifier
        .as_ref()
        .map(|sealed| {
            state.keyring.decrypt_string(
                sealed,
                Aad::new("oauth_transactions", "code_verifier", &tx.id),
            )
        })
        .transpose()
        .map_err(|e| server_error(&e))?;
    let secret = configs::client_secret(&state.db, &state.keyring, &config.id)
        .await
        .map_err(|e| server_error(&e))?
        .ok_or(ConnectFailure::ProviderDisabled)?;
    let mut grant = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", tx.redirect_uri.as_str()),
    ];
    if let Some(v) = &verifier {
        grant.push(("code_verifier", v.expose_secret()));
    }
    let tokens = oauth::token_request(
        &state.http,
        &profile,
        &ClientCredentials {
            client_id: &config.client_id,
            client_secret: &secret,
        },
        grant,
    )
    .await
    .map_err(|e: TokenError| {
        tracing::warn!(error = %e, "token exchange failed");
        ConnectFailure::TokenExchangeFailed
    })?;
    let account = match &profile.identity {
        Some(spec) => oauth::identify(&state.http, spec, &tokens.token_type, &tokens.access_token)
            .await
            .map_err(|e: IdentityError| {
                tracing::warn!(error = %e, "reading the account identity failed");
                ConnectFailure::IdentityFailed
            })?,
        None => crate::domain::grants::AccountIdentity::default(),
    };
    let granted = account.scopes.clone().or_else(|| tokens.scopes.clone());
    let expires_at = tokens.expires_in.map(|s| now_ms() + s * 1000).or_else(|| {
        // A token that must be refreshed but names no lifetime gets the
        // definition's fallback; a long-lived one none.
        (profile.tokens.lifecycle != crate::catalogue::TokenLifecycle::LongLived
            && tokens.refresh_token.is_some())
        .then(|| now_ms() + profile.tokens.fallback_lifetime_secs as i64 * 1000)
    });
    let (id, _) = save_authorized(
        &state.db,
        &state.keyring,
        &Authorized {
            app_id: &session.app_id,
            provider_config_id: &config.id,
            session_id: &session.id,
            end_user_id: &session.end_user_id,
            end_user_name: session.end_user_name.as_deref(),
            end_user_email: session.end_user_email.as_deref(),
            account: &account,
            tokens: &tokens,
            granted_scopes: granted.as_deref(),
            expires_at,
            reconnect_id: session.reconnect_id.as_deref(),
        },
    )
    .await
    .map_err(|e| server_error(&e))?;
    state.caches.connection_changed(&id);
    Ok(id)
}

fn server_error(error: &dyn std::fmt::Display) -> ConnectFailure {
    tracing::error!(%error, "connect callback failed");
    ConnectFailure::ServerError
}

/// This feature's form posts and other server routes (its pages are in the
/// Leptos router).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/connect/{token}", get(get_connect).post(post_connect))
        .route("/oauth/callback", get(callback))
}
