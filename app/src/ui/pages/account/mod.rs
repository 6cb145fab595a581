//! Accounts: sign up, sign in and sign out here; the one-time links (the
//! instance's setup link, invitations, password resets) in [`links`];
//! changing one's password in [`password`].

use crate::{
    domain::users::{SignupMode, PASSWORD_MAX, PASSWORD_MIN},
    ui::components::layout::PublicPage,
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError, TextField},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

mod invite;
mod links;
mod password;
mod sso;

pub use links::{Invitation, LinkPage, LinkStatus, Reset, Setup};
pub use password::{Account, AccountPage};

pub(crate) const PASSWORD_HINT: &str =
    "12 to 128 characters. A passphrase of a few words is easy to remember.";

/// Who may sign up on this instance, the same on server and client.
fn use_signup_mode() -> SignupMode {
    SharedValue::new(|| {
        #[cfg(feature = "ssr")]
        {
            use_context::<crate::web::state::AppState>()
                .map(|s| s.settings.signup)
                .unwrap_or_default()
        }
        #[cfg(not(feature = "ssr"))]
        {
            SignupMode::default()
        }
    })
    .into_inner()
}

#[component]
pub fn Login() -> impl IntoView {
    let feedback = use_feedback("login");
    let csrf = use_csrf_token();
    let mode = use_signup_mode();
    let query = use_query_map().read_untracked();
    let reset = query.get("reset").is_some();
    // where to go after signing in (an invitation's page), kept when the
    // form comes back with an error
    let next = feedback.value("next").or_else(|| query.get("next"));
    let sso = sso::use_sso();
    let password_login = sso.password_login;
    view! {
        <Title text="Sign in" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Sign in"</h1>
                {reset.then(|| view! {
                    <div class="alert alert-success" role="status">"Your password was changed. Sign in with the new one."</div>
                })}
                <FormError error=feedback.error("") />
                <sso::SsoButton view=sso next=next.clone().unwrap_or_default() />
                {password_login.then(|| view! {
                <form method="post" action="/login" class="form" data-testid="password-login">
                    <CsrfField token=csrf />
                    {next.map(|next| view! { <input type="hidden" name="next" value=next /> })}
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
                })}
                {password_login.then(|| view! {
                <p class="muted" data-testid="signup-mode">
                    {match mode {
                        SignupMode::Open => view! { "No account yet? " <a href="/signup">"Create one"</a> }.into_any(),
                        SignupMode::Invite => "New here? This instance is invitation-only: ask an administrator for an invitation link.".into_any(),
                        SignupMode::Closed => "Sign-up is closed on this instance: ask its operator for an account.".into_any(),
                    }}
                </p>
                <p class="muted small">"Forgot your password? Ask the operator for a reset link."</p>
                })}
            </section>
        </PublicPage>
    }
}

#[component]
pub fn Signup() -> impl IntoView {
    let feedback = use_feedback("signup");
    let csrf = use_csrf_token();
    let mode = use_signup_mode();
    let sso = sso::use_sso();
    view! {
        <Title text="Sign up" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Create an account"</h1>
                {match mode.refusal() {
                    _ if !sso.password_login => view! {
                        <p>"Accounts here sign in with single sign-on: your first sign-in creates yours, if your email domain is allowed or you were invited."</p>
                        <sso::SsoButton view=sso.clone() />
                    }.into_any(),
                    Some(why) => view! {
                        <p data-testid="signup-refused">{why}</p>
                        <p class="muted">"Already have an account? " <a href="/login">"Sign in"</a></p>
                    }.into_any(),
                    None => view! {
                        <FormError error=feedback.error("") />
                        <NewAccountForm action="/signup".to_string() csrf feedback=feedback.clone() email=None button="Create account" />
                        <p class="muted">"Already have an account? " <a href="/login">"Sign in"</a></p>
                    }.into_any(),
                }}
            </section>
        </PublicPage>
    }
}

/// Email and new password, posted to `action`. With `email`, the address
/// is fixed (an invitation's) and shown, not typed.
#[component]
pub(crate) fn NewAccountForm(
    action: String,
    csrf: String,
    feedback: crate::web::forms::FormFeedback,
    email: Option<String>,
    button: &'static str,
) -> impl IntoView {
    view! {
        <form method="post" action=action class="form">
            <CsrfField token=csrf />
            {match email {
                Some(email) => view! {
                    <p>"Email: " <strong data-testid="invited-email">{email}</strong></p>
                }.into_any(),
                None => view! {
                    <TextField
                        label="Email"
                        name="email"
                        kind="email"
                        autocomplete="email"
                        value=feedback.value("email")
                        error=feedback.error("email")
                        maxlength=254
                    />
                }.into_any(),
            }}
            <TextField
                label="Password"
                name="password"
                kind="password"
                autocomplete="new-password"
                error=feedback.error("password")
                hint=PASSWORD_HINT
                maxlength=PASSWORD_MAX
            />
            <button type="submit" class="btn btn-primary">{button}</button>
        </form>
    }
}

