use crate::domain::connect::*;
use crate::{
    domain::provider_configs::ConfigView,
    infra::crypto::Aad,
    infra::db::new_id,
    infra::tokens::{hash_token, random_token},
    services::connect::offered,
    services::oauth::{self, ProviderProfile},
    store::connect::{self as store, find_session, NewTransaction, SessionLookup},
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
use secrecy::ExposeSecret;

/// The cookie that binds authorization transaction `tx_id` to the browser
/// that started it: one per transaction (so parallel authorizations in one
/// browser each keep theirs), named after a short digest of the transaction
/// id.
pub fn browser_cookie_name(secure: bool, tx_id: &str) -> String {
    let short = &hash_token(tx_id)[..16];
    if secure {
        format!("__Secure-ov_oauth_{short}")
    } else {
        format!("ov_oauth_{short}")
    }
}

/// Where the binding cookie is sent: the callback only (`/oauth/callback`
/// and anything under it).
const BROWSER_COOKIE_PATH: &str = "/oauth/callback";

/// The binding cookie: `HttpOnly`, `SameSite=Lax` (the provider's redirect
/// is a top-level navigation), sent to the callback only, gone with the
/// transaction.
fn browser_cookie(
    name: &str,
    value: &str,
    secure: bool,
) -> Result<HeaderValue, axum::http::header::InvalidHeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={BROWSER_COOKIE_PATH}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        TRANSACTION_TTL_MS / 1000
    ))
}

// ---- pages -------------------------------------------------------------

mod params;
use params::{form_target, Typed};
mod callback;
mod popup;
use popup::{DisplayQuery, Outcome};

/// How a page of the flow is shown: a page of its own, a page in a popup
/// (which keeps its opener), or the popup's last page (which tells the
/// opener, with the vault's one script).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Shown {
    Page,
    Popup,
    PopupEnd,
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

fn html_page(
    status: StatusCode,
    title: &str,
    body: String,
    form_targets: &[String],
    shown: Shown,
) -> Response {
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
    let mut policy = page_csp(form_targets);
    if shown == Shown::PopupEnd {
        policy = popup::allow_script(policy);
    }
    if let Ok(v) = HeaderValue::from_str(&policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    if shown != Shown::Page {
        keep_opener(headers);
    }
    response
}

/// A popup's pages keep the opener (see [`popup`]).
fn keep_opener(headers: &mut HeaderMap) {
    headers.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("unsafe-none"),
    );
}

/// A popup's last page: what happened, told to the opener.
fn popup_end(
    (status, title, text, testid): (StatusCode, &str, &str, &str),
    outcome: Outcome<'_>,
    origins: &[String],
    return_to: Option<String>,
) -> Response {
    let (title_owned, text_owned) = (title.to_string(), text.to_string());
    let mut body = Owner::new().with(|| {
        view! {
            <h1 data-testid=testid.to_string()>{title_owned}</h1>
            <p>{text_owned}</p>
        }
        .to_html()
    });
    body.push_str(&popup::markup(&outcome, origins, return_to));
    html_page(status, title, body, &[], Shown::PopupEnd)
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
    html_page(status, title, body, &[], Shown::Page)
}

fn failure_status(failure: ConnectFailure) -> StatusCode {
    match failure {
        ConnectFailure::ServerError => StatusCode::INTERNAL_SERVER_ERROR,
        ConnectFailure::TokenExchangeFailed
        | ConnectFailure::IdentityFailed
        | ConnectFailure::ProviderError => StatusCode::BAD_GATEWAY,
        _ => StatusCode::BAD_REQUEST,
    }
}

fn failure_page(failure: ConnectFailure) -> Response {
    let (title, text) = failure.explain();
    let status = failure_status(failure);
    let body = Owner::new().with(|| {
        view! {
            <h1 data-testid="connect-failed">{title}</h1>
            <p>{text}</p>
            <p class="muted">"Error code: " <code>{failure.code()}</code></p>
            {crate::infra::request_id::current().map(|id| view! {
                <p class="muted small" data-testid="request-id">"Request id: " <code>{id}</code></p>
            })}
        }
        .to_html()
    });
    html_page(status, title, body, &[], Shown::Page)
}

/// Why a connect link cannot be used: the page's words and the stable code
/// a popup tells the opener.
fn session_problem(
    lookup: &SessionLookup,
) -> (
    StatusCode,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
) {
    match lookup {
        SessionLookup::Expired => (
            StatusCode::GONE,
            "This connect link has expired",
            "Connect links work for 30 minutes. Go back to the app and start again to get a new one.",
            "session-expired",
            "expired",
        ),
        SessionLookup::Used => (
            StatusCode::GONE,
            "This connect link was already used",
            "Each connect link works for one connection. Go back to the app to connect again.",
            "session-used",
            "used",
        ),
        SessionLookup::Withdrawn => (
            StatusCode::GONE,
            "This connection was disconnected",
            "The app disconnected this connection after the link was made, so the link no longer works. Go back to the app to connect again.",
            "session-withdrawn",
            "connection_revoked",
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "This connect link is not valid",
            "Check that you opened the whole link, or go back to the app and start again.",
            "session-unknown",
            "invalid_session",
        ),
    }
}

