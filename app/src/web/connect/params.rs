//! The connect page's end-user parameters: what was typed and what is
//! wrong with it, and the provider host the page's form may go on to.

use crate::domain::provider_configs::ConfigView;
use crate::services::oauth::ProviderProfile;

/// What the end user typed for a provider's parameters, and what is wrong
/// with it: the page comes back with both.
#[derive(Clone, Default)]
pub(super) struct Typed {
    pub(super) config_id: String,
    pub(super) values: Vec<(String, String)>,
    pub(super) errors: Vec<(String, String)>,
}

impl Typed {
    pub(super) fn value(&self, config_id: &str, field: &str) -> String {
        if self.config_id != config_id {
            return String::new();
        }
        self.values
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    }

    pub(super) fn error(&self, config_id: &str, field: &str) -> Option<String> {
        if self.config_id != config_id {
            return None;
        }
        self.errors
            .iter()
            .find(|(k, _)| k == field)
            .map(|(_, v)| v.clone())
    }
}

/// The origin a form may be sent on to: the authorization endpoint's, with
/// an end user's parameter in the host as a wildcard label
/// (`https://*.zendesk.com`).
pub(super) fn form_target(profile: &ProviderProfile, config: &ConfigView) -> Option<String> {
    let mut values = config.parameters.clone();
    for p in crate::services::values::parameters_of(
        profile.definition.as_deref(),
        crate::catalogue::SuppliedBy::EndUser,
    ) {
        values.insert(p.name, "wildcard-label".to_string());
    }
    let url = crate::services::values::fill(&profile.oauth.authorization_url, &values).ok()?;
    origin_of(&url).map(|o| o.replace("wildcard-label", "*"))
}

/// `scheme://host[:port]` of `url`.
fn origin_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization())
}
