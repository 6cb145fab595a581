//! Sign up, sign in and sign out.

use crate::{
    domain::users::{PASSWORD_MAX, PASSWORD_MIN},
    ui::components::layout::PublicPage,
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError, TextField},
};
use leptos::prelude::*;
use leptos_meta::Title;

#[component]
pub fn Login() -> impl IntoView {
    let feedback = use_feedback("login");
    let csrf = use_csrf_token();
    view! {
        <Title text="Sign in" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Sign in"</h1>
                <FormError error=feedback.error("") />
                <form method="post" action="/login" class="form">
                    <CsrfField token=csrf />
                    <TextField
                        label="Email"
                        name="email"
                        kind="email"
                        autocomplete="username"
                        value=feedback.value("email")
                        error=feedback.error("email")
                        maxlength=254
                    />
                    <TextField
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="current-password"
                        error=feedback.error("password")
                        maxlength=PASSWORD_MAX
                    />
                    <button type="submit" class="btn btn-primary">"Sign in"</button>
                </form>
                <p class="muted">"No account yet? " <a href="/signup">"Create one"</a></p>
            </section>
        </PublicPage>
    }
}

#[component]
pub fn Signup() -> impl IntoView {
    let feedback = use_feedback("signup");
    let csrf = use_csrf_token();
    view! {
        <Title text="Sign up" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Create an account"</h1>
                <p class="muted">"The first account on a new instance becomes its administrator."</p>
                <FormError error=feedback.error("") />
                <form method="post" action="/signup" class="form">
                    <CsrfField token=csrf />
                    <TextField
                        label="Email"
                        name="email"
                        kind="email"
                        autocomplete="email"
                        value=feedback.value("email")
                        error=feedback.error("email")
                        maxlength=254
                    />
                    <TextField
                        label="Password"
                        name="password"
                        kind="password"
                        autocomplete="new-password"
                        error=feedback.error("password")
                        hint="12 to 128 characters. A passphrase of a few words is easy to remember."
                        maxlength=PASSWORD_MAX
                    />
                    <button type="submit" class="btn btn-primary">"Create account"</button>
                </form>
                <p class="muted">"Already have an account? " <a href="/login">"Sign in"</a></p>
            </section>
        </PublicPage>
    }
}

/// Minimum password length, re-exported for the form hint.
pub const MIN_PASSWORD: usize = PASSWORD_MIN;

