//! Calls to providers and webhooks go to public addresses only: IP literals
//! and names resolving into private or special-purpose ranges are refused —
//! on the form, and again when the call is made — unless the operator allows
//! the host, and an allowed `host:port` allows that port only.
use crate::common;

use app::{
    catalogue::urls::OutboundPolicy,
    infra::outbound::{Outbound, OutboundError, StaticHosts},
};
use common::TestApp;
use reqwest::{Method, StatusCode};
use std::{
    net::IpAddr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
};

on_both_databases!(
    the_form_refuses_special_purpose_addresses_and_says_which,
    calls_to_special_purpose_addresses_are_refused_when_made,
);

/// One address of each refused range that a form or a stored URL could
/// name, with the range the message names.
const REFUSED: &[(&str, &str)] = &[
    ("0.1.2.3", "0.0.0.0/8"),
    ("10.0.0.5", "10.0.0.0/8"),
    ("100.64.0.1", "100.64.0.0/10"),
    ("127.0.0.1", "127.0.0.0/8"),
    ("169.254.169.254", "169.254.0.0/16"),
    ("172.16.0.1", "172.16.0.0/12"),
    ("192.0.0.8", "192.0.0.0/24"),
    ("192.0.2.1", "192.0.2.0/24"),
    ("192.88.99.1", "192.88.99.0/24"),
    ("192.168.1.1", "192.168.0.0/16"),
    ("198.18.0.1", "198.18.0.0/15"),
    ("198.51.100.1", "198.51.100.0/24"),
    ("203.0.113.1", "203.0.113.0/24"),
    ("224.0.0.1", "224.0.0.0/4"),
    ("240.0.0.1", "240.0.0.0/4"),
    ("255.255.255.255", "240.0.0.0/4"),
    ("[::1]", "::1/128"),
    ("[::ffff:10.0.0.1]", "::ffff:0:0/96"),
    ("[::127.0.0.1]", "::/96"),
    ("[64:ff9b::a9fe:a9fe]", "64:ff9b::/96"),
    ("[64:ff9b::7f00:1]", "64:ff9b::/96"),
    ("[64:ff9b:1::8.8.8.8]", "64:ff9b:1::/48"),
    ("[100::1]", "100::/64"),
    ("[2001::5efe:a00:1]", "2001::/32"),
    ("[2001:2::1]", "2001:2::/48"),
    ("[2001:1::1]", "2001::/23"),
    ("[2001:db8::1]", "2001:db8::/32"),
    ("[2002:a00:1::1]", "2002::/16"),
    ("[2002:7f00:1::]", "2002::/16"),
    ("[3fff::1]", "3fff::/20"),
    ("[5f00::1]", "5f00::/16"),
    ("[fd00::1]", "fc00::/7"),
    ("[fe80::1]", "fe80::/10"),
    ("[fec0::1]", "fec0::/10"),
    ("[ff02::1]", "ff00::/8"),
    ("[4000::1]", "outside 2000::/3"),
];

async fn signed_in_app(app: &TestApp) -> String {
    app.sign_up("dev@example.com", "correct horse battery")
        .await;
    let res = app.submit("/apps", "/apps", &[("name", "Acme")]).await;
    res.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches("/apps/")
        .to_string()
}

fn custom_fields(token_url: &str) -> Vec<(&str, &str)> {
    vec![
        ("display_name", "Acme Identity"),
        ("slug", "acme-idp"),
        (
            "authorization_url",
            "https://idp.acme.example/oauth/authorize",
        ),
        ("token_url", token_url),
        ("revocation_url", ""),
        ("introspection_url", ""),
        ("userinfo_url", "https://idp.acme.example/userinfo"),
        ("scope_list", "openid"),
        ("scope_separator", "space"),
        ("client_auth", "basic"),
        ("pkce", "on"),
        ("client_id", "acme-client"),
        ("client_secret", "acme-secret-0123456789"),
    ]
}

