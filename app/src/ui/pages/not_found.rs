use crate::ui::components::layout::PublicPage;
use leptos::prelude::*;
use leptos_meta::Title;

/// Shown for every path that no route matches; answers with status 404.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(axum::http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <PublicPage>
            <section class="panel narrow">
                <h1>"Page not found"</h1>
                <p class="muted">"There is nothing at this address. Check the link, or go back to the start."</p>
                <a class="btn btn-primary" href="/">"Go to the start page"</a>
            </section>
        </PublicPage>
    }
}
