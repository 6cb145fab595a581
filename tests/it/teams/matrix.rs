//! The role matrix: every page, server function and form against every role.

use super::{accept_as_new, current_org, get_html, get_status, invite, PASSWORD, SETUP};
use crate::common::{Browser, World};
use reqwest::StatusCode;

with_world!(SETUP; the_role_matrix_holds_on_every_route);

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
