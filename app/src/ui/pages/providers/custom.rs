//! The custom OAuth 2.0 part of the provider form: endpoints, the issuer
//! and its discovery, and the protocol choices, filled from the last post
//! or from the saved configuration.

use super::*;

/// The fields of a Custom OAuth 2.0 configuration.
#[component]
pub(super) fn CustomFields(feedback: FormFeedback, existing: Option<ConfigView>) -> impl IntoView {
    let CustomValues {
        slug,
        name,
        auth_url,
        token_url,
        revocation,
        introspection,
        userinfo,
        scopes,
        comma,
        basic,
        pkce,
        issuer,
        require_iss,
    } = custom_values(&feedback, existing.as_ref());
    let discovered = feedback.value("_discovered");
    view! {
        <IssuerDiscovery issuer error=feedback.error("issuer") discovered />
        <CustomEndpoints feedback=feedback.clone() slug name auth_url token_url revocation introspection userinfo />
        <div class="field">
            <label for="field-scope_list">"Scopes"</label>
            <textarea id="field-scope_list" name="scope_list" rows="2" maxlength="4000"
                aria-invalid=feedback.error("scope_list").map(|_| "true")>{scopes.unwrap_or_default()}</textarea>
            <span class="hint">"The scopes to request, separated by spaces or commas."</span>
            {feedback.error("scope_list").map(|e| view! { <span class="error" role="alert">{e}</span> })}
        </div>
        <div class="field">
            <label for="field-scope_separator">"Scope separator in the authorization request"</label>
            <select id="field-scope_separator" name="scope_separator">
                <option value="space" selected=!comma>"Space (RFC 6749)"</option>
                <option value="comma" selected=comma>"Comma"</option>
            </select>
        </div>
        <div class="field">
            <label for="field-client_auth">"Client authentication at the token endpoint"</label>
            <select id="field-client_auth" name="client_auth">
                <option value="basic" selected=basic>"HTTP Basic (client_secret_basic)"</option>
                <option value="body" selected=!basic>"Request body (client_secret_post)"</option>
            </select>
            {feedback.error("client_auth").map(|e| view! { <span class="error" role="alert">{e}</span> })}
        </div>
        <ProtocolChoices pkce require_iss pkce_error=feedback.error("pkce") iss_error=feedback.error("authorization_response_iss") />
    }
}

/// A custom provider's name, id and endpoints.
#[component]
#[allow(clippy::too_many_arguments)]
fn CustomEndpoints(
    feedback: FormFeedback,
    slug: Option<String>,
    name: Option<String>,
    auth_url: Option<String>,
    token_url: Option<String>,
    revocation: Option<String>,
    introspection: Option<String>,
    userinfo: Option<String>,
) -> impl IntoView {
    view! {
        <TextField label="Name" name="display_name" value=name error=feedback.error("display_name")
            hint="Shown to your end users, e.g. Acme Identity." maxlength=80 />
        <TextField label="Provider ID" name="slug" value=slug error=feedback.error("slug")
            hint="Lower-case letters, digits and '-'; used in the API, e.g. acme-idp." maxlength=40 />
        <TextField label="Authorization URL" name="authorization_url" kind="url" value=auth_url
            error=feedback.error("authorization_url") maxlength=2000 placeholder=Some("https://idp.example.com/oauth/authorize".to_string()) />
        <TextField label="Token URL" name="token_url" kind="url" value=token_url
            error=feedback.error("token_url") maxlength=2000 placeholder=Some("https://idp.example.com/oauth/token".to_string()) />
        <TextField label="Revocation URL (optional)" name="revocation_url" kind="url" value=revocation
            error=feedback.error("revocation_url") required=false maxlength=2000 />
        <TextField label="Introspection URL (optional)" name="introspection_url" kind="url" value=introspection
            error=feedback.error("introspection_url") required=false maxlength=2000 />
        <TextField label="Userinfo URL (optional)" name="userinfo_url" kind="url" value=userinfo
            error=feedback.error("userinfo_url") required=false maxlength=2000 />
    }
}

/// The issuer, and the button that fills the form in from its metadata.
#[component]
fn IssuerDiscovery(
    issuer: Option<String>,
    error: Option<String>,
    discovered: Option<String>,
) -> impl IntoView {
    view! {
        <fieldset class="field discover">
            <legend>"Issuer (optional)"</legend>
            <TextField label="Issuer" name="issuer" kind="url" value=issuer error=error
                required=false maxlength=2000 placeholder=Some("https://idp.example.com".to_string())
                hint="The authorization server's issuer identifier. Discover reads its metadata (RFC 8414 or OpenID Connect) and fills in the fields below." />
            <button type="submit" name="_action" value="discover" formnovalidate=true class="btn" data-testid="discover">"Discover"</button>
            {discovered.map(|m| view! { <div class="alert alert-success" role="status" data-testid="discovered">{m}</div> })}
        </fieldset>
    }
}

