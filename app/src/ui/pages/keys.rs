//! An app's API keys: create (shown once), list, revoke.

use crate::{
    domain::api_keys::{ApiKeyView, NAME_MAX},
    domain::apps::AppSummary,
    domain::paging::Pager,
    ui::components::{
        layout::PortalPage,
        portal::{portal_page, AppHeader},
        provider::CopyField,
    },
    ui::forms::{use_csrf_token, use_feedback, use_shown_once, CsrfField, FormError, TextField},
    ui::pages::paging::{value, Notices, PageLinks},
    util::time::{display, display_opt},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysData {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    pub keys: Vec<ApiKeyView>,
    pub pager: Pager,
}

/// The list's filter and page, as the URL's query has them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeysQuery {
    /// `active` or `revoked`.
    pub state: Option<String>,
    pub older: Option<String>,
    pub newer: Option<String>,
}

#[server(endpoint = "keys/list")]
pub async fn keys_page(
    app_id: String,
    #[server(default)] query: KeysQuery,
) -> Result<KeysData, ServerFnError> {
    use crate::{
        domain::paging::{Cursor, PageAt, PAGE_SIZE},
        web::session::internal,
    };
    let (state, seat, app) =
        crate::web::session::app_access(&app_id, crate::domain::orgs::Need::Read).await?;
    let (page, bad_cursor) = PageAt::from_query(query.older.as_deref(), query.newer.as_deref());
    let mut notices: Vec<String> = bad_cursor.into_iter().collect();
    let revoked = match query.state.as_deref().map(str::trim) {
        None | Some("") => None,
        Some("active") => Some(false),
        Some("revoked") => Some(true),
        Some(other) => {
            let other: String = other.chars().take(100).collect();
            notices.push(format!("There is no state “{other}”: showing every key."));
            None
        }
    };
    let (keys, more) =
        crate::store::api_keys::page_of(&state.db, &app.id, revoked, PAGE_SIZE, &page)
            .await
            .map_err(internal)?;
    let mut pager = Pager::new(
        &page,
        more,
        keys.first().map(|k| Cursor::new(k.created_at, &k.id)),
        keys.last().map(|k| Cursor::new(k.created_at, &k.id)),
    );
    pager.notices = notices;
    Ok(KeysData {
        seat,
        app,
        keys,
        pager,
    })
}

#[component]
pub fn ApiKeys() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            (
                params.read().get("app_id").unwrap_or_default(),
                KeysQuery {
                    state: value(&q, "state"),
                    older: value(&q, "older"),
                    newer: value(&q, "newer"),
                },
            )
        },
        |(app_id, q)| keys_page(app_id, q),
    );
    let feedback = use_feedback("create-key");
    let new_key = use_shown_once();
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let action = format!("/apps/{}/api-keys", page.app.id);
        let path = action.clone();
        let q = query.get_untracked();
        let key_state = q.get("state").unwrap_or_default();
        let (feedback, new_key) = (feedback.clone(), new_key.clone());
        let csrf = csrf.clone();
        let can_change = page.seat.can(crate::domain::orgs::Need::Develop);
        view! {
            <Title text=format!("API Keys · {}", page.app.name) />
            <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                <AppHeader app_id=page.app.id.clone() name=page.app.name.clone() current="keys" />
                {new_key.map(|key| view! {
                    <section class="panel panel-highlight" data-testid="new-key">
                        <h2>"Copy your new API key now"</h2>
                        <p>"This is the only time it is shown. Store it in your backend's secret store; the vault keeps only a hash."</p>
                        <CopyField value=key label="New API key" testid="new-key-value" />
                    </section>
                })}
                <Notices pager=page.pager.clone() />
                <section class="panel">
                    <h2>"API Keys"</h2>
                    <p class="muted">"Your backend calls the vault's API with a key: " <code>"Authorization: Bearer ovk_…"</code> ". A key sees this app only."</p>
                    <form method="get" action=path.clone() class="filters row" data-testid="filters">
                        <label>"Show "
                            <select name="state">
                                <option value="" selected=key_state.is_empty()>"All keys"</option>
                                <option value="active" selected=key_state == "active">"Active"</option>
                                <option value="revoked" selected=key_state == "revoked">"Revoked"</option>
                            </select>
                        </label>
                        <button type="submit" class="btn">"Filter"</button>
                    </form>
                    <KeysTable keys=page.keys action=action.clone() csrf=csrf.clone() can_revoke=can_change />
                    <PageLinks pager=page.pager.clone() path=path.clone() query=q.clone() keys=&["state"] />
                </section>
                {can_change.then(|| view! {
                <section class="panel">
                    <h2>"Create a key"</h2>
                    <FormError error=feedback.error("") />
                    <form method="post" action=action.clone() class="form">
                        <CsrfField token=csrf.clone() />
                        <input type="hidden" name="_action" value="create" />
                        <TextField
                            label="Name"
                            name="name"
                            value=feedback.value("name")
                            error=feedback.error("name")
                            hint="What uses it, e.g. \"billing backend (production)\"."
                            maxlength=NAME_MAX
                        />
                        <div><button type="submit" class="btn btn-primary">"Create key"</button></div>
                    </form>
                </section>
                })}
            </PortalPage>
        }
        .into_any()
    })
}

