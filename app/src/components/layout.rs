use leptos::prelude::*;

/// The bar at the top of every public page.
#[component]
pub fn SiteHeader() -> impl IntoView {
    view! {
        <header class="site-header">
            <a class="brand" href="/">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                <span>"OAuth Vault"</span>
            </a>
            <nav class="site-nav" aria-label="Account">
                <a class="btn btn-ghost" href="/login">"Sign in"</a>
                <a class="btn btn-primary" href="/signup">"Sign up"</a>
            </nav>
        </header>
    }
}

/// The footer of every public page.
#[component]
pub fn SiteFooter() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <span>"OAuth Vault — a self-hosted credential vault."</span>
            <a href="/healthz">"Health"</a>
        </footer>
    }
}

/// A page with the public header and footer around its children.
#[component]
pub fn PublicPage(children: Children) -> impl IntoView {
    view! {
        <SiteHeader />
        <main class="container">{children()}</main>
        <SiteFooter />
    }
}
