//! An app's activity: its entries of the audit log, for its developers.

use crate::{
    domain::apps::AppSummary,
    domain::audit::AuditView,
    domain::paging::Pager,
    ui::components::{
        layout::PortalPage,
        portal::{portal_page, AppHeader},
    },
    ui::forms::use_csrf_token,
    ui::pages::paging::{value, Notices, PageLinks},
    util::time::display,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::{use_params_map, use_query_map};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityData {
    pub seat: crate::domain::orgs::Seat,
    /// The app, on an app's page; none on the organisation's.
    pub app: Option<AppSummary>,
    pub entries: Vec<AuditView>,
    pub pager: Pager,
}

/// The list's filters and page, as the URL's query has them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityQuery {
    pub kind: Option<String>,
    pub action: Option<String>,
    pub who: Option<String>,
    /// `YYYY-MM-DD`, UTC, both days included.
    pub from: Option<String>,
    pub to: Option<String>,
    pub older: Option<String>,
    pub newer: Option<String>,
}

/// What actions are about, for the filter: `(kind, label)`.
const KINDS: &[(&str, &str)] = &[
    ("connection", "Connections"),
    ("token", "Token reads"),
    ("api_key", "API keys"),
    ("provider", "Providers"),
    ("webhook", "Webhooks"),
    ("app", "Apps"),
    ("member", "Members"),
    ("invitation", "Invitations"),
    ("organisation", "The organisation"),
];

/// Who acted, for the filter: `(actor type, label)`.
const WHO: &[(&str, &str)] = &[
    ("developer", "Developers"),
    ("admin", "Administrators"),
    ("api_key", "API keys"),
    ("end_user", "End users"),
    ("system", "The vault"),
];

const FILTERS: &[&str] = &["kind", "action", "who", "from", "to"];

/// Whose activity a page shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Scope {
    App(String),
    Organisation(String),
}

#[server(endpoint = "activity/list")]
pub async fn activity_page(
    scope: Scope,
    #[server(default)] query: ActivityQuery,
) -> Result<ActivityData, ServerFnError> {
    use crate::domain::orgs::Need;
    use crate::{
        domain::paging::{Cursor, PageAt, PAGE_SIZE},
        store::audit,
        util::time::day_start,
        web::session::internal,
    };
    let (state, seat, app) = match &scope {
        Scope::App(id) => {
            let (state, seat, app) = crate::web::session::app_access(id, Need::Read).await?;
            (state, seat, Some(app))
        }
        Scope::Organisation(id) => {
            let (state, _, seat) = crate::web::session::org_access(id, Need::Read).await?;
            (state, seat, None)
        }
    };
    let (page, bad_cursor) = PageAt::from_query(query.older.as_deref(), query.newer.as_deref());
    let mut notices: Vec<String> = bad_cursor.into_iter().collect();
    let clean = |v: Option<String>| {
        v.map(|v| v.trim().chars().take(200).collect::<String>())
            .filter(|v| !v.is_empty())
    };
    let mut known = |v: Option<String>, list: &[(&str, &str)], what: &str| match clean(v) {
        Some(v) if list.iter().any(|(k, _)| *k == v) => Some(v),
        Some(v) => {
            notices.push(format!("There is no {what} “{v}”: not filtered by it."));
            None
        }
        None => None,
    };
    let kind = known(query.kind, KINDS, "kind");
    let who = known(query.who, WHO, "kind of actor");
    let mut day = |v: Option<String>, what: &str| match clean(v) {
        Some(v) => match day_start(&v) {
            Some(t) => Some(t),
            None => {
                notices.push(format!(
                    "“{v}” is not a date (YYYY-MM-DD): not filtered by the {what} day."
                ));
                None
            }
        },
        None => None,
    };
    let from = day(query.from, "first");
    let to = day(query.to, "last").map(|t| t + 86_400_000);
    let filter = audit::Filter {
        app_id: app.as_ref().map(|a| a.id.clone()),
        organisation_id: app.is_none().then(|| seat.organisation.id.clone()),
        action: clean(query.action),
        kind,
        actor: who,
        from,
        to,
    };
    let (entries, more) = audit::page_of(&state.db, &filter, PAGE_SIZE, &page)
        .await
        .map_err(internal)?;
    let mut pager = Pager::new(
        &page,
        more,
        entries.first().map(|e| Cursor::new(e.at, &e.id)),
        entries.last().map(|e| Cursor::new(e.at, &e.id)),
    );
    pager.notices = notices;
    Ok(ActivityData {
        seat,
        app,
        entries,
        pager,
    })
}

/// Who, for people: the actor's label, or what kind of actor it was.
pub fn actor_text(entry: &AuditView) -> String {
    let kind = match entry.actor_type.as_str() {
        "api_key" => "API key",
        "end_user" => "end user",
        "developer" => "developer",
        "admin" => "admin",
        "system" => "the vault",
        "operator" => "operator",
        _ => "someone not signed in",
    };
    match &entry.actor_label {
        Some(label) => format!("{label} ({kind})"),
        None => kind.to_string(),
    }
}

