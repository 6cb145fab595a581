//! Pieces of the provider pages: the property table, the copy button, the
//! setup steps and the scope checkbox catalogue.

use crate::catalogue::{Access, ProviderDefinition, ScopeGroup};
use leptos::prelude::*;

/// A value with a button that copies it. Without JavaScript the value stays
/// selectable in a read-only field. An island: hydrated in the browser.
#[island]
pub fn CopyField(
    /// What to copy.
    value: String,
    /// Accessible label of the field.
    #[prop(into)]
    label: String,
    /// `data-testid` of the field.
    #[prop(optional, into)]
    testid: Option<String>,
) -> impl IntoView {
    let (copied, set_copied) = signal(false);
    let text = value.clone();
    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let clipboard = window().navigator().clipboard();
            let _ = clipboard.write_text(&text);
            set_copied.set(true);
        }
        #[cfg(not(feature = "hydrate"))]
        {
            let _ = &text;
            set_copied.set(true);
        }
    };
    view! {
        <div class="copy-field">
            <input type="text" readonly value=value aria-label=label data-testid=testid />
            <button type="button" class="btn btn-sm" on:click=copy>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
        </div>
    }
}

/// The provider's properties, as on the provider's documentation page.
#[component]
pub fn PropertyTable(def: ProviderDefinition, redirect_uri: String) -> impl IntoView {
    view! {
        <table class="props" data-testid="property-table">
            <tbody>
                <tr><th scope="row">"Provider ID"</th><td><code>{def.id.clone()}</code></td></tr>
                <tr><th scope="row">"Category"</th><td>{def.category.clone()}</td></tr>
                <tr><th scope="row">"PKCE"</th><td>{def.display.pkce.clone()}</td></tr>
                <tr><th scope="row">"Token refresh"</th><td>{def.display.token_refresh.clone()}</td></tr>
                <tr>
                    <th scope="row">"Redirect URI"</th>
                    <td><CopyField value=redirect_uri label="Redirect URI" testid="redirect-uri" /></td>
                </tr>
            </tbody>
        </table>
    }
}

/// The steps to take at the provider, with the redirect URI filled in.
#[component]
pub fn SetupSteps(def: ProviderDefinition, redirect_uri: String) -> impl IntoView {
    let steps = def.setup_steps_for(&redirect_uri);
    view! {
        <ol class="steps" data-testid="setup-steps">
            {steps.into_iter().map(|s| view! { <li>{s}</li> }).collect_view()}
        </ol>
    }
}

/// One resource's scopes: read and read-write are one choice — ticking
/// read-write ticks (and locks) read, since it includes it. An island:
/// hydrated in the browser.
#[island]
fn ScopeGroupFieldset(group: ScopeGroup, selected: Vec<String>) -> impl IntoView {
    let read = group
        .scopes
        .iter()
        .find(|s| s.access == Access::Read)
        .map(|s| s.name.clone());
    let rw_name = group
        .scopes
        .iter()
        .find(|s| s.access == Access::ReadWrite)
        .map(|s| s.name.clone());
    let rw_initial = rw_name.as_ref().is_some_and(|n| selected.contains(n));
    let (rw_on, set_rw_on) = signal(rw_initial);
    let scopes = group.scopes.clone();
    view! {
        <fieldset class="scope-group">
            <legend>{group.name.clone()}</legend>
            {scopes
                .into_iter()
                .map(|scope| {
                    let id = format!("scope-{}", scope.name.replace([':', '_'], "-"));
                    let label_for = id.clone();
                    let is_read = Some(&scope.name) == read.as_ref();
                    let is_rw = Some(&scope.name) == rw_name.as_ref();
                    let initially = selected.contains(&scope.name) || (is_read && rw_initial);
                    let (on, set_on) = signal(initially);
                    let change = move |ev: leptos::ev::Event| {
                        let checked = event_target_checked(&ev);
                        set_on.set(checked);
                        if is_rw {
                            set_rw_on.set(checked);
                        }
                    };
                    view! {
                        <label class="check scope" for=label_for>
                            <input
                                type="checkbox"
                                id=id
                                name="scopes"
                                value=scope.name.clone()
                                checked=initially
                                disabled=is_read && rw_initial
                                prop:checked=move || on.get() || (is_read && rw_on.get())
                                prop:disabled=move || is_read && rw_on.get()
                                on:change=change
                            />
                            <span>
                                <code>{scope.name.clone()}</code>
                                <span class="muted scope-desc">{scope.description.clone()}</span>
                                {is_read.then(|| view! {
                                    <span class="hint" class:hidden=move || !rw_on.get()>" (included in read-write)"</span>
                                })}
                            </span>
                        </label>
                    }
                })
                .collect_view()}
        </fieldset>
    }
}

/// Every scope of the provider, grouped by resource, each with its description.
#[component]
pub fn ScopeCatalogue(
    def: ProviderDefinition,
    selected: Vec<String>,
    #[prop(default = None)] error: Option<String>,
) -> impl IntoView {
    view! {
        <section class="scope-catalogue" data-testid="scope-catalogue" aria-labelledby="scopes-title">
            <h3 id="scopes-title">"Scopes"</h3>
            {def.scope_note.clone().map(|n| view! { <div class="alert alert-info">{n}</div> })}
            {error.map(|e| view! { <div class="alert alert-danger" role="alert" id="field-scopes-error">{e}</div> })}
            <div class="scope-grid">
                {def
                    .scope_groups
                    .iter()
                    .cloned()
                    .map(|g| view! { <ScopeGroupFieldset group=g selected=selected.clone() /> })
                    .collect_view()}
            </div>
        </section>
    }
}

/// A provider's icon: its logo where the definition names one, else a
/// monogram (its initials on one of eight colours chosen by its id), drawn
/// by the stylesheet: no vendor's logo file is copied.
#[component]
pub fn ProviderIcon(
    id: String,
    name: String,
    #[prop(default = None)] logo: Option<String>,
    #[prop(default = 40)] size: u32,
) -> impl IntoView {
    if let Some(logo) = logo {
        return view! { <img src=logo alt="" width=size height=size /> }.into_any();
    }
    let class = format!(
        "monogram monogram-{} monogram-{size}",
        crate::util::monogram_colour(&id)
    );
    view! { <span class=class aria-hidden="true">{crate::util::monogram(&name)}</span> }.into_any()
}
