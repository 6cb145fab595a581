//! One-time links: the instance's setup link, invitations and password
//! resets. Each page says plainly why a link no longer works.

use super::{NewAccountForm, PASSWORD_HINT};
use crate::{
    domain::users::PASSWORD_MAX,
    ui::components::layout::PublicPage,
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError, TextField},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

/// What a one-time link (setup, invitation, reset) is now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkStatus {
    Open,
    /// The instance has its administrator (setup links).
    Done,
    Used,
    Revoked,
    Expired,
    #[default]
    Unknown,
}

impl LinkStatus {
    pub(crate) fn message(self, what: &str) -> String {
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
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkPage {
    pub status: LinkStatus,
    /// The invited address, or the account whose password is reset.
    pub email: Option<String>,
    /// An invitation for an address that already has an account.
    pub has_account: bool,
    /// An invitation into an organisation: its name and the role it gives.
    pub organisation: Option<(String, crate::domain::orgs::OrgRole)>,
    /// Who is signed in, if anyone (an invitation names its address).
    pub signed_in_as: Option<String>,
}

#[server(endpoint = "account/link")]
pub async fn link_data(kind: String, token: String) -> Result<LinkPage, ServerFnError> {
    let state = expect_context::<crate::web::state::AppState>();
    let signed_in_as = match crate::web::session::require_user().await {
        Ok((_, user)) => Some(user.email),
        Err(_) => None,
    };
    ssr::link_page(&state, &kind, &token, signed_in_as)
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
                            Ok(page) if kind == "invite" && page.organisation.is_some() => {
                                view! { <super::invite::JoinOrganisation page action csrf feedback token=token() /> }.into_any()
                            }
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

#[cfg(feature = "ssr")]
pub mod ssr {
    //! What the link pages show, and their form posts.
    use super::super::ssr::{admit_link_use, gone, hash_new, new_credentials, start_session};
    use super::{LinkPage, LinkStatus};
    use crate::{
        domain::users::check_new_password,
        infra::tokens::hash_token,
        store::account_links::{self as links, LinkState, Purpose},
        store::accounts::{self as store, LinkError, SetupError, SetupLink},
        store::throttle,
        web::client::ClientAddress,
        web::form_post::{rerender, see_other, server_error, Submission},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::{Path, State},
        http::Request,
        response::Response,
    };

    /// What the page of a one-time link shows.
    pub async fn link_page(
        state: &AppState,
        kind: &str,
        token: &str,
        signed_in_as: Option<String>,
    ) -> Result<LinkPage, crate::infra::db::DbError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 100 {
            return Ok(LinkPage {
                status: LinkStatus::Unknown,
                ..LinkPage::default()
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
                ..LinkPage::default()
            });
        }
        let purpose = if kind == "invite" {
            Purpose::Invitation
        } else {
            Purpose::PasswordReset
        };
        let (status, email, organisation) = match links::find(&state.db, purpose, token).await? {
            LinkState::Live {
                email,
                organisation,
                ..
            } => (
                LinkStatus::Open,
                Some(email),
                organisation.map(|o| (o.name, o.role)),
            ),
            LinkState::Used => (LinkStatus::Used, None, None),
            LinkState::Revoked => (LinkStatus::Revoked, None, None),
            LinkState::Expired => (LinkStatus::Expired, None, None),
            LinkState::Unknown => (LinkStatus::Unknown, None, None),
        };
        let has_account = match (&email, purpose) {
            (Some(e), Purpose::Invitation) => store::credentials(&state.db, e).await?.is_some(),
            _ => false,
        };
        Ok(LinkPage {
            status,
            email,
            has_account,
            organisation,
            signed_in_as,
        })
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
        let attempt = match admit_link_use(&state, &form.parts, &feedback).await {
            Ok(a) => a,
            Err(r) => return r,
        };
        let token_hash = hash_token(token.trim());
        let spent = match store::setup_link(&state.db, &token_hash).await {
            Ok(SetupLink::Open) => None,
            Ok(SetupLink::Done) => Some(LinkStatus::Done),
            Ok(_) => Some(LinkStatus::Unknown),
            Err(e) => return server_error(e),
        };
        if let Some(status) = spent {
            return gone(&state, form.parts, feedback, status.message("setup")).await;
        }
        let hash = match hash_new(password_text).await {
            Ok(h) => h,
            Err(r) => return r,
        };
        let created =
            store::complete_setup(&state.db, &token_hash, &email, &hash, &client.to_string()).await;
        match created {
            Ok(account) => {
                let _ = throttle::withdraw(&state.db, attempt).await;
                tracing::info!(user_id = %account.user_id, "the first administrator was created with the setup link");
                start_session(&state, &form.parts, &account.user_id, "/apps").await
            }
            Err(e @ (SetupError::Done | SetupError::Unknown)) => {
                let status = match e {
                    SetupError::Done => LinkStatus::Done,
                    _ => LinkStatus::Unknown,
                };
                gone(&state, form.parts, feedback, status.message("setup")).await
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
    pub(in crate::ui::pages::account) fn spent_message(state: LinkState, what: &str) -> String {
        match state {
            LinkState::Used => LinkStatus::Used,
            LinkState::Revoked => LinkStatus::Revoked,
            LinkState::Expired => LinkStatus::Expired,
            LinkState::Unknown | LinkState::Live { .. } => LinkStatus::Unknown,
        }
        .message(what)
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
        let attempt = match admit_link_use(&state, &form.parts, &feedback).await {
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
                    return gone(&state, form.parts, feedback, message).await;
                }
                Err(e) => return server_error(e),
            };
        let password_text = form.get("password");
        if let Err(e) = check_new_password(&password_text) {
            feedback.add_error("password", e);
            return rerender(&state, form.parts, feedback).await;
        }
        let hash = match hash_new(password_text).await {
            Ok(h) => h,
            Err(r) => return r,
        };
        match links::complete_reset(&state.db, &link_id, &user_id, &hash, &client.to_string()).await
        {
            Ok(()) => {
                let _ = throttle::withdraw(&state.db, attempt).await;
                tracing::info!(%user_id, "password reset with the operator's link");
                see_other("/login?reset=1")
            }
            Err(LinkError::Spent) => {
                gone(
                    &state,
                    form.parts,
                    feedback,
                    LinkStatus::Used.message("password reset"),
                )
                .await
            }
            Err(LinkError::Account(e)) => server_error(e),
        }
    }
    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::post;
        axum::Router::new()
            .route("/setup/{token}", post(post_setup))
            .route(
                "/invite/{token}",
                post(super::super::invite::post_invitation),
            )
            .route("/reset/{token}", post(post_reset))
    }
}
