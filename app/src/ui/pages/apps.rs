//! Apps: the list, creating one, and an app's page (rename, delete).

use crate::{
    domain::apps::{AppSummary, APP_NAME_MAX},
    domain::orgs::Need,
    ui::components::{
        layout::PortalPage,
        portal::{is_unauthorized, portal_page, AppHeader, SignInFirst},
    },
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError, TextField},
};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppsPageData {
    pub seat: crate::domain::orgs::Seat,
    pub apps: Vec<AppSummary>,
    /// The signed-in user administers the instance.
    pub admin: bool,
}

#[server(endpoint = "apps/list")]
pub async fn list_apps() -> Result<AppsPageData, ServerFnError> {
    use crate::web::session::{internal, require_seat};
    let (state, user, seat) = require_seat().await?;
    let apps = crate::store::apps::list(&state.db, &seat.organisation.id)
        .await
        .map_err(internal)?;
    Ok(AppsPageData {
        admin: user.role == crate::domain::users::Role::Admin,
        seat,
        apps,
    })
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppPageData {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    pub providers: Vec<crate::domain::provider_configs::ConfigView>,
}

#[server(endpoint = "apps/get")]
pub async fn get_app(app_id: String) -> Result<AppPageData, ServerFnError> {
    use crate::web::session::{app_access, internal};
    let (state, seat, app) = app_access(&app_id, crate::domain::orgs::Need::Read).await?;
    let providers = crate::store::provider_configs::list(&state.db, &state.keyring, &app.id)
        .await
        .map_err(internal)?;
    Ok(AppPageData {
        seat,
        app,
        providers,
    })
}

#[component]
pub fn AppsList() -> impl IntoView {
    let data = Resource::new(|| (), |_| list_apps());
    let feedback = use_feedback("create-app");
    let csrf = use_csrf_token();
    view! {
        <Title text="Apps" />
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || data.get().map(|result| match result {
                Err(e) if is_unauthorized(&e) => view! { <SignInFirst /> }.into_any(),
                Err(_) => view! { <PortalPage email=String::new() csrf=csrf.clone()><p>"Could not load your apps."</p></PortalPage> }.into_any(),
                Ok(page) => {
                    let feedback = feedback.clone();
                    let csrf = csrf.clone();
                    view! {
                        <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                            <h1>"Apps"</h1>
                            <p class="muted" data-testid="org-name">"Organisation " <strong>{page.seat.organisation.name.clone()}</strong></p>
                            {page.admin.then(|| view! {
                                <p><a class="btn" href="/admin" data-testid="admin-link">"Admin area"</a>" "<span class="muted">"Every connection, user and audit entry of this instance."</span></p>
                            })}
                            <p class="muted">"An app holds OAuth provider configurations, API keys and the connections of its end users. Apps never see each other's data."</p>
                            <section class="panel">
                                {if page.apps.is_empty() {
                                    view! { <p class="muted" data-testid="no-apps">"No apps yet. Create your first one below."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap">
                                            <table>
                                                <thead><tr><th>"Name"</th><th>"Providers"</th></tr></thead>
                                                <tbody>
                                                    {page.apps.into_iter().map(|a| view! {
                                                        <tr>
                                                            <td><a href=format!("/apps/{}", a.id)>{a.name}</a></td>
                                                            <td>{a.providers}</td>
                                                        </tr>
                                                    }).collect_view()}
                                                </tbody>
                                            </table>
                                        </div>
                                    }.into_any()
                                }}
                            </section>
                            {page.seat.can(Need::Develop).then(|| view! {
                            <section class="panel">
                                <h2>"Create an app"</h2>
                                <FormError error=feedback.error("") />
                                <form method="post" action="/apps" class="form">
                                    <CsrfField token=csrf />
                                    <input type="hidden" name="organisation_id" value=page.seat.organisation.id.clone() />
                                    <TextField
                                        label="App name"
                                        name="name"
                                        value=feedback.value("name")
                                        error=feedback.error("name")
                                        hint="Shown to your end users on the connect page."
                                        maxlength=APP_NAME_MAX
                                    />
                                    <div><button type="submit" class="btn btn-primary">"Create app"</button></div>
                                </form>
                            </section>
                            })}
                        </PortalPage>
                    }.into_any()
                }
            })}
        </Suspense>
    }
}

