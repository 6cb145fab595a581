//! Accounts: sign up, sign in, sign out, the instance's setup link,
//! invitations, password resets and changing one's password.

use crate::{
    domain::users::{SignupMode, PASSWORD_MAX, PASSWORD_MIN},
    ui::components::layout::{PortalPage, PublicPage},
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError, TextField},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

const PASSWORD_HINT: &str =
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
    let reset = use_query_map().read_untracked().get("reset").is_some();
    view! {
        <Title text="Sign in" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Sign in"</h1>
                {reset.then(|| view! {
                    <div class="alert alert-success" role="status">"Your password was changed. Sign in with the new one."</div>
                })}
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
                <p class="muted" data-testid="signup-mode">
                    {match mode {
                        SignupMode::Open => view! { "No account yet? " <a href="/signup">"Create one"</a> }.into_any(),
                        SignupMode::Invite => "New here? This instance is invitation-only: ask an administrator for an invitation link.".into_any(),
                        SignupMode::Closed => "Sign-up is closed on this instance: ask its operator for an account.".into_any(),
                    }}
                </p>
                <p class="muted small">"Forgot your password? Ask the operator for a reset link."</p>
            </section>
        </PublicPage>
    }
}

#[component]
pub fn Signup() -> impl IntoView {
    let feedback = use_feedback("signup");
    let csrf = use_csrf_token();
    let mode = use_signup_mode();
    view! {
        <Title text="Sign up" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Create an account"</h1>
                {match mode.refusal() {
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
fn NewAccountForm(
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

/// What a one-time link (setup, invitation, reset) is now.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkStatus {
    Open,
    /// The instance has its administrator (setup links).
    Done,
    Used,
    Revoked,
    Expired,
    Unknown,
}

impl LinkStatus {
    fn message(self, what: &str) -> String {
        match self {
            Self::Open => String::new(),
            Self::Done => "This instance already has an administrator, so its setup links no longer work. Sign in instead.".into(),
            Self::Used => format!("This {what} link was already used. Each link works once."),
            Self::Revoked => format!("This {what} link was revoked. Ask for a new one."),
            Self::Expired => format!("This {what} link has expired. Ask for a new one."),
            Self::Unknown => format!("This {what} link is not valid. Check that it was copied whole, or ask for a new one."),
        }
    }
}

/// A one-time link's page data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPage {
    pub status: LinkStatus,
    /// The invited address, or the account whose password is reset.
    pub email: Option<String>,
    /// An invitation for an address that already has an account.
    pub has_account: bool,
}

#[server(endpoint = "account/link")]
pub async fn link_data(kind: String, token: String) -> Result<LinkPage, ServerFnError> {
    let state = expect_context::<crate::web::state::AppState>();
    ssr::link_page(&state, &kind, &token)
        .await
        .map_err(crate::web::session::internal)
}

/// The page of a one-time link: `kind` is `setup`, `invite` or `reset`.
#[component]
fn LinkPageView(kind: &'static str) -> impl IntoView {
    let params = use_params_map();
    let token = move || params.read().get("token").unwrap_or_default();
    let data = Resource::new(token, move |token| link_data(kind.to_string(), token));
    let feedback = use_feedback(kind);
    let csrf = use_csrf_token();
    let (title, what, button) = match kind {
        "setup" => ("Set up OAuth Vault", "setup", "Create administrator"),
        "invite" => ("Accept your invitation", "invitation", "Create account"),
        _ => (
            "Choose a new password",
            "password reset",
            "Set new password",
        ),
    };
    view! {
        <Title text=title />
        <PublicPage>
            <section class="panel narrow" data-testid=format!("{kind}-page")>
                <h1>{title}</h1>
                <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
                    {move || {
                        let (csrf, feedback) = (csrf.clone(), feedback.clone());
                        let action = format!("/{kind}/{}", token());
                        data.get().map(move |result| match result {
                            Err(_) => view! { <p role="alert">"Something went wrong on our side. Try again shortly."</p> }.into_any(),
                            Ok(page) if page.status != LinkStatus::Open => view! {
                                <p role="alert" data-testid="link-problem">{page.status.message(what)}</p>
                                <p><a href="/login">"Go to sign in"</a></p>
                            }.into_any(),
                            Ok(page) if kind == "invite" && page.has_account => view! {
                                <p data-testid="link-problem">"There is already an account with this email address. Sign in to it instead."</p>
                                <p><a href="/login">"Go to sign in"</a></p>
                            }.into_any(),
                            Ok(page) => {
                                let intro = match kind {
                                    "setup" => "This one-time link creates the first administrator of this instance. Administrators see every organisation, invite people and review the audit log.".to_string(),
                                    "invite" => "You were invited to OAuth Vault. Choose a password to create your account.".to_string(),
                                    _ => format!("Choose a new password for {}. Every session of the account ends.", page.email.clone().unwrap_or_default()),
                                };
                                view! {
                                    <p>{intro}</p>
                                    <FormError error=feedback.error("") />
                                    {if kind == "reset" {
                                        view! {
                                            <form method="post" action=action class="form">
                                                <CsrfField token=csrf />
                                                <TextField
                                                    label="New password"
                                                    name="password"
                                                    kind="password"
                                                    autocomplete="new-password"
                                                    error=feedback.error("password")
                                                    hint=PASSWORD_HINT
                                                    maxlength=PASSWORD_MAX
                                                />
                                                <button type="submit" class="btn btn-primary">{button}</button>
                                            </form>
                                        }.into_any()
                                    } else {
                                        let email = (kind == "invite").then(|| page.email.clone().unwrap_or_default());
                                        view! { <NewAccountForm action csrf feedback email button /> }.into_any()
                                    }}
                                }.into_any()
                            }
                        })
                    }}
                </Suspense>
            </section>
        </PublicPage>
    }
}

#[component]
pub fn Setup() -> impl IntoView {
    view! { <LinkPageView kind="setup" /> }
}

#[component]
pub fn Invitation() -> impl IntoView {
    view! { <LinkPageView kind="invite" /> }
}

#[component]
pub fn Reset() -> impl IntoView {
    view! { <LinkPageView kind="reset" /> }
}

/// The signed-in developer's own account.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountPage {
    pub email: String,
    pub role: String,
}

#[server(endpoint = "account/me")]
pub async fn account_data() -> Result<AccountPage, ServerFnError> {
    let (_, user) = crate::web::session::require_user().await?;
    Ok(AccountPage {
        email: user.email,
        role: user.role.as_str().to_string(),
    })
}

#[component]
pub fn Account() -> impl IntoView {
    let data = Resource::new(|| (), |_| account_data());
    let feedback = use_feedback("password");
    let csrf = use_csrf_token();
    let changed = use_query_map().read_untracked().get("changed").is_some();
    crate::ui::components::portal::portal_page(data, csrf.clone(), move |page| {
        let (csrf, feedback) = (csrf.clone(), feedback.clone());
        view! {
            <Title text="Your account" />
            <PortalPage email=page.email.clone() csrf=csrf.clone()>
                <h1>"Your account"</h1>
                <section class="panel narrow">
                    <p>"Signed in as " <strong>{page.email.clone()}</strong> " (" {page.role.clone()} ")."</p>
                    <h2>"Change password"</h2>
                    {changed.then(|| view! {
                        <div class="alert alert-success" role="status" data-testid="password-changed">"Password changed. Every other session of your account has ended."</div>
                    })}
                    <FormError error=feedback.error("") />
                    <form method="post" action="/account/password" class="form">
                        <CsrfField token=csrf.clone() />
                        <TextField
                            label="Current password"
                            name="current_password"
                            kind="password"
                            autocomplete="current-password"
                            error=feedback.error("current_password")
                            maxlength=PASSWORD_MAX
                        />
                        <TextField
                            label="New password"
                            name="password"
                            kind="password"
                            autocomplete="new-password"
                            error=feedback.error("password")
                            hint=PASSWORD_HINT
                            maxlength=PASSWORD_MAX
                        />
                        <button type="submit" class="btn btn-primary">"Change password"</button>
                    </form>
                </section>
            </PortalPage>
        }
        .into_any()
    })
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
    //! POST handlers of the account forms, and what the link pages show.
    use super::{LinkPage, LinkStatus};
    use crate::store::audit::{self as audit, Actor, Entry};
    use crate::{
        domain::users::{check_new_password, normalise_email},
        infra::password,
        infra::tokens::hash_token,
        store::account_links::{self as links, LinkState, Purpose},
        store::accounts::{self as store, Joining, LinkError, SetupError, SetupLink},
        store::{sessions as session, throttle},
        web::client::ClientAddress,
        web::form_post::{rerender, see_other, server_error, Submission},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::{Path, State},
        http::{header, request::Parts, Request, StatusCode},
        response::Response,
    };
    use secrecy::SecretString;
    use throttle::{Admission, Limit};

    /// What the page of a one-time link shows.
    pub async fn link_page(
        state: &AppState,
        kind: &str,
        token: &str,
    ) -> Result<LinkPage, crate::infra::db::DbError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 100 {
            return Ok(LinkPage {
                status: LinkStatus::Unknown,
                email: None,
                has_account: false,
            });
        }
        if kind == "setup" {
            let status = match store::setup_link(&state.db, &hash_token(token)).await? {
                SetupLink::Open => LinkStatus::Open,
                SetupLink::Done => LinkStatus::Done,
                SetupLink::Unknown => LinkStatus::Unknown,
            };
            return Ok(LinkPage {
                status,
                email: None,
                has_account: false,
            });
        }
        let purpose = if kind == "invite" {
            Purpose::Invitation
        } else {
            Purpose::PasswordReset
        };
        let (status, email) = match links::find(&state.db, purpose, token).await? {
            LinkState::Live { email, .. } => (LinkStatus::Open, Some(email)),
            LinkState::Used => (LinkStatus::Used, None),
            LinkState::Revoked => (LinkStatus::Revoked, None),
            LinkState::Expired => (LinkStatus::Expired, None),
            LinkState::Unknown => (LinkStatus::Unknown, None),
        };
        let has_account = match (&email, purpose) {
            (Some(e), Purpose::Invitation) => store::credentials(&state.db, e).await?.is_some(),
            _ => false,
        };
        Ok(LinkPage {
            status,
            email,
            has_account,
        })
    }

    /// Signs `user_id` in: a fresh session id (never one the browser brought).
    async fn start_session(state: &AppState, parts: &Parts, user_id: &str) -> Response {
        let name = session::cookie_name(state.settings.secure_cookies);
        if let Some(old) = session::cookie_value(&parts.headers, name) {
            let _ = session::delete(&state.db, &old).await;
        }
        match session::create(&state.db, user_id).await {
            Ok(token) => {
                let mut response = see_other("/apps");
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
    async fn refuse(
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

    /// Counts an attempt against `limits` before anything is checked:
    /// `Err` is the answer when there were too many.
    async fn admit(
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
    fn new_credentials(
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

    pub async fn post_signup(State(state): State<AppState>, request: Request<Body>) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        if let Some(why) = state.settings.signup.refusal() {
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
        let hash = match password::hash(SecretString::from(password_text)).await {
            Ok(h) => h,
            Err(e) => return server_error(e),
        };
        match store::create_account(&state.db, &email, &hash, Joining::SignUp).await {
            Ok(account) => {
                tracing::info!(user_id = %account.user_id, "account created");
                start_session(&state, &form.parts, &account.user_id).await
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

    pub async fn post_login(State(state): State<AppState>, request: Request<Body>) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut feedback = FormFeedback::new("login");
        let email_text = form.get("email");
        feedback.keep("email", &email_text);
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
                start_session(&state, &form.parts, &user_id).await
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

    /// `POST /setup/{token}`: creates the first administrator.
    pub async fn post_setup(
        State(state): State<AppState>,
        Path(token): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut feedback = FormFeedback::new("setup");
        let Some((email, password_text)) = new_credentials(&form, &mut feedback, None) else {
            return rerender(&state, form.parts, feedback).await;
        };
        let client = ClientAddress::of(&form.parts);
        let limits = [Limit::link_use_from(&client.bucket())];
        let attempt = match admit(
            &state,
            &form.parts,
            &feedback,
            &limits,
            "attempts from your address",
        )
        .await
        {
            Ok(a) => a,
            Err(r) => return r,
        };
        let token_hash = hash_token(token.trim());
        match store::setup_link(&state.db, &token_hash).await {
            Ok(SetupLink::Open) => {}
            Ok(other) => {
                let status = if other == SetupLink::Done {
                    LinkStatus::Done
                } else {
                    LinkStatus::Unknown
                };
                return refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::GONE,
                    status.message("setup"),
                )
                .await;
            }
            Err(e) => return server_error(e),
        }
        let hash = match password::hash(SecretString::from(password_text)).await {
            Ok(h) => h,
            Err(e) => return server_error(e),
        };
        let created =
            store::complete_setup(&state.db, &token_hash, &email, &hash, &client.to_string()).await;
        match created {
            Ok(account) => {
                let _ = throttle::withdraw(&state.db, attempt).await;
                tracing::info!(user_id = %account.user_id, "the first administrator was created with the setup link");
                start_session(&state, &form.parts, &account.user_id).await
            }
            Err(SetupError::Done) => {
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::GONE,
                    LinkStatus::Done.message("setup"),
                )
                .await
            }
            Err(SetupError::Unknown) => {
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::GONE,
                    LinkStatus::Unknown.message("setup"),
                )
                .await
            }
            Err(SetupError::Account(store::AccountError::EmailTaken)) => {
                feedback.add_error(
                    "email",
                    "An account with this email already exists. Use another address.",
                );
                rerender(&state, form.parts, feedback).await
            }
            Err(SetupError::Account(e)) => server_error(e),
        }
    }

    /// The message for a link that is not live.
    fn spent_message(state: LinkState, what: &str) -> String {
        match state {
            LinkState::Used => LinkStatus::Used,
            LinkState::Revoked => LinkStatus::Revoked,
            LinkState::Expired => LinkStatus::Expired,
            LinkState::Unknown | LinkState::Live { .. } => LinkStatus::Unknown,
        }
        .message(what)
    }

    /// `POST /invite/{token}`: creates an account with an invitation (also
    /// where sign-up is by invitation or closed).
    pub async fn post_invitation(
        State(state): State<AppState>,
        Path(token): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let feedback = FormFeedback::new("invite");
        let client = ClientAddress::of(&form.parts);
        let limits = [Limit::link_use_from(&client.bucket())];
        let attempt = match admit(
            &state,
            &form.parts,
            &feedback,
            &limits,
            "attempts from your address",
        )
        .await
        {
            Ok(a) => a,
            Err(r) => return r,
        };
        let (link_id, email) = match links::find(&state.db, Purpose::Invitation, token.trim()).await
        {
            Ok(LinkState::Live { id, email, .. }) => (id, email),
            Ok(other) => {
                let message = spent_message(other, "invitation");
                return refuse(&state, form.parts, feedback, StatusCode::GONE, message).await;
            }
            Err(e) => return server_error(e),
        };
        let mut feedback = feedback;
        let Some((email, password_text)) = new_credentials(&form, &mut feedback, Some(&email))
        else {
            return rerender(&state, form.parts, feedback).await;
        };
        let hash = match password::hash(SecretString::from(password_text)).await {
            Ok(h) => h,
            Err(e) => return server_error(e),
        };
        match store::join_by_invitation(&state.db, &link_id, &email, &hash, &client.to_string())
            .await
        {
            Ok(account) => {
                let _ = throttle::withdraw(&state.db, attempt).await;
                tracing::info!(user_id = %account.user_id, "account created with an invitation");
                start_session(&state, &form.parts, &account.user_id).await
            }
            Err(LinkError::Spent) => {
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::GONE,
                    LinkStatus::Used.message("invitation"),
                )
                .await
            }
            Err(LinkError::Account(store::AccountError::EmailTaken)) => {
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::CONFLICT,
                    "There is already an account with this email address. Sign in to it instead.",
                )
                .await
            }
            Err(LinkError::Account(e)) => server_error(e),
        }
    }

    /// `POST /reset/{token}`: sets a new password with the operator's link.
    pub async fn post_reset(
        State(state): State<AppState>,
        Path(token): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let form = match Submission::read(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        let mut feedback = FormFeedback::new("reset");
        let client = ClientAddress::of(&form.parts);
        let limits = [Limit::link_use_from(&client.bucket())];
        let attempt = match admit(
            &state,
            &form.parts,
            &feedback,
            &limits,
            "attempts from your address",
        )
        .await
        {
            Ok(a) => a,
            Err(r) => return r,
        };
        let (link_id, user_id) =
            match links::find(&state.db, Purpose::PasswordReset, token.trim()).await {
                Ok(LinkState::Live {
                    id,
                    user_id: Some(user),
                    ..
                }) => (id, user),
                Ok(other) => {
                    let message = spent_message(other, "password reset");
                    return refuse(&state, form.parts, feedback, StatusCode::GONE, message).await;
                }
                Err(e) => return server_error(e),
            };
        let password_text = form.get("password");
        if let Err(e) = check_new_password(&password_text) {
            feedback.add_error("password", e);
            return rerender(&state, form.parts, feedback).await;
        }
        let hash = match password::hash(SecretString::from(password_text)).await {
            Ok(h) => h,
            Err(e) => return server_error(e),
        };
        match links::complete_reset(&state.db, &link_id, &user_id, &hash, &client.to_string()).await
        {
            Ok(()) => {
                let _ = throttle::withdraw(&state.db, attempt).await;
                tracing::info!(%user_id, "password reset with the operator's link");
                see_other("/login?reset=1")
            }
            Err(LinkError::Spent) => {
                refuse(
                    &state,
                    form.parts,
                    feedback,
                    StatusCode::GONE,
                    LinkStatus::Used.message("password reset"),
                )
                .await
            }
            Err(LinkError::Account(e)) => server_error(e),
        }
    }

    /// `POST /account/password`: changes the signed-in user's password; the
    /// current one is required, and every other session ends.
    pub async fn post_password(State(state): State<AppState>, request: Request<Body>) -> Response {
        let (mut form, user) = match Submission::read_signed_in(&state, request).await {
            Ok(f) => f,
            Err(r) => return r,
        };
        // the form posts to its own address; the page it answers with is the account's
        form.parts.uri = axum::http::Uri::from_static("/account");
        let mut feedback = FormFeedback::new("password");
        let client = ClientAddress::of(&form.parts);
        let limits = [
            Limit::account(&user.email),
            Limit::sign_in_from(&client.bucket()),
        ];
        let attempt = match admit(&state, &form.parts, &feedback, &limits, "failed attempts").await
        {
            Ok(a) => a,
            Err(r) => return r,
        };
        let stored = match store::credentials(&state.db, &user.email).await {
            Ok(s) => s.map(|s| s.password_hash),
            Err(e) => return server_error(e),
        };
        let current_ok =
            password::verify(SecretString::from(form.get("current_password")), stored).await;
        if !current_ok {
            feedback.add_error("current_password", "This is not your current password.");
            return rerender(&state, form.parts, feedback).await;
        }
        let _ = throttle::withdraw(&state.db, attempt).await;
        let new_password = form.get("password");
        if let Err(e) = check_new_password(&new_password) {
            feedback.add_error("password", e);
            return rerender(&state, form.parts, feedback).await;
        }
        let hash = match password::hash(SecretString::from(new_password)).await {
            Ok(h) => h,
            Err(e) => return server_error(e),
        };
        let name = session::cookie_name(state.settings.secure_cookies);
        let current = session::cookie_value(&form.parts.headers, name).unwrap_or_default();
        match links::change_password(
            &state.db,
            &user,
            &hash,
            &hash_token(&current),
            &client.to_string(),
        )
        .await
        {
            Ok(()) => see_other("/account?changed=password"),
            Err(e) => server_error(e),
        }
    }

    /// This feature's form posts and other server routes (its pages are in the
    /// Leptos router).
    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::post;
        axum::Router::new()
            .route("/signup", post(post_signup))
            .route("/login", post(post_login))
            .route("/logout", post(post_logout))
            .route("/setup/{token}", post(post_setup))
            .route("/invite/{token}", post(post_invitation))
            .route("/reset/{token}", post(post_reset))
            .route("/account/password", post(post_password))
    }
}
