//! Apps: create, list, rename, delete, and isolation between organisations.
use crate::common;

use common::TestApp;
use reqwest::StatusCode;

on_both_databases!(
    apps_need_a_signed_in_developer,
    create_list_rename_and_delete_an_app,
    bad_app_names_are_rejected_and_kept,
    another_organisations_app_answers_404,
);

async fn create_app(app: &TestApp, name: &str) -> String {
    let res = app.submit("/apps", "/apps", &[("name", name)]).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let location = res.headers()["location"].to_str().unwrap().to_string();
    location.strip_prefix("/apps/").unwrap().to_string()
}

async fn apps_need_a_signed_in_developer(app: TestApp) {
    let res = app.get("/apps").await;
    let status = res.status();
    let headers = format!("{:?}", res.headers());
    assert_eq!(status, StatusCode::SEE_OTHER, "{headers}");
    assert_eq!(res.headers()["location"], "/login");
}

async fn create_list_rename_and_delete_an_app(app: TestApp) {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let id = create_app(&app, "  Acme CRM sync ").await;
    assert!(id.starts_with("app_"));
    let list = app.get("/apps").await.text().await.unwrap();
    assert!(list.contains("Acme CRM sync"));
    assert!(list.contains(&format!("/apps/{id}")));

    let page = format!("/apps/{id}");
    let res = app
        .submit(&page, &page, &[("_action", "rename"), ("name", "Acme")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert!(app
        .get(&page)
        .await
        .text()
        .await
        .unwrap()
        .contains("<h1>Acme</h1>"));

    // the typed confirmation must match
    let res = app
        .submit(&page, &page, &[("_action", "delete"), ("confirm", "acme")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res.text().await.unwrap().contains("exactly to confirm"));
    assert_eq!(app.get(&page).await.status(), StatusCode::OK);

    let res = app
        .submit(&page, &page, &[("_action", "delete"), ("confirm", "Acme")])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(app.get(&page).await.status(), StatusCode::NOT_FOUND);
    let apps = app.count("apps").await;
    assert_eq!(apps, 0);
}

async fn bad_app_names_are_rejected_and_kept(app: TestApp) {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let res = app.submit("/apps", "/apps", &[("name", "   ")]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(res
        .text()
        .await
        .unwrap()
        .contains("Enter a name for the app"));
    let long = "x".repeat(81);
    let res = app.submit("/apps", "/apps", &[("name", &long)]).await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = res.text().await.unwrap();
    assert!(html.contains("Use at most 80 characters"));
    assert!(html.contains(&long), "input kept");
    let apps = app.count("apps").await;
    assert_eq!(apps, 0);
}

async fn another_organisations_app_answers_404(app: TestApp) {
    app.sign_up("owner@example.com", "correct horse battery")
        .await;
    let id = create_app(&app, "Private app").await;
    let page = format!("/apps/{id}");

    let intruder = app.second_browser();
    intruder
        .sign_up("intruder@example.com", "another good passphrase")
        .await;
    let res = intruder
        .client
        .get(format!("{}{page}", intruder.address))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert!(!res.text().await.unwrap().contains("Private app"));
    let list = intruder
        .client
        .get(format!("{}/apps", intruder.address))
        .send()
        .await
        .unwrap();
    assert!(!list.text().await.unwrap().contains("Private app"));

    // forms on the app: 404, and nothing changes
    for fields in [
        vec![("_action", "rename"), ("name", "Owned")],
        vec![("_action", "delete"), ("confirm", "Private app")],
    ] {
        let res = intruder.submit("/apps", &page, &fields).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND);
    }
    // the server function answers the same
    let res = intruder
        .client
        .post(format!("{}/api/apps/get", intruder.address))
        .header("origin", &intruder.address)
        .form(&[("app_id", id.as_str())])
        .send()
        .await
        .unwrap();
    assert!(!res.status().is_success());
    assert!(!res.text().await.unwrap().contains("Private app"));
    assert!(app
        .get(&page)
        .await
        .text()
        .await
        .unwrap()
        .contains("Private app"));
}
