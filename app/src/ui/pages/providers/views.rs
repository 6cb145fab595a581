//! The provider pages: the catalogue, the provider form, a configuration's
//! page and the public docs page.

use super::custom::CustomFields;
use super::*;
use crate::ui::components::provider::ProviderIcon;
use leptos_meta::Title;
use leptos_router::hooks::use_params_map;

/// **Add Provider**: the catalogue as cards, searched by name, category or
/// tagline and filtered by category (a plain GET form: no script needed).
#[component]
pub fn AddProvider() -> impl IntoView {
    let params = use_params_map();
    let query = leptos_router::hooks::use_query_map();
    let data = Resource::new(
        move || params.read().get("app_id").unwrap_or_default(),
        provider_catalogue,
    );
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let q = query.get_untracked();
        let search = q
            .get("q")
            .unwrap_or_default()
            .trim()
            .chars()
            .take(100)
            .collect::<String>();
        let category = q.get("category").unwrap_or_default();
        let mut categories: Vec<String> = page.cards.iter().map(|c| c.category.clone()).collect();
        categories.sort();
        categories.dedup();
        let needle = search.to_lowercase();
        let cards: Vec<CatalogueCard> = page
            .cards
            .into_iter()
            .filter(|c| category.is_empty() || c.category == category)
            .filter(|c| {
                needle.is_empty()
                    || c.name.to_lowercase().contains(&needle)
                    || c.category.to_lowercase().contains(&needle)
                    || c.tagline.to_lowercase().contains(&needle)
                    || c.id.contains(&needle)
            })
            .collect();
        let path = format!("/apps/{}/providers/new", page.app.id);
        view! {
                    <Title text="Add Provider" />
                    <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                        <p><a href=format!("/apps/{}", page.app.id)>{format!("← {}", page.app.name)}</a></p>
                        <h1>"Add Provider"</h1>
                        <p class="muted">"Choose the service your end users will connect."</p>
                        <form method="get" action=path.clone() class="filters row" data-testid="catalogue-filters">
                            <label>"Search " <input type="search" name="q" value=search.clone() maxlength="100" placeholder="name or category" data-testid="catalogue-search" /></label>
                            <label>"Category "
                                <select name="category" data-testid="catalogue-category">
                                    <option value="">"All"</option>
                                    {categories.into_iter().map(|c| {
                                        let selected = c == category;
                                        view! { <option value=c.clone() selected=selected>{c.clone()}</option> }
                                    }).collect_view()}
                                </select>
                            </label>
                            <button type="submit" class="btn">"Filter"</button>
                            {(!search.is_empty() || !category.is_empty()).then(|| view! { <a href=path.clone()>"Show all"</a> })}
                        </form>
                        {cards.is_empty().then(|| view! {
                            <p class="muted" data-testid="no-results">"No provider matches. Try another word, or use Custom OAuth 2.0 below."</p>
                        })}
                        <div class="cards" data-testid="catalogue">
                            {cards.into_iter().map(|c| {
                                let href = format!("/apps/{}/providers/new/{}", page.app.id, c.id);
                                view! {
                                    <a class="card provider-card" href=href data-provider=c.id.clone()>
                                        <ProviderIcon id=c.id.clone() name=c.name.clone() logo=c.logo.clone() />
                                        <div>
                                            <h2>{c.name}</h2>
                                            <span class="badge">{c.category}</span>
                                            {c.configured.then(|| view! { <span class="badge badge-success">"Configured"</span> })}
                                            <p class="muted">{c.tagline}</p>
                                        </div>
                                    </a>
                                }
                            }).collect_view()}
                            <a class="card provider-card" href=format!("/apps/{}/providers/new/{}", page.app.id, CUSTOM_PROVIDER) data-provider=CUSTOM_PROVIDER>
                                <img src="/providers/custom.svg" alt="" width="40" height="40" />
                                <div>
                                    <h2>"Custom OAuth 2.0"</h2>
                                    <span class="badge">"Any provider"</span>
                                    <p class="muted">"Any RFC 6749 authorization server: enter its endpoints yourself."</p>
                                </div>
                            </a>
                        </div>
                    </PortalPage>
                }.into_any()
    })
}

