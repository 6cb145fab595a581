//! An app's connections: the table, one connection's page with its history,
//! and disconnecting.

use crate::{
    domain::apps::AppSummary,
    domain::connections::{ConnectionStatus, ConnectionView, EventView},
    domain::paging::Pager,
    ui::components::provider::CopyField,
    ui::components::{
        layout::PortalPage,
        portal::{portal_page, AppHeader, EventTimeline},
    },
    ui::forms::{use_csrf_token, use_feedback, use_shown_once, CsrfField, FormError},
    ui::pages::paging::{value, Notices, PageLinks},
    util::time::{display, display_opt},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsData {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    pub connections: Vec<ConnectionView>,
    pub failures: Vec<EventView>,
    /// The app's provider configurations `(slug, name)`, for the filter.
    pub providers: Vec<(String, String)>,
    pub pager: Pager,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionData {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    pub connection: ConnectionView,
    pub events: Vec<EventView>,
}

/// The list's filters, search and page, as the URL's query has them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsQuery {
    pub status: Option<String>,
    pub provider: Option<String>,
    pub end_user: Option<String>,
    pub q: Option<String>,
    pub older: Option<String>,
    pub newer: Option<String>,
}

/// The query keys of the list's filters, kept by its page links.
const FILTERS: &[&str] = &["status", "provider", "end_user", "q"];

#[server(endpoint = "connections/list")]
pub async fn connections_page(
    app_id: String,
    #[server(default)] query: ConnectionsQuery,
) -> Result<ConnectionsData, ServerFnError> {
    use crate::{
        domain::paging::{Cursor, PageAt, PAGE_SIZE},
        store::connections as store,
        web::session::internal,
    };
    let (state, seat, app) =
        crate::web::session::app_access(&app_id, crate::domain::orgs::Need::Read).await?;
    let (page, bad_cursor) = PageAt::from_query(query.older.as_deref(), query.newer.as_deref());
    let mut notices: Vec<String> = bad_cursor.into_iter().collect();
    let providers = crate::store::provider_configs::choices(&state.db, &app.id)
        .await
        .map_err(internal)?;
    let clean = |v: Option<String>| {
        v.map(|v| v.trim().chars().take(200).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let status = match clean(query.status) {
        // `status=success` is the connect flow's way back here, not a filter
        Some(s) if s == "success" => None,
        Some(s) if ConnectionStatus::ALL.iter().any(|k| k.as_str() == s) => Some(s),
        Some(s) => {
            notices.push(format!("There is no status “{s}”: showing every status."));
            None
        }
        None => None,
    };
    let provider = match clean(query.provider) {
        Some(p) if providers.iter().any(|(slug, _)| *slug == p) => Some(p),
        Some(p) => {
            notices.push(format!(
                "This app has no provider “{p}”: showing every provider."
            ));
            None
        }
        None => None,
    };
    let filter = store::Filter {
        end_user_id: clean(query.end_user),
        provider,
        status,
        q: clean(query.q),
        live_only: false,
    };
    let filtered = filter.end_user_id.is_some()
        || filter.provider.is_some()
        || filter.status.is_some()
        || filter.q.is_some();
    let (connections, more) = store::page_of(
        &state.db,
        &state.catalogue,
        &app.id,
        &filter,
        PAGE_SIZE,
        &page,
    )
    .await
    .map_err(internal)?;
    let mut pager = Pager::new(
        &page,
        more,
        connections
            .first()
            .map(|c| Cursor::new(c.created_at, &c.id)),
        connections.last().map(|c| Cursor::new(c.created_at, &c.id)),
    );
    pager.notices = notices;
    // the failed attempts go with the unfiltered first page
    let failures = if page == PageAt::First && !filtered {
        store::recent_failures(&state.db, &app.id)
            .await
            .map_err(internal)?
    } else {
        Vec::new()
    };
    Ok(ConnectionsData {
        seat,
        app,
        connections,
        failures,
        providers,
        pager,
    })
}

#[server(endpoint = "connections/get")]
pub async fn connection_page(
    app_id: String,
    connection_id: String,
) -> Result<ConnectionData, ServerFnError> {
    use crate::{
        store::connections as store,
        web::session::{internal, not_found},
    };
    let (state, seat, app) =
        crate::web::session::app_access(&app_id, crate::domain::orgs::Need::Read).await?;
    let connection = store::find(&state.db, &state.catalogue, &app.id, &connection_id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let events = store::events(&state.db, &app.id, &connection.id)
        .await
        .map_err(internal)?;
    Ok(ConnectionData {
        seat,
        app,
        connection,
        events,
    })
}

fn status_badge(status: ConnectionStatus) -> impl IntoView {
    let class = match status {
        ConnectionStatus::Active => "badge badge-success",
        ConnectionStatus::NeedsReauthorization | ConnectionStatus::Error => "badge badge-warning",
        ConnectionStatus::Revoked => "badge",
    };
    view! { <span class=class data-testid="connection-status">{status.label()}</span> }
}

/// Granted scopes against the configured ones; what is missing is marked.
#[component]
fn ScopeComparison(connection: ConnectionView) -> impl IntoView {
    let missing = connection.missing_scopes.clone();
    match connection.granted_scopes.clone() {
        None => view! {
            <span class="muted">"Not reported by the provider"</span>
        }
        .into_any(),
        Some(granted) => view! {
            <span>{granted.join(" ")}</span>
            {(!missing.is_empty()).then(|| view! {
                <span class="badge badge-warning" data-testid="scope-mismatch" title="Configured but not granted">
                    {format!("Missing: {}", missing.join(", "))}
                </span>
            })}
        }
        .into_any(),
    }
}

fn end_user_label(c: &ConnectionView) -> String {
    c.end_user_name
        .clone()
        .or_else(|| c.end_user_email.clone())
        .unwrap_or_else(|| c.end_user_id.clone())
}

#[component]
pub fn Connections() -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            (
                params.read().get("app_id").unwrap_or_default(),
                ConnectionsQuery {
                    // the connect flow comes back with `status=error&error=…`:
                    // that status is its outcome, not a filter
                    status: value(&q, "status").filter(|_| q.get("error").is_none()),
                    provider: value(&q, "provider"),
                    end_user: value(&q, "end_user"),
                    q: value(&q, "q"),
                    older: value(&q, "older"),
                    newer: value(&q, "newer"),
                },
            )
        },
        |(app_id, q)| connections_page(app_id, q),
    );
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let app_id = page.app.id.clone();
        let q = query.get_untracked();
        let just_connected = q.get("status").as_deref() == Some("success");
        let failed = q.get("error");
        let [mut status, provider, end_user, search] =
            ["status", "provider", "end_user", "q"].map(|k| q.get(k).unwrap_or_default());
        if failed.is_some() {
            status.clear();
        }
        let path = format!("/apps/{app_id}/connections");
        let filtered = [&status, &provider, &end_user, &search]
            .iter()
            .any(|v| !v.is_empty() && v.as_str() != "success");
        view! {
            <Title text=format!("Connections · {}", page.app.name) />
            <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                <AppHeader app_id=app_id.clone() name=page.app.name.clone() current="connections" />
                {just_connected.then(|| view! {
                    <div class="alert alert-success" role="status">"Connected. The new connection is in the table below."</div>
                })}
                {failed.map(|code| view! {
                    <div class="alert alert-danger" role="alert">{format!("The connection did not complete ({code}).")}</div>
                })}
                <Notices pager=page.pager.clone() />
                <section class="panel">
                    <h2>"Connections"</h2>
                    <ConnectionFilters
                        path=path.clone()
                        values=[status, provider, end_user, search]
                        providers=page.providers.clone()
                        filtered=filtered
                    />
                    <ConnectionsTable app_id=app_id.clone() connections=page.connections empty_means_no_match=filtered || page.pager.deeper />
                    <PageLinks pager=page.pager.clone() path=path.clone() query=q.clone() keys=FILTERS />
                </section>
                <FailedAttempts failures=page.failures />
            </PortalPage>
        }
        .into_any()
    })
}

