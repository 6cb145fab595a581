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
            <a href="/healthz" rel="external">"Health"</a>
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

/// A page of the signed-in portal: navigation, the account and sign-out.
#[component]
pub fn PortalPage(
    /// The signed-in developer's email.
    email: String,
    /// The request's CSRF token, for the sign-out form.
    csrf: String,
    children: Children,
) -> impl IntoView {
    view! {
        <header class="site-header">
            <a class="brand" href="/apps">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                <span>"OAuth Vault"</span>
            </a>
            <nav class="portal-nav" aria-label="Portal">
                <a href="/apps">"Apps"</a>
            </nav>
            <div class="site-nav">
                <a class="muted" href="/account" title="Your account" data-testid="account-email">{email}</a>
                <form method="post" action="/logout">
                    <input type="hidden" name="csrf" value=csrf />
                    <button type="submit" class="btn btn-ghost">"Sign out"</button>
                </form>
            </div>
        </header>
        <main class="container">{children()}</main>
        <SiteFooter />
    }
}