/// The page for a link that cannot be used; in a popup, the opener is told.
async fn session_problem_page(
    state: &AppState,
    token: &str,
    lookup: &SessionLookup,
    popup: bool,
) -> Response {
    let (status, title, text, testid, code) = session_problem(lookup);
    if !popup {
        return message_page(status, title, text, testid);
    }
    let origins = match store::popup_origins(&state.db, token).await {
        Ok(o) => o,
        Err(e) => return internal(e),
    };
    let outcome = Outcome::Failed { code };
    popup_end((status, title, text, testid), outcome, &origins, None)
}

fn internal(error: impl std::fmt::Display) -> Response {
    crate::infra::failure::report("a connect request", &error);
    failure_page(ConnectFailure::ServerError)
}

/// `GET /connect/{token}`: the hosted connect page.
pub async fn get_connect(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(display): Query<DisplayQuery>,
    request: Request<Body>,
) -> Response {
    let csrf = request
        .extensions()
        .get::<crate::web::csrf::CsrfToken>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    connect_page(&state, &token, &csrf, None, display.popup()).await
}

/// A provider the connect page offers: its configuration, name, logo and
/// the scopes it asks for, each with its description.
struct ProviderCard {
    config_id: String,
    /// What the end user types before going to the provider.
    parameters: Vec<crate::catalogue::ParameterSpec>,
    /// The catalogue id (or the custom provider's slug): its monogram colour.
    provider_id: String,
    name: String,
    logo: Option<String>,
    scopes: Vec<(String, String)>,
}

impl ProviderCard {
    fn of((config, profile): (ConfigView, ProviderProfile)) -> Self {
        let describe = |s: &String| {
            profile
                .definition
                .as_ref()
                .and_then(|d| d.scope(s))
                .map(|d| d.description.clone())
                .unwrap_or_default()
        };
        let scopes = config
            .scopes
            .iter()
            .map(|s| (s.clone(), describe(s)))
            .collect();
        Self {
            logo: profile.definition.as_ref().and_then(|d| d.logo.clone()),
            provider_id: config.provider.clone(),
            parameters: crate::services::values::parameters_of(
                profile.definition.as_deref(),
                crate::catalogue::SuppliedBy::EndUser,
            ),
            config_id: config.id,
            name: profile.name,
            scopes,
        }
    }
}

async fn connect_page(
    state: &AppState,
    token: &str,
    csrf: &str,
    notice: Option<&str>,
    popup: bool,
) -> Response {
    let typed = Typed::default();
    connect_page_typed(state, token, (csrf, popup), notice, typed, StatusCode::OK).await
}