/// The shared body of the add and edit forms.
#[component]
fn ProviderFormBody(
    definition: Option<ProviderDefinition>,
    feedback: FormFeedback,
    existing: Option<ConfigView>,
) -> impl IntoView {
    let editing = existing.is_some();
    let kept = feedback.has_errors() || !feedback.values.is_empty();
    let client_id = if kept {
        feedback.value("client_id")
    } else {
        existing.as_ref().map(|c| c.client_id.clone())
    };
    let selected = if kept {
        feedback.all_values("scopes")
    } else {
        existing
            .as_ref()
            .map(|c| c.scopes.clone())
            .or_else(|| definition.as_ref().map(|d| d.default_scopes.clone()))
            .unwrap_or_default()
    };
    let secret_hint = if editing {
        "Leave blank to keep the stored secret."
    } else {
        "Stored encrypted; never shown again."
    };
    let secret_placeholder = existing.as_ref().map(|c| format!("••••{}", c.secret_last4));
    view! {
        <FormError error=feedback.error("") />
        {match &definition {
            None => view! { <CustomFields feedback=feedback.clone() existing=existing.clone() /> }.into_any(),
            Some(_) => ().into_any(),
        }}
        {definition.as_ref().map(|d| view! {
            <DeveloperParameters def=d.clone() feedback=feedback.clone() existing=existing.clone() kept=kept />
        })}
        <TextField label="Client ID" name="client_id" value=client_id error=feedback.error("client_id")
            autocomplete="off" maxlength=CLIENT_ID_MAX />
        <TextField label="Client Secret" name="client_secret" kind="password" error=feedback.error("client_secret")
            autocomplete="new-password" hint=secret_hint required=!editing placeholder=secret_placeholder
            maxlength=CLIENT_SECRET_MAX />
        {definition.map(|d| view! { <ScopeCatalogue def=d selected=selected error=feedback.error("scopes") /> })}
    }
}

/// The definition's parameters the developer supplies (a tenant, a login
/// host), each checked by its pattern when the form is saved.
#[component]
fn DeveloperParameters(
    def: ProviderDefinition,
    feedback: FormFeedback,
    existing: Option<ConfigView>,
    kept: bool,
) -> impl IntoView {
    def.parameters
        .into_iter()
        .filter(|p| p.supplied_by == crate::catalogue::SuppliedBy::Developer)
        .map(|p| {
            let name = format!("param_{}", p.name);
            let id = format!("field-{name}");
            let value = if kept {
                feedback.value(&name)
            } else {
                existing
                    .as_ref()
                    .and_then(|c| c.parameters.get(&p.name).cloned())
                    .or(p.default.clone())
            };
            let error = feedback.error(&name);
            view! {
                <div class="field">
                    <label for=id.clone()>{p.label.clone()}</label>
                    <input id=id name=name type="text" value=value required=p.required && p.default.is_none()
                        placeholder=p.example.clone() autocomplete="off" spellcheck="false" maxlength="200"
                        aria-invalid=error.is_some().then_some("true") />
                    {(!p.description.is_empty()).then(|| view! { <span class="hint">{p.description.clone()}</span> })}
                    {error.map(|e| view! { <span class="error" role="alert">{e}</span> })}
                </div>
            }
        })
        .collect_view()
}