#[component]
pub fn AppPage() -> impl IntoView {
    let params = use_params_map();
    let app_id = move || params.read().get("app_id").unwrap_or_default();
    let data = Resource::new(app_id, get_app);
    let rename = use_feedback("rename-app");
    let delete = use_feedback("delete-app");
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let app = page.app;
        let action = format!("/apps/{}", app.id);
        let (rename, delete, csrf) = (rename.clone(), delete.clone(), csrf.clone());
        view! {
                        <Title text=app.name.clone() />
                        <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                            <AppHeader app_id=app.id.clone() name=app.name.clone() current="providers" />
                            <section class="panel" aria-labelledby="providers-title">
                                <div class="panel-head">
                                    <h2 id="providers-title">"OAuth Providers"</h2>
                                    {page.seat.can(Need::Develop).then(|| view! {
                                        <a class="btn btn-primary" href=format!("/apps/{}/providers/new", app.id)>"Add Provider"</a>
                                    })}
                                </div>
                                {if page.providers.is_empty() {
                                    view! { <p class="muted">"No providers yet. Add one to let your end users connect."</p> }.into_any()
                                } else {
                                    view! {
                                        <div class="table-wrap"><table data-testid="providers">
                                            <thead><tr><th>"Provider"</th><th>"Provider ID"</th><th>"Client ID"</th><th>"Status"</th></tr></thead>
                                            <tbody>
                                                {page.providers.iter().map(|p| {
                                                    let active = p.status == crate::domain::provider_configs::ConfigStatus::Active;
                                                    view! {
                                                        <tr>
                                                            <td><a href=format!("/apps/{}/providers/{}", app.id, p.id)>{p.display_name.clone()}</a></td>
                                                            <td><code>{p.slug.clone()}</code></td>
                                                            <td><code>{p.client_id.clone()}</code></td>
                                                            <td><span class=if active { "badge badge-success" } else { "badge badge-warning" }>{p.status.label()}</span></td>
                                                        </tr>
                                                    }
                                                }).collect_view()}
                                            </tbody>
                                        </table></div>
                                    }.into_any()
                                }}
                            </section>
                            {page.seat.can(Need::Develop).then(|| view! {
                            <section class="panel">
                                <h2>"Rename"</h2>
                                <FormError error=rename.error("") />
                                <form method="post" action=action.clone() class="form">
                                    <CsrfField token=csrf.clone() />
                                    <input type="hidden" name="_action" value="rename" />
                                    <TextField
                                        label="App name"
                                        name="name"
                                        value=Some(rename.value("name").unwrap_or(app.name.clone()))
                                        error=rename.error("name")
                                        maxlength=APP_NAME_MAX
                                    />
                                    <div><button type="submit" class="btn">"Save name"</button></div>
                                </form>
                            </section>
                            <section class="panel">
                                <h2>"Delete this app"</h2>
                                <p data-testid="delete-impact">"Deleting removes its provider configurations and connections and wipes their secrets. Every connection is revoked at its provider (where the provider offers revocation; retried in the background if the provider is down). This cannot be undone."</p>
                                <FormError error=delete.error("") />
                                <form method="post" action=action class="form">
                                    <CsrfField token=csrf />
                                    <input type="hidden" name="_action" value="delete" />
                                    <TextField
                                        label="Type the app's name to confirm"
                                        name="confirm"
                                        value=delete.value("confirm")
                                        error=delete.error("confirm")
                                        maxlength=APP_NAME_MAX
                                    />
                                    <div><button type="submit" class="btn btn-danger">"Delete app"</button></div>
                                </form>
                            </section>
                            })}
                        </PortalPage>
                    }.into_any()
    })
}

