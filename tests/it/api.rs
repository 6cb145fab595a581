//! The `/v1` API around connections: keys, connect sessions and their
//! validation, listing, paging and deleting, and one app never seeing
//! another's.
use crate::common;
use crate::connect::{RETURN_URL, SETUP};
use common::World;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

with_world!(
    SETUP;
    api_keys_are_shown_once_hashed_and_revocable,
    return_urls_must_be_allowed,
    session_requests_are_validated,
    one_app_never_sees_another,
    connections_are_listed_paged_and_deleted,
);

async fn api_keys_are_shown_once_hashed_and_revocable(w: World) {
    let (status, _) = w.json(Method::GET, "/v1/connections").await;
    assert_eq!(status, StatusCode::OK);

    // the key is shown once: the keys page lists its prefix only
    let page = w
        .app
        .get(&format!("/apps/{}/api-keys", w.app_id))
        .await
        .text()
        .await
        .unwrap();
    assert!(!page.contains(&w.key));
    assert!(page.contains(&w.key[..12]));
    // stored as a hash only
    let stored: Vec<String> = sqlx::query_scalar("SELECT key_hash FROM api_keys")
        .fetch_all(w.app.state.db.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].contains(&w.key[4..]));

    for bad in ["", "Bearer", "Bearer ovk_nope", "Basic b3ZrXzEyMzQ="] {
        let res = common::sent(
            w.app
                .client
                .get(w.app.url("/v1/connections"))
                .header("authorization", bad)
                .send()
                .await,
        )
        .await;
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{bad}");
        assert_eq!(res.headers()["cache-control"], "no-store");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }

    // revoking stops it at once
    let keys = format!("/apps/{}/api-keys", w.app_id);
    let key_id: String = sqlx::query_scalar("SELECT id FROM api_keys")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    let res = w
        .app
        .submit(&keys, &keys, &[("_action", "revoke"), ("key_id", &key_id)])
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let (status, body) = w.json(Method::GET, "/v1/connections").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");

    // an empty name is refused and nothing is created
    let res = w
        .app
        .submit(&keys, &keys, &[("_action", "create"), ("name", "  ")])
        .await;
    assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(w.app.count("api_keys").await, 1);
}

async fn return_urls_must_be_allowed(w: World) {
    for bad in [
        "https://evil.example/integrations/done",
        "https://app.example.com/integrations/done/../../evil",
        "https://app.example.com/integrations/other",
        "https://app.example.com/integrations/done#x",
        "javascript:alert(1)",
        "//evil.example",
    ] {
        let res = w
            .session(json!({ "end_user_id": "u", "return_url": bad }))
            .await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "validation_failed");
        assert_eq!(body["error"]["errors"][0]["field"], "return_url");
    }
    assert_eq!(w.app.count("connect_sessions").await, 0);

    // a failure goes back to the app with a code, not the provider's text
    let (_, res) = w
        .connect(
            json!({ "end_user_id": "u", "return_url": RETURN_URL }),
            false,
        )
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        format!("{RETURN_URL}?status=error&error=access_denied").as_str()
    );
}