/// **Add Provider › Attio** (or any catalogue provider, or Custom OAuth 2.0).
#[component]
pub fn NewProvider() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || {
            let p = params.read();
            (
                p.get("app_id").unwrap_or_default(),
                p.get("provider").unwrap_or_default(),
            )
        },
        |(app, provider)| provider_form(app, provider),
    );
    let feedback = use_feedback("provider");
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let (csrf, feedback) = (csrf.clone(), feedback.clone());
        let action = format!(
            "/apps/{}/providers/new/{}",
            page.app.id,
            page.definition
                .as_ref()
                .map(|d| d.id.as_str())
                .unwrap_or(CUSTOM_PROVIDER)
        );
        let title = page
            .definition
            .as_ref()
            .map(|d| d.name.clone())
            .unwrap_or_else(|| "Custom OAuth 2.0".into());
        // the configuration's id is chosen now, so that its redirect URI can
        // be registered at the provider before the first save
        let config_id = feedback
            .value("config_id")
            .filter(|id| is_config_id(id))
            .unwrap_or_else(|| page.config_id.clone());
        let mut page = page;
        page.redirect_uri = format!("{}{config_id}", page.callback_base);
        view! {
                        <Title text=format!("Add {title}") />
                        <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                            <p><a href=format!("/apps/{}/providers/new", page.app.id)>"← Add Provider"</a></p>
                            <ProviderHeading definition=page.definition.clone() />
                            {page.definition.clone().map(|d| view! {
                                <section class="panel">
                                    <PropertyTable def=d.clone() redirect_uri=page.redirect_uri.clone() />
                                </section>
                                <section class="panel">
                                    <h2>"Set up at " {d.name.clone()}</h2>
                                    <SetupSteps def=d.clone() redirect_uri=page.redirect_uri.clone() />
                                    <ul class="notes">{d.notes.iter().map(|n| view! { <li class="muted">{n.clone()}</li> }).collect_view()}</ul>
                                </section>
                            })}
                            {page.definition.is_none().then(|| view! {
                                <section class="panel">
                                    <h2>"Redirect URI"</h2>
                                    <p class="muted">"Register this exact redirect URI with the provider."</p>
                                    <CopyField value=page.redirect_uri.clone() label="Redirect URI" testid="redirect-uri" />
                                </section>
                            })}
                            <section class="panel">
                                <h2>"Client credentials"</h2>
                                <form method="post" action=action class="form" data-testid="provider-form">
                                    <CsrfField token=csrf.clone() />
                                    <input type="hidden" name="config_id" value=config_id />
                                    <ProviderFormBody definition=page.definition.clone() feedback=feedback.clone() existing=None />
                                    <div><button type="submit" class="btn btn-primary">"Save"</button></div>
                                </form>
                            </section>
                        </PortalPage>
                    }.into_any()
    })
}

#[component]
fn ProviderHeading(definition: Option<ProviderDefinition>) -> impl IntoView {
    match definition {
        Some(d) => view! {
            <div class="provider-heading">
                <ProviderIcon id=d.id.clone() name=d.name.clone() logo=d.logo.clone() size=48 />
                <div>
                    <h1>{d.name.clone()}</h1>
                    <p class="muted">{d.tagline.clone()}</p>
                </div>
            </div>
        }
        .into_any(),
        None => view! {
            <div class="provider-heading">
                <img src="/providers/custom.svg" alt="" width="48" height="48" />
                <div>
                    <h1>"Custom OAuth 2.0"</h1>
                    <p class="muted">"Any RFC 6749 / RFC 7636 authorization server."</p>
                </div>
            </div>
        }
        .into_any(),
    }
}

/// A configuration's page: properties, credentials, scopes; edit, disable,
/// delete.
#[component]
pub fn ProviderDetail() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || {
            let p = params.read();
            (
                p.get("app_id").unwrap_or_default(),
                p.get("config_id").unwrap_or_default(),
            )
        },
        |(app, config)| provider_detail(app, config),
    );
    let feedback = use_feedback("provider");
    let delete = use_feedback("delete-provider");
    let test = use_feedback("test-connection");
    let csrf = use_csrf_token();
    portal_page(data, csrf.clone(), move |page| {
        let (csrf, feedback, delete, test) =
            (csrf.clone(), feedback.clone(), delete.clone(), test.clone());
        let config = page.config.clone();
        let action = format!("/apps/{}/providers/{}", page.app.id, config.id);
        let active = config.status == ConfigStatus::Active;
        let connections = config.connections;
        view! {
                        <Title text=config.display_name.clone() />
                        <PortalPage email=page.seat.email.clone() seat=page.seat.clone() csrf=csrf.clone()>
                            <p><a href=format!("/apps/{}", page.app.id)>{format!("← {}", page.app.name)}</a></p>
                            <ProviderHeading definition=page.definition.clone() />
                            <p>
                                <span class=if active { "badge badge-success" } else { "badge badge-warning" } data-testid="provider-status">
                                    {config.status.label()}
                                </span>
                            </p>
                            <RedirectWarnings config=config.clone() current=page.redirect_uri.clone() own=page.own_redirect_uri.clone() action=action.clone() csrf=csrf.clone() />
                            <ConfigProperties config=config.clone() definition=page.definition.clone() redirect_uri=page.redirect_uri.clone() />
                            {page.seat.can(crate::domain::orgs::Need::Develop).then(|| view! {
                            <section class="panel">
                                <h2>"Test connection"</h2>
                                <p class="muted">"Run the connect flow yourself, exactly as your end users will: you sign in at the provider, and the connection appears under Connections."</p>
                                <FormError error=test.error("") />
                                <form method="post" action=action.clone()>
                                    <CsrfField token=csrf.clone() />
                                    <input type="hidden" name="_action" value="test" />
                                    <button type="submit" class="btn btn-primary" data-testid="test-connection">"Test connection"</button>
                                </form>
                            </section>
                            <section class="panel">
                                <h2>"Edit"</h2>
                                <form method="post" action=action.clone() class="form" data-testid="provider-form">
                                    <CsrfField token=csrf.clone() />
                                    <input type="hidden" name="_action" value="update" />
                                    <ProviderFormBody definition=page.definition.clone() feedback=feedback.clone() existing=Some(config.clone()) />
                                    <div><button type="submit" class="btn btn-primary">"Save"</button></div>
                                </form>
                            </section>
                            <LifecycleActions action=action csrf=csrf active=active connections=connections delete=delete />
                            })}
                        </PortalPage>
                    }.into_any()
    })
}

