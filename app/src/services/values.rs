//! Connection values: what a provider definition's URL templates are filled
//! with. Parameters come from the developer (per configuration) or the end
//! user (on the connect page) and are checked by the definition's pattern;
//! values the provider returns (with the token, on the callback) are checked
//! before they are kept, because they end up in URLs the vault calls.

use crate::catalogue::{urls::OutboundPolicy, ParameterSpec, ProviderDefinition, SuppliedBy};
pub use crate::domain::parameters::{
    check, collect, field, from_json, normalised, to_json, Values,
};
use crate::services::oauth::ProviderProfile;

/// `template` with each `{name}` that has a value replaced by it; the
/// others stay as they are.
pub fn fill_known(template: &str, values: &Values) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if values.contains_key(&after[..close]) => {
                out.push_str(&values[&after[..close]]);
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `template` with each `{name}` replaced by its value; `Err` names the
/// first placeholder without one.
pub fn fill(template: &str, values: &Values) -> Result<String, String> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            return Err(after.to_string());
        };
        let name = &after[..close];
        out.push_str(values.get(name).ok_or_else(|| name.to_string())?);
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

impl ProviderProfile {
    /// The profile with its URL templates filled from `values`, as far as
    /// they go: a placeholder without a value stays (a token URL that needs
    /// a callback value, before the callback). [`Self::unfilled`] names
    /// what a URL still lacks before it is called.
    pub fn resolved(&self, values: &Values) -> Self {
        let mut out = self.clone();
        if values.is_empty() || !self.has_templates() {
            return out;
        }
        let oauth = &mut out.oauth;
        oauth.authorization_url = fill_known(&oauth.authorization_url, values);
        oauth.token_url = fill_known(&oauth.token_url, values);
        if let Some(url) = &oauth.revocation_url {
            oauth.revocation_url = Some(fill_known(url, values));
        }
        if let Some(url) = &oauth.introspection_url {
            oauth.introspection_url = Some(fill_known(url, values));
        }
        if let Some(identity) = &mut out.identity {
            identity.url = fill_known(&identity.url, values);
        }
        if let Some(api) = &mut out.api {
            api.base_url = fill_known(&api.base_url, values);
            for value in api.headers.values_mut() {
                *value = fill_known(value, values);
            }
        }
        out
    }

    /// The first placeholder `url` still holds, if any.
    pub fn unfilled(url: &str) -> Option<String> {
        let open = url.find('{')?;
        let rest = &url[open + 1..];
        Some(rest.split('}').next().unwrap_or(rest).to_string())
    }

    fn has_templates(&self) -> bool {
        let o = &self.oauth;
        [
            Some(&o.authorization_url),
            Some(&o.token_url),
            o.revocation_url.as_ref(),
            o.introspection_url.as_ref(),
            self.identity.as_ref().map(|i| &i.url),
            self.api.as_ref().map(|a| &a.base_url),
        ]
        .into_iter()
        .flatten()
        .any(|u| u.contains('{'))
            || self
                .api
                .as_ref()
                .is_some_and(|a| a.headers.values().any(|v| v.contains('{')))
    }
}

/// The parameters of `def` that `who` supplies.
pub fn parameters_of(def: Option<&ProviderDefinition>, who: SuppliedBy) -> Vec<ParameterSpec> {
    def.map(|d| {
        d.parameters
            .iter()
            .filter(|p| p.supplied_by == who)
            .cloned()
            .collect()
    })
    .unwrap_or_default()
}

/// Whether a value the provider returned may be kept and put into URLs: an
/// origin (`https://host[:port]`, no path, query or user) the outbound rules
/// allow, or a short word of URL-safe characters.
pub fn returned_ok(value: &str, policy: &OutboundPolicy) -> bool {
    if value.starts_with("https://") || value.starts_with("http://") {
        let Ok(url) = url::Url::parse(value) else {
            return false;
        };
        let origin_only = matches!(url.path(), "" | "/")
            && url.query().is_none()
            && url.fragment().is_none()
            && url.username().is_empty();
        return origin_only && policy.check_endpoint(value).is_ok();
    }
    (1..=200).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_are_filled_or_name_what_is_missing() {
        let values = Values::from([("subdomain".to_string(), "acme".to_string())]);
        assert_eq!(
            fill("https://{subdomain}.zendesk.com/oauth", &values).unwrap(),
            "https://acme.zendesk.com/oauth"
        );
        assert_eq!(
            fill("{instance_url}/x", &values).unwrap_err(),
            "instance_url"
        );
    }

    #[test]
    fn returned_values_must_be_origins_or_words() {
        let policy = OutboundPolicy::default();
        assert!(returned_ok("https://na1.salesforce.com", &policy));
        assert!(returned_ok("https://acme.pipedrive.com/", &policy));
        assert!(returned_ok("9130357016417326", &policy));
        for bad in [
            "https://na1.salesforce.com/evil",
            "http://na1.salesforce.com",
            "https://127.0.0.1",
            "https://user@host.com",
            "../../x",
            "a b",
        ] {
            assert!(!returned_ok(bad, &policy), "{bad}");
        }
    }
}