/// The Connections page's filters: `values` are status, provider, end user
/// and search, as the URL has them.
#[component]
fn ConnectionFilters(
    path: String,
    values: [String; 4],
    providers: Vec<(String, String)>,
    filtered: bool,
) -> impl IntoView {
    let [status, provider, end_user, search] = values;
    view! {
        <form method="get" action=path.clone() class="filters row" data-testid="filters">
            <label>"Status "
                <select name="status">
                    <option value="" selected=status.is_empty()>"Any"</option>
                    {ConnectionStatus::ALL
                        .into_iter()
                        .map(|k| view! { <option value=k.as_str() selected=status == k.as_str()>{k.label()}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>"Provider "
                <select name="provider">
                    <option value="" selected=provider.is_empty()>"Any"</option>
                    {providers
                        .into_iter()
                        .map(|(slug, name)| view! { <option value=slug.clone() selected=provider == slug>{name}</option> })
                        .collect_view()}
                </select>
            </label>
            <label>"End user id " <input name="end_user" value=end_user size="14" maxlength="200" /></label>
            <label>"Search " <input name="q" type="search" value=search maxlength="200" placeholder="end user, email or account" /></label>
            <button type="submit" class="btn">"Filter"</button>
            {filtered.then(|| view! { <a href=path.clone() class="btn">"Clear"</a> })}
        </form>
    }
}

/// The table of an app's connections, or why it is empty.
#[component]
fn ConnectionsTable(
    app_id: String,
    connections: Vec<ConnectionView>,
    /// Filters or a page cursor are set: an empty list means no match.
    empty_means_no_match: bool,
) -> impl IntoView {
    if connections.is_empty() {
        return if empty_means_no_match {
            view! { <p class="muted" data-testid="no-results">"No connections match."</p> }
                .into_any()
        } else {
            view! { <p class="muted" data-testid="no-connections">"No connections yet. Create a connect session with the API, or use Test connection on a provider."</p> }.into_any()
        };
    }
    view! {
        <div class="table-wrap"><table data-testid="connections">
            <thead><tr>
                <th>"End user"</th><th>"Provider"</th><th>"Account"</th><th>"Status"</th>
                <th>"Granted scopes"</th><th>"Configured scopes"</th><th>"Created"</th><th>"Last refreshed"</th><th>"Last used"</th>
            </tr></thead>
            <tbody>
                {connections.into_iter().map(|c| {
                    let href = format!("/apps/{}/connections/{}", app_id, c.id);
                    view! {
                        <tr>
                            <td><a href=href>{end_user_label(&c)}</a><br /><code class="small">{c.end_user_id.clone()}</code></td>
                            <td>{c.provider_name.clone()}</td>
                            <td data-testid="account">{c.account_label()}</td>
                            <td>{status_badge(c.status)}</td>
                            <td><ScopeComparison connection=c.clone() /></td>
                            <td>{c.configured_scopes.join(" ")}</td>
                            <td>{display(c.created_at)}</td>
                            <td>{display_opt(c.last_refreshed_at)}</td>
                            <td>{display_opt(c.last_used_at)}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></div>
    }
    .into_any()
}

/// The app's recent failed connect attempts, if any.
#[component]
fn FailedAttempts(failures: Vec<EventView>) -> impl IntoView {
    (!failures.is_empty()).then(|| view! {
        <section class="panel">
            <h2>"Recent failed attempts"</h2>
            <div class="table-wrap"><table data-testid="failed-attempts">
                <thead><tr><th>"When"</th><th>"End user"</th><th>"What happened"</th></tr></thead>
                <tbody>
                    {failures.into_iter().map(|e| view! {
                        <tr><td>{display(e.at)}</td><td><code>{e.end_user_id.unwrap_or_default()}</code></td><td>{e.message}</td></tr>
                    }).collect_view()}
                </tbody>
            </table></div>
        </section>
    })
}

#[component]
pub fn Connection() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || {
            let p = params.read();
            (
                p.get("app_id").unwrap_or_default(),
                p.get("connection_id").unwrap_or_default(),
            )
        },
        |(app, id)| connection_page(app, id),
    );
    let disconnect = use_feedback("disconnect");
    let reconnect = use_feedback("reconnect");
    let reconnect_link = use_shown_once();
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let c = page.connection.clone();
        let action = format!("/apps/{}/connections/{}", page.app.id, c.id);
        let disconnect = disconnect.clone();
        let reconnect = reconnect.clone();
        let reconnect_link = reconnect_link.clone();
        let csrf = csrf.clone();
        let can_change = page.seat.can(crate::domain::orgs::Need::Develop);
        view! {
            <Title text=format!("Connection · {}", end_user_label(&c)) />
            <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                <p><a href=format!("/apps/{}/connections", page.app.id)>{format!("← Connections of {}", page.app.name)}</a></p>
                <h1>{format!("{} · {}", end_user_label(&c), c.provider_name)}</h1>
                <p>{status_badge(c.status)}</p>
                <ConnectionProperties c=c.clone() />
                {can_change.then(|| view! {
                <section class="panel">
                    <h2>"Reconnect"</h2>
                    <p class="muted">"A link for the end user to authorize again — after the connection needs re-authorization, or to change what they granted. The connection keeps its id. The link works once, for 30 minutes."</p>
                    {reconnect_link.map(|link| view! {
                        <CopyField value=link label="Reconnect link" testid="reconnect-link" />
                    })}
                    <FormError error=reconnect.error("") />
                    {if c.status == ConnectionStatus::Revoked {
                        view! {
                            <p data-testid="reconnect-revoked">"This connection was disconnected, and reconnect links made before no longer work. To connect the end user again, create a connect session for them: the same account gets this connection back, with its id."</p>
                        }.into_any()
                    } else {
                        view! {
                            <form method="post" action=action.clone()>
                                <CsrfField token=csrf.clone() />
                                <input type="hidden" name="_action" value="reconnect" />
                                <button type="submit" class="btn">"Create reconnect link"</button>
                            </form>
                        }.into_any()
                    }}
                </section>
                })}
                <section class="panel">
                    <h2>"History"</h2>
                    <EventTimeline events=page.events />
                </section>
                {can_change.then(|| view! {
                <section class="panel">
                    <h2>"Disconnect"</h2>
                    <p>"Deletes the connection and its tokens. The end user can connect again later."</p>
                    <FormError error=disconnect.error("") />
                    <form method="post" action=action>
                        <CsrfField token=csrf.clone() />
                        <input type="hidden" name="_action" value="delete" />
                        <label class="check" for="confirm-disconnect">
                            <input type="checkbox" id="confirm-disconnect" name="confirm" value="yes" required=true />
                            <span>"Delete this connection and its tokens."</span>
                        </label>
                        <p><button type="submit" class="btn btn-danger">"Disconnect"</button></p>
                    </form>
                </section>
                })}
            </PortalPage>
        }
        .into_any()
    })
}

/// A connection's properties, as a table.
#[component]
fn ConnectionProperties(c: ConnectionView) -> impl IntoView {
    view! {
        <section class="panel">
            <table class="props"><tbody>
                <tr><th scope="row">"Connection id"</th><td><code>{c.id.clone()}</code></td></tr>
                <tr><th scope="row">"End user"</th><td><code>{c.end_user_id.clone()}</code>" "{c.end_user_email.clone().unwrap_or_default()}</td></tr>
                <tr><th scope="row">"Provider"</th><td>{c.provider_name.clone()}" "<code>{c.provider.clone()}</code></td></tr>
                <tr><th scope="row">"Account"</th><td data-testid="account">{c.account_label()}" "<code>{c.account_id.clone()}</code></td></tr>
                <tr><th scope="row">"Granted scopes"</th><td><ScopeComparison connection=c.clone() /></td></tr>
                <tr><th scope="row">"Configured scopes"</th><td>{c.configured_scopes.join(" ")}</td></tr>
                <tr><th scope="row">"Token"</th><td>{format!("{} · {}", c.token_type, c.expires_at.map(|e| format!("expires {}", display(e))).unwrap_or_else(|| "does not expire".into()))}</td></tr>
                <tr><th scope="row">"Created"</th><td>{display(c.created_at)}</td></tr>
                <tr><th scope="row">"Last refreshed"</th><td>{display_opt(c.last_refreshed_at)}</td></tr>
                <tr><th scope="row">"Last used"</th><td>{display_opt(c.last_used_at)}</td></tr>
                <tr><th scope="row">"Last health check"</th><td>{display_opt(c.last_checked_at)}</td></tr>
            </tbody></table>
        </section>
    }
}

/// An app's connections and a connection's page, for the router.
#[component(transparent)]
pub fn ConnectionRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/apps/:app_id/connections") view=Connections ssr=SsrMode::Async />
        <Route path=path!("/apps/:app_id/connections/:connection_id") view=Connection ssr=SsrMode::Async />
    }
    .into_inner()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::{
        domain::connections::ConnectionStatus,
        store::audit::Actor,
        store::connect::{create_session, NewSession},
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

    pub async fn post_connection(
        State(state): State<AppState>,
        Path((app_id, connection_id)): Path<(String, String)>,
        request: Request<Body>,
    ) -> Response {
        let (form, app, user) =
            match app_form(&state, &app_id, crate::domain::orgs::Need::Develop, request).await {
                Ok(x) => x,
                Err(r) => return r,
            };
        if form.get("_action") == "reconnect" {
            let connection = match crate::store::connections::find(
                &state.db,
                &state.catalogue,
                &app.id,
                &connection_id,
            )
            .await
            {
                Ok(Some(c)) => c,
                Ok(None) => return not_found(),
                Err(e) => return server_error(e),
            };
            if connection.status == ConnectionStatus::Revoked {
                let mut feedback = FormFeedback::new("reconnect");
                feedback.add_error(
                    "",
                    "This connection was disconnected: a reconnect link cannot bring it back. Create a connect session for the end user instead.",
                );
                return rerender(&state, form.parts, feedback).await;
            }
            let session = NewSession {
                end_user_id: connection.end_user_id.clone(),
                end_user_name: connection.end_user_name.clone(),
                end_user_email: connection.end_user_email.clone(),
                providers: vec![connection.provider.clone()],
                return_url: None,
                reconnect_id: Some(connection.id.clone()),
            };
            return match create_session(
                &state.db,
                &state.settings.public_url,
                &app.id,
                &session,
                &Actor::user(&user),
            )
            .await
            {
                Ok(created) => {
                    render_shown_once(&state, form.parts, created.connect_url, StatusCode::OK).await
                }
                Err(e) => server_error(e),
            };
        }
        if form.get("_action") != "delete" {
            return (StatusCode::BAD_REQUEST, "Unknown action").into_response();
        }
        if form.get("confirm") != "yes" {
            let mut feedback = FormFeedback::new("disconnect");
            feedback.add_error("", "Tick the box to confirm");
            return rerender(&state, form.parts, feedback).await;
        }
        match crate::services::revocation::disconnect(
            &state,
            &app.id,
            &connection_id,
            &Actor::user(&user),
            None,
        )
        .await
        {
            Ok(true) => see_other(&format!("/apps/{}/connections/{connection_id}", app.id)),
            Ok(false) => not_found(),
            Err(e) => server_error(e),
        }
    }

    /// This feature's form posts and other server routes (its pages are in the
    /// Leptos router).
    pub fn routes() -> axum::Router<AppState> {
        use axum::routing::post;
        axum::Router::new().route(
            "/apps/{app_id}/connections/{connection_id}",
            post(post_connection),
        )
    }
}