/// Minimum password length, re-exported for the form hint.
pub const MIN_PASSWORD: usize = PASSWORD_MIN;

/// The account pages, for the router.
#[component(transparent)]
pub fn AccountRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/login") view=Login />
        <Route path=path!("/signup") view=Signup />
        <Route path=path!("/setup/:token") view=Setup ssr=SsrMode::Async />
        <Route path=path!("/invite/:token") view=Invitation ssr=SsrMode::Async />
        <Route path=path!("/reset/:token") view=Reset ssr=SsrMode::Async />
        <Route path=path!("/account") view=Account ssr=SsrMode::Async />
    }
    .into_inner()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    //! POST handlers of sign-up, sign-in and sign-out, and what every
    //! account form shares: throttling, new credentials, starting a session.
    use crate::store::audit::{self as audit, Actor, Entry};
    use crate::{
        domain::users::{check_new_password, normalise_email},
        infra::password,
        store::accounts::{self as store, Joining},
        store::{sessions as session, throttle},
        web::client::ClientAddress,
        web::form_post::{rerender, see_other, server_error, Submission},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::State,
        http::{header, request::Parts, Request, StatusCode},
        response::Response,
    };
    use secrecy::SecretString;
    use throttle::{Admission, Limit};

    pub use super::links::ssr::link_page;

    /// Why a password form is refused where password sign-in is off.
    pub(super) const PASSWORD_LOGIN_OFF: &str =
        "Password sign-in is off on this instance: use the single sign-on button.";

    /// Signs `user_id` in: a fresh session id (never one the browser brought).
    /// Signs `user_id` in and sends them `to` a page of this site.
    pub(super) async fn start_session(
        state: &AppState,
        parts: &Parts,
        user_id: &str,
        to: &str,
    ) -> Response {
        let name = session::cookie_name(state.settings.secure_cookies);
        if let Some(old) = session::cookie_value(&parts.headers, name) {
            let _ = session::delete(&state.db, &old).await;
        }
        match session::create(&state.db, user_id).await {
            Ok(token) => {
                let mut response = see_other(to);
                response.headers_mut().append(
                    header::SET_COOKIE,
                    session::set_cookie(
                        name,
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

    /// Re-renders the form with one message for the whole form.
    pub(super) async fn refuse(
        state: &AppState,
        parts: Parts,
        mut feedback: FormFeedback,
        status: StatusCode,
        message: impl Into<String>,
    ) -> Response {
        feedback.add_error("", message);
        let mut response = rerender(state, parts, feedback).await;
        *response.status_mut() = status;
        response
    }

    /// [`refuse`] for a link that is spent, unknown or expired: 410 Gone.
    pub(super) async fn gone(
        state: &AppState,
        parts: Parts,
        feedback: FormFeedback,
        message: impl Into<String>,
    ) -> Response {
        refuse(state, parts, feedback, StatusCode::GONE, message).await
    }

    /// Counts an attempt to use a one-time link (setup, invitation, reset)
    /// from the request's address, before the link is checked.
    pub(super) async fn admit_link_use(
        state: &AppState,
        parts: &Parts,
        feedback: &FormFeedback,
    ) -> Result<throttle::Attempt, Response> {
        let client = ClientAddress::of(parts);
        let limits = [Limit::link_use_from(&client.bucket())];
        admit(
            state,
            parts,
            feedback,
            &limits,
            "attempts from your address",
        )
        .await
    }

    /// Counts an attempt against `limits` before anything is checked:
    /// `Err` is the answer when there were too many.
    pub(super) async fn admit(
        state: &AppState,
        parts: &Parts,
        feedback: &FormFeedback,
        limits: &[Limit],
        what: &str,
    ) -> Result<throttle::Attempt, Response> {
        match throttle::admit(&state.db, limits).await {
            Ok(Admission::Allowed(attempt)) => Ok(attempt),
            Ok(Admission::Blocked { minutes }) => Err(refuse(
                state,
                parts.clone(),
                feedback.clone(),
                StatusCode::TOO_MANY_REQUESTS,
                throttle::blocked_message(what, minutes),
            )
            .await),
            Err(e) => Err(server_error(e)),
        }
    }

    /// The email and password of a new-account form, checked; the feedback
    /// keeps the email and holds the messages.
    pub(super) fn new_credentials(
        form: &Submission,
        feedback: &mut FormFeedback,
        fixed_email: Option<&str>,
    ) -> Option<(String, String)> {
        let email_text = fixed_email.map_or_else(|| form.get("email"), str::to_string);
        feedback.keep("email", &email_text);
        let password_text = form.get("password");
        let email = normalise_email(&email_text)
            .map_err(|e| feedback.add_error("email", e))
            .ok();
        if let Err(e) = check_new_password(&password_text) {
            feedback.add_error("password", e);
        }
        email
            .filter(|_| !feedback.has_errors())
            .map(|e| (e, password_text))
    }

    /// The argon2id hash of a new password; the error is the answer.
    pub(super) async fn hash_new(password_text: String) -> Result<String, Response> {
        password::hash(SecretString::from(password_text))
            .await
            .map_err(server_error)
    }

    pub async fn post_signup(State(state): State<AppState>, request: Request<Body>) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let refusal = if state.settings.password_login {
            state.settings.signup.refusal()
        } else {
            Some(PASSWORD_LOGIN_OFF)
        };
        if let Some(why) = refusal {
            let mut feedback = FormFeedback::new("signup");
            feedback.keep("email", &form.get("email"));
            return refuse(&state, form.parts, feedback, StatusCode::FORBIDDEN, why).await;
        }
        let mut feedback = FormFeedback::new("signup");
        let Some((email, password_text)) = new_credentials(&form, &mut feedback, None) else {
            return rerender(&state, form.parts, feedback).await;
        };
        let client = ClientAddress::of(&form.parts);
        let limits = [Limit::sign_up_from(
            &client.bucket(),
            state.settings.signups_per_address,
        )];
        if let Err(r) = admit(
            &state,
            &form.parts,
            &feedback,
            &limits,
            "sign-ups from your address",
        )
        .await
        {
            return r;
        }
        let hash = match hash_new(password_text).await {
            Ok(h) => h,
            Err(r) => return r,
        };
        match store::create_account(&state.db, &email, &hash, Joining::SignUp).await {
            Ok(account) => {
                tracing::info!(user_id = %account.user_id, "account created");
                start_session(&state, &form.parts, &account.user_id, "/apps").await
            }
            Err(store::AccountError::EmailTaken) => {
                // The same words whether or not the address is taken, and
                // the same status: the form does not tell who has an account.
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "We could not create an account with these details. If you already have one, sign in.",
                )
                .await
            }
            Err(e) => server_error(e),
        }
    }

    /// Where a sign-in continues: a page of this site the sign-in page was
    /// sent from (an invitation), else the apps.
    pub(super) fn next_page(next: &str) -> String {
        let local = next.starts_with('/')
            && !next.starts_with("//")
            && !next.contains(['\\', '\r', '\n'])
            && next.len() <= 300;
        if local && next.starts_with("/invite/") {
            next.to_string()
        } else {
            "/apps".to_string()
        }
    }

    pub async fn post_login(State(state): State<AppState>, request: Request<Body>) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut feedback = FormFeedback::new("login");
        let email_text = form.get("email");
        feedback.keep("email", &email_text);
        feedback.keep("next", &next_page(&form.get("next")));
        if !state.settings.password_login {
            let status = StatusCode::FORBIDDEN;
            return refuse(&state, form.parts, feedback, status, PASSWORD_LOGIN_OFF).await;
        }
        let email = email_text.trim().to_lowercase();
        let client = ClientAddress::of(&form.parts);
        let address = client.to_string();
        // The attempt counts before the password is checked: parallel
        // guesses cannot all get past the limit.
        let limits = [
            Limit::account(&email),
            Limit::sign_in_from(&client.bucket()),
        ];
        let attempt = match admit(&state, &form.parts, &feedback, &limits, "failed sign-ins").await
        {
            Ok(a) => a,
            Err(r) => return r,
        };
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
                if let Err(e) = throttle::signed_in(&state.db, attempt, &email).await {
                    return server_error(e);
                }
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
                    Entry::new("user.signed_in")
                        .target("user", &user_id)
                        .from_address(&address),
                )
                .await
                {
                    return server_error(e);
                }
                start_session(&state, &form.parts, &user_id, &next_page(&form.get("next"))).await
            }
            _ => {
                tracing::info!("sign-in failed");
                if let Err(e) = audit::record_alone(
                    &state.db,
                    &Actor::anonymous(&email),
                    Entry::new("user.sign_in_failed").from_address(&address),
                )
                .await
                {
                    return server_error(e);
                }
                // One message for every cause: no hint whether the account exists.
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "The email or password is not correct, or the account is disabled.",
                )
                .await
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
            .merge(super::links::ssr::routes())
            .merge(super::sso::routes())
            .merge(super::password::ssr::routes())
    }
}
