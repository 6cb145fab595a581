//! An app's settings: where end users may be sent back after connecting.

use crate::{
    domain::apps::AppSummary,
    domain::connect::RETURN_URLS_MAX,
    domain::paging::Pager,
    ui::components::provider::CopyField,
    ui::components::{
        layout::PortalPage,
        portal::{portal_page, AppHeader},
    },
    ui::forms::{use_csrf_token, use_feedback, use_shown_once, CsrfField, FormError, TextField},
    ui::pages::paging::{value, Notices, PageLinks},
    web::forms::FormFeedback,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettingsData {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    pub return_urls: Vec<String>,
    pub webhook_url: Option<String>,
    pub has_webhook_secret: bool,
    pub attempts: Vec<WebhookAttempt>,
    /// The pages of the delivery log.
    pub pager: Pager,
}

/// One delivery attempt, for the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookAttempt {
    pub id: String,
    pub at: i64,
    pub event_type: String,
    pub attempt: i64,
    pub status_code: Option<i64>,
    pub error: Option<String>,
}

#[server(endpoint = "settings/get")]
pub async fn settings_page(
    app_id: String,
    #[server(default)] older: Option<String>,
    #[server(default)] newer: Option<String>,
) -> Result<SettingsData, ServerFnError> {
    use crate::domain::paging::{Cursor, PageAt, PAGE_SIZE};
    use crate::web::session::internal;
    let (state, seat, app) =
        crate::web::session::app_access(&app_id, crate::domain::orgs::Need::Read).await?;
    let return_urls = crate::store::connect::allowed_return_urls(&state.db, &app.id)
        .await
        .map_err(internal)?;
    let endpoint = crate::services::webhooks::endpoint(&state, &app.id)
        .await
        .map_err(internal)?;
    let has_webhook_secret = crate::store::apps::has_webhook_secret(&state.db, &app.id)
        .await
        .map_err(internal)?;
    let (page, bad_cursor) = PageAt::from_query(older.as_deref(), newer.as_deref());
    let (attempts, more) =
        crate::services::webhooks::recent_attempts(&state, &app.id, PAGE_SIZE, &page)
            .await
            .map_err(internal)?;
    let mut pager = Pager::new(
        &page,
        more,
        attempts.first().map(|a| Cursor::new(a.at, &a.id)),
        attempts.last().map(|a| Cursor::new(a.at, &a.id)),
    );
    pager.notices.extend(bad_cursor);
    let attempts = attempts
        .into_iter()
        .map(|a| WebhookAttempt {
            id: a.id,
            at: a.at,
            event_type: a.event_type,
            attempt: a.attempt,
            status_code: a.status_code,
            error: a.error,
        })
        .collect();
    Ok(SettingsData {
        seat,
        app,
        return_urls,
        webhook_url: endpoint.map(|(url, _)| url),
        has_webhook_secret,
        attempts,
        pager,
    })
}

#[component]
pub fn Settings() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            (
                params.read().get("app_id").unwrap_or_default(),
                value(&q, "older"),
                value(&q, "newer"),
            )
        },
        |(app_id, older, newer)| settings_page(app_id, older, newer),
    );
    let feedback = use_feedback("settings");
    let webhook = use_feedback("webhook");
    let new_secret = use_shown_once();
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let (feedback, webhook) = (feedback.clone(), webhook.clone());
        let (new_secret, csrf) = (new_secret.clone(), csrf.clone());
        let action = format!("/apps/{}/settings", page.app.id);
        let editable = page.seat.can(crate::domain::orgs::Need::Develop);
        view! {
            <Title text=format!("Settings · {}", page.app.name) />
            <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                <AppHeader app_id=page.app.id.clone() name=page.app.name.clone() current="settings" />
                <ReturnUrlsPanel
                    action=action.clone()
                    csrf=csrf.clone()
                    feedback=feedback
                    saved=page.return_urls.clone()
                    editable=editable
                />
                <WebhookPanel action=action csrf=csrf feedback=webhook new_secret=new_secret page=page editable=editable />
            </PortalPage>
        }
        .into_any()
    })
}