/// The sign-in and sign-up pages, for the router.
#[component(transparent)]
pub fn AccountRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path};
    view! {
        <Route path=path!("/login") view=Login />
        <Route path=path!("/signup") view=Signup />
    }
    .into_inner()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! POST handlers of the account forms.
    use crate::store::audit::{self as audit, Actor, Entry};

    use crate::{
        domain::users::{check_new_password, normalise_email},
        infra::password,
        store::{accounts as store, sessions as session, throttle},
        web::form_post::{rerender, see_other, server_error, Submission},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::{ConnectInfo, State},
        http::{header, Request, StatusCode},
        response::Response,
    };
    use secrecy::SecretString;
    use std::net::SocketAddr;

    /// Signs `user_id` in: a fresh session id (never one the browser brought).
    async fn start_session(state: &AppState, user_id: &str, old: Option<String>) -> Response {
        if let Some(old) = old {
            let _ = session::delete(&state.db, &old).await;
        }
        match session::create(&state.db, user_id).await {
            Ok(token) => {
                let mut response = see_other("/apps");
                response.headers_mut().append(
                    header::SET_COOKIE,
                    session::set_cookie(
                        session::cookie_name(state.settings.secure_cookies),
                        &token,
                        state.settings.secure_cookies,
                        session::ABSOLUTE_TIMEOUT_MS / 1000,
                    ),
                );
                response
            }
            Err(e) => server_error(e),
        }
    }

    pub async fn post_signup(State(state): State<AppState>, request: Request<Body>) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut feedback = FormFeedback::new("signup");
        let email_text = form.get("email");
        feedback.keep("email", &email_text);
        let password_text = form.get("password");
        let email = normalise_email(&email_text)
            .map_err(|e| feedback.add_error("email", e))
            .ok();
        if let Err(e) = check_new_password(&password_text) {
            feedback.add_error("password", e);
        }
        let Some(email) = email.filter(|_| !feedback.has_errors()) else {
            return rerender(&state, form.parts, feedback).await;
        };
        let hash = match password::hash(SecretString::from(password_text)).await {
            Ok(h) => h,
            Err(e) => return server_error(e),
        };
        match store::create_account(&state.db, &email, &hash, false).await {
            Ok(account) => {
                tracing::info!(user_id = %account.user_id, role = account.role.as_str(), "account created");
                let old = session::cookie_value(
                    &form.parts.headers,
                    session::cookie_name(state.settings.secure_cookies),
                );
                start_session(&state, &account.user_id, old).await
            }
            Err(store::AccountError::EmailTaken) => {
                feedback.add_error(
                    "email",
                    "An account with this email already exists. Sign in instead.",
                );
                rerender(&state, form.parts, feedback).await
            }
            Err(e) => server_error(e),
        }
    }

    pub async fn post_login(
        State(state): State<AppState>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        request: Request<Body>,
    ) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut feedback = FormFeedback::new("login");
        let email_text = form.get("email");
        feedback.keep("email", &email_text);
        let email = email_text.trim().to_lowercase();
        let address = peer.ip().to_string();
        match throttle::blocked_for(&state.db, &email, &address).await {
            Ok(Some(minutes)) => {
                feedback.add_error(
                    "",
                    format!(
                        "Too many failed sign-ins. Wait {minutes} minute{} and try again.",
                        if minutes == 1 { "" } else { "s" }
                    ),
                );
                let mut response = rerender(&state, form.parts, feedback).await;
                *response.status_mut() = StatusCode::TOO_MANY_REQUESTS;
                return response;
            }
            Ok(None) => {}
            Err(e) => return server_error(e),
        }
        let stored = match store::credentials(&state.db, &email).await {
            Ok(s) => s,
            Err(e) => return server_error(e),
        };
        let (user_id, hash, disabled) = match stored {
            Some(s) => (Some(s.user_id), Some(s.password_hash), s.disabled),
            None => (None, None, false),
        };
        let valid = password::verify(SecretString::from(form.get("password")), hash).await;
        match user_id {
            Some(user_id) if valid && !disabled => {
                let _ = throttle::clear_account(&state.db, &email).await;
                if let Err(e) = store::record_login(&state.db, &user_id).await {
                    return server_error(e);
                }
                tracing::info!(%user_id, "signed in");
                let actor = Actor {
                    kind: "developer",
                    id: Some(user_id.clone()),
                    label: Some(email.clone()),
                };
                if let Err(e) = audit::record_alone(
                    &state.db,
                    &actor,
                    Entry::new("user.signed_in").target("user", &user_id),
                )
                .await
                {
                    return server_error(e);
                }
                let old = session::cookie_value(
                    &form.parts.headers,
                    session::cookie_name(state.settings.secure_cookies),
                );
                start_session(&state, &user_id, old).await
            }
            _ => {
                if let Err(e) = throttle::record_failure(&state.db, &email, &address).await {
                    return server_error(e);
                }
                tracing::info!("sign-in failed");
                if let Err(e) = audit::record_alone(
                    &state.db,
                    &Actor::anonymous(&email),
                    Entry::new("user.sign_in_failed").detail(&address),
                )
                .await
                {
                    return server_error(e);
                }
                // One message for every cause: no hint whether the account exists.
                feedback.add_error(
                    "",
                    "The email or password is not correct, or the account is disabled.",
                );
                rerender(&state, form.parts, feedback).await
            }
        }
    }

    pub async fn post_logout(State(state): State<AppState>, request: Request<Body>) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let name = session::cookie_name(state.settings.secure_cookies);
        if let Some(token) = session::cookie_value(&form.parts.headers, name) {
            if let Ok(Some(user)) = session::lookup(&state.db, &token).await {
                if let Err(e) = audit::record_alone(
                    &state.db,
                    &Actor::user(&user),
                    Entry::new("user.signed_out").target("user", &user.id),
                )
                .await
                {
                    return server_error(e);
                }
            }
            if let Err(e) = session::delete(&state.db, &token).await {
                return server_error(e);
            }
        }
        let mut response = see_other("/");
        response.headers_mut().append(
            header::SET_COOKIE,
            session::clear_cookie(name, state.settings.secure_cookies),
        );
        response
    }

    /// This feature's form posts and other server routes (its pages are in the
    /// Leptos router).
    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::post;
        axum::Router::new()
            .route("/signup", post(post_signup))
            .route("/login", post(post_login))
            .route("/logout", post(post_logout))
    }
}