/// What a configuration's page warns about: a redirect URI still shared
/// with every other configuration, and PKCE switched off.
#[component]
fn RedirectWarnings(
    config: ConfigView,
    current: String,
    own: String,
    action: String,
    csrf: String,
) -> impl IntoView {
    let pkce_off = config.custom.as_ref().is_some_and(|c| !c.pkce);
    view! {
        {config.legacy_callback.then(|| view! {
            <section class="panel panel-warning" data-testid="legacy-redirect">
                <h2>"Update the redirect URI at the provider"</h2>
                <p>"This configuration still uses the redirect URI shared by every configuration, "
                    <code>{current.clone()}</code>
                    ". Each configuration now has its own, so that an answer meant for one cannot be taken for another's. Register this one at the provider:"</p>
                <CopyField value=own.clone() label="New redirect URI" testid="new-redirect-uri" />
                <form method="post" action=action.clone()>
                    <CsrfField token=csrf.clone() />
                    <input type="hidden" name="_action" value="use_own_callback" />
                    <button type="submit" class="btn btn-primary">"I registered it: use the new redirect URI"</button>
                </form>
            </section>
        })}
        {pkce_off.then(|| view! {
            <div class="alert alert-warning" role="status" data-testid="pkce-off">"PKCE is off for this provider: an intercepted authorization code could be exchanged by someone else. Switch it on unless the provider rejects it."</div>
        })}
    }
}

/// A configuration's properties: the catalogue's (or a custom provider's)
/// and the client credentials, the secret only by its last four characters.
#[component]
fn ConfigProperties(
    config: ConfigView,
    definition: Option<ProviderDefinition>,
    redirect_uri: String,
) -> impl IntoView {
    view! {
        <section class="panel">
            {match definition {
                Some(d) => view! { <PropertyTable def=d redirect_uri=redirect_uri.clone() /> }.into_any(),
                None => view! {
                    <table class="props"><tbody>
                        <tr><th scope="row">"Provider ID"</th><td><code>{config.slug.clone()}</code></td></tr>
                        <tr><th scope="row">"Category"</th><td>"Custom OAuth 2.0"</td></tr>
                        <tr><th scope="row">"Redirect URI"</th><td><CopyField value=redirect_uri.clone() label="Redirect URI" testid="redirect-uri" /></td></tr>
                    </tbody></table>
                }.into_any(),
            }}
            <table class="props"><tbody>
                <tr><th scope="row">"Client ID"</th><td><code data-testid="client-id">{config.client_id.clone()}</code></td></tr>
                <tr><th scope="row">"Client Secret"</th><td><code data-testid="client-secret">{format!("••••{}", config.secret_last4)}</code></td></tr>
                <tr><th scope="row">"Scopes"</th><td data-testid="selected-scopes">{config.scopes.join(" ")}</td></tr>
            </tbody></table>
        </section>
    }
}