/// The return URLs connect sessions may send end users back to.
#[component]
fn ReturnUrlsPanel(
    action: String,
    csrf: String,
    feedback: FormFeedback,
    saved: Vec<String>,
    editable: bool,
) -> impl IntoView {
    if !editable {
        return view! {
            <section class="panel">
                <h2>"Allowed return URLs"</h2>
                {if saved.is_empty() {
                    view! { <p class="muted">"None yet."</p> }.into_any()
                } else {
                    view! { <ul>{saved.into_iter().map(|u| view! { <li><code>{u}</code></li> }).collect_view()}</ul> }.into_any()
                }}
            </section>
        }
        .into_any();
    }
    let value = feedback
        .value("return_urls")
        .unwrap_or_else(|| saved.join("\n"));
    let error = feedback.error("return_urls");
    view! {
        <section class="panel">
            <h2>"Allowed return URLs"</h2>
            <p class="muted">"A connect session's " <code>"return_url"</code> " must be one of these, with any query string of its own. The vault sends end users nowhere else."</p>
            <FormError error=feedback.error("") />
            <form method="post" action=action class="form">
                <CsrfField token=csrf />
                <input type="hidden" name="_action" value="return_urls" />
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
    }
    .into_any()
}

/// The webhook endpoint, its signing secret and the delivery log.
#[component]
fn WebhookPanel(
    action: String,
    csrf: String,
    feedback: FormFeedback,
    new_secret: Option<String>,
    page: SettingsData,
    editable: bool,
) -> impl IntoView {
    let value = feedback
        .value("webhook_url")
        .or(page.webhook_url.clone())
        .unwrap_or_default();
    view! {
        <section class="panel" aria-labelledby="webhook-title">
            <h2 id="webhook-title">"Webhook"</h2>
            <p class="muted">"The vault POSTs connection events to this endpoint (connection.created, .reauthorized, .refresh_failed, .needs_reauthorization, .recovered, .scope_mismatch, .deleted), signed per the Standard Webhooks specification: verify " <code>"webhook-signature"</code> " with your signing secret."</p>
            {new_secret.map(|secret| view! {
                <div class="panel panel-highlight" data-testid="new-webhook-secret">
                    <h3>"Copy your signing secret now"</h3>
                    <p>"This is the only time it is shown."</p>
                    <CopyField value=secret label="Webhook signing secret" testid="webhook-secret-value" />
                </div>
            })}
            {(!editable).then(|| view! {
                <p>"Endpoint: " {match page.webhook_url.clone() {
                    Some(url) => view! { <code>{url}</code> }.into_any(),
                    None => view! { <span class="muted">"none"</span> }.into_any(),
                }}</p>
            })}
            {editable.then(|| view! {
            <FormError error=feedback.error("") />
            <form method="post" action=action.clone() class="form">
                <CsrfField token=csrf.clone() />
                <input type="hidden" name="_action" value="webhook" />
                <TextField
                    label="Endpoint URL"
                    name="webhook_url"
                    value=Some(value)
                    error=feedback.error("webhook_url")
                    hint="https:// on a public host. Leave empty to stop sending webhooks."
                    placeholder=Some("https://app.example.com/webhooks/oauth-vault".to_string())
                    required=false
                    maxlength=500
                />
                <div><button type="submit" class="btn btn-primary">"Save endpoint"</button></div>
            </form>
            <div class="row">
                <form method="post" action=action.clone()>
                    <CsrfField token=csrf.clone() />
                    <input type="hidden" name="_action" value="rotate_secret" />
                    <button type="submit" class="btn">{if page.has_webhook_secret { "Rotate signing secret" } else { "Generate signing secret" }}</button>
                </form>
                <form method="post" action=action>
                    <CsrfField token=csrf />
                    <input type="hidden" name="_action" value="test_event" />
                    <button type="submit" class="btn" disabled=page.webhook_url.is_none()>"Send test event"</button>
                </form>
            </div>
            })}
            <h3>"Deliveries"</h3>
            <Notices pager=page.pager.clone() />
            <DeliveryLog attempts=page.attempts />
            <PageLinks pager=page.pager path=format!("/apps/{}/settings", page.app.id) query=Default::default() keys=&[] />
        </section>
    }
}