async fn connect_page_typed(
    state: &AppState,
    token: &str,
    (csrf, popup): (&str, bool),
    notice: Option<&str>,
    typed: Typed,
    status: StatusCode,
) -> Response {
    let lookup = match find_session(&state.db, token).await {
        Ok(l) => l,
        Err(e) => return internal(e),
    };
    let SessionLookup::Open(session) = lookup else {
        return session_problem_page(state, token, &lookup, popup).await;
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
        .filter_map(|(c, p)| form_target(p, c))
        .collect();
    let action = format!("/connect/{token}");
    let app_name = session.app_name.clone();
    let who = session
        .end_user_email
        .clone()
        .or(session.end_user_name.clone());
    let notice = notice.map(str::to_string);
    let csrf = csrf.to_string();
    let cards: Vec<ProviderCard> = offered.into_iter().map(ProviderCard::of).collect();
    let title = format!("Connect to {app_name}");
    let body = Owner::new().with(move || {
        view! {
            <p class="muted connect-kicker">{app_name.clone()}</p>
            <h1>{format!("{app_name} wants to connect to your account")}</h1>
            {who.map(|w| view! { <p class="muted">"Connecting for " <strong>{w}</strong></p> })}
            {notice.map(|n| view! { <div class="alert alert-danger" role="alert">{n}</div> })}
            {cards.into_iter().map(|ProviderCard { config_id, parameters, provider_id, name, logo, scopes }| {
                let typed = typed.clone();
                let fields = parameters.into_iter().map(|p| {
                    let field = crate::services::values::field(&p.name);
                    let id = format!("{config_id}-{field}");
                    let error = typed.error(&config_id, &field);
                    let value = typed.value(&config_id, &field);
                    view! {
                        <div class="field">
                            <label for=id.clone()>{p.label.clone()}</label>
                            <input id=id name=field type="text" value=value required=p.required
                                placeholder=p.example.clone() autocomplete="off" spellcheck="false"
                                aria-invalid=error.is_some().then_some("true") />
                            {(!p.description.is_empty()).then(|| view! { <span class="hint">{p.description.clone()}</span> })}
                            {error.map(|e| view! { <span class="error" role="alert">{e}</span> })}
                        </div>
                    }
                }).collect_view();
                let button = format!("Connect {name}");
                let has_scopes = !scopes.is_empty();
                view! {
                    <section class="connect-provider">
                        <h2>
                            {match logo {
                                Some(l) => view! { <img src=l alt="" width="28" height="28" /> }.into_any(),
                                None => view! {
                                    <span class=format!("monogram monogram-28 monogram-{}", crate::util::monogram_colour(&provider_id)) aria-hidden="true">{crate::util::monogram(&name)}</span>
                                }.into_any(),
                            }}
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
                            <input type="hidden" name="provider_config" value=config_id.clone() />
                            {popup.then(|| view! { <input type="hidden" name="display" value=popup::POPUP /> })}
                            {fields}
                            <button type="submit" class="btn btn-primary btn-block">{button}</button>
                        </form>
                        <p class="muted small">{format!("You will sign in at {name} and choose what to allow. You can revoke access at any time.")}</p>
                    </section>
                }
            }).collect_view()}
        }
        .to_html()
    });
    let shown = if popup { Shown::Popup } else { Shown::Page };
    html_page(status, &title, body, &form_targets, shown)
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
    let popup = form.get("display") == popup::POPUP;
    let SessionLookup::Open(session) = lookup else {
        return session_problem_page(&state, &token, &lookup, popup).await;
    };
    let offered = match offered(&state, &session).await {
        Ok(o) => o,
        Err(e) => return internal(e),
    };
    let chosen = form.get("provider_config");
    let csrf = form.get("csrf");
    let Some((config, profile)) = offered.into_iter().find(|(c, _)| c.id == chosen) else {
        let notice = Some("Choose one of the providers below.");
        return connect_page(&state, &token, &csrf, notice, popup).await;
    };
    // the end user's parameters, checked by their patterns before they go
    // into a URL
    let asked = crate::services::values::parameters_of(
        profile.definition.as_deref(),
        crate::catalogue::SuppliedBy::EndUser,
    );
    let typed = match crate::services::values::collect(&asked, |f| form.get(f)) {
        Ok(values) => values,
        Err(errors) => {
            let typed = Typed {
                config_id: config.id.clone(),
                values: asked
                    .iter()
                    .map(|p| {
                        let f = crate::services::values::field(&p.name);
                        let v = form.get(&f);
                        (f, v.chars().take(200).collect())
                    })
                    .collect(),
                errors,
            };
            let status = StatusCode::UNPROCESSABLE_ENTITY;
            return connect_page_typed(&state, &token, (&csrf, popup), None, typed, status).await;
        }
    };
    let mut values = config.parameters.clone();
    values.extend(typed.clone());
    let profile = profile.resolved(&values);
    if let Some(missing) = ProviderProfile::unfilled(&profile.oauth.authorization_url) {
        let message = format!("This provider is not fully set up by the app: it has no {missing}. Contact the app's support.");
        return connect_page(&state, &token, &csrf, Some(&message), popup).await;
    }
    let redirect_uri = config.redirect_uri(&state.settings.public_url);
    let authorization =
        match oauth::authorization(&profile, &config.client_id, &redirect_uri, &config.scopes) {
            Ok(a) => a,
            Err(e) => return internal(e),
        };
    // A fresh binding value for every authorization, in a cookie of its
    // own: never a value the browser brought along (it may have been
    // planted), and parallel authorizations do not share one.
    let secure = state.settings.secure_cookies;
    let browser = random_token();
    let id = new_id("tx");
    let cookie = match browser_cookie(&browser_cookie_name(secure, &id), &browser, secure) {
        Ok(c) => c,
        Err(e) => return internal(e),
    };
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
    let inserted = store::insert_transaction(
        &state.db,
        &NewTransaction {
            id: &id,
            state_hash: &hash_token(authorization.state.expose_secret()),
            browser_hash: &hash_token(&browser),
            session_id: &session.id,
            provider_config_id: &config.id,
            code_verifier: verifier.as_deref(),
            issuer: profile.oauth.issuer.as_deref(),
            redirect_uri: &redirect_uri,
            parameters: crate::services::values::to_json(&typed).as_deref(),
            popup,
        },
    )
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
    headers.append(header::SET_COOKIE, cookie);
    if popup {
        keep_opener(headers);
    }
    response
}

/// This feature's form posts and other server routes (its pages are in the
/// Leptos router).
pub fn routes() -> axum::Router<AppState> {
    use axum::routing::get;
    axum::Router::new()
        .route("/connect/{token}", get(get_connect).post(post_connect))
        .route("/oauth/callback", get(callback::callback))
        .route("/oauth/callback/{config_id}", get(callback::callback))
}
