use crate::domain::orgs::Seat;
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

/// A page of the signed-in portal: navigation, the organisation switcher,
/// the account and sign-out. A form refused for the user's role shows its
/// message at the top.
#[component]
pub fn PortalPage(
    /// The signed-in developer's email.
    email: String,
    /// The request's CSRF token, for the sign-out form.
    csrf: String,
    /// The page's organisation and the user's others; pages outside any
    /// organisation (the admin area, the account) have none.
    #[prop(optional, into)]
    seat: Option<Seat>,
    children: Children,
) -> impl IntoView {
    let refused = refused_for_role();
    let org_nav = seat.as_ref().map(|seat| {
        let id = seat.organisation.id.clone();
        view! {
            <a href=format!("/orgs/{id}/members")>"Members"</a>
            <a href=format!("/orgs/{id}/activity")>"Activity"</a>
        }
    });
    view! {
        <header class="site-header">
            <a class="brand" href="/apps">
                <img src="/favicon.svg" alt="" width="24" height="24" />
                <span>"OAuth Vault"</span>
            </a>
            <nav class="portal-nav" aria-label="Portal">
                <a href="/apps">"Apps"</a>
                {org_nav}
            </nav>
            <div class="site-nav">
                {seat.map(|seat| view! { <OrgSwitcher seat csrf=csrf.clone() /> })}
                <a class="muted" href="/account" title="Your account" data-testid="account-email">{email}</a>
                <form method="post" action="/logout">
                    <input type="hidden" name="csrf" value=csrf.clone() />
                    <button type="submit" class="btn btn-ghost">"Sign out"</button>
                </form>
            </div>
        </header>
        <main class="container">
            {refused.map(|message| view! {
                <div class="alert alert-danger" role="alert" data-testid="forbidden">
                    <strong>"Not allowed. "</strong>{message}
                </div>
            })}
            {children()}
        </main>
        <SiteFooter />
    }
}

/// The organisation the page is about, the user's role there, and a form
/// to switch to another of theirs (or create one): works without
/// JavaScript.
#[component]
fn OrgSwitcher(seat: Seat, csrf: String) -> impl IntoView {
    let current = seat.organisation.clone();
    view! {
        <form class="org-switcher" method="post" action="/orgs/switch" data-testid="org-switcher">
            <input type="hidden" name="csrf" value=csrf />
            <label>

                <select name="organisation_id" aria-label="Organisation" data-testid="org-select">
                    {seat.organisations.into_iter().map(|o| {
                        let selected = o.id == current.id;
                        view! { <option value=o.id selected=selected>{o.name}</option> }
                    }).collect_view()}
                    <option value="new">"+ New organisation…"</option>
                </select>
            </label>
            <button type="submit" class="btn btn-ghost btn-sm">"Switch"</button>
            <span class="badge" data-testid="org-role" title="Your role in this organisation">{current.role.label()}</span>
        </form>
    }
}

/// The message of a form refused for the user's role, when the page is
/// rendered again after one.
fn refused_for_role() -> Option<String> {
    #[cfg(feature = "ssr")]
    {
        use_context::<crate::web::forms::FormFeedback>()
            .filter(|f| f.form == crate::web::forms::FORBIDDEN_FORM)
            .and_then(|f| f.error(""))
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}
