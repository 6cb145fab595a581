//! Invitations: once, for their address, until expired or revoked; by email
//! when a mail server is configured.

use super::{accept_as_new, current_org, get_html, invite, PASSWORD, SETUP};
use crate::common::{location, shown_value, World};
use reqwest::StatusCode;

with_world!(SETUP; invitations_live_once_for_their_address);

/// An invitation works once, for its own address, until it expires or is
/// revoked; an existing account signs in and joins; everything is audited.
async fn invitations_live_once_for_their_address(w: World) {
    let owner = w.app.browser();
    let org = current_org(&owner).await;
    let members = format!("/orgs/{org}/members");

    // a bad address or role changes nothing
    let res = owner
        .submit(
            &members,
            &members,
            &[("_action", "invite"), ("email", "nope"), ("role", "viewer")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Enter an email address like"));
    let res = owner
        .submit(
            &members,
            &members,
            &[
                ("_action", "invite"),
                ("email", "a@example.com"),
                ("role", "root"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = owner
        .submit(
            &members,
            &members,
            &[
                ("_action", "invite"),
                ("email", "dev@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "already a member"
    );
    assert_eq!(w.app.count("account_links").await, 0);

    // a new person: the page says where they go, and the link works once
    let link = invite(&owner, &org, "new@example.com", "developer").await;
    let path = link.trim_start_matches(&w.app.address).to_string();
    let html = get_html(&w.app.second_browser(), &path).await;
    assert!(html.contains("as a developer"), "the page names the role");
    let listed = get_html(&owner, &members).await;
    assert!(
        listed.contains("new@example.com"),
        "the members page lists the invitation"
    );
    let newcomer = accept_as_new(&w.app, &link).await;
    assert_eq!(
        current_org(&newcomer).await,
        org,
        "the newcomer works in the organisation"
    );
    let res = w
        .app
        .second_browser()
        .submit("/login", &path, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::GONE, "used");
    assert!(res.text().await.unwrap().contains("already used"));

    // revoked, expired
    let link = invite(&owner, &org, "late@example.com", "viewer").await;
    let html = get_html(&owner, &members).await;
    let at = html.find("invitation_id\" value=\"").unwrap() + 22;
    let id = html[at..].split('"').next().unwrap().to_string();
    let res = owner
        .submit(
            &members,
            &members,
            &[("_action", "revoke"), ("invitation_id", &id)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let path = link.trim_start_matches(&w.app.address).to_string();
    let res = w
        .app
        .second_browser()
        .submit("/login", &path, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("was revoked"));
    let link = invite(&owner, &org, "slow@example.com", "viewer").await;
    w.sql("UPDATE account_links SET expires_at = 1 WHERE email = 'slow@example.com'")
        .await;
    let path = link.trim_start_matches(&w.app.address).to_string();
    let res = w
        .app
        .second_browser()
        .submit("/login", &path, &[("password", PASSWORD)])
        .await;
    assert_eq!(res.status(), StatusCode::GONE);
    assert!(res.text().await.unwrap().contains("has expired"));

    // a foreign invitation cannot be revoked from another organisation
    let other = w.app.second_browser();
    other.sign_up("other@example.com", PASSWORD).await;
    let other_org = current_org(&other).await;
    let other_members = format!("/orgs/{other_org}/members");
    let link = invite(&other, &other_org, "guest@example.com", "viewer").await;
    let html = get_html(&other, &other_members).await;
    let at = html.find("invitation_id\" value=\"").unwrap() + 22;
    let foreign = html[at..].split('"').next().unwrap().to_string();
    let res = owner
        .submit(
            &members,
            &members,
            &[("_action", "revoke"), ("invitation_id", &foreign)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // an existing account: signed in as someone else, it is refused; signed
    // in as the invited address, it joins
    let path = link.trim_start_matches(&w.app.address).to_string();
    let html = get_html(&owner, &path).await;
    assert!(
        html.contains("This invitation is for guest@example.com"),
        "another address"
    );
    let res = owner.submit("/apps", &path, &[("_action", "join")]).await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let guest = w.app.second_browser();
    guest.sign_up("guest@example.com", PASSWORD).await;
    let res = guest.submit(&path, &path, &[("_action", "join")]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(current_org(&guest).await, other_org);
    let html = get_html(&guest, &other_members).await;
    assert!(html.contains("guest@example.com"));

    // signing in from the invitation comes back to it
    let link = invite(&owner, &org, "guest@example.com", "viewer").await;
    let path = link.trim_start_matches(&w.app.address).to_string();
    let fresh = w.app.second_browser();
    let html = get_html(&fresh, &path).await;
    assert!(
        html.contains(&format!("/login?next={path}")),
        "sign in to join"
    );
    let res = fresh
        .submit(
            &format!("/login?next={path}"),
            "/login",
            &[
                ("email", "guest@example.com"),
                ("password", PASSWORD),
                ("next", &path),
            ],
        )
        .await;
    assert_eq!(location(&res), path, "back to the invitation");

    // the organisation's activity tells the story
    let html = get_html(&owner, &format!("/orgs/{org}/activity")).await;
    for action in [
        "invitation.created",
        "invitation.revoked",
        "user.joined_by_invitation",
    ] {
        assert!(html.contains(action), "{action} on the activity page");
    }
    let html = get_html(&other, &format!("/orgs/{other_org}/activity")).await;
    assert!(html.contains("member.joined"));
}

/// With a mail server configured, an invitation goes out by email (to an
/// in-process SMTP listener) and its link works; when the server cannot be
/// reached, the page shows the link instead, and the log names no secret.
async fn invitations_go_out_by_email(backend: crate::common::Backend) {
    use crate::common::fake_smtp::FakeSmtp;
    let smtp = FakeSmtp::start().await;
    // invitation-only, as by default: the invited still join
    let vars = [
        ("OAUTH_VAULT_SMTP_URL", smtp.url.as_str()),
        ("OAUTH_VAULT_SMTP_FROM", "OAuth Vault <vault@example.com>"),
        ("OAUTH_VAULT_SIGNUP", "invite"),
    ];
    let Some(app) = crate::common::spawn_app_with(backend, &vars).await else {
        return;
    };
    app.set_up_admin("owner@example.com", PASSWORD).await;
    let owner = app.browser();
    let org = current_org(&owner).await;
    let members = format!("/orgs/{org}/members");
    let html = get_html(&owner, &members).await;
    assert!(
        html.contains("They get an email"),
        "the page says invitations are emailed"
    );
    let res = owner
        .submit(
            &members,
            &members,
            &[
                ("_action", "invite"),
                ("email", "New.Person@Example.com"),
                ("role", "developer"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let to = location(&res);
    let html = get_html(&owner, &to).await;
    assert!(
        html.contains("invitation-sent"),
        "the page says it was sent"
    );
    assert!(!html.contains("/invite/"), "and shows no link");

    let mails = smtp.mails();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.from, "vault@example.com");
    assert_eq!(mail.to, vec!["new.person@example.com".to_string()]);
    let text = decode_body(&mail.data);
    assert!(text.contains("owner@example.com invited you"), "{text}");
    assert!(text.contains("as developer"));
    let marker = format!("{}/invite/", app.address);
    let start = text.find(&marker).expect("the email holds the link");
    let link: String = text[start..].split_whitespace().next().unwrap().to_string();
    let newcomer = accept_as_new(&app, &link).await;
    assert_eq!(current_org(&newcomer).await, org);

    // the mail server goes away: the link is shown to copy
    drop(smtp);
    let res = owner
        .submit(
            &members,
            &members,
            &[
                ("_action", "invite"),
                ("email", "later@example.com"),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CREATED);
    let html = res.text().await.unwrap();
    shown_value(&html, &format!("{}/invite/", app.address));
    app.stop().await;
}

/// A message's text: quoted-printable undone where the mailer used it.
fn decode_body(data: &str) -> String {
    let (headers, body) = data.split_once("\n\n").unwrap_or(("", data));
    if !headers.to_ascii_lowercase().contains("quoted-printable") {
        return body.to_string();
    }
    let joined = body.replace("=\n", "");
    let mut out = String::new();
    let mut rest = joined.as_str();
    while let Some(at) = rest.find('=') {
        out.push_str(&rest[..at]);
        match u8::from_str_radix(rest.get(at + 1..at + 3).unwrap_or(""), 16) {
            Ok(byte) => {
                out.push(byte as char);
                rest = &rest[at + 3..];
            }
            Err(_) => {
                out.push('=');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

mod invitations_go_out_by_email {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        super::invitations_go_out_by_email(crate::common::Backend::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        super::invitations_go_out_by_email(crate::common::Backend::Postgres).await;
    }
}