/// Disable or enable, and delete, a configuration.
#[component]
fn LifecycleActions(
    action: String,
    csrf: String,
    active: bool,
    connections: i64,
    delete: FormFeedback,
) -> impl IntoView {
    view! {
        <section class="panel">
            <h2>{if active { "Disable" } else { "Enable" }}</h2>
            <p class="muted">{if active {
                "A disabled provider accepts no new connections and serves no tokens until you enable it again."
            } else {
                "Enable the provider to accept connections and serve tokens again."
            }}</p>
            <form method="post" action=action.clone()>
                <CsrfField token=csrf.clone() />
                <input type="hidden" name="_action" value=if active { "disable" } else { "enable" } />
                <button type="submit" class="btn">{if active { "Disable provider" } else { "Enable provider" }}</button>
            </form>
        </section>
        <section class="panel">
            <h2>"Delete"</h2>
            <p data-testid="delete-impact">{if connections == 0 {
                "Deleting removes this configuration and its client secret. It has no connections.".to_string()
            } else {
                format!("Deleting removes this configuration and its client secret, and disconnects its {connections} connection{}: each is revoked at the provider (where it offers revocation; retried in the background if the provider is down).", if connections == 1 { "" } else { "s" })
            }}</p>
            <FormError error=delete.error("") />
            <form method="post" action=action>
                <CsrfField token=csrf.clone() />
                <input type="hidden" name="_action" value="delete" />
                <label class="check" for="confirm-delete">
                    <input type="checkbox" id="confirm-delete" name="confirm" value="yes" required=true />
                    <span>"I understand this cannot be undone."</span>
                </label>
                <p><button type="submit" class="btn btn-danger">"Delete provider"</button></p>
            </form>
        </section>
    }
}

/// The public documentation page of a catalogue provider.
#[component]
pub fn ProviderDocs() -> impl IntoView {
    let params = use_params_map();
    let data = Resource::new(
        move || params.read().get("provider").unwrap_or_default(),
        provider_docs,
    );
    view! {
        <Suspense fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || data.get().map(|result| match result {
                Err(_) => view! {
                    <Title text="Not found" />
                    <PublicPage>
                        <section class="panel narrow">
                            <h1>"Provider not found"</h1>
                            <a href="/">"Go to the start page"</a>
                        </section>
                    </PublicPage>
                }.into_any(),
                Ok(page) => {
                    let d = page.definition;
                    view! {
                        <Title text=format!("{} provider", d.name) />
                        <PublicPage>
                            <ProviderHeading definition=Some(d.clone()) />
                            <section class="panel">
                                <h2>"Overview"</h2>
                                <p>{format!("Connect your users' {} accounts through OAuth Vault. {}", d.name, d.tagline)}</p>
                                <PropertyTable def=d.clone() redirect_uri=page.redirect_uri.clone() />
                            </section>
                            <section class="panel">
                                <h2>"Setup"</h2>
                                <SetupSteps def=d.clone() redirect_uri=page.redirect_uri.clone() />
                            </section>
                            <section class="panel">
                                <h2>"Scopes"</h2>
                                {d.scope_note.clone().map(|n| view! { <p class="muted">{n}</p> })}
                                {d.scope_groups.iter().cloned().map(|g| view! {
                                    <h3>{g.name.clone()}</h3>
                                    <div class="table-wrap"><table>
                                        <thead><tr><th>"Scope"</th><th>"Description"</th></tr></thead>
                                        <tbody>
                                            {g.scopes.into_iter().map(|s| {
                                                let recommended = d.default_scopes.contains(&s.name);
                                                view! {
                                                    <tr>
                                                        <td><code>{s.name}</code>{recommended.then(|| view! { " " <span class="badge badge-success">"recommended"</span> })}</td>
                                                        <td>{s.description}</td>
                                                    </tr>
                                                }
                                            }).collect_view()}
                                        </tbody>
                                    </table></div>
                                }).collect_view()}
                            </section>
                            <section class="panel">
                                <h2>"Notes"</h2>
                                <ul>{d.notes.iter().map(|n| view! { <li>{n.clone()}</li> }).collect_view()}</ul>
                            </section>
                        </PublicPage>
                    }.into_any()
                }
            })}
        </Suspense>
    }
}
