//! An app's activity: its entries of the audit log, for its developers.

use crate::{
    domain::apps::AppSummary,
    domain::audit::AuditView,
    ui::components::{
        layout::PortalPage,
        portal::{portal_page, AppHeader},
    },
    ui::forms::use_csrf_token,
    util::time::display,
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityData {
    pub email: String,
    pub app: AppSummary,
    pub entries: Vec<AuditView>,
}

#[server(endpoint = "activity/list")]
pub async fn activity_page(app_id: String) -> Result<ActivityData, ServerFnError> {
    use crate::{store::audit, web::session::internal};
    let (state, email, app) = crate::web::session::owned_app(&app_id).await?;
    let filter = audit::Filter {
        app_id: Some(app.id.clone()),
        ..Default::default()
    };
    let entries = audit::list(&state.db, &filter, 200, None)
        .await
        .map_err(internal)?;
    Ok(ActivityData {
        email,
        app,
        entries,
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

#[component]
pub fn Activity() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.read().get("app_id").unwrap_or_default(),
        activity_page,
    );
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let csrf = csrf.clone();
        view! {
            <Title text=format!("Activity · {}", page.app.name) />
            <PortalPage email=page.email.clone() csrf=csrf>
                <AppHeader app_id=page.app.id.clone() name=page.app.name.clone() current="activity" />
                <section class="panel">
                    <h2>"Activity"</h2>
                    <p class="muted">"Everything done in this app — by you and your team, your API keys, your end users and the vault itself — newest first. Entries cannot be changed or deleted."</p>
                    {if page.entries.is_empty() {
                        view! { <p class="muted">"Nothing yet."</p> }.into_any()
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
    }
    .into_inner()
}
