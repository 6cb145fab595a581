//! Owners and organisations: the last owner stays, ownership moves, a user
//! works in several organisations.

use super::{accept_as_new, current_org, get_html, get_status, invite, SETUP};
use crate::common::{TestApp, World};
use reqwest::StatusCode;

with_world!(SETUP;
    an_organisation_always_keeps_an_owner,
    a_user_works_in_several_organisations,
);

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
