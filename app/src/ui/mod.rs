//! The portal as the browser sees it: the HTML shell, the router, pages and
//! components. Pages call server functions and post forms; neither holds SQL.

pub mod components;
pub mod forms;
pub mod pages;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
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
                <link rel="stylesheet" id="leptos" href=format!("/pkg/{}.css", options.output_name) />
                <meta name="csrf-token" content=csrf />
                <AutoReload options=options.clone() />
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

/// The root component: the portal's router. Each feature lists its own
/// pages (`*Routes` in its module); they are merged here, once.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();

    view! {
        <Title formatter=|text: String| {
            if text.is_empty() { "OAuth Vault".to_string() } else { format!("{text} · OAuth Vault") }
        } />
        <Router>
            <Routes fallback=pages::not_found::NotFound>
                <Route path=path!("/") view=pages::landing::Landing />
                <pages::account::AccountRoutes />
                <pages::apps::AppsRoutes />
                <pages::providers::ProviderRoutes />
                <pages::connections::ConnectionRoutes />
                <pages::keys::KeyRoutes />
                <pages::settings::SettingsRoutes />
                <pages::activity::ActivityRoutes />
                <pages::orgs::OrgRoutes />
                <pages::admin::AdminRoutes />
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
        .merge(pages::orgs::ssr::routes())
        .merge(crate::web::connect::routes())
}