/// PKCE (switching it off needs a confirmation) and the `iss` check.
#[component]
fn ProtocolChoices(
    pkce: bool,
    require_iss: bool,
    pkce_error: Option<String>,
    iss_error: Option<String>,
) -> impl IntoView {
    view! {
        <label class="check" for="field-pkce">
            <input type="checkbox" id="field-pkce" name="pkce" value="on" checked=pkce />
            <span>"Use PKCE (S256)"</span>
        </label>
        <label class="check" for="field-pkce_off_confirmed">
            <input type="checkbox" id="field-pkce_off_confirmed" name="pkce_off_confirmed" value="on" />
            <span>"I understand the risk of switching PKCE off: an intercepted authorization code could then be used"</span>
        </label>
        {pkce_error.map(|e| view! { <span class="error" role="alert">{e}</span> })}
        <label class="check" for="field-authorization_response_iss">
            <input type="checkbox" id="field-authorization_response_iss" name="authorization_response_iss" value="on" checked=require_iss />
            <span>"The server names itself in its answers (" <code>"iss"</code> ", RFC 9207): require it to equal the issuer"</span>
        </label>
        {iss_error.map(|e| view! { <span class="error" role="alert">{e}</span> })}
    }
}

/// What the custom provider form shows: the values just submitted when the
/// submission failed, else the stored configuration's.
struct CustomValues {
    slug: Option<String>,
    name: Option<String>,
    auth_url: Option<String>,
    token_url: Option<String>,
    revocation: Option<String>,
    introspection: Option<String>,
    userinfo: Option<String>,
    scopes: Option<String>,
    comma: bool,
    basic: bool,
    pkce: bool,
    issuer: Option<String>,
    require_iss: bool,
}

fn custom_values(feedback: &FormFeedback, existing: Option<&ConfigView>) -> CustomValues {
    let custom = existing.and_then(|c| c.custom.clone());
    // a re-rendered form (errors, or endpoints discovered) shows what it holds
    let kept = feedback.has_errors() || !feedback.values.is_empty();
    let pick = |field: &str, current: Option<String>| {
        if kept {
            feedback.value(field)
        } else {
            current
        }
    };
    let slug = pick("slug", existing.map(|c| c.slug.clone()));
    let name = pick("display_name", existing.map(|c| c.display_name.clone()));
    let auth_url = pick(
        "authorization_url",
        custom.as_ref().map(|c| c.authorization_url.clone()),
    );
    let token_url = pick("token_url", custom.as_ref().map(|c| c.token_url.clone()));
    let revocation = pick(
        "revocation_url",
        custom.as_ref().and_then(|c| c.revocation_url.clone()),
    );
    let introspection = pick(
        "introspection_url",
        custom.as_ref().and_then(|c| c.introspection_url.clone()),
    );
    let userinfo = pick(
        "userinfo_url",
        custom.as_ref().and_then(|c| c.userinfo_url.clone()),
    );
    let scopes = pick("scope_list", existing.map(|c| c.scopes.join(" ")));
    let comma = pick(
        "scope_separator",
        custom.as_ref().map(|c| {
            if c.scope_separator == "," {
                "comma".into()
            } else {
                "space".into()
            }
        }),
    )
    .is_some_and(|s| s == "comma");
    let basic = pick(
        "client_auth",
        custom.as_ref().map(|c| {
            if c.client_auth == ClientAuth::Basic {
                "basic".into()
            } else {
                "body".into()
            }
        }),
    )
    .is_some_and(|s| s == "basic");
    let (pkce, require_iss) = if kept {
        (
            feedback.value("pkce").is_some(),
            feedback.value("authorization_response_iss").is_some(),
        )
    } else {
        (
            custom.as_ref().map(|c| c.pkce).unwrap_or(true),
            custom
                .as_ref()
                .is_some_and(|c| c.authorization_response_iss),
        )
    };
    let issuer = pick("issuer", custom.as_ref().and_then(|c| c.issuer.clone()));
    CustomValues {
        issuer,
        require_iss,
        slug,
        name,
        auth_url,
        token_url,
        revocation,
        introspection,
        userinfo,
        scopes,
        comma,
        basic,
        pkce,
    }
}