/// An app's activity.
#[component]
pub fn Activity() -> impl IntoView {
    view! { <ActivityView org=false /> }
}

/// An organisation's activity: its members, invitations and apps.
#[component]
pub fn OrgActivity() -> impl IntoView {
    view! { <ActivityView org=true /> }
}

#[component]
fn ActivityView(org: bool) -> impl IntoView {
    let params = use_params_map();
    let query = use_query_map();
    let data = Resource::new(
        move || {
            let q = query.read();
            let p = params.read();
            (
                if org {
                    Scope::Organisation(p.get("org_id").unwrap_or_default())
                } else {
                    Scope::App(p.get("app_id").unwrap_or_default())
                },
                ActivityQuery {
                    kind: value(&q, "kind"),
                    action: value(&q, "action"),
                    who: value(&q, "who"),
                    from: value(&q, "from"),
                    to: value(&q, "to"),
                    older: value(&q, "older"),
                    newer: value(&q, "newer"),
                },
            )
        },
        |(scope, q)| activity_page(scope, q),
    );
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let csrf = csrf.clone();
        let q = query.get_untracked();
        let [kind, action, who, from, to] =
            ["kind", "action", "who", "from", "to"].map(|k| q.get(k).unwrap_or_default());
        let (path, title, header) = match &page.app {
            Some(app) => (
                format!("/apps/{}/activity", app.id),
                format!("Activity · {}", app.name),
                view! { <AppHeader app_id=app.id.clone() name=app.name.clone() current="activity" /> }.into_any(),
            ),
            None => (
                format!("/orgs/{}/activity", page.seat.organisation.id),
                format!("Activity · {}", page.seat.organisation.name),
                view! { <h1>{page.seat.organisation.name.clone()}</h1> }.into_any(),
            ),
        };
        let about = if page.app.is_some() {
            "Everything done in this app — by you and your team, your API keys, your end users and the vault itself — newest first. Entries cannot be changed or deleted."
        } else {
            "Everything done in this organisation — members joining, leaving and changing roles, invitations, and the activity of every app — newest first. Entries cannot be changed or deleted."
        };
        let choices = |list: &'static [(&'static str, &'static str)], current: String| {
            list.iter()
                .map(|(v, l)| view! { <option value=*v selected=current == *v>{*l}</option> })
                .collect_view()
        };
        view! {
            <Title text=title />
            <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf>
                {header}
                <Notices pager=page.pager.clone() />
                <section class="panel">
                    <h2>"Activity"</h2>
                    <p class="muted">{about}</p>
                    <form method="get" action=path.clone() class="filters row" data-testid="filters">
                        <label>"About "
                            <select name="kind"><option value="">"Anything"</option>{choices(KINDS, kind)}</select>
                        </label>
                        <label>"Action " <input name="action" value=action maxlength="200" placeholder="e.g. connection.created" /></label>
                        <label>"By "
                            <select name="who"><option value="">"Anyone"</option>{choices(WHO, who)}</select>
                        </label>
                        <label>"From " <input name="from" type="date" value=from /></label>
                        <label>"To " <input name="to" type="date" value=to /></label>
                        <button type="submit" class="btn">"Filter"</button>
                    </form>
                    {if page.entries.is_empty() {
                        view! { <p class="muted" data-testid="no-results">"Nothing here."</p> }.into_any()
                    } else {
                        view! {
                            <div class="table-wrap"><table data-testid="activity">
                                <thead><tr><th>"When"</th><th>"Who"</th><th>"What"</th><th>"On"</th><th>"Details"</th></tr></thead>
                                <tbody>
                                    {page.entries.into_iter().map(|e| {
                                        let who = actor_text(&e);
                                        view! {
                                            <tr>
                                                <td>{display(e.at)}</td>
                                                <td>{who}</td>
                                                <td><code>{e.action.clone()}</code></td>
                                                <td><code class="small">{e.target_id.clone().unwrap_or_default()}</code></td>
                                                <td>{e.detail.clone().unwrap_or_default()}{e.reason.clone().map(|r| format!(" — reason: {r}"))}</td>
                                            </tr>
                                        }
                                    }).collect_view()}
                                </tbody>
                            </table></div>
                        }.into_any()
                    }}
                    <PageLinks pager=page.pager.clone() path=path.clone() query=q.clone() keys=FILTERS />
                </section>
            </PortalPage>
        }
        .into_any()
    })
}

/// An app's activity, for the router.
#[component(transparent)]
pub fn ActivityRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/apps/:app_id/activity") view=Activity ssr=SsrMode::Async />
        <Route path=path!("/orgs/:org_id/activity") view=OrgActivity ssr=SsrMode::Async />
    }
    .into_inner()
}
