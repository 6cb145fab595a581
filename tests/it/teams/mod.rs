//! Teams: organisations with members and roles, invitations (by link and by
//! email), the rules that keep an organisation owned, and the switcher.

mod invitations;
mod matrix;
mod owners;

use crate::common::{location, shown_value, Setup};
use crate::common::{Browser, TestApp};
use reqwest::StatusCode;

pub const SETUP: Setup = Setup {
    return_url: "https://app.example.com/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: false,
};

pub const PASSWORD: &str = "correct horse battery";

/// The organisation the browser's user works in, from the header's links.
pub async fn current_org(browser: &Browser) -> String {
    let html = get_html(browser, "/apps").await;
    let start = html
        .find("/orgs/org_")
        .expect("the header links the organisation")
        + 6;
    html[start..].split('/').next().unwrap().to_string()
}

pub async fn get_html(browser: &Browser, path: &str) -> String {
    let res = browser
        .client
        .get(format!("{}{path}", browser.address))
        .send()
        .await
        .unwrap();
    res.text().await.unwrap()
}

pub async fn get_status(browser: &Browser, path: &str) -> StatusCode {
    browser
        .client
        .get(format!("{}{path}", browser.address))
        .send()
        .await
        .unwrap()
        .status()
}

/// Invites `email` into `org` with `role` as `browser`'s user; returns the
/// link shown (no mail server is configured).
pub async fn invite(browser: &Browser, org: &str, email: &str, role: &str) -> String {
    let page = format!("/orgs/{org}/members");
    let res = browser
        .submit(
            &page,
            &page,
            &[("_action", "invite"), ("email", email), ("role", role)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED, "invite {email}");
    let html = res.text().await.unwrap();
    shown_value(&html, &format!("{}/invite/", browser.address))
}

/// A new person accepts `link`, creating their account; returns their
/// browser, signed in.
pub async fn accept_as_new(app: &TestApp, link: &str) -> Browser {
    let browser = app.second_browser();
    let path = link.trim_start_matches(&app.address).to_string();
    let res = browser
        .submit(&path, &path, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "accepting {path}");
    assert_eq!(location(&res), "/apps");
    browser
}