/// Checks an app name; the error says what to fix.
/// The apps list and an app's page, for the router.
#[component(transparent)]
pub fn AppsRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/apps") view=AppsList ssr=SsrMode::Async />
        <Route path=path!("/apps/:app_id") view=AppPage ssr=SsrMode::Async />
    }
    .into_inner()
}

#[cfg(feature = "ssr")]
pub mod ssr {
    use crate::{
        domain::apps::{check_app_name, check_delete_confirmation},
        domain::orgs::Need,
        services::access,
        store::apps,
        store::audit::Actor,
        web::form_post::{
            app_form, denied, not_found, rerender, see_other, server_error, Submission,
        },
        web::forms::FormFeedback,
        web::state::AppState,
    };
    use axum::{
        body::Body,
        extract::{Path, State},
        http::{Request, StatusCode},
        response::{IntoResponse, Response},
    };

    /// The submitted app name, or the form's feedback explaining what to fix.
    fn submitted_name(form: &Submission, form_name: &str) -> Result<String, FormFeedback> {
        let mut feedback = FormFeedback::new(form_name);
        let text = form.get("name");
        feedback.keep("name", &text);
        check_app_name(&text).map_err(|e| {
            feedback.add_error("name", e);
            feedback
        })
    }

    /// Creates an app in the organisation the form names (the page's: the
    /// user may have switched in another tab since).
    pub async fn post_create(State(state): State<AppState>, request: Request<Body>) -> Response {
        let (form, user) = match Submission::read_signed_in(&state, request).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let org_id = match form.get("organisation_id") {
            id if id.is_empty() => user.organisation_id.clone(),
            id => id,
        };
        let access = access::organisation(&state.db, &user, &org_id, Need::Develop).await;
        let org = match access {
            Ok(seat) => seat.organisation,
            Err(e) => return denied(&state, form.parts, e).await,
        };
        let name = match submitted_name(&form, "create-app") {
            Ok(n) => n,
            Err(feedback) => return rerender(&state, form.parts, feedback).await,
        };
        match apps::create(&state.db, &Actor::user(&user), &org.id, &name).await {
            Ok(id) => see_other(&format!("/apps/{id}")),
            Err(e) => server_error(e),
        }
    }

    pub async fn post_app(
        State(state): State<AppState>,
        Path(app_id): Path<String>,
        request: Request<Body>,
    ) -> Response {
        let (form, app, user) = match app_form(&state, &app_id, Need::Develop, request).await {
            Ok(x) => x,
            Err(r) => return r,
        };
        let org_id = match crate::store::orgs::of_app(&state.db, &app.id).await {
            Ok(Some(id)) => id,
            Ok(None) => return not_found(),
            Err(e) => return server_error(e),
        };
        let org = &org_id;
        let actor = Actor::user(&user);
        match form.get("_action").as_str() {
            "rename" => {
                let name = match submitted_name(&form, "rename-app") {
                    Ok(n) => n,
                    Err(feedback) => return rerender(&state, form.parts, feedback).await,
                };
                match apps::rename(&state.db, &actor, org, &app.id, &name).await {
                    Ok(()) => see_other(&format!("/apps/{}", app.id)),
                    Err(e) => server_error(e),
                }
            }
            "delete" => {
                let confirm = form.get("confirm");
                if let Err(e) = check_delete_confirmation(&app, &confirm) {
                    let mut feedback = FormFeedback::new("delete-app");
                    feedback.keep("confirm", &confirm);
                    feedback.add_error("confirm", e);
                    return rerender(&state, form.parts, feedback).await;
                }
                let deleted =
                    crate::services::revocation::delete_app(&state, &actor, org, &app).await;
                state.caches.app_deleted(&app.id);
                match deleted {
                    Ok(_) => see_other("/apps"),
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
        axum::Router::new()
            .route("/apps", post(post_create))
            .route("/apps/{app_id}", post(post_app))
    }
}