async fn the_form_refuses_special_purpose_addresses_and_says_which(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let page = format!("/apps/{app_id}/providers/new/custom");
    for (host, range) in REFUSED {
        let url = format!("https://{host}/oauth/token");
        let res = app.submit(&page, &page, &custom_fields(&url)).await;
        assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        let html = res.text().await.unwrap();
        assert!(html.contains("The host must be public: "), "{url}");
        assert!(
            html.contains(&format!(" is in {range} (")),
            "{url}: {range}"
        );
        assert!(html.contains(&url), "{url}: input kept");
    }
    assert_eq!(app.count("provider_configs").await, 0, "nothing saved");
    // public addresses, also those carried in IPv6, pass
    for host in ["8.8.8.8", "[64:ff9b::808:808]", "[2002:808:808::1]"] {
        let url = format!("https://{host}/oauth/token");
        let mut fields = custom_fields(&url);
        let slug = format!("idp-{}", app.count("provider_configs").await);
        fields[1] = ("slug", &slug);
        let res = app.submit(&page, &page, &fields).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{url}");
    }
}

/// A stored endpoint (saved while the operator allowed its host, say) is
/// checked again when the call is made: a webhook delivery to each refused
/// address fails as refused, without trying to connect.
async fn calls_to_special_purpose_addresses_are_refused_when_made(app: TestApp) {
    let app_id = signed_in_app(&app).await;
    let settings = format!("/apps/{app_id}/settings");
    for fields in [
        vec![
            ("_action", "webhook"),
            ("webhook_url", "https://hooks.acme.example/vault"),
        ],
        vec![("_action", "rotate_secret")],
    ] {
        let res = app.submit(&settings, &settings, &fields).await;
        assert!(res.status().is_success() || res.status().is_redirection());
    }
    for (host, range) in REFUSED {
        let url = format!("https://{host}/hook");
        sqlx::query("UPDATE apps SET webhook_url = $1 WHERE id = $2")
            .bind(&url)
            .bind(&app_id)
            .execute(app.state.db.pool())
            .await
            .unwrap();
        let delivery = app::services::webhooks::send_test(&app.state, &app_id)
            .await
            .unwrap()
            .unwrap();
        app::services::worker::run_once(&app.state).await.unwrap();
        let error: Option<String> =
            sqlx::query_scalar("SELECT error FROM webhook_attempts WHERE delivery_id = $1")
                .bind(&delivery)
                .fetch_one(app.state.db.pool())
                .await
                .unwrap();
        let error = error.unwrap_or_default();
        assert!(
            error.starts_with("the destination is refused: The host must be public"),
            "{url}: {error}"
        );
        assert!(error.contains(range), "{url}: {error}");
    }
}

/// A loopback server that answers every request with 200 and counts the
/// connections it accepted.
async fn counting_server() -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = stream.read(&mut buf).await;
                let _ = stream
                    .write_all(
                        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok",
                    )
                    .await;
            });
        }
    });
    (port, accepted)
}

fn client(allowed: &[String], hosts: &[(&str, &str)]) -> Outbound {
    let hosts: StaticHosts = hosts
        .iter()
        .map(|(name, ip)| (name.to_string(), vec![ip.parse::<IpAddr>().unwrap()]))
        .collect();
    Outbound::with_static_hosts(Arc::new(OutboundPolicy::new(allowed.to_vec())), hosts).unwrap()
}

async fn get(client: &Outbound, url: &str) -> Result<StatusCode, OutboundError> {
    let request = client.request(Method::GET, url)?;
    client.send(request).await.map(|f| f.status)
}