#[component]
fn DeliveryLog(attempts: Vec<WebhookAttempt>) -> impl IntoView {
    if attempts.is_empty() {
        return view! { <p class="muted" data-testid="no-deliveries">"No deliveries yet."</p> }
            .into_any();
    }
    view! {
        <div class="table-wrap"><table data-testid="deliveries">
            <thead><tr><th>"Time"</th><th>"Event"</th><th>"Attempt"</th><th>"Result"</th></tr></thead>
            <tbody>
                {attempts.into_iter().map(|a| view! {
                    <tr>
                        <td>{crate::util::time::display(a.at)}</td>
                        <td><code>{a.event_type}</code></td>
                        <td>{a.attempt}</td>
                        <td>{match (a.status_code, a.error) {
                            (Some(code), _) => format!("HTTP {code}"),
                            (None, Some(e)) => e,
                            (None, None) => "—".to_string(),
                        }}</td>
                    </tr>
                }).collect_view()}
            </tbody>
        </table></div>
    }
    .into_any()
}

/// An app's settings, for the router.
#[component(transparent)]
pub fn SettingsRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/apps/:app_id/settings") view=Settings ssr=SsrMode::Async />
    }
    .into_inner()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::{
        domain::connect::parse_return_urls,
        services::webhooks,
        store::audit::Actor,
        web::form_post::app_form,
        web::form_post::{render_shown_once, rerender, see_other, server_error},
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::{Path, State},
        http::{Request, StatusCode},
        response::{IntoResponse, Response},
    };
    use secrecy::ExposeSecret;

    pub async fn post_settings(
        State(state): State<AppState>,
        Path(app_id): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let (form, app, user) =
            match app_form(&state, &app_id, crate::domain::orgs::Need::Develop, request).await {
                Ok(x) => x,
                Err(r) => return r,
            };
        let back = format!("/apps/{}/settings", app.id);
        match form.get("_action").as_str() {
            "" | "return_urls" => {
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
                let saved = crate::store::apps::set_return_urls(
                    &state.db,
                    &Actor::user(&user),
                    &app.id,
                    &urls,
                )
                .await;
                match saved {
                    Ok(_) => see_other(&back),
                    Err(e) => server_error(e),
                }
            }
            "webhook" => {
                let text = form.get("webhook_url").trim().to_string();
                let url = if text.is_empty() {
                    None
                } else {
                    match state.outbound.check_endpoint(&text) {
                        Ok(url) => Some(url.to_string()),
                        Err(e) => {
                            let mut feedback = FormFeedback::new("webhook");
                            feedback.keep("webhook_url", &text);
                            feedback.add_error("webhook_url", e);
                            return rerender(&state, form.parts, feedback).await;
                        }
                    }
                };
                match webhooks::set_endpoint(&state, &app.id, url.as_deref(), &Actor::user(&user))
                    .await
                {
                    Ok(()) => see_other(&back),
                    Err(e) => server_error(e),
                }
            }
            "rotate_secret" => {
                match webhooks::rotate_secret(&state, &app.id, &Actor::user(&user)).await {
                    Ok(secret) => {
                        render_shown_once(
                            &state,
                            form.parts,
                            secret.expose_secret().to_string(),
                            StatusCode::OK,
                        )
                        .await
                    }
                    Err(e) => server_error(e),
                }
            }
            "test_event" => {
                if let Err(e) = webhooks::send_test(&state, &app.id).await {
                    return server_error(e);
                }
                // Deliver now rather than on the worker's next pass.
                if let Err(e) = webhooks::deliver_due(&state).await {
                    tracing::warn!(error = %e, "delivering the test event failed");
                }
                see_other(&back)
            }
            _ => (StatusCode::BAD_REQUEST, "Unknown action").into_response(),
        }
    }

    /// This feature's form posts and other server routes (its pages are in the
    /// Leptos router).
    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::post;
        axum::Router::new().route("/apps/{app_id}/settings", post(post_settings))
    }
}