async fn session_requests_are_validated(w: World) {
    let cases = [
        (json!({}), "end_user_id"),
        (json!({ "end_user_id": "" }), "end_user_id"),
        (json!({ "end_user_id": "x".repeat(300) }), "end_user_id"),
        (
            json!({ "end_user_id": "u", "providers": ["salesforce"] }),
            "providers",
        ),
        (
            json!({ "end_user_id": "u", "end_user_email": "not-an-email" }),
            "end_user_email",
        ),
        (json!({ "end_user_id": 5 }), "validation_failed"),
    ];
    for (body, expected) in cases {
        let res = w.session(body.clone()).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let answer: Value = res.json().await.unwrap();
        let text = answer.to_string();
        assert!(text.contains(expected), "{body}: {text}");
    }
    let res = common::sent(
        w.api(Method::POST, "/v1/connect/sessions")
            .header("content-type", "application/json")
            .body("{not json")
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "not JSON");
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "invalid_json");
    assert_eq!(w.app.count("connect_sessions").await, 0);
    // fields a newer client sends that this server does not know are ignored
    let res = w
        .session(json!({ "end_user_id": "u", "surprise": 1 }))
        .await;
    assert_eq!(
        res.status(),
        StatusCode::CREATED,
        "unknown fields are ignored"
    );
    w.sql("DELETE FROM connect_sessions").await;

    let res = w.session(json!({ "end_user_id": "u" })).await;
    assert_eq!(res.status(), StatusCode::CREATED);
    assert_eq!(res.headers()["cache-control"], "no-store");
    let body: Value = res.json().await.unwrap();
    assert!(body["token"].as_str().unwrap().starts_with("ovcs_"));
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    let stored: String = sqlx::query_scalar("SELECT token_hash FROM connect_sessions")
        .fetch_one(w.app.state.db.pool())
        .await
        .unwrap();
    assert!(!body["token"].as_str().unwrap().contains(&stored));

    // unknown routes answer JSON too; the OpenAPI document is public
    let (status, body) = w.json(Method::GET, "/v1/nothing-here").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let doc: Value = w.app.get("/v1/openapi.json").await.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    assert_eq!(
        doc["servers"][0]["url"],
        w.app.address.as_str(),
        "the public URL"
    );
    let schemas = &doc["components"]["schemas"];
    let codes = schemas["ErrorCode"]["enum"].to_string();
    for code in [
        "provider_disabled",
        "connection_revoked",
        "provider_unavailable",
        "proxy_unavailable",
        "invalid_json",
    ] {
        assert!(codes.contains(code), "{code} in {codes}");
    }
    let statuses = schemas["ConnectionStatusName"]["enum"].to_string();
    assert!(statuses.contains("needs_reauthorization") && statuses.contains("revoked"));
    assert_eq!(
        schemas["Connection"]["properties"]["created_at"]["format"],
        "date-time"
    );
    let list = &doc["paths"]["/v1/connections"]["get"]["parameters"];
    let limit = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .unwrap();
    assert!(
        limit["schema"]["type"].to_string().contains("integer"),
        "{limit}"
    );
    // typed parameters take their type only (an empty value is none of them)
    for bad in ["limit=", "status=", "cursor=abc"] {
        let (status, body) = w.json(Method::GET, &format!("/v1/connections?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(body["error"]["code"], "validation_failed", "{bad}");
    }
    for bad in ["force_refresh=", "force_refresh=1", "force_refresh=yes"] {
        let path = format!("/v1/connections/conn_x/access-token?{bad}");
        let (status, body) = w.json(Method::GET, &path).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(
            body["error"]["errors"][0]["field"], "force_refresh",
            "{bad}"
        );
    }
    // the proxy forwards API methods only
    let (status, body) = w.json(Method::TRACE, "/v1/proxy/conn_x/objects").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let (status, body) = w.json(Method::GET, "/v1/connections?limit=1&limit=2").await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a query that cannot be read"
    );
    assert_eq!(body["error"]["code"], "validation_failed");
    for path in [
        "/v1/connect/sessions",
        "/v1/connections",
        "/v1/connections/{id}",
        "/v1/connections/{id}/access-token",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path}");
    }
}

async fn one_app_never_sees_another(w: World) {
    let theirs = w.connected("user-1").await;
    // another organisation with its own app and key
    let other = w.app.second_browser();
    other
        .sign_up("other@example.com", "another long password")
        .await;
    let other_key = World::new_app(&other, "Other", &SETUP).await.key;

    let call = |method: Method, path: String| {
        w.app
            .client
            .request(method, w.app.url(&path))
            .bearer_auth(&other_key)
            .send()
    };
    for (method, path) in [
        (Method::GET, format!("/v1/connections/{theirs}")),
        (
            Method::GET,
            format!("/v1/connections/{theirs}/access-token"),
        ),
        (Method::DELETE, format!("/v1/connections/{theirs}")),
    ] {
        let res = common::sent(call(method.clone(), path.clone()).await).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{method} {path}");
        let body: Value = res.json().await.unwrap();
        assert_eq!(body["error"]["code"], "not_found");
    }
    let res = common::sent(call(Method::GET, "/v1/connections".into()).await).await;
    let list: Value = res.json().await.unwrap();
    assert_eq!(list["data"], json!([]));
    // and the portal pages of the other organisation's connection answer 404
    let res = common::sent(
        other
            .client
            .get(
                w.app
                    .url(&format!("/apps/{}/connections/{theirs}", w.app_id)),
            )
            .send()
            .await,
    )
    .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    assert_eq!(w.app.count("connections").await, 1);
}

