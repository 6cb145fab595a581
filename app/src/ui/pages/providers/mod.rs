//! OAuth Providers of an app: the catalogue, the provider form (catalogue
//! providers and Custom OAuth 2.0), a configuration's page, and the public
//! documentation page of each catalogue provider.

use crate::{
    catalogue::{ClientAuth, ProviderDefinition, CUSTOM_PROVIDER},
    domain::apps::AppSummary,
    domain::provider_configs::{
        is_config_id, ConfigStatus, ConfigView, CLIENT_ID_MAX, CLIENT_SECRET_MAX,
    },
    ui::components::portal::portal_page,
    ui::components::{
        layout::{PortalPage, PublicPage},
        provider::{CopyField, PropertyTable, ScopeCatalogue, SetupSteps},
    },
    ui::forms::{use_csrf_token, use_feedback, CsrfField, FormError, TextField},
    web::forms::FormFeedback,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

mod custom;
#[cfg(feature = "ssr")]
pub mod ssr;
mod views;

pub use views::{AddProvider, NewProvider, ProviderDetail, ProviderDocs};

/// A card of the catalogue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogueCard {
    pub id: String,
    pub name: String,
    pub category: String,
    pub tagline: String,
    pub logo: Option<String>,
    /// This app already has a configuration of it.
    pub configured: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CataloguePage {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    pub cards: Vec<CatalogueCard>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderFormPage {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    /// `None` for the Custom OAuth 2.0 template.
    pub definition: Option<ProviderDefinition>,
    pub redirect_uri: String,
    /// The id the new configuration will have, chosen with the form.
    pub config_id: String,
    /// A configuration's redirect URI is this and its id.
    pub callback_base: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderDetailPage {
    pub seat: crate::domain::orgs::Seat,
    pub app: AppSummary,
    pub config: ConfigView,
    pub definition: Option<ProviderDefinition>,
    /// The redirect URI the configuration uses now.
    pub redirect_uri: String,
    /// Its own redirect URI (the same, unless it still uses the shared one).
    pub own_redirect_uri: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DocsPage {
    pub definition: ProviderDefinition,
    pub redirect_uri: String,
}

#[server(endpoint = "providers/catalogue")]
pub async fn provider_catalogue(app_id: String) -> Result<CataloguePage, ServerFnError> {
    use crate::web::session::internal;
    // a page to add a provider from: developers and up
    let (state, seat, app) =
        crate::web::session::app_access(&app_id, crate::domain::orgs::Need::Develop).await?;
    let configs = crate::store::provider_configs::list(&state.db, &state.keyring, &app.id)
        .await
        .map_err(internal)?;
    let cards = state
        .catalogue
        .all()
        .iter()
        .map(|d| CatalogueCard {
            id: d.id.clone(),
            name: d.name.clone(),
            category: d.category.clone(),
            tagline: d.tagline.clone(),
            logo: d.logo.clone(),
            configured: configs.iter().any(|c| c.provider == d.id),
        })
        .collect();
    Ok(CataloguePage { seat, app, cards })
}

#[server(endpoint = "providers/form")]
pub async fn provider_form(
    app_id: String,
    provider: String,
) -> Result<ProviderFormPage, ServerFnError> {
    use crate::web::session::not_found;
    let (state, seat, app) =
        crate::web::session::app_access(&app_id, crate::domain::orgs::Need::Develop).await?;
    let definition = if provider == CUSTOM_PROVIDER {
        None
    } else {
        Some(
            state
                .catalogue
                .get(&provider)
                .ok_or_else(not_found)?
                .as_ref()
                .clone(),
        )
    };
    let config_id = crate::infra::db::new_id("pc");
    let public_url = &state.settings.public_url;
    Ok(ProviderFormPage {
        seat,
        app,
        definition,
        redirect_uri: crate::domain::provider_configs::own_redirect_uri(public_url, &config_id),
        callback_base: format!(
            "{public_url}{}/",
            crate::domain::provider_configs::CALLBACK_PATH
        ),
        config_id,
    })
}

#[server(endpoint = "providers/detail")]
pub async fn provider_detail(
    app_id: String,
    config_id: String,
) -> Result<ProviderDetailPage, ServerFnError> {
    use crate::web::session::{internal, not_found};
    let (state, seat, app) =
        crate::web::session::app_access(&app_id, crate::domain::orgs::Need::Read).await?;
    let config =
        crate::store::provider_configs::find(&state.db, &state.keyring, &app.id, &config_id)
            .await
            .map_err(internal)?
            .ok_or_else(not_found)?;
    let definition = state
        .catalogue
        .get(&config.provider)
        .map(|d| d.as_ref().clone());
    let public_url = &state.settings.public_url;
    Ok(ProviderDetailPage {
        seat,
        app,
        redirect_uri: config.redirect_uri(public_url),
        own_redirect_uri: crate::domain::provider_configs::own_redirect_uri(public_url, &config.id),
        config,
        definition,
    })
}

#[server(endpoint = "providers/docs")]
pub async fn provider_docs(provider: String) -> Result<DocsPage, ServerFnError> {
    use crate::web::session::{internal, not_found};
    let state = use_context::<crate::web::state::AppState>().ok_or_else(|| internal("no state"))?;
    let definition = state
        .catalogue
        .get(&provider)
        .ok_or_else(not_found)?
        .as_ref()
        .clone();
    Ok(DocsPage {
        definition,
        // each configuration has its own: the form of a new one shows it
        redirect_uri: format!(
            "{}{}/<configuration id>",
            state.settings.public_url,
            crate::domain::provider_configs::CALLBACK_PATH
        ),
    })
}

/// The provider pages and the public docs of catalogue providers, for the router.
#[component(transparent)]
pub fn ProviderRoutes() -> impl leptos_router::MatchNestedRoutes + Clone {
    use leptos_router::{components::Route, path, SsrMode};
    view! {
        <Route path=path!("/apps/:app_id/providers/new") view=AddProvider ssr=SsrMode::Async />
        <Route path=path!("/apps/:app_id/providers/new/:provider") view=NewProvider ssr=SsrMode::Async />
        <Route path=path!("/apps/:app_id/providers/:config_id") view=ProviderDetail ssr=SsrMode::Async />
        <Route path=path!("/docs/providers/:provider") view=ProviderDocs ssr=SsrMode::Async />
    }
    .into_inner()
}
