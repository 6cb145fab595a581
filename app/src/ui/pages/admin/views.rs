//! The admin area's pages.

use super::*;
use crate::{
    domain::admin::{AdminConnection, DeliveryRow},
    domain::connections::{ConnectionStatus, ConnectionView},
    ui::components::{
        layout::PortalPage,
        portal::{portal_page, EventTimeline},
        provider::CopyField,
    },
    ui::forms::{use_csrf_token, use_feedback, use_shown_once, CsrfField, FormError, TextField},
    ui::pages::paging::{value, Notices, PageLinks},
    util::time::{display, display_opt},
};
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};

#[component]
fn AdminNav(current: &'static str) -> impl IntoView {
    let tabs = [
        ("overview", "Overview", "/admin"),
        ("connections", "Connections", "/admin/connections"),
        ("users", "Users", "/admin/users"),
        ("invitations", "Invitations", "/admin/invitations"),
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
                            <li data-testid="interrupted-24h" title="A server stopped mid-refresh after the provider had rotated the token: the end user must connect again">{format!("Lost to interrupted refreshes: {}", page.interrupted_24h)}</li>
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
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            (
                params.read().get("id").unwrap_or_default(),
                DeliveriesQuery {
                    older: value(&q, "older"),
                    newer: value(&q, "newer"),
                },
            )
        },
        |(id, q)| connection_data(id, q),
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
                    <Notices pager=page.pager.clone() />
                    <DeliveriesTable deliveries=page.deliveries />
                    <PageLinks pager=page.pager.clone() path=format!("/admin/connections/{}", c.id) query=query.get_untracked() keys=&[] />
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

/// The webhook deliveries about a connection.
#[component]
fn DeliveriesTable(deliveries: Vec<DeliveryRow>) -> impl IntoView {
    if deliveries.is_empty() {
        return view! { <p class="muted">"None: the app has no webhook endpoint, or nothing was sent about this connection."</p> }.into_any();
    }
    view! {
        <div class="table-wrap"><table data-testid="deliveries">
            <thead><tr><th>"Created"</th><th>"Event"</th><th>"Status"</th><th>"Attempts"</th><th>"Last answer"</th></tr></thead>
            <tbody>
                {deliveries.into_iter().map(|d| view! {
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
    }
    .into_any()
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
pub fn AdminInvitations() -> impl IntoView {
    let data = Resource::new(|| (), |_| invitations_data());
    let feedback = use_feedback("invite");
    let new_link = use_shown_once();
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let (csrf, feedback, new_link) = (csrf.clone(), feedback.clone(), new_link.clone());
        let mode = match page.signup {
            crate::domain::users::SignupMode::Invite => {
                "Sign-up is by invitation: people join with a link from this page."
            }
            crate::domain::users::SignupMode::Open => {
                "Sign-up is open: anyone can create an account; invitations work too."
            }
            crate::domain::users::SignupMode::Closed => {
                "Sign-up is closed, but invitation links from this page still work."
            }
        };
        view! {
            <Title text="Admin · Invitations" />
            <PortalPage email=page.email.clone() csrf=csrf.clone()>
                <AdminNav current="invitations" />
                {new_link.map(|link| view! {
                    <section class="panel panel-highlight" data-testid="new-invitation">
                        <h2>"Send this link to the person you invited"</h2>
                        <p>"It works once, for 7 days. This is the only time it is shown: the vault keeps only a hash."</p>
                        <CopyField value=link label="Invitation link" testid="invitation-link" />
                    </section>
                })}
                <section class="panel">
                    <h2>"Invite someone"</h2>
                    <p class="muted" data-testid="signup-mode">{mode}</p>
                    <FormError error=feedback.error("") />
                    <form method="post" action="/admin/invitations" class="form inline-form">
                        <CsrfField token=csrf.clone() />
                        <TextField
                            label="Email"
                            name="email"
                            kind="email"
                            value=feedback.value("email")
                            error=feedback.error("email")
                            maxlength=254
                        />
                        <button type="submit" class="btn btn-primary">"Create invitation link"</button>
                    </form>
                </section>
                <section class="panel">
                    <h2>"Invitations"</h2>
                    {if page.invitations.is_empty() {
                        view! { <p class="muted" data-testid="no-invitations">"No invitations yet."</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap"><table data-testid="invitations">
                                <thead><tr><th>"Email"</th><th>"Invited by"</th><th>"Created"</th><th>"Status"</th><th></th></tr></thead>
                                <tbody>
                                    {page.invitations.into_iter().map(|i| {
                                        let live = i.pending;
                                        let status = i.status();
                                        let action = format!("/admin/invitations/{}", i.id);
                                        view! {
                                            <tr>
                                                <td>{i.email.clone()}</td>
                                                <td>{i.invited_by.clone().unwrap_or_default()}</td>
                                                <td>{display(i.created_at)}</td>
                                                <td>{status}</td>
                                                <td>{live.then(|| view! {
                                                    <form method="post" action=action>
                                                        <CsrfField token=csrf.clone() />
                                                        <button type="submit" class="btn btn-sm btn-danger">"Revoke"</button>
                                                    </form>
                                                })}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any()
                    }}
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
                older: query_value(&q, "older"),
                newer: query_value(&q, "newer"),
            }
        },
        audit_data,
    );
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let csrf = csrf.clone();
        let q = query.get_untracked();
        let [actor, action, organisation, app, from, to] =
            ["actor", "action", "organisation", "app", "from", "to"]
                .map(|k| q.get(k).unwrap_or_default());
        view! {
            <Title text="Admin · Audit log" />
            <PortalPage email=page.email.clone() csrf>
                <AdminNav current="audit" />
                <Notices pager=page.pager.clone() />
                <form method="get" action="/admin/audit" class="filters row">
                    <label>"Actor " <input name="actor" value=actor placeholder="email, id or type" /></label>
                    <label>"Action " <input name="action" value=action placeholder="e.g. connection.revoked" /></label>
                    <label>"Organisation id " <input name="organisation" value=organisation size="14" /></label>
                    <label>"App id " <input name="app" value=app size="14" /></label>
                    <label>"From " <input name="from" type="date" value=from /></label>
                    <label>"To " <input name="to" type="date" value=to /></label>
                    <button type="submit" class="btn">"Filter"</button>
                    <a class="btn" href=page.csv_link.clone() rel="external" download="audit-log.csv" data-testid="csv">"Export CSV"</a>
                </form>
                <section class="panel">
                    <div class="table-wrap"><table data-testid="audit">
                        <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th>"Details"</th><th>"Reason"</th><th>"From"</th></tr></thead>
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
                                        <td><code class="small">{e.client_address.unwrap_or_default()}</code></td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table></div>
                    <PageLinks pager=page.pager.clone() path="/admin/audit".to_string() query=q.clone()
                        keys=&["actor", "action", "organisation", "app", "from", "to"] />
                </section>
            </PortalPage>
        }
        .into_any()
    })
}
