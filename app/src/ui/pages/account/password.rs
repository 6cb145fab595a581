//! The signed-in developer's own account: changing the password.

use super::PASSWORD_HINT;
use crate::{
    domain::users::PASSWORD_MAX,
    ui::components::layout::PortalPage,
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError, TextField},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;
use serde::{Deserialize, Serialize};

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

#[cfg(feature = "ssr")]
pub mod ssr {
    //! The password form's post.
    use super::super::ssr::{admit, hash_new};
    use crate::{
        domain::users::check_new_password,
        infra::password,
        infra::tokens::hash_token,
        store::account_links as links,
        store::accounts as store,
        store::sessions as session,
        store::throttle::{self, Limit},
        web::client::ClientAddress,
        web::form_post::{rerender, see_other, server_error, Submission},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{body::Body, extract::State, http::Request, response::Response};
    use secrecy::SecretString;

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
        let hash = match hash_new(new_password).await {
            Ok(h) => h,
            Err(r) => return r,
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
    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::post;
        axum::Router::new().route("/account/password", post(post_password))
    }
}
