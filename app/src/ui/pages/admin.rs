//! The admin area: every connection of the instance, users, the audit log.
//! Only administrators see it; to anyone else, signed in or not, every admin
//! page, form and server function answers 404.

use crate::{
    domain::audit::AuditView,
    domain::connections::{ConnectionStatus, ConnectionView, EventView},
    ui::components::{
        layout::PortalPage,
        portal::{portal_page, EventTimeline},
        provider::CopyField,
    },
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError},
    util::time::{display, display_opt},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

/// A connection with where it lives, for the admin tables.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminConnection {
    pub connection: ConnectionView,
    pub app_name: String,
    pub organisation_id: String,
    pub organisation_name: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Overview {
    pub email: String,
    pub by_status: Vec<(String, i64)>,
    pub by_provider: Vec<(String, i64)>,
    pub refreshed_24h: i64,
    pub failed_24h: i64,
    pub attention: Vec<AdminConnection>,
    pub webhooks_failing: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionQuery {
    pub status: Option<String>,
    pub provider: Option<String>,
    pub organisation: Option<String>,
    pub app: Option<String>,
    pub mismatch: bool,
    pub q: Option<String>,
    pub sort: Option<String>,
    /// `created_at:id` of the last row of the previous page.
    pub after: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionsPage {
    pub email: String,
    pub rows: Vec<AdminConnection>,
    pub next: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionDetail {
    pub email: String,
    pub row: AdminConnection,
    pub events: Vec<EventView>,
    pub deliveries: Vec<DeliveryRow>,
}

/// A webhook delivery about one connection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryRow {
    pub created_at: i64,
    pub event_type: String,
    pub status: String,
    pub attempts: i64,
    pub last_status_code: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub role: String,
    pub disabled: bool,
    pub last_login_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsersPage {
    pub email: String,
    pub me: String,
    pub users: Vec<UserRow>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub organisation: Option<String>,
    pub app: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditPage {
    pub email: String,
    pub entries: Vec<AuditView>,
    pub csv_link: String,
}

#[server(endpoint = "admin/overview")]
pub async fn overview_data() -> Result<Overview, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    ssr::overview(&state, user.email).await.map_err(internal)
}

#[server(endpoint = "admin/connections")]
pub async fn connections_data(query: ConnectionQuery) -> Result<ConnectionsPage, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    let (rows, next) = ssr::connections(&state, &query, 50)
        .await
        .map_err(internal)?;
    Ok(ConnectionsPage {
        email: user.email,
        rows,
        next,
    })
}

#[server(endpoint = "admin/connection")]
pub async fn connection_data(id: String) -> Result<ConnectionDetail, ServerFnError> {
    use crate::web::session::{internal, not_found};
    let (state, user) = ssr::require_admin().await?;
    let row = ssr::find(&state, &id)
        .await
        .map_err(internal)?
        .ok_or_else(not_found)?;
    let events = crate::store::connections::events(&state.db, &row.connection.app_id, &id)
        .await
        .map_err(internal)?;
    let deliveries = ssr::deliveries(&state, &row.connection.app_id, &id)
        .await
        .map_err(internal)?;
    Ok(ConnectionDetail {
        email: user.email,
        row,
        events,
        deliveries,
    })
}

#[server(endpoint = "admin/users")]
pub async fn users_data() -> Result<UsersPage, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    let users = ssr::users(&state).await.map_err(internal)?;
    Ok(UsersPage {
        email: user.email,
        me: user.id,
        users,
    })
}

#[server(endpoint = "admin/audit")]
pub async fn audit_data(query: AuditQuery) -> Result<AuditPage, ServerFnError> {
    use crate::web::session::internal;
    let (state, user) = ssr::require_admin().await?;
    let filter = ssr::audit_filter(&query);
    let entries = crate::store::audit::list(&state.db, &filter, 200, None)
        .await
        .map_err(internal)?;
    let params = serde_urlencoded::to_string(&query).unwrap_or_default();
    Ok(AuditPage {
        email: user.email,
        entries,
        csv_link: format!("/admin/audit.csv?{params}"),
    })
}

#[component]
fn AdminNav(current: &'static str) -> impl IntoView {
    let tabs = [
        ("overview", "Overview", "/admin"),
        ("connections", "Connections", "/admin/connections"),
        ("users", "Users", "/admin/users"),
        ("audit", "Audit log", "/admin/audit"),
    ];
    view! {
        <h1>"Admin"</h1>
        <nav class="tabs" aria-label="Admin">
            {tabs
                .into_iter()
                .map(|(id, label, href)| {
                    view! { <a href=href aria-current=(id == current).then_some("page")>{label}</a> }
                })
                .collect_view()}
        </nav>
    }
}

fn status_badge(status: ConnectionStatus) -> impl IntoView {
    let class = match status {
        ConnectionStatus::Active => "badge badge-success",
        ConnectionStatus::Revoked => "badge",
        _ => "badge badge-warning",
    };
    view! { <span class=class data-testid="connection-status">{status.label()}</span> }
}

fn end_user(c: &ConnectionView) -> String {
    c.end_user_email
        .clone()
        .or_else(|| c.end_user_name.clone())
        .unwrap_or_else(|| c.end_user_id.clone())
}

#[component]
fn ConnectionTable(rows: Vec<AdminConnection>) -> impl IntoView {
    view! {
        <div class="table-wrap"><table data-testid="admin-connections">
            <thead><tr>
                <th>"End user"</th><th>"Provider"</th><th>"Account"</th><th>"Status"</th>
                <th>"Organisation · app"</th><th>"Scopes"</th><th>"Last refresh / check"</th>
            </tr></thead>
            <tbody>
                {rows.into_iter().map(|r| {
                    let c = r.connection;
                    let missing = c.missing_scopes.clone();
                    view! {
                        <tr>
                            <td><a href=format!("/admin/connections/{}", c.id)>{end_user(&c)}</a></td>
                            <td>{c.provider_name.clone()}</td>
                            <td>{c.account_label()}</td>
                            <td>{status_badge(c.status)}</td>
                            <td>{format!("{} · {}", r.organisation_name, r.app_name)}</td>
                            <td>{if missing.is_empty() {
                                view! { <span class="muted">"as configured"</span> }.into_any()
                            } else {
                                view! { <span class="badge badge-warning">{format!("Missing: {}", missing.join(", "))}</span> }.into_any()
                            }}</td>
                            <td>{display_opt(c.last_refreshed_at.max(c.last_checked_at))}</td>
                        </tr>
                    }
                }).collect_view()}
            </tbody>
        </table></div>
    }
}

#[component]
pub fn AdminOverview() -> impl IntoView {
    let data = Resource::new(|| (), |_| overview_data());
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let csrf = csrf.clone();
        view! {
            <Title text="Admin" />
            <PortalPage email=page.email.clone() csrf>
                <AdminNav current="overview" />
                <div class="cards" data-testid="overview">
                    <section class="card">
                        <h2>"Connections by status"</h2>
                        {page.by_status.is_empty().then(|| view! { <p class="muted">"No connections yet."</p> })}
                        <ul>{page.by_status.into_iter().map(|(s, n)| view! { <li>{format!("{}: {n}", ConnectionStatus::parse(&s).label())}</li> }).collect_view()}</ul>
                    </section>
                    <section class="card">
                        <h2>"By provider"</h2>
                        {page.by_provider.is_empty().then(|| view! { <p class="muted">"No connections yet."</p> })}
                        <ul>{page.by_provider.into_iter().map(|(p, n)| view! { <li>{format!("{p}: {n}")}</li> }).collect_view()}</ul>
                    </section>
                    <section class="card">
                        <h2>"Last 24 hours"</h2>
                        <ul>
                            <li data-testid="refreshed-24h">{format!("Refreshes: {}", page.refreshed_24h)}</li>
                            <li data-testid="failed-24h">{format!("Failed refreshes and connects: {}", page.failed_24h)}</li>
                            <li data-testid="webhooks-failing">{format!("Webhook deliveries failing: {}", page.webhooks_failing)}</li>
                        </ul>
                    </section>
                </div>
                <section class="panel">
                    <h2>"Needs attention"</h2>
                    {if page.attention.is_empty() {
                        view! { <p class="muted">"Nothing needs attention."</p> }.into_any()
                    } else {
                        view! { <ConnectionTable rows=page.attention /> }.into_any()
                    }}
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn query_value(map: &leptos_router::params::ParamsMap, key: &str) -> Option<String> {
    map.get(key).filter(|v| !v.is_empty())
}

#[component]
pub fn AdminConnections() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            ConnectionQuery {
                status: query_value(&q, "status"),
                provider: query_value(&q, "provider"),
                organisation: query_value(&q, "organisation"),
                app: query_value(&q, "app"),
                mismatch: q.get("mismatch").is_some_and(|v| v == "on"),
                q: query_value(&q, "q"),
                sort: query_value(&q, "sort"),
                after: query_value(&q, "after"),
            }
        },
        connections_data,
    );
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let csrf = csrf.clone();
        let q = query.read_untracked();
        let [status, provider, organisation, app, mismatch, search, sort] = [
            "status",
            "provider",
            "organisation",
            "app",
            "mismatch",
            "q",
            "sort",
        ]
        .map(|k| q.get(k).unwrap_or_default());
        let next_link = page.next.clone().map(|after| {
            let mut pairs: Vec<(String, String)> = q
                .clone()
                .into_iter()
                .filter(|(k, _)| k != "after")
                .map(|(k, v)| (k.to_string(), v))
                .collect();
            pairs.push(("after".into(), after));
            let query: Vec<String> = pairs
                .iter()
                .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
                .collect();
            format!("/admin/connections?{}", query.join("&"))
        });
        view! {
            <Title text="Admin · Connections" />
            <PortalPage email=page.email.clone() csrf>
                <AdminNav current="connections" />
                <form method="get" action="/admin/connections" class="filters row" data-testid="filters">
                    <label>"Status "
                        <select name="status">
                            {[("", "Any"), ("active", "Active"), ("needs_reauthorization", "Needs re-authorization"), ("error", "Error"), ("revoked", "Revoked")]
                                .into_iter()
                                .map(|(v, l)| view! { <option value=v selected=status == v>{l}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <label>"Provider " <input name="provider" value=provider size="10" /></label>
                    <label>"Organisation id " <input name="organisation" value=organisation size="14" /></label>
                    <label>"App id " <input name="app" value=app size="14" /></label>
                    <label class="check"><input type="checkbox" name="mismatch" checked=mismatch == "on" />" Scope mismatch"</label>
                    <label>"Search " <input name="q" type="search" value=search placeholder="end user or account" /></label>
                    <label>"Sort "
                        <select name="sort">
                            <option value="created" selected=sort != "updated">"Newest"</option>
                            <option value="updated" selected=sort == "updated">"Recently changed"</option>
                        </select>
                    </label>
                    <button type="submit" class="btn">"Filter"</button>
                </form>
                <section class="panel">
                    {if page.rows.is_empty() {
                        view! { <p class="muted" data-testid="no-results">"No connections match."</p> }.into_any()
                    } else {
                        view! { <ConnectionTable rows=page.rows /> }.into_any()
                    }}
                    {next_link.map(|href| view! { <p><a href=href data-testid="next-page">"Next page →"</a></p> })}
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

#[component]
pub fn AdminConnectionPage() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        connection_data,
    );
    let feedback = use_feedback("admin-action");
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let (csrf, feedback) = (csrf.clone(), feedback.clone());
        let r = page.row;
        let c = r.connection.clone();
        let action = format!("/admin/connections/{}", c.id);
        view! {
            <Title text="Admin · Connection" />
            <PortalPage email=page.email.clone() csrf=csrf.clone()>
                <AdminNav current="connections" />
                <h2>{format!("{} · {}", end_user(&c), c.provider_name)}</h2>
                <p>{status_badge(c.status)}</p>
                <section class="panel">
                    <table class="props"><tbody>
                        <tr><th scope="row">"Connection id"</th><td><CopyField value=c.id.clone() label="Connection id" /></td></tr>
                        <tr><th scope="row">"Organisation"</th><td>{r.organisation_name.clone()}" "<code>{r.organisation_id.clone()}</code></td></tr>
                        <tr><th scope="row">"App"</th><td>{r.app_name.clone()}" "<code>{c.app_id.clone()}</code></td></tr>
                        <tr><th scope="row">"End user"</th><td><code>{c.end_user_id.clone()}</code>" "{c.end_user_email.clone().unwrap_or_default()}</td></tr>
                        <tr><th scope="row">"Account"</th><td>{c.account_label()}" "<code>{c.account_id.clone()}</code></td></tr>
                        <tr><th scope="row">"Granted scopes"</th><td>{c.granted_scopes.clone().map(|g| g.join(" ")).unwrap_or_else(|| "not reported".into())}</td></tr>
                        <tr><th scope="row">"Configured scopes"</th><td>{c.configured_scopes.join(" ")}{(!c.missing_scopes.is_empty()).then(|| view! { " "<span class="badge badge-warning">{format!("Missing: {}", c.missing_scopes.join(", "))}</span> })}</td></tr>
                        <tr><th scope="row">"Token expiry"</th><td>{c.expires_at.map(display).unwrap_or_else(|| "does not expire".into())}</td></tr>
                        <tr><th scope="row">"Last refresh"</th><td>{display_opt(c.last_refreshed_at)}</td></tr>
                        <tr><th scope="row">"Last health check"</th><td>{display_opt(c.last_checked_at)}</td></tr>
                        <tr><th scope="row">"Last used"</th><td>{display_opt(c.last_used_at)}</td></tr>
                    </tbody></table>
                </section>
                <section class="panel">
                    <h2>"Act"</h2>
                    <p class="muted">"Every action is recorded in the audit log with your reason."</p>
                    <FormError error=feedback.error("") />
                    <form method="post" action=action class="form" data-testid="admin-actions">
                        <CsrfField token=csrf.clone() />
                        <div class="field">
                            <label for="field-reason">"Reason"</label>
                            <input id="field-reason" name="reason" required=true maxlength="500" value=feedback.value("reason")
                                aria-invalid=feedback.error("reason").map(|_| "true") />
                            {feedback.error("reason").map(|e| view! { <span class="error" role="alert">{e}</span> })}
                        </div>
                        <div class="row">
                            <button type="submit" name="_action" value="refresh" class="btn">"Refresh now"</button>
                            <button type="submit" name="_action" value="check" class="btn">"Check health now"</button>
                            <button type="submit" name="_action" value="disconnect" class="btn btn-danger">"Disconnect"</button>
                        </div>
                    </form>
                </section>
                <section class="panel">
                    <h2>"Webhook deliveries"</h2>
                    {if page.deliveries.is_empty() {
                        view! { <p class="muted">"None: the app has no webhook endpoint, or nothing was sent about this connection."</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap"><table data-testid="deliveries">
                                <thead><tr><th>"Created"</th><th>"Event"</th><th>"Status"</th><th>"Attempts"</th><th>"Last answer"</th></tr></thead>
                                <tbody>
                                    {page.deliveries.into_iter().map(|d| view! {
                                        <tr>
                                            <td>{display(d.created_at)}</td>
                                            <td><code>{d.event_type}</code></td>
                                            <td>{d.status}</td>
                                            <td>{d.attempts}</td>
                                            <td>{d.last_status_code.map(|c| format!("HTTP {c}")).unwrap_or_else(|| "—".into())}</td>
                                        </tr>
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any()
                    }}
                </section>
                <section class="panel">
                    <h2>"Timeline"</h2>
                    <EventTimeline events=page.events />
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

#[component]
pub fn AdminUsers() -> impl IntoView {
    let data = Resource::new(|| (), |_| users_data());
    let feedback = use_feedback("admin-user");
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let (csrf, feedback) = (csrf.clone(), feedback.clone());
        let me = page.me.clone();
        view! {
            <Title text="Admin · Users" />
            <PortalPage email=page.email.clone() csrf=csrf.clone()>
                <AdminNav current="users" />
                <FormError error=feedback.error("") />
                <section class="panel">
                    <div class="table-wrap"><table data-testid="users">
                        <thead><tr><th>"Email"</th><th>"Role"</th><th>"Status"</th><th>"Last sign-in"</th><th>"Actions"</th></tr></thead>
                        <tbody>
                            {page.users.into_iter().map(|u| {
                                let action = format!("/admin/users/{}", u.id);
                                let is_me = u.id == me;
                                let admin = u.role == "admin";
                                view! {
                                    <tr>
                                        <td>{u.email.clone()}</td>
                                        <td>{u.role.clone()}</td>
                                        <td>{if u.disabled { "Disabled" } else { "Active" }}</td>
                                        <td>{display_opt(u.last_login_at)}</td>
                                        <td class="row">
                                            {(!is_me).then(|| view! {
                                                <form method="post" action=action.clone()>
                                                    <CsrfField token=csrf.clone() />
                                                    <button type="submit" name="_action" value=if u.disabled { "enable" } else { "disable" } class="btn btn-sm">
                                                        {if u.disabled { "Enable" } else { "Disable" }}
                                                    </button>
                                                </form>
                                            })}
                                            <form method="post" action=action.clone()>
                                                <CsrfField token=csrf.clone() />
                                                <button type="submit" name="_action" value=if admin { "revoke" } else { "grant" } class="btn btn-sm">
                                                    {if admin { "Remove admin" } else { "Make admin" }}
                                                </button>
                                            </form>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table></div>
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

#[component]
pub fn AdminAudit() -> impl IntoView {
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            AuditQuery {
                actor: query_value(&q, "actor"),
                action: query_value(&q, "action"),
                organisation: query_value(&q, "organisation"),
                app: query_value(&q, "app"),
                from: query_value(&q, "from"),
                to: query_value(&q, "to"),
            }
        },
        audit_data,
    );
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let csrf = csrf.clone();
        let q = query.read_untracked();
        let [actor, action, organisation, app, from, to] =
            ["actor", "action", "organisation", "app", "from", "to"]
                .map(|k| q.get(k).unwrap_or_default());
        view! {
            <Title text="Admin · Audit log" />
            <PortalPage email=page.email.clone() csrf>
                <AdminNav current="audit" />
                <form method="get" action="/admin/audit" class="filters row">
                    <label>"Actor " <input name="actor" value=actor placeholder="email, id or type" /></label>
                    <label>"Action " <input name="action" value=action placeholder="e.g. connection.revoked" /></label>
                    <label>"Organisation id " <input name="organisation" value=organisation size="14" /></label>
                    <label>"App id " <input name="app" value=app size="14" /></label>
                    <label>"From " <input name="from" type="date" value=from /></label>
                    <label>"To " <input name="to" type="date" value=to /></label>
                    <button type="submit" class="btn">"Filter"</button>
                    <a class="btn" href=page.csv_link.clone() data-testid="csv">"Export CSV"</a>
                </form>
                <section class="panel">
                    <div class="table-wrap"><table data-testid="audit">
                        <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th>"Details"</th><th>"Reason"</th></tr></thead>
                        <tbody>
                            {page.entries.into_iter().map(|e| {
                                let who = crate::ui::pages::activity::actor_text(&e);
                                view! {
                                    <tr>
                                        <td>{display(e.at)}</td>
                                        <td>{who}</td>
                                        <td><code>{e.action}</code></td>
                                        <td><code class="small">{e.target_id.unwrap_or_default()}</code></td>
                                        <td>{e.detail.unwrap_or_default()}</td>
                                        <td>{e.reason.unwrap_or_default()}</td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table></div>
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use super::*;
    use crate::{
        domain::users::{CurrentUser, Role},
        infra::db::now_ms,
        store::audit::{self as audit, Actor, Entry},
        web::form_post::{not_found, rerender, see_other, server_error, Submission},
        web::forms::FormFeedback,
        web::session::require_user,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::{Path, Query, State},
        http::{header, Request, StatusCode},
        response::{IntoResponse, Response},
    };
    use sqlx::Row;

    /// The signed-in administrator; anyone else gets "not found".
    pub async fn require_admin() -> Result<(AppState, CurrentUser), ServerFnError> {
        match require_user().await {
            Ok((state, user)) if user.role == Role::Admin => Ok((state, user)),
            Ok(_) | Err(_) => Err(crate::web::session::not_found()),
        }
    }

    /// The connection columns with where each lives: one query per page.
    fn select() -> String {
        crate::store::connections::SELECT.replacen(
            " FROM connections c",
            ", a.name AS app_name, o.id AS org_id, o.name AS org_name FROM connections c",
            1,
        ) + " JOIN apps a ON a.id = c.app_id JOIN organisations o ON o.id = a.organisation_id"
    }

    fn rows(
        state: &AppState,
        found: Vec<sqlx::any::AnyRow>,
    ) -> Result<Vec<AdminConnection>, sqlx::Error> {
        found
            .iter()
            .map(|r| {
                Ok(AdminConnection {
                    connection: crate::store::connections::view(r, &state.catalogue)?,
                    app_name: r.try_get("app_name")?,
                    organisation_id: r.try_get("org_id")?,
                    organisation_name: r.try_get("org_name")?,
                })
            })
            .collect()
    }

    pub async fn find(state: &AppState, id: &str) -> Result<Option<AdminConnection>, sqlx::Error> {
        let found = sqlx::query(&format!("{} WHERE c.id = $1", select()))
            .bind(id)
            .fetch_all(state.db.pool())
            .await?;
        Ok(rows(state, found)?.into_iter().next())
    }

    /// A page of connections matching `query`, and the cursor of the next.
    pub async fn connections(
        state: &AppState,
        query: &ConnectionQuery,
        limit: i64,
    ) -> Result<(Vec<AdminConnection>, Option<String>), sqlx::Error> {
        let sort = if query.sort.as_deref() == Some("updated") {
            "updated_at"
        } else {
            "created_at"
        };
        let mut sql = format!("{} WHERE 1 = 1", select());
        let mut text: Vec<String> = Vec::new();
        let mut clause = |sql: &mut String, template: &str, value: String| {
            text.push(value);
            sql.push_str(&template.replace('?', &format!("${}", text.len())));
        };
        if let Some(v) = &query.status {
            clause(&mut sql, " AND c.status = ?", v.clone());
        }
        if let Some(v) = &query.provider {
            clause(&mut sql, " AND p.slug = ?", v.clone());
        }
        if let Some(v) = &query.organisation {
            clause(&mut sql, " AND a.organisation_id = ?", v.clone());
        }
        if let Some(v) = &query.app {
            clause(&mut sql, " AND c.app_id = ?", v.clone());
        }
        if let Some(v) = &query.q {
            let like = format!("%{}%", v.to_lowercase().replace(['%', '_'], ""));
            clause(
                &mut sql,
                " AND (LOWER(c.end_user_id) LIKE ? OR LOWER(COALESCE(c.end_user_name, '')) LIKE ? OR LOWER(COALESCE(c.end_user_email, '')) LIKE ? OR LOWER(COALESCE(c.account_name, '')) LIKE ?)",
                like,
            );
        }
        if query.mismatch {
            sql.push_str(" AND c.granted_scopes IS NOT NULL AND c.granted_scopes <> p.scopes");
        }
        let mut after = None;
        if let Some((at, id)) = query
            .after
            .as_deref()
            .and_then(|a| a.split_once(':'))
            .and_then(|(at, id)| Some((at.parse::<i64>().ok()?, id.to_string())))
        {
            let n = text.len();
            sql.push_str(&format!(
                " AND (c.{sort} < ${} OR (c.{sort} = ${} AND c.id < ${}))",
                n + 1,
                n + 2,
                n + 3
            ));
            after = Some((at, id));
        }
        sql.push_str(&format!(
            " ORDER BY c.{sort} DESC, c.id DESC LIMIT {}",
            limit + 1
        ));
        let mut q = sqlx::query(&sql);
        for t in text {
            q = q.bind(t);
        }
        if let Some((at, id)) = after {
            q = q.bind(at).bind(at).bind(id);
        }
        let mut found = rows(state, q.fetch_all(state.db.pool()).await?)?;
        let next = if found.len() as i64 > limit {
            found.truncate(limit as usize);
            found.last().map(|r| {
                let at = if sort == "updated_at" {
                    r.connection.updated_at
                } else {
                    r.connection.created_at
                };
                format!("{at}:{}", r.connection.id)
            })
        } else {
            None
        };
        Ok((found, next))
    }

    pub async fn overview(state: &AppState, email: String) -> Result<Overview, sqlx::Error> {
        let pairs = |rows: Vec<sqlx::any::AnyRow>| -> Result<Vec<(String, i64)>, sqlx::Error> {
            rows.into_iter()
                .map(|r| Ok((r.try_get("k")?, r.try_get("n")?)))
                .collect()
        };
        let by_status = pairs(
            sqlx::query("SELECT status AS k, COUNT(*) AS n FROM connections GROUP BY status ORDER BY status")
                .fetch_all(state.db.pool())
                .await?,
        )?;
        let by_provider = pairs(
            sqlx::query("SELECT p.slug AS k, COUNT(*) AS n FROM connections c JOIN provider_configs p ON p.id = c.provider_config_id GROUP BY p.slug ORDER BY p.slug")
                .fetch_all(state.db.pool())
                .await?,
        )?;
        let since = now_ms() - 24 * 60 * 60 * 1000;
        let count = |kinds: &'static str| {
            let db = state.db.clone();
            async move {
                sqlx::query_scalar::<_, i64>(&format!(
                    "SELECT COUNT(*) FROM connection_events WHERE kind IN ({kinds}) AND at >= $1"
                ))
                .bind(since)
                .fetch_one(db.pool())
                .await
            }
        };
        let refreshed_24h = count("'refreshed'").await?;
        let failed_24h = count("'refresh_failed', 'connect_failed'").await?;
        let webhooks_failing: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM webhook_deliveries WHERE status = 'failed' OR (status = 'pending' AND attempts > 0)",
        )
        .fetch_one(state.db.pool())
        .await?;
        let mut attention = Vec::new();
        for status in ["needs_reauthorization", "error"] {
            let (mut found, _) = connections(
                state,
                &ConnectionQuery {
                    status: Some(status.into()),
                    ..Default::default()
                },
                25,
            )
            .await?;
            attention.append(&mut found);
        }
        let (mut mismatched, _) = connections(
            state,
            &ConnectionQuery {
                status: Some("active".into()),
                mismatch: true,
                ..Default::default()
            },
            25,
        )
        .await?;
        attention.append(&mut mismatched);
        Ok(Overview {
            email,
            by_status,
            by_provider,
            refreshed_24h,
            failed_24h,
            attention,
            webhooks_failing,
        })
    }

    /// Webhook deliveries whose payload names connection `id`.
    pub async fn deliveries(
        state: &AppState,
        app_id: &str,
        id: &str,
    ) -> Result<Vec<DeliveryRow>, sqlx::Error> {
        sqlx::query(
            "SELECT created_at, event_type, status, attempts, last_status_code FROM webhook_deliveries \
             WHERE app_id = $1 AND payload LIKE $2 ORDER BY created_at DESC LIMIT 50",
        )
        .bind(app_id)
        .bind(format!("%\"connection_id\":\"{id}\"%"))
        .fetch_all(state.db.pool())
        .await?
        .into_iter()
        .map(|r| {
            Ok(DeliveryRow {
                created_at: r.try_get("created_at")?,
                event_type: r.try_get("event_type")?,
                status: r.try_get("status")?,
                attempts: r.try_get("attempts")?,
                last_status_code: r.try_get("last_status_code")?,
            })
        })
        .collect()
    }

    pub async fn users(state: &AppState) -> Result<Vec<UserRow>, sqlx::Error> {
        sqlx::query("SELECT id, email, role, disabled_at, last_login_at, created_at FROM users ORDER BY created_at")
            .fetch_all(state.db.pool())
            .await?
            .into_iter()
            .map(|r| {
                Ok(UserRow {
                    id: r.try_get("id")?,
                    email: r.try_get("email")?,
                    role: r.try_get("role")?,
                    disabled: r.try_get::<Option<i64>, _>("disabled_at")?.is_some(),
                    last_login_at: r.try_get("last_login_at")?,
                    created_at: r.try_get("created_at")?,
                })
            })
            .collect()
    }

    fn day_start(text: &str) -> Option<i64> {
        // YYYY-MM-DD → ms at 00:00 UTC (days from civil, inverse of time::civil_from_days)
        let mut parts = text.splitn(3, '-');
        let y: i64 = parts.next()?.parse().ok()?;
        let m: i64 = parts.next()?.parse().ok()?;
        let d: i64 = parts.next()?.parse().ok()?;
        if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return None;
        }
        let y = if m <= 2 { y - 1 } else { y };
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let mp = (m + 9) % 12;
        let doy = (153 * mp + 2) / 5 + d - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        Some((era * 146_097 + doe - 719_468) * 86_400_000)
    }

    pub fn audit_filter(q: &AuditQuery) -> audit::Filter {
        audit::Filter {
            organisation_id: q.organisation.clone(),
            app_id: q.app.clone(),
            actor: q.actor.clone(),
            action: q.action.clone(),
            from: q.from.as_deref().and_then(day_start),
            to: q.to.as_deref().and_then(day_start).map(|t| t + 86_400_000),
        }
    }

    /// Reads an admin form; anyone but an administrator gets 404.
    async fn admin_form(
        state: &AppState,
        request: Request<Body>,
    ) -> Result<(Submission, CurrentUser), Response> {
        let form = Submission::read(state, request).await?;
        match crate::store::sessions::current_user(
            &state.db,
            &form.parts.headers,
            state.settings.secure_cookies,
        )
        .await
        {
            Ok(Some(user)) if user.role == Role::Admin => Ok((form, user)),
            Ok(_) => Err(not_found()),
            Err(e) => Err(server_error(e)),
        }
    }

    pub async fn post_connection(
        State(state): State<AppState>,
        Path(id): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let (form, user) = match admin_form(&state, request).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let row = match find(&state, &id).await {
            Ok(Some(r)) => r,
            Ok(None) => return not_found(),
            Err(e) => return server_error(e),
        };
        let reason = form.get("reason").trim().to_string();
        if reason.is_empty() || reason.chars().count() > 500 {
            let mut feedback = FormFeedback::new("admin-action");
            feedback.keep("reason", &reason);
            feedback.add_error(
                "reason",
                "Say why (1 to 500 characters): it goes into the audit log",
            );
            return rerender(&state, form.parts, feedback).await;
        }
        let actor = Actor::user(&user);
        let app_id = row.connection.app_id.clone();
        let outcome: Result<String, String> = match form.get("_action").as_str() {
            "disconnect" => {
                crate::services::revocation::disconnect(&state, &app_id, &id, &actor, Some(&reason))
                    .await
                    .map(|_| "disconnected".to_string())
                    .map_err(|e| e.to_string())
            }
            "refresh" => {
                let result = crate::services::tokens::usable_token(&state, &id, true).await;
                let detail = match &result {
                    Ok(_) => "refreshed".to_string(),
                    Err(e) => format!("refresh failed: {e}"),
                };
                record_action(
                    &state,
                    &actor,
                    "admin.connection_refreshed",
                    &app_id,
                    &id,
                    &detail,
                    &reason,
                )
                .await
            }
            "check" => {
                let result = crate::services::tokens::health_check(&state, &id).await;
                let detail = match &result {
                    Ok(()) => "health checked".to_string(),
                    Err(e) => format!("health check failed: {e}"),
                };
                record_action(
                    &state,
                    &actor,
                    "admin.connection_checked",
                    &app_id,
                    &id,
                    &detail,
                    &reason,
                )
                .await
            }
            _ => return (StatusCode::BAD_REQUEST, "Unknown action").into_response(),
        };
        match outcome {
            Ok(_) => see_other(&format!("/admin/connections/{id}")),
            Err(e) => server_error(e),
        }
    }

    async fn record_action(
        state: &AppState,
        actor: &Actor,
        action: &str,
        app_id: &str,
        id: &str,
        detail: &str,
        reason: &str,
    ) -> Result<String, String> {
        audit::record_alone(
            &state.db,
            actor,
            Entry::new(action)
                .app(None, app_id)
                .target("connection", id)
                .detail(detail)
                .reason(reason),
        )
        .await
        .map(|_| detail.to_string())
        .map_err(|e| e.to_string())
    }

    pub async fn post_user(
        State(state): State<AppState>,
        Path(id): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let (form, admin) = match admin_form(&state, request).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let action = form.get("_action");
        let result: Result<Option<&'static str>, sqlx::Error> = async {
            let mut tx = state.db.pool().begin().await?;
            let target: Option<(String, String)> = sqlx::query_as("SELECT email, role FROM users WHERE id = $1")
                .bind(&id)
                .fetch_optional(&mut *tx)
                .await?;
            let Some((email, role)) = target else {
                return Ok(Some("not found"));
            };
            let other_admins: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled_at IS NULL AND id <> $1",
            )
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?;
            let audit_action = match action.as_str() {
                "disable" if id == admin.id => return Ok(Some("You cannot disable your own account.")),
                "disable" if role == "admin" && other_admins == 0 => {
                    return Ok(Some("This is the last administrator: make someone else an administrator first."))
                }
                "disable" => {
                    sqlx::query("UPDATE users SET disabled_at = $1 WHERE id = $2")
                        .bind(now_ms())
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    // their sessions end at once
                    sqlx::query("DELETE FROM sessions WHERE user_id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    "user.disabled"
                }
                "enable" => {
                    sqlx::query("UPDATE users SET disabled_at = NULL WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    "user.enabled"
                }
                "grant" => {
                    sqlx::query("UPDATE users SET role = 'admin' WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    "user.admin_granted"
                }
                "revoke" if other_admins == 0 => {
                    return Ok(Some("This is the last administrator: make someone else an administrator first."))
                }
                "revoke" => {
                    sqlx::query("UPDATE users SET role = 'developer' WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await?;
                    "user.admin_revoked"
                }
                _ => return Ok(Some("Unknown action")),
            };
            audit::record(
                &mut tx,
                &Actor::user(&admin),
                Entry::new(audit_action).target("user", &id).detail(&email),
            )
            .await?;
            tx.commit().await?;
            Ok(None)
        }
        .await;
        match result {
            Ok(None) => see_other("/admin/users"),
            Ok(Some("not found")) => not_found(),
            Ok(Some(message)) => {
                let mut feedback = FormFeedback::new("admin-user");
                feedback.add_error("", message);
                // the form posts to the user's address; the page is the list
                let mut parts = form.parts;
                parts.uri = axum::http::Uri::from_static("/admin/users");
                rerender(&state, parts, feedback).await
            }
            Err(e) => server_error(e),
        }
    }

    /// `GET /admin/audit.csv`: the filtered audit log as CSV (at most 100,000 rows).
    pub async fn audit_csv(
        State(state): State<AppState>,
        Query(query): Query<AuditQuery>,
        request: Request<Body>,
    ) -> Response {
        let (parts, _) = request.into_parts();
        match crate::store::sessions::current_user(
            &state.db,
            &parts.headers,
            state.settings.secure_cookies,
        )
        .await
        {
            Ok(Some(user)) if user.role == Role::Admin => {}
            Ok(_) => return not_found(),
            Err(e) => return server_error(e),
        }
        let entries = match audit::list(&state.db, &audit_filter(&query), 100_000, None).await {
            Ok(e) => e,
            Err(e) => return server_error(e),
        };
        let cell = |v: &str| {
            // quoted, and never starting a spreadsheet formula
            let v = if v.starts_with(['=', '+', '-', '@']) {
                format!("'{v}")
            } else {
                v.to_string()
            };
            format!("\"{}\"", v.replace('"', "\"\""))
        };
        let mut csv = String::from("time,actor_type,actor,action,organisation_id,app_id,target_type,target_id,detail,reason\n");
        for e in entries {
            let row = [
                crate::util::time::rfc3339(e.at),
                e.actor_type,
                e.actor_label.unwrap_or_default(),
                e.action,
                e.organisation_id.unwrap_or_default(),
                e.app_id.unwrap_or_default(),
                e.target_type.unwrap_or_default(),
                e.target_id.unwrap_or_default(),
                e.detail.unwrap_or_default(),
                e.reason.unwrap_or_default(),
            ];
            csv.push_str(&row.iter().map(|v| cell(v)).collect::<Vec<_>>().join(","));
            csv.push('\n');
        }
        (
            [
                (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                (
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"audit-log.csv\"",
                ),
                (header::CACHE_CONTROL, "no-store"),
            ],
            csv,
        )
            .into_response()
    }
}
