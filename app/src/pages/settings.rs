//! An app's settings: where end users may be sent back after connecting.

use crate::{
    components::{
        layout::PortalPage,
        portal::{portal_page, AppHeader},
    },
    connect::RETURN_URLS_MAX,
    forms::{use_csrf_token, use_feedback, CsrfField, FormError},
    pages::apps::AppSummary,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsData {
    pub email: String,
    pub app: AppSummary,
    pub return_urls: Vec<String>,
}

#[server(endpoint = "settings/get")]
pub async fn settings_page(app_id: String) -> Result<SettingsData, ServerFnError> {
    use crate::session_ctx::ssr::internal;
    let (state, email, app) = crate::pages::providers::ssr::owned_app(&app_id).await?;
    let return_urls = crate::connect::ssr::allowed_return_urls(&state.db, &app.id)
        .await
        .map_err(internal)?;
    Ok(SettingsData {
        email,
        app,
        return_urls,
    })
}

#[component]
pub fn Settings() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.read().get("app_id").unwrap_or_default(),
        settings_page,
    );
    let feedback = use_feedback("settings");
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let feedback = feedback.clone();
        let csrf = csrf.clone();
        let value = feedback
            .value("return_urls")
            .unwrap_or_else(|| page.return_urls.join("\n"));
        let error = feedback.error("return_urls");
        view! {
            <Title text=format!("Settings · {}", page.app.name) />
            <PortalPage email=page.email.clone() csrf=csrf.clone()>
                <AppHeader app_id=page.app.id.clone() name=page.app.name.clone() current="settings" />
                <section class="panel">
                    <h2>"Allowed return URLs"</h2>
                    <p class="muted">"A connect session's " <code>"return_url"</code> " must be one of these, with any query string of its own. The vault sends end users nowhere else."</p>
                    <FormError error=feedback.error("") />
                    <form method="post" action=format!("/apps/{}/settings", page.app.id) class="form">
                        <CsrfField token=csrf.clone() />
                        <div class="field">
                            <label for="field-return_urls">"One URL per line"</label>
                            <textarea id="field-return_urls" name="return_urls" rows="5" maxlength="12000"
                                placeholder="https://app.example.com/integrations/done"
                                aria-invalid=error.as_ref().map(|_| "true")>{value}</textarea>
                            <span class="hint">{format!("Up to {RETURN_URLS_MAX} URLs. https:// is required, except for localhost while you develop. No #fragment, no query.")}</span>
                            {error.map(|e| view! { <span class="error" role="alert">{e}</span> })}
                        </div>
                        <div><button type="submit" class="btn btn-primary">"Save settings"</button></div>
                    </form>
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::{
        connect::parse_return_urls,
        db::now_ms,
        forms::{
            ssr::{rerender, see_other, server_error},
            FormFeedback,
        },
        pages::providers::ssr::app_form,
        state::AppState,
    };
    use axum::{
        body::Body,
        extract::{Path, State},
        http::Request,
        response::Response,
    };

    pub async fn post_settings(
        State(state): State<AppState>,
        Path(app_id): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let (form, app, _) = match app_form(&state, &app_id, request).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let text = form.get("return_urls");
        let urls = match parse_return_urls(&text) {
            Ok(urls) => urls,
            Err(e) => {
                let mut feedback = FormFeedback::new("settings");
                feedback.keep("return_urls", &text);
                feedback.add_error("return_urls", e);
                return rerender(&state, form.parts, feedback).await;
            }
        };
        let saved = sqlx::query("UPDATE apps SET return_urls = $1, updated_at = $2 WHERE id = $3")
            .bind(urls.join("\n"))
            .bind(now_ms())
            .bind(&app.id)
            .execute(state.db.pool())
            .await;
        match saved {
            Ok(_) => see_other(&format!("/apps/{}/settings", app.id)),
            Err(e) => server_error(e),
        }
    }
}
