//! Tests of `oauth`.

#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn token_responses_are_read_tolerantly() {
    let t = parse_token_response(br#"{"access_token":"a"}"#).unwrap();
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_in, None);
    assert!(t.scopes.is_none());
    let t = parse_token_response(
        br#"{"access_token":"a","token_type":"bearer","expires_in":"3600","scope":["x","y"],"refresh_token":"r","extra":{"k":1}}"#,
    )
    .unwrap();
    assert_eq!(t.token_type, "Bearer");
    assert_eq!(t.expires_in, Some(3600));
    assert_eq!(t.scopes.unwrap(), vec!["x", "y"]);
    assert_eq!(t.refresh_token.unwrap().expose_secret(), "r");
    let t =
        parse_token_response(br#"{"access_token":"a","expires_in":7200.0,"scope":"x y"}"#).unwrap();
    assert_eq!(t.expires_in, Some(7200));
    assert_eq!(t.scopes.unwrap(), vec!["x", "y"]);
    assert!(parse_token_response(br#"{"token_type":"Bearer"}"#).is_err());
    assert!(parse_token_response(b"<html>").is_err());
}

#[test]
fn debug_of_tokens_shows_no_token() {
    let t = parse_token_response(
        br#"{"access_token":"very-secret-at","refresh_token":"very-secret-rt"}"#,
    )
    .unwrap();
    let debug = format!("{t:?}");
    assert!(!debug.contains("very-secret"), "{debug}");
}

#[test]
fn failures_are_classified_by_status() {
    let fetched = |status: u16, body: &str| Fetched {
        status: StatusCode::from_u16(status).unwrap(),
        headers: Default::default(),
        body: body.as_bytes().to_vec(),
    };
    assert_eq!(
        token_outcome(&fetched(
            400,
            r#"{"error":"invalid_grant","error_description":"<b>x</b>"}"#
        ))
        .unwrap_err(),
        TokenError::Rejected {
            code: "invalid_grant".into()
        }
    );
    assert_eq!(
        token_outcome(&fetched(401, "<html>not json</html>")).unwrap_err(),
        TokenError::Rejected {
            code: "http_401".into()
        }
    );
    assert!(token_outcome(&fetched(503, "")).unwrap_err().is_transient());
    assert!(token_outcome(&fetched(429, "{}"))
        .unwrap_err()
        .is_transient());
    // a provider's free text never becomes our error code
    assert_eq!(
        token_outcome(&fetched(400, r#"{"error":"<script>alert(1)</script>"}"#)).unwrap_err(),
        TokenError::Rejected {
            code: "http_400".into()
        }
    );
}

#[test]
fn identity_fields_come_from_the_definition_paths() {
    let spec = IdentitySpec {
        source: Default::default(),
        method: Default::default(),
        body: None,
        url: "https://api.example.com/self".into(),
        account_id: "workspace_id".into(),
        account_name: Some("workspace_name".into()),
        account_slug: Some("workspace_slug".into()),
        account_picture: Some("workspace_logo_url".into()),
        scopes: Some("scope".into()),
        active: Some("active".into()),
    };
    let fetched = |status: u16, body: &str| Fetched {
        status: StatusCode::from_u16(status).unwrap(),
        headers: Default::default(),
        body: body.as_bytes().to_vec(),
    };
    let id = read_identity(
        &spec,
        &fetched(200, r#"{"active":true,"workspace_id":"w1","workspace_name":"Acme","workspace_slug":"acme","workspace_logo_url":null,"scope":"a b"}"#),
    )
    .unwrap();
    assert_eq!(id.id, "w1");
    assert_eq!(id.name.as_deref(), Some("Acme"));
    assert_eq!(id.picture, None);
    assert_eq!(id.scopes.unwrap(), vec!["a", "b"]);
    assert_eq!(
        read_identity(&spec, &fetched(200, r#"{"active":false}"#)).unwrap_err(),
        IdentityError::Unauthorized
    );
    assert_eq!(
        read_identity(&spec, &fetched(401, "{}")).unwrap_err(),
        IdentityError::Unauthorized
    );
    assert_eq!(
        read_identity(&spec, &fetched(200, r#"{"active":true}"#)).unwrap_err(),
        IdentityError::Invalid
    );
}
