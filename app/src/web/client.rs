//! The client address of a request, worked out once (behind trusted
//! proxies, from `X-Forwarded-For`) and used alike by throttling, the logs
//! and the audit log.

use crate::infra::net::{client_address, throttle_bucket};
use crate::services::context::Settings;
use axum::{
    body::Body,
    extract::{ConnectInfo, State},
    http::{request::Parts, HeaderMap, Request},
    middleware::Next,
    response::Response,
};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

/// The client's address, in the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl ClientAddress {
    /// The address of the request `parts` belong to.
    pub fn of(parts: &Parts) -> Self {
        parts
            .extensions
            .get::<ClientAddress>()
            .copied()
            .unwrap_or(Self(IpAddr::V4(Ipv4Addr::UNSPECIFIED)))
    }

    /// The bucket it is throttled in (IPv6: its /64).
    pub fn bucket(&self) -> String {
        throttle_bucket(self.0)
    }
}

impl std::fmt::Display for ClientAddress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Works out the client address of every request, before it is logged.
pub async fn layer(
    State(settings): State<Arc<Settings>>,
    mut request: Request<Body>,
    next: Next,
) -> Response {
    let address = resolve(&settings, request.extensions(), request.headers());
    request.extensions_mut().insert(address);
    next.run(request).await
}

fn resolve(
    settings: &Settings,
    extensions: &axum::http::Extensions,
    headers: &HeaderMap,
) -> ClientAddress {
    let Some(ConnectInfo(peer)) = extensions.get::<ConnectInfo<SocketAddr>>() else {
        return ClientAddress(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    };
    if settings.trusted_proxies.is_empty() {
        return ClientAddress(crate::infra::net::canonical(peer.ip()));
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    ClientAddress(client_address(
        peer.ip(),
        &forwarded,
        &settings.trusted_proxies,
    ))
}