/// The app's API keys, each active one with its Revoke button.
#[component]
fn KeysTable(
    keys: Vec<ApiKeyView>,
    action: String,
    csrf: String,
    can_revoke: bool,
) -> impl IntoView {
    if keys.is_empty() {
        return view! { <p class="muted" data-testid="no-keys">"No keys here."</p> }.into_any();
    }
    view! {
        <div class="table-wrap"><table data-testid="keys">
            <thead><tr><th>"Name"</th><th>"Key"</th><th>"Created"</th><th>"Last used"</th><th>"Status"</th><th></th></tr></thead>
            <tbody>
                {keys.into_iter().map(|k| {
                    let revoked = k.revoked_at.is_some();
                    view! {
                        <tr>
                            <td>{k.name.clone()}</td>
                            <td><code>{format!("{}…", k.prefix)}</code></td>
                            <td>{display(k.created_at)}</td>
                            <td>{display_opt(k.last_used_at)}</td>
                            <td>{if revoked {
                                view! { <span class="badge badge-warning">"Revoked"</span> }.into_any()
                            } else {
                                view! { <span class="badge badge-success">"Active"</span> }.into_any()
                            }}</td>
                            <td>{(!revoked && can_revoke).then(|| view! {
                                <form method="post" action=action.clone()>
                                    <CsrfField token=csrf.clone() />
                                    <input type="hidden" name="_action" value="revoke" />
                                    <input type="hidden" name="key_id" value=k.id.clone() />
                                    <button type="submit" class="btn btn-sm btn-danger">"Revoke"</button>
                                </form>
                            })}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></div>
    }
    .into_any()
}

/// An app's API keys, for the router.
#[component(transparent)]
pub fn KeyRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/apps/:app_id/api-keys") view=ApiKeys ssr=SsrMode::Async />
    }
    .into_inner()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::{
        domain::api_keys::check_name,
        store::api_keys::{self as keys},
        store::audit::Actor,
        web::form_post::app_form,
        web::form_post::{not_found, render_shown_once, rerender, see_other, server_error},
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

    pub async fn post_keys(
        State(state): State<AppState>,
        Path(app_id): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let (form, app, user) =
            match app_form(&state, &app_id, crate::domain::orgs::Need::Develop, request).await {
                Ok(x) => x,
                Err(r) => return r,
            };
        match form.get("_action").as_str() {
            "create" => {
                let mut feedback = FormFeedback::new("create-key");
                let text = form.get("name");
                feedback.keep("name", &text);
                let name = match check_name(&text) {
                    Ok(n) => n,
                    Err(e) => {
                        feedback.add_error("name", e);
                        return rerender(&state, form.parts, feedback).await;
                    }
                };
                match keys::create(&state.db, &app.id, &name, &Actor::user(&user)).await {
                    Ok((id, key)) => {
                        tracing::info!(app_id = %app.id, key_id = %id, "API key created");
                        render_shown_once(
                            &state,
                            form.parts,
                            key.expose_secret().to_string(),
                            StatusCode::CREATED,
                        )
                        .await
                    }
                    Err(e) => server_error(e),
                }
            }
            "revoke" => {
                match keys::revoke(&state.db, &app.id, &form.get("key_id"), &Actor::user(&user))
                    .await
                {
                    Ok(true) => {
                        state.caches.api_key_revoked(&form.get("key_id"));
                        tracing::info!(app_id = %app.id, "API key revoked");
                        see_other(&format!("/apps/{}/api-keys", app.id))
                    }
                    Ok(false) => not_found(),
                    Err(e) => server_error(e),
                }
            }
            _ => (StatusCode::BAD_REQUEST, "Unknown action").into_response(),
        }
    }

    /// This feature's form posts and other server routes (its pages are in the
    /// Leptos router).
    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::post;
        axum::Router::new().route("/apps/{app_id}/api-keys", post(post_keys))
    }
}
