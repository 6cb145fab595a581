//! Signing in with the company's OpenID Connect provider: the button, and
//! the two legs of the flow (`/auth/sso/start`, `/auth/sso/callback`).

use leptos::prelude::*;
use serde::{Deserialize, Serialize};

/// What the sign-in pages show of single sign-on.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoView {
    /// Configured: the button's label.
    pub name: Option<String>,
    /// Why it cannot be used right now.
    pub problem: Option<String>,
    /// Password sign-in is on.
    pub password_login: bool,
}

/// The instance's single sign-on, as the page sees it.
pub fn use_sso() -> SsoView {
    SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            use_context::<crate::web::state::AppState>()
                .map(|s| SsoView {
                    name: s.sso.as_ref().map(|sso| sso.config.name.clone()),
                    problem: s.sso.as_ref().and_then(|sso| sso.problem()),
                    password_login: s.settings.password_login,
                })
                .unwrap_or_default()
        }
        #[cfg(not(feature = "ssr"))]
        {
            SsoView::default()
        }
    })
    .into_inner()
}

/// "Sign in with …", going on to `next` (an invitation) afterwards.
#[component]
pub fn SsoButton(view: SsoView, #[prop(optional, into)] next: String) -> impl IntoView {
    let Some(name) = view.name else {
        return ().into_any();
    };
    let href = if next.starts_with("/invite/") {
        format!("/auth/sso/start?next={next}")
    } else {
        "/auth/sso/start".to_string()
    };
    view! {
        <div class="sso" data-testid="sso">
            <a class="btn btn-primary" href=href data-testid="sso-button">{format!("Sign in with {name}")}</a>
            {view.problem.map(|problem| view! {
                <p class="muted small" role="status" data-testid="sso-problem">
                    {format!("Single sign-on could not reach the identity provider when this server started ({problem}); it tries again when you click.")}
                </p>
            })}
            {view.password_login.then(|| view! { <p class="muted small">"or with your password:"</p> })}
        </div>
    }
    .into_any()
}

#[cfg(feature = "ssr")]
pub use ssr::routes;

#[cfg(feature = "ssr")]
mod ssr {
    use super::super::ssr::{next_page, start_session};
    use crate::{
        services::sso::{SsoError, COOKIE},
        store::accounts::{self as store, Joining},
        store::audit::{self as audit, Actor, Entry},
        store::sessions::{cookie_value, set_cookie},
        web::client::ClientAddress,
        web::form_post::{render_page, see_other, server_error},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        extract::{Query, State},
        http::{header, request::Parts, StatusCode, Uri},
        response::Response,
    };
    use std::collections::HashMap;

