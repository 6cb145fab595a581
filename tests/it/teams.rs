//! Teams: organisations with members and roles, invitations (by link and by
//! email), the rules that keep an organisation owned, and the switcher.

use crate::common::{location, shown_value, Setup, World};
use crate::common::{Browser, TestApp};
use reqwest::StatusCode;

const SETUP: Setup = Setup {
    return_url: "https://app.example.com/done",
    attio_scopes: &["record_permission:read"],
    fake_oauth: false,
};

const PASSWORD: &str = "correct horse battery";

with_world!(SETUP;
    the_role_matrix_holds_on_every_route,
    invitations_live_once_for_their_address,
    an_organisation_always_keeps_an_owner,
    a_user_works_in_several_organisations,
);

/// The organisation the browser's user works in, from the header's links.
pub async fn current_org(browser: &Browser) -> String {
    let html = get_html(browser, "/apps").await;
    let start = html
        .find("/orgs/org_")
        .expect("the header links the organisation")
        + 6;
    html[start..].split('/').next().unwrap().to_string()
}

async fn get_html(browser: &Browser, path: &str) -> String {
    let res = browser
        .client
        .get(format!("{}{path}", browser.address))
        .send()
        .await
        .unwrap();
    res.text().await.unwrap()
}

async fn get_status(browser: &Browser, path: &str) -> StatusCode {
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

/// The roles, most rights first: a row's least role is an index here.
const ROLES: [&str; 4] = ["owner", "admin", "developer", "viewer"];
const OWNER: usize = 0;
const ADMIN: usize = 1;
const DEVELOPER: usize = 2;
const VIEWER: usize = 3;

/// A form post of the matrix: its page, action and fields, the least role
/// that may, and the answer then. The fields are chosen so that an allowed
/// post reaches its check and changes nothing that the next role needs
/// (a validation error, an unknown id), or is harmless to repeat.
struct Post {
    page: String,
    action: String,
    fields: Vec<(&'static str, String)>,
    least: usize,
    allowed: StatusCode,
}

/// A server function of the matrix: its endpoint, arguments and the least
/// role that may call it.
type Call<'a> = (&'a str, Vec<(&'a str, &'a str)>, usize);

fn post(page: &str, fields: &[(&'static str, &str)], least: usize, allowed: StatusCode) -> Post {
    Post {
        page: page.to_string(),
        action: page.to_string(),
        fields: fields.iter().map(|(k, v)| (*k, v.to_string())).collect(),
        least,
        allowed,
    }
}

/// Every page, server function and form of an organisation's portal against
/// every role and a stranger: reads for every member (pages to add a
/// provider from for developers and up), changes for developers and up,
/// members for admins and up, the organisation's deletion for owners only.
/// A stranger gets 404 everywhere; a role too low gets 403 with a page
/// naming the role needed, and nothing is saved.
async fn the_role_matrix_holds_on_every_route(w: World) {
    let owner = w.app.browser();
    let org = current_org(&owner).await;
    let mut people = vec![owner.clone()];
    for role in &ROLES[1..] {
        let link = invite(&owner, &org, &format!("{role}@example.com"), role).await;
        people.push(accept_as_new(&w.app, &link).await);
    }
    let stranger = w.app.second_browser();
    stranger.sign_up("stranger@example.com", PASSWORD).await;
    let (app, config) = (w.app_id.clone(), w.attio_config.clone());
    let connection = w.connected("user-matrix").await;

    // pages
    let pages = [
        ("/apps".to_string(), VIEWER),
        (format!("/apps/{app}"), VIEWER),
        (format!("/apps/{app}/connections"), VIEWER),
        (format!("/apps/{app}/connections/{connection}"), VIEWER),
        (format!("/apps/{app}/api-keys"), VIEWER),
        (format!("/apps/{app}/settings"), VIEWER),
        (format!("/apps/{app}/activity"), VIEWER),
        (format!("/apps/{app}/providers/{config}"), VIEWER),
        (format!("/apps/{app}/providers/new"), DEVELOPER),
        (format!("/apps/{app}/providers/new/attio"), DEVELOPER),
        (format!("/orgs/{org}/members"), VIEWER),
        (format!("/orgs/{org}/activity"), VIEWER),
    ];
    for (page, least) in &pages {
        for (rank, browser) in people.iter().enumerate() {
            let want = if rank <= *least {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(
                get_status(browser, page).await,
                want,
                "{} reads {page}",
                ROLES[rank]
            );
        }
        if page != "/apps" {
            assert_eq!(
                get_status(&stranger, page).await,
                StatusCode::NOT_FOUND,
                "stranger reads {page}"
            );
        }
    }
    let html = get_html(&people[VIEWER], &pages[8].0).await;
    assert!(
        html.contains("This needs the developer role"),
        "the 403 page names the role"
    );
    // the provider page never shows the client secret, to anyone
    for browser in &people {
        let html = get_html(browser, &format!("/apps/{app}/providers/{config}")).await;
        assert!(!html.contains(crate::common::fake_attio::CLIENT_SECRET));
    }

    // server functions
    let calls: [Call; 9] = [
        ("apps/get", vec![("app_id", &app)], VIEWER),
        (
            "providers/detail",
            vec![("app_id", &app), ("config_id", &config)],
            VIEWER,
        ),
        ("providers/catalogue", vec![("app_id", &app)], DEVELOPER),
        (
            "providers/form",
            vec![("app_id", &app), ("provider", "attio")],
            DEVELOPER,
        ),
        ("keys/list", vec![("app_id", &app)], VIEWER),
        ("connections/list", vec![("app_id", &app)], VIEWER),
        (
            "connections/get",
            vec![("app_id", &app), ("connection_id", &connection)],
            VIEWER,
        ),
        ("settings/get", vec![("app_id", &app)], VIEWER),
        ("orgs/members", vec![("org_id", &org)], VIEWER),
    ];
    for (endpoint, args, least) in &calls {
        let path = format!("/api/{endpoint}");
        for (rank, browser) in people.iter().enumerate() {
            let want = if rank <= *least {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(
                server_fn(browser, &path, args).await,
                want,
                "{} calls {endpoint}",
                ROLES[rank]
            );
        }
        assert_eq!(
            server_fn(&stranger, &path, args).await,
            StatusCode::NOT_FOUND,
            "stranger calls {endpoint}"
        );
    }

    // forms
    let (apps_page, keys, settings) = (
        format!("/apps/{app}"),
        format!("/apps/{app}/api-keys"),
        format!("/apps/{app}/settings"),
    );
    let new_config = format!("/apps/{app}/providers/new/attio");
    let config_page = format!("/apps/{app}/providers/{config}");
    let connection_page = format!("/apps/{app}/connections/{connection}");
    let members = format!("/orgs/{org}/members");
    use StatusCode as S;
    let mut posts = vec![
        Post {
            page: "/apps".into(),
            action: "/apps".into(),
            fields: vec![("name", String::new()), ("organisation_id", org.clone())],
            least: DEVELOPER,
            allowed: S::UNPROCESSABLE_ENTITY,
        },
        post(
            &apps_page,
            &[("_action", "rename"), ("name", "")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &apps_page,
            &[("_action", "delete"), ("confirm", "no")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &new_config,
            &[("client_id", ""), ("client_secret", "")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &config_page,
            &[("_action", "update"), ("client_id", "")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &config_page,
            &[("_action", "use_own_callback")],
            DEVELOPER,
            S::SEE_OTHER,
        ),
        post(
            &keys,
            &[("_action", "create"), ("name", "")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &keys,
            &[("_action", "revoke"), ("key_id", "key_nope")],
            DEVELOPER,
            S::NOT_FOUND,
        ),
        post(
            &connection_page,
            &[("_action", "reconnect")],
            DEVELOPER,
            S::OK,
        ),
        post(
            &connection_page,
            &[("_action", "delete")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &settings,
            &[("_action", "return_urls"), ("return_urls", "not a url")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &settings,
            &[("_action", "webhook"), ("webhook_url", "not a url")],
            DEVELOPER,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &members,
            &[("_action", "invite"), ("email", "nope"), ("role", "viewer")],
            ADMIN,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &members,
            &[("_action", "revoke"), ("invitation_id", "inv_nope")],
            ADMIN,
            S::NOT_FOUND,
        ),
        post(
            &members,
            &[
                ("_action", "set_role"),
                ("user_id", "usr_nope"),
                ("role", "viewer"),
            ],
            ADMIN,
            S::NOT_FOUND,
        ),
        post(
            &members,
            &[("_action", "remove"), ("user_id", "usr_nope")],
            ADMIN,
            S::NOT_FOUND,
        ),
        post(
            &members,
            &[("_action", "rename"), ("name", "")],
            ADMIN,
            S::UNPROCESSABLE_ENTITY,
        ),
        post(
            &members,
            &[("_action", "delete"), ("confirm", "no")],
            OWNER,
            S::UNPROCESSABLE_ENTITY,
        ),
    ];
    // a refused change saves nothing: counted over the tables these forms write
    let tables = [
        "apps",
        "provider_configs",
        "api_keys",
        "account_links",
        "memberships",
        "connect_sessions",
    ];
    for p in posts.drain(..) {
        let fields: Vec<(&str, &str)> = p.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let what = format!("{} {:?}", p.action, fields.first());
        for (rank, browser) in people.iter().enumerate() {
            let mut before = Vec::new();
            for t in tables {
                before.push(w.app.count(t).await);
            }
            let res = browser.submit(&p.page, &p.action, &fields).await;
            if rank <= p.least {
                assert_eq!(res.status(), p.allowed, "{} may: {what}", ROLES[rank]);
                continue;
            }
            assert_eq!(
                res.status(),
                S::FORBIDDEN,
                "{} may not: {what}",
                ROLES[rank]
            );
            let html = res.text().await.unwrap();
            assert!(
                html.contains("This needs the"),
                "{}: the page names the role needed",
                ROLES[rank]
            );
            let mut after = Vec::new();
            for t in tables {
                after.push(w.app.count(t).await);
            }
            assert_eq!(
                before, after,
                "{}: nothing saved when refused: {what}",
                ROLES[rank]
            );
        }
        let res = stranger.submit("/apps", &p.action, &fields).await;
        assert_eq!(res.status(), S::NOT_FOUND, "stranger: {what}");
    }

    // disconnecting for real: developers and up, each its own connection
    for (rank, browser) in people.iter().enumerate() {
        let id = w.connected(&format!("user-{}", ROLES[rank])).await;
        let page = format!("/apps/{app}/connections/{id}");
        let res = browser
            .submit(&page, &page, &[("_action", "delete"), ("confirm", "yes")])
            .await;
        if rank <= DEVELOPER {
            assert_eq!(res.status(), S::SEE_OTHER, "{} disconnects", ROLES[rank]);
            assert_eq!(w.status(&id).await, "revoked");
        } else {
            assert_eq!(
                res.status(),
                S::FORBIDDEN,
                "{} may not disconnect",
                ROLES[rank]
            );
            assert_eq!(w.status(&id).await, "active", "nothing changed");
        }
    }

    // viewers are not shown the forms they may not post
    let viewer = &people[VIEWER];
    let html = get_html(viewer, &keys).await;
    assert!(!html.contains("Create a key"), "a viewer sees no key form");
    let html = get_html(viewer, &members).await;
    assert!(
        !html.contains("invite-form"),
        "a viewer sees no invitation form"
    );
    let html = get_html(viewer, &apps_page).await;
    assert!(!html.contains("Add Provider") && !html.contains("Delete app"));
}

async fn server_fn(browser: &Browser, path: &str, args: &[(&str, &str)]) -> StatusCode {
    browser
        .client
        .post(format!("{}{path}", browser.address))
        .header("origin", &browser.address)
        .form(args)
        .send()
        .await
        .unwrap()
        .status()
}

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
    assert!(html.contains("as developer"), "the page names the role");
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

/// The last owner can neither leave nor be demoted; only owners touch
/// owners; ownership moves by making another owner first.
async fn an_organisation_always_keeps_an_owner(w: World) {
    let owner = w.app.browser();
    let org = current_org(&owner).await;
    let members = format!("/orgs/{org}/members");
    let link = invite(&owner, &org, "admin@example.com", "admin").await;
    let admin = accept_as_new(&w.app, &link).await;
    let owner_id = user_id(&w.app, "dev@example.com").await;
    let admin_id = user_id(&w.app, "admin@example.com").await;

    let res = owner
        .submit(
            &members,
            &members,
            &[
                ("_action", "set_role"),
                ("user_id", &owner_id),
                ("role", "admin"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
    assert!(res.text().await.unwrap().contains("last owner"));
    let res = owner
        .submit(&members, &members, &[("_action", "leave")])
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "the last owner cannot leave"
    );

    // an admin cannot touch an owner nor make one
    let res = admin
        .submit(
            &members,
            &members,
            &[("_action", "remove"), ("user_id", &owner_id)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .submit(
            &members,
            &members,
            &[
                ("_action", "set_role"),
                ("user_id", &admin_id),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
    let res = admin
        .submit(
            &members,
            &members,
            &[
                ("_action", "invite"),
                ("email", "boss@example.com"),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::FORBIDDEN,
        "admins do not invite owners"
    );

    // ownership moves: another owner first, then the first steps down
    let res = owner
        .submit(
            &members,
            &members,
            &[
                ("_action", "set_role"),
                ("user_id", &admin_id),
                ("role", "owner"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = owner
        .submit(
            &members,
            &members,
            &[
                ("_action", "set_role"),
                ("user_id", &owner_id),
                ("role", "developer"),
            ],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let res = admin
        .submit(
            &members,
            &members,
            &[
                ("_action", "set_role"),
                ("user_id", &admin_id),
                ("role", "viewer"),
            ],
        )
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CONFLICT,
        "now they are the last owner"
    );
    let owners = w
        .app
        .count(&format!(
            "memberships WHERE organisation_id = '{org}' AND role = 'owner'"
        ))
        .await;
    assert_eq!(owners, 1);

    // the former owner leaves; they keep an organisation of their own
    let res = owner
        .submit(&members, &members, &[("_action", "leave")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_ne!(current_org(&owner).await, org);
    assert_eq!(get_status(&owner, &members).await, StatusCode::NOT_FOUND);
    assert_eq!(
        get_status(&owner, &format!("/apps/{}", w.app_id)).await,
        StatusCode::NOT_FOUND
    );
    let html = get_html(&admin, &format!("/orgs/{org}/activity")).await;
    for action in ["member.role_changed", "member.left"] {
        assert!(html.contains(action), "{action}");
    }
}

/// Several organisations: the switcher moves between them, a new one can be
/// created, an app's page works from any of them, and deleting one leaves
/// its members with the others.
async fn a_user_works_in_several_organisations(w: World) {
    let dev = w.app.browser();
    let first = current_org(&dev).await;
    let res = dev
        .submit("/orgs/new", "/orgs/new", &[("name", "  ")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let res = dev
        .submit("/orgs/new", "/orgs/new", &[("name", "Side project")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let second = current_org(&dev).await;
    assert_ne!(first, second);
    let html = get_html(&dev, "/apps").await;
    assert!(
        html.contains("Side project") && html.contains("no-apps"),
        "the new one is empty"
    );

    // switching back, and an app page switches by itself
    let res = dev
        .submit("/apps", "/orgs/switch", &[("organisation_id", &first)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(current_org(&dev).await, first);
    let res = dev
        .submit("/apps", "/orgs/switch", &[("organisation_id", &second)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        get_status(&dev, &format!("/apps/{}", w.app_id)).await,
        StatusCode::OK
    );
    assert_eq!(
        current_org(&dev).await,
        first,
        "opening an app works in its organisation"
    );
    let res = dev
        .submit("/apps", "/orgs/switch", &[("organisation_id", "org_nope")])
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);

    // deleting the first takes its apps; the owner keeps the second
    let members = format!("/orgs/{first}/members");
    let name = {
        let html = get_html(&dev, &members).await;
        let at = html.find("data-testid=\"org-title\">").unwrap() + 24;
        html[at..].split('<').next().unwrap().to_string()
    };
    let res = dev
        .submit(
            &members,
            &members,
            &[("_action", "delete"), ("confirm", &name)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(w.app.count("apps").await, 0);
    assert_eq!(current_org(&dev).await, second);
    let (status, _) = w.token("con_whatever").await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the app's API key went with it"
    );
}

async fn user_id(app: &TestApp, email: &str) -> String {
    sqlx::query_scalar::<_, String>(&format!("SELECT id FROM users WHERE email = '{email}'"))
        .fetch_one(app.state.db.pool())
        .await
        .unwrap()
}

/// With a mail server configured, an invitation goes out by email (to an
/// in-process SMTP listener) and its link works; when the server cannot be
/// reached, the page shows the link instead, and the log names no secret.
async fn invitations_go_out_by_email(backend: crate::common::Backend) {
    use crate::common::fake_smtp::FakeSmtp;
    let smtp = FakeSmtp::start().await;
    let vars = [
        ("OAUTH_VAULT_SMTP_URL", smtp.url.as_str()),
        ("OAUTH_VAULT_SMTP_FROM", "OAuth Vault <vault@example.com>"),
    ];
    let Some(app) = crate::common::spawn_app_with(backend, &vars).await else {
        return;
    };
    let owner = app.browser();
    owner.sign_up("owner@example.com", PASSWORD).await;
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
