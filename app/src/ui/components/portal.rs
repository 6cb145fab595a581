//! Rendering a signed-in portal page from its data.

use crate::ui::components::layout::PortalPage;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Redirect;
use serde::{de::DeserializeOwned, Serialize};

/// Whether a server function refused because nobody is signed in.
pub fn is_unauthorized(e: &ServerFnError) -> bool {
    e.to_string().contains("unauthorized")
}

/// Where a page goes when its data says the visitor is not signed in.
#[component]
pub fn SignInFirst() -> impl IntoView {
    view! { <Redirect path="/login" /> }
}

/// An unknown id, or one of another organisation.
#[component]
pub fn NotFoundInPortal(csrf: String) -> impl IntoView {
    view! {
        <Title text="Not found" />
        <PortalPage email=String::new() csrf>
            <h1>"Not found"</h1>
            <p class="muted">"There is nothing at this address in your organisation."</p>
            <a href="/apps">"Back to your apps"</a>
        </PortalPage>
    }
}

/// The message of a server function refused for the user's role.
fn forbidden_message(e: &ServerFnError) -> Option<String> {
    let text = e.to_string();
    let at = text.find(crate::domain::orgs::FORBIDDEN_PREFIX)?;
    Some(text[at + crate::domain::orgs::FORBIDDEN_PREFIX.len()..].to_string())
}

/// A page the user's role in its organisation does not allow.
#[component]
pub fn ForbiddenInPortal(csrf: String, message: String) -> impl IntoView {
    view! {
        <Title text="Not allowed" />
        <PortalPage email=String::new() csrf>
            <h1>"Not allowed"</h1>
            <p data-testid="forbidden">{message}</p>
            <a href="/apps">"Back to your apps"</a>
        </PortalPage>
    }
}

/// Waits for `data` and renders it with `render`; a visitor who is not
/// signed in goes to the sign-in page, any other error shows "not found".
pub fn portal_page<T>(
    data: Resource<Result<T, ServerFnError>>,
    csrf: String,
    render: impl Fn(T) -> AnyView + Clone + Send + Sync + 'static,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
{
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || {
                let (csrf, render) = (csrf.clone(), render.clone());
                data.get()
                    .map(move |result| match result {
                        Err(e) if is_unauthorized(&e) => view! { <SignInFirst /> }.into_any(),
                        Err(e) if forbidden_message(&e).is_some() => {
                            let message = forbidden_message(&e).unwrap_or_default();
                            view! { <ForbiddenInPortal csrf message /> }.into_any()
                        }
                        Err(_) => view! { <NotFoundInPortal csrf /> }.into_any(),
                        Ok(page) => render(page),
                    })
            }}
        </Suspense>
    }
}

/// The top of an app's pages: the way back, the app's name, its sections.
#[component]
pub fn AppHeader(app_id: String, name: String, current: &'static str) -> impl IntoView {
    view! {
        <p><a href="/apps">"← Apps"</a></p>
        <h1>{name}</h1>
        <p class="muted">"App id " <code>{app_id.clone()}</code></p>
        <AppTabs app_id current />
    }
}

/// The sections of an app's pages.
#[component]
pub fn AppTabs(app_id: String, current: &'static str) -> impl IntoView {
    let tabs = [
        ("providers", "Providers", format!("/apps/{app_id}")),
        (
            "connections",
            "Connections",
            format!("/apps/{app_id}/connections"),
        ),
        ("keys", "API Keys", format!("/apps/{app_id}/api-keys")),
        ("settings", "Settings", format!("/apps/{app_id}/settings")),
        ("activity", "Activity", format!("/apps/{app_id}/activity")),
    ];
    view! {
        <nav class="tabs" aria-label="App">
            {tabs
                .into_iter()
                .map(|(id, label, href)| {
                    view! { <a href=href aria-current=(id == current).then_some("page")>{label}</a> }
                })
                .collect_view()}
        </nav>
    }
}

/// A connection's history, newest first.
#[component]
pub fn EventTimeline(events: Vec<crate::domain::connections::EventView>) -> impl IntoView {
    view! {
        <ul class="events" data-testid="events">
            {events
                .into_iter()
                .map(|e| {
                    view! {
                        <li>
                            <span class="muted">{crate::util::time::display(e.at)}</span>
                            " "
                            <strong>{e.kind}</strong>
                            " — "
                            {e.message}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}