    /// The sign-in page again, with `message` for the whole form.
    async fn login_with(
        state: &AppState,
        mut parts: Parts,
        status: StatusCode,
        message: &str,
    ) -> Response {
        parts.uri = Uri::from_static("/login");
        let mut feedback = FormFeedback::new("login");
        feedback.add_error("", message);
        let mut response = render_page(state, parts, feedback, (), status).await;
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(COOKIE, "", state.settings.secure_cookies, 0),
        );
        response
    }

    /// `GET /auth/sso/start`: to the identity provider.
    pub async fn start(
        State(state): State<AppState>,
        Query(query): Query<HashMap<String, String>>,
        parts: Parts,
    ) -> Response {
        let Some(sso) = state.sso.clone() else {
            return crate::web::form_post::not_found();
        };
        let next = next_page(query.get("next").map(String::as_str).unwrap_or(""));
        match sso.start(&state.http, &state.keyring, &next).await {
            Ok((url, cookie)) => {
                let mut response = see_other(&url);
                let max_age = crate::services::sso::LOGIN_TTL_SECS;
                response.headers_mut().append(
                    header::SET_COOKIE,
                    set_cookie(COOKIE, &cookie, state.settings.secure_cookies, max_age),
                );
                response
            }
            Err(e) => {
                login_with(
                    &state,
                    parts,
                    StatusCode::SERVICE_UNAVAILABLE,
                    &e.to_string(),
                )
                .await
            }
        }
    }

    /// `GET /auth/sso/callback`: checks the answer, then signs in the
    /// account of the verified email (creating it where allowed).
    pub async fn callback(
        State(state): State<AppState>,
        Query(query): Query<HashMap<String, String>>,
        parts: Parts,
    ) -> Response {
        let Some(sso) = state.sso.clone() else {
            return crate::web::form_post::not_found();
        };
        let address = ClientAddress::of(&parts).to_string();
        let refused = |reason: String| {
            let entry_reason = reason.clone();
            let state = state.clone();
            let address = address.clone();
            async move {
                let actor = Actor::anonymous("single sign-on");
                let entry = Entry::new("user.sign_in_failed")
                    .detail(&entry_reason)
                    .from_address(&address);
                if let Err(e) = audit::record_alone(&state.db, &actor, entry).await {
                    tracing::warn!(error = %e, "the audit entry of a refused sign-in was not written");
                }
            }
        };
        if let Some(error) = query.get("error") {
            let error: String = error.chars().take(60).collect();
            refused(format!("single sign-on: the provider answered {error}")).await;
            let message = SsoError::Refused(error).to_string();
            return login_with(&state, parts, StatusCode::UNAUTHORIZED, &message).await;
        }
        let cookie = cookie_value(&parts.headers, COOKIE);
        let (code, st) = (query.get("code"), query.get("state"));
        let finished = match (code, st) {
            (Some(code), Some(st)) => {
                sso.finish(&state.http, &state.keyring, cookie.as_deref(), st, code)
                    .await
            }
            _ => Err(SsoError::BadState),
        };
        let (email, next) = match finished {
            Ok(x) => x,
            Err(e) => {
                tracing::info!(problem = %e, "single sign-on refused");
                refused(format!("single sign-on: {e}")).await;
                return login_with(&state, parts, StatusCode::UNAUTHORIZED, &e.to_string()).await;
            }
        };
        let user_id = match account_for(&state, &email, &address).await {
            Ok(Ok(id)) => id,
            Ok(Err(message)) => {
                refused(format!("single sign-on as {email}: {message}")).await;
                return login_with(&state, parts, StatusCode::FORBIDDEN, &message).await;
            }
            Err(e) => return server_error(e),
        };
        if let Err(e) = store::record_login(&state.db, &user_id).await {
            return server_error(e);
        }
        let actor = Actor {
            kind: "developer",
            id: Some(user_id.clone()),
            label: Some(email.clone()),
        };
        let entry = Entry::new("user.signed_in")
            .target("user", &user_id)
            .detail("single sign-on")
            .from_address(&address);
        if let Err(e) = audit::record_alone(&state.db, &actor, entry).await {
            return server_error(e);
        }
        tracing::info!(%user_id, "signed in with single sign-on");
        let mut response = start_session(&state, &parts, &user_id, &next).await;
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(COOKIE, "", state.settings.secure_cookies, 0),
        );
        response
    }

    /// The account of a verified `email`: the existing one, or a new one
    /// when its domain is allowed or an invitation waits for it. `Ok(Err)`
    /// says why not.
    async fn account_for(
        state: &AppState,
        email: &str,
        address: &str,
    ) -> Result<Result<String, String>, store::AccountError> {
        if let Some(existing) = store::credentials(&state.db, email).await? {
            return Ok(if existing.disabled {
                Err("This account is disabled. Ask an administrator.".into())
            } else {
                Ok(existing.user_id)
            });
        }
        let domain = email.rsplit('@').next().unwrap_or_default();
        let allowed = state
            .sso
            .as_ref()
            .is_some_and(|s| s.config.allowed_domains.iter().any(|d| d == domain));
        let invited = crate::store::account_links::has_live_invitation(&state.db, email).await?;
        if !allowed && !invited {
            return Ok(Err(format!(
                "There is no account for {email} here, and people of {domain} cannot create one by signing in. Ask an administrator for an invitation."
            )));
        }
        let account =
            store::create_account_from(&state.db, email, Joining::SingleSignOn, address).await?;
        Ok(Ok(account.user_id))
    }

    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::get;
        axum::Router::new()
            .route("/auth/sso/start", get(start))
            .route("/auth/sso/callback", get(callback))
    }
}