#[tokio::test]
async fn names_that_resolve_to_special_purpose_addresses_are_refused() {
    let (port, accepted) = counting_server().await;
    let mut hosts = Vec::new();
    let names: Vec<String> = (0..REFUSED.len())
        .map(|i| format!("idp{i}.acme.example"))
        .collect();
    for (name, (host, _)) in names.iter().zip(REFUSED) {
        hosts.push((
            name.as_str(),
            host.trim_start_matches('[').trim_end_matches(']'),
        ));
    }
    let outbound = client(&[], &hosts);
    for (name, (host, _)) in names.iter().zip(REFUSED) {
        let url = format!("https://{name}:{port}/token");
        match get(&outbound, &url).await {
            Err(OutboundError::Refused(why)) => {
                assert_eq!(why, "the host resolves to no public address", "{host}")
            }
            other => panic!("{host}: {other:?}"),
        }
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing was contacted");
}

#[tokio::test]
async fn an_allowed_host_with_a_port_allows_that_port_only() {
    let (allowed_port, allowed_accepted) = counting_server().await;
    let (other_port, other_accepted) = counting_server().await;
    let name = "idp.corp.example";
    let hosts = [(name, "127.0.0.1")];

    // `host:port`: that port, over http too
    let outbound = client(&[format!("{name}:{allowed_port}")], &hosts);
    let ok = get(&outbound, &format!("http://{name}:{allowed_port}/token")).await;
    assert_eq!(ok, Ok(StatusCode::OK));
    assert_eq!(allowed_accepted.load(Ordering::SeqCst), 1);
    // another port: plain http is refused before any lookup, and https
    // finds no public address to go to
    for url in [
        format!("http://{name}:{other_port}/token"),
        format!("https://{name}:{other_port}/token"),
    ] {
        let answer = get(&outbound, &url).await;
        assert!(
            matches!(answer, Err(OutboundError::Refused(_))),
            "{url}: {answer:?}"
        );
    }
    assert_eq!(other_accepted.load(Ordering::SeqCst), 0, "never contacted");

    // `host` alone: any port
    let outbound = client(&[name.to_string()], &hosts);
    for port in [allowed_port, other_port] {
        let ok = get(&outbound, &format!("http://{name}:{port}/token")).await;
        assert_eq!(ok, Ok(StatusCode::OK), "{port}");
    }
    assert_eq!(other_accepted.load(Ordering::SeqCst), 1);

    // IP literals follow the same rule
    let outbound = client(&[format!("127.0.0.1:{allowed_port}")], &[]);
    let ok = get(&outbound, &format!("http://127.0.0.1:{allowed_port}/token")).await;
    assert_eq!(ok, Ok(StatusCode::OK));
    let answer = get(&outbound, &format!("https://127.0.0.1:{other_port}/token")).await;
    assert!(
        matches!(answer, Err(OutboundError::Refused(_))),
        "{answer:?}"
    );
    assert_eq!(other_accepted.load(Ordering::SeqCst), 1);
}

/// The form tells the same story: with `127.0.0.1:9000` allowed, port 9001
/// is refused.
#[tokio::test]
async fn the_form_allows_an_allowed_host_on_its_port_only() {
    for backend in [common::Backend::Sqlite, common::Backend::Postgres] {
        let Some(app) = common::spawn_app_with(
            backend,
            &[(
                "OAUTH_VAULT_ALLOWED_HOSTS",
                "127.0.0.1:9000,sso.corp.example",
            )],
        )
        .await
        else {
            continue;
        };
        let app_id = signed_in_app(&app).await;
        let page = format!("/apps/{app_id}/providers/new/custom");
        for bad in [
            "http://127.0.0.1:9001/token",
            "https://127.0.0.1:9001/token",
            "https://127.0.0.1/token",
        ] {
            let res = app.submit(&page, &page, &custom_fields(bad)).await;
            assert_eq!(res.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        }
        for (i, good) in [
            "http://127.0.0.1:9000/token",
            "http://sso.corp.example:8080/token",
        ]
        .iter()
        .enumerate()
        {
            let slug = format!("idp-{i}");
            let mut fields = custom_fields(good);
            fields[1] = ("slug", &slug);
            let res = app.submit(&page, &page, &fields).await;
            assert_eq!(res.status(), StatusCode::SEE_OTHER, "{good}");
        }
    }
}
