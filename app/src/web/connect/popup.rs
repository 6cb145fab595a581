//! The connect flow in a popup window that `connect.js` opened on the
//! developer's own page (`/connect/{token}?display=popup`).
//!
//! The popup must keep its `window.opener` through the trip to the
//! provider and back, so its pages are sent with
//! `Cross-Origin-Opener-Policy: unsafe-none` (every other page of the vault
//! keeps `same-origin`). They still refuse framing (`frame-ancestors
//! 'none'`): a popup, never an iframe.
//!
//! The last page of the flow tells the opener the outcome with
//! `postMessage`, addressed to each origin the app may return to (the
//! session's return URL's, else the app's allowed return URLs'), never to
//! `*`, and closes itself. It does so with the one script the connect pages
//! allow, `/connect-popup.js` (`script-src 'self'`), which reads the outcome
//! from a data element of the page. Without an opener (a blocked or severed
//! popup), the page goes on to the return URL like the page flow does.

use leptos::prelude::*;

/// The value of `display` that marks the popup flow.
pub const POPUP: &str = "popup";

/// The connect page's query.
#[derive(Debug, Default, serde::Deserialize)]
pub struct DisplayQuery {
    pub display: Option<String>,
}

impl DisplayQuery {
    pub fn popup(&self) -> bool {
        self.display.as_deref() == Some(POPUP)
    }
}

/// What the popup tells its opener.
pub enum Outcome<'a> {
    Connected {
        connection_id: &'a str,
        provider: &'a str,
    },
    /// A stable code: a connect failure's (`access_denied`, …) or the
    /// link's (`expired`, `used`, `connection_revoked`).
    Failed { code: &'a str },
}

/// The markup that carries `outcome` to `/connect-popup.js`: the origins
/// to tell, and where to go when there is no opener to tell.
pub fn markup(outcome: &Outcome<'_>, origins: &[String], return_to: Option<String>) -> String {
    let (status, connection_id, provider, error) = match outcome {
        Outcome::Connected {
            connection_id,
            provider,
        } => (
            "success",
            connection_id.to_string(),
            provider.to_string(),
            String::new(),
        ),
        Outcome::Failed { code } => ("error", String::new(), String::new(), code.to_string()),
    };
    let origins = origins.join(" ");
    let return_to = return_to.unwrap_or_default();
    Owner::new().with(move || {
        view! {
            <div id="oauth-vault-outcome" hidden data-status=status data-connection-id=connection_id
                data-provider=provider data-error=error data-origins=origins data-return=return_to></div>
            <script src="/connect-popup.js"></script>
        }
        .to_html()
    })
}

/// The policy of a popup's page: the hosted pages' policy, plus the
/// vault's own script where the page tells the opener.
pub fn allow_script(policy: String) -> String {
    policy.replacen(
        "default-src 'none';",
        "default-src 'none'; script-src 'self';",
        1,
    )
}