async fn connections_are_listed_paged_and_deleted(w: World) {
    let a = w.connected("user-a").await;
    let b = w.connected("user-b").await;
    let c = w.connected("user-c").await;

    let (_, page1) = w.json(Method::GET, "/v1/connections?limit=2").await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    assert_eq!(page1["data"][0]["id"], c.as_str(), "newest first");
    let cursor = page1["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = w
        .json(
            Method::GET,
            &format!("/v1/connections?limit=2&cursor={cursor}"),
        )
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["data"][0]["id"], a.as_str());
    assert_eq!(page2["next_cursor"], Value::Null);

    let (_, only_b) = w
        .json(
            Method::GET,
            "/v1/connections?end_user_id=user-b&provider=attio",
        )
        .await;
    assert_eq!(only_b["data"].as_array().unwrap().len(), 1);
    assert_eq!(only_b["data"][0]["id"], b.as_str());
    let (_, none) = w.json(Method::GET, "/v1/connections?provider=other").await;
    assert_eq!(none["data"], json!([]));
    for bad in ["limit=0", "limit=101", "limit=x", "cursor=%%%"] {
        let (status, body) = w.json(Method::GET, &format!("/v1/connections?{bad}")).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        assert_eq!(body["error"]["code"], "validation_failed");
    }

    // after a disconnect every operation on the id answers 410; the list
    // leaves it out unless asked for revoked connections
    let (status, _) = w
        .json(Method::DELETE, &format!("/v1/connections/{b}"))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for (method, path) in [
        (Method::GET, format!("/v1/connections/{b}")),
        (Method::GET, format!("/v1/connections/{b}/access-token")),
        (Method::GET, format!("/v1/proxy/{b}/v2/self")),
        (Method::DELETE, format!("/v1/connections/{b}")),
    ] {
        let (status, body) = w.json(method.clone(), &path).await;
        assert_eq!(status, StatusCode::GONE, "{method} {path}");
        assert_eq!(
            body["error"]["code"], "connection_revoked",
            "{method} {path}"
        );
    }
    let (_, live) = w.json(Method::GET, "/v1/connections").await;
    let ids = live["data"].to_string();
    assert!(!ids.contains(b.as_str()), "{ids}");
    assert!(ids.contains(a.as_str()), "{ids}");
    let (_, gone) = w.json(Method::GET, "/v1/connections?status=revoked").await;
    assert_eq!(gone["data"].as_array().unwrap().len(), 1, "{gone}");
    assert_eq!(gone["data"][0]["id"], b.as_str());
    assert_eq!(gone["data"][0]["status"], "revoked");
    let (status, body) = w.json(Method::GET, "/v1/connections?status=gone").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"]["errors"][0]["field"], "status");
    // the portal keeps the history
    let page = w
        .app
        .get(&format!("/apps/{}/connections/{b}", w.app_id))
        .await;
    assert_eq!(page.status(), StatusCode::OK);
    let (status, _) = w.json(Method::DELETE, "/v1/connections/conn_unknown").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let revoked =
        format!("connections WHERE id = '{b}' AND access_token IS NULL AND refresh_token IS NULL");
    assert_eq!(w.app.count(&revoked).await, 1);
    let event = format!("connection_events WHERE connection_id = '{b}' AND kind = 'revoked'");
    assert_eq!(w.app.count(&event).await, 1);

    // a disabled provider serves no tokens
    let detail = format!("/apps/{}/providers/{}", w.app_id, w.attio_config);
    w.app
        .submit(&detail, &detail, &[("_action", "disable")])
        .await;
    let (status, body) = w
        .json(Method::GET, &format!("/v1/connections/{a}/access-token"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"]["code"], "provider_disabled");
    // the provider page counts the connections a deletion would remove
    let html = w.app.get(&detail).await.text().await.unwrap();
    assert!(html.contains("disconnects its 3 connections"), "{html}");
}
