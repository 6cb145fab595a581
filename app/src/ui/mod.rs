//! The portal as the browser sees it: the HTML shell, the router, pages and
//! components. Pages call server functions and post forms; neither holds SQL.

pub mod components;
pub mod forms;
pub mod pages;

use crate::util::OUTPUT_NAME;
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path, SsrMode,
};

/// The HTML document around the application, rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    // The CSP header carries a per-request nonce; hand it to Leptos so that
    // the hydration script and serialized resources carry it too.
    #[cfg(feature = "ssr")]
    crate::web::security::provide_csp_nonce();
    let csrf = forms::use_csrf_token();
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" type="image/svg+xml" href="/favicon.svg" />
                <meta name="csrf-token" content=csrf />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The root component: routes of the portal.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Stylesheet id="leptos" href=format!("/pkg/{OUTPUT_NAME}.css") />
        <Title formatter=|text: String| {
            if text.is_empty() { "OAuth Vault".to_string() } else { format!("{text} · OAuth Vault") }
        } />
        <Router>
            <Routes fallback=pages::not_found::NotFound>
                <Route path=path!("/") view=pages::landing::Landing />
                <Route path=path!("/login") view=pages::account::Login />
                <Route path=path!("/signup") view=pages::account::Signup />
                <Route path=path!("/apps") view=pages::apps::AppsList ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id") view=pages::apps::AppPage ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/providers/new") view=pages::providers::AddProvider ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/providers/new/:provider") view=pages::providers::NewProvider ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/providers/:config_id") view=pages::providers::ProviderDetail ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/connections") view=pages::connections::Connections ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/connections/:connection_id") view=pages::connections::Connection ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/api-keys") view=pages::keys::ApiKeys ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/settings") view=pages::settings::Settings ssr=SsrMode::Async />
                <Route path=path!("/apps/:app_id/activity") view=pages::activity::Activity ssr=SsrMode::Async />
                <Route path=path!("/admin") view=pages::admin::AdminOverview ssr=SsrMode::Async />
                <Route path=path!("/admin/connections") view=pages::admin::AdminConnections ssr=SsrMode::Async />
                <Route path=path!("/admin/connections/:id") view=pages::admin::AdminConnectionPage ssr=SsrMode::Async />
                <Route path=path!("/admin/users") view=pages::admin::AdminUsers ssr=SsrMode::Async />
                <Route path=path!("/admin/audit") view=pages::admin::AdminAudit ssr=SsrMode::Async />
                <Route path=path!("/docs/providers/:provider") view=pages::providers::ProviderDocs ssr=SsrMode::Async />
            </Routes>
        </Router>
    }
}

/// Every server route of the portal besides its pages: each feature's form
/// posts, and the hosted connect flow. Merged here, once.
#[cfg(feature = "ssr")]
pub fn server_routes() -> axum::Router<crate::web::state::AppState> {
    axum::Router::new()
        .merge(pages::account::ssr::routes())
        .merge(pages::apps::ssr::routes())
        .merge(pages::providers::ssr::routes())
        .merge(pages::connections::ssr::routes())
        .merge(pages::keys::ssr::routes())
        .merge(pages::settings::ssr::routes())
        .merge(pages::admin::ssr::routes())
        .merge(crate::web::connect::routes())
}
