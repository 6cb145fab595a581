//! The one HTTP client the vault calls providers with.
//!
//! - follows no redirects (a 3xx is an answer, never a new destination);
//! - times out: 5 s to connect, 15 s for the whole exchange;
//! - reads at most 1 MiB of any answer;
//! - refuses private, loopback, link-local and other special-purpose
//!   destinations ([`is_private_ip`]) — both hosts written as IP addresses
//!   and names that resolve to them — unless the operator allowed the host
//!   (`OAUTH_VAULT_ALLOWED_HOSTS`; an entry with a port allows that port
//!   only). Two clients make the port rule hold when names are resolved,
//!   where the port is not known: URLs whose host and port are allowed go
//!   through one whose resolver keeps the allowed names' private addresses,
//!   every other URL through one whose resolver drops them;
//! - ignores proxy variables of the environment, so the address check is the
//!   address the request goes to.
//!
//! Errors describe what went wrong without echoing what was sent or received.

use crate::catalogue::urls::{is_private_ip, OutboundPolicy};
use futures_util::StreamExt;
use reqwest::{
    dns::{Addrs, Name, Resolve, Resolving},
    header::HeaderMap,
    Method, RequestBuilder, StatusCode,
};
use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};
use tracing::Instrument;

/// Largest answer read from a provider.
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum OutboundError {
    #[error("the destination is refused: {0}")]
    Refused(String),
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider could not be reached")]
    Network,
    #[error("the provider's answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
}

impl OutboundError {
    /// Worth retrying later: the provider may answer next time.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Timeout | Self::Network)
    }
}

/// A provider's answer, read in full.
#[derive(Debug)]
pub struct Fetched {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Fetched {
    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }
}

/// The resolver's answer when every address of a name is refused.
#[derive(Debug, thiserror::Error)]
#[error("the host resolves to no public address")]
struct NoPublicAddress;

/// Names resolved without the system's resolver (tests): name → addresses.
pub type StaticHosts = std::collections::HashMap<String, Vec<IpAddr>>;

/// Resolves names and drops refused addresses, except — in the client for
/// allowed URLs — those of names the operator allowed.
struct GuardedResolver {
    policy: Arc<OutboundPolicy>,
    /// Whether this resolver serves the client for allowed URLs.
    for_allowed: bool,
    hosts: Option<Arc<StaticHosts>>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_ascii_lowercase();
        let keep_private = self.for_allowed && self.policy.allows_host_name(&host);
        let fixed = self.hosts.as_ref().map(|h| h.get(&host).cloned());
        Box::pin(async move {
            let found: Vec<SocketAddr> = match fixed {
                Some(Some(ips)) => ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect(),
                Some(None) => Vec::new(),
                None => tokio::net::lookup_host((host.as_str(), 0)).await?.collect(),
            };
            let addrs: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| keep_private || !is_private_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(Box::new(NoPublicAddress) as Box<dyn std::error::Error + Send + Sync>);
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

/// An answer whose body is still to be read, as a stream.
pub type Streamed = reqwest::Response;

#[derive(Clone, Debug)]
pub struct Outbound {
    /// For every URL the operator did not allow: no private address.
    client: reqwest::Client,
    /// For URLs whose host and port the operator allowed.
    allowed_client: reqwest::Client,
    policy: Arc<OutboundPolicy>,
}

impl Outbound {
    pub fn new(policy: Arc<OutboundPolicy>) -> Result<Self, String> {
        Self::build(policy, None)
    }

    /// The same client, except that the names in `hosts` resolve to their
    /// addresses there (and other names to none) instead of through the
    /// system's resolver: for tests of what a name may resolve to.
    pub fn with_static_hosts(
        policy: Arc<OutboundPolicy>,
        hosts: StaticHosts,
    ) -> Result<Self, String> {
        Self::build(policy, Some(Arc::new(hosts)))
    }

    fn build(policy: Arc<OutboundPolicy>, hosts: Option<Arc<StaticHosts>>) -> Result<Self, String> {
        // One TLS implementation for the whole process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = |for_allowed: bool| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .connect_timeout(CONNECT_TIMEOUT)
                .timeout(REQUEST_TIMEOUT)
                .no_proxy()
                .user_agent(concat!("oauth-vault/", env!("CARGO_PKG_VERSION")))
                .dns_resolver(Arc::new(GuardedResolver {
                    policy: policy.clone(),
                    for_allowed,
                    hosts: hosts.clone(),
                }))
                .build()
                .map_err(|e| format!("cannot build the HTTP client: {e}"))
        };
        Ok(Self {
            client: client(false)?,
            allowed_client: client(true)?,
            policy,
        })
    }

    /// A request to `url`, if the policy lets the vault call it.
    pub fn request(&self, method: Method, url: &str) -> Result<RequestBuilder, OutboundError> {
        let checked = self
            .policy
            .check_endpoint(url)
            .map_err(OutboundError::Refused)?;
        let client = if self.policy.is_allowed_host(&checked) {
            &self.allowed_client
        } else {
            &self.client
        };
        Ok(client.request(method, checked))
    }

    /// Sends `request` and hands back the answer to stream (the proxy).
    pub async fn send_streaming(&self, request: RequestBuilder) -> Result<Streamed, OutboundError> {
        let (span, request) = outbound_span(request)?;
        let sent = request.send().instrument(span.clone()).await;
        answered(&span, sent.as_ref().map(|r| r.status()));
        sent.map_err(classify)
    }

    /// Sends `request` and reads its answer (any status) up to the limit.
    pub async fn send(&self, request: RequestBuilder) -> Result<Fetched, OutboundError> {
        let (span, request) = outbound_span(request)?;
        let sent = request.send().instrument(span.clone()).await;
        answered(&span, sent.as_ref().map(|r| r.status()));
        let response = sent.map_err(classify)?;
        let status = response.status();
        let headers = response.headers().clone();
        if response
            .content_length()
            .is_some_and(|len| len > MAX_RESPONSE_BYTES as u64)
        {
            return Err(OutboundError::TooLarge);
        }
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(classify)?;
            if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(OutboundError::TooLarge);
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Fetched {
            status,
            headers,
            body,
        })
    }
}

/// A client span for one call: its method and host (never the path or
/// query, which can carry ids and codes). The request is built to read
/// them and sent as built.
fn outbound_span(
    request: RequestBuilder,
) -> Result<(tracing::Span, RequestBuilder), OutboundError> {
    let (client, built) = request.build_split();
    let built = built.map_err(classify)?;
    let method = built.method().as_str().to_string();
    let host = built.url().host_str().unwrap_or_default().to_string();
    let span = tracing::info_span!(
        "outbound",
        otel.name = %method,
        otel.kind = "client",
        http.request.method = %method,
        server.address = %host,
        http.response.status_code = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    Ok((span, RequestBuilder::from_parts(client, built)))
}

/// Puts the answer's status (or the failure) on the call's span.
fn answered(span: &tracing::Span, status: Result<reqwest::StatusCode, &reqwest::Error>) {
    match status {
        Ok(status) => {
            span.record("http.response.status_code", status.as_u16());
            if status.is_server_error() {
                span.record("otel.status_code", "ERROR");
            }
        }
        Err(_) => {
            span.record("otel.status_code", "ERROR");
        }
    }
}

fn classify(e: reqwest::Error) -> OutboundError {
    if e.is_timeout() {
        return OutboundError::Timeout;
    }
    // The resolver refused every address: say so (its text names no URL).
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<NoPublicAddress>() {
            return OutboundError::Refused(refused.to_string());
        }
        source = cause.source();
    }
    // Deliberately not the error's text: it can carry the URL.
    OutboundError::Network
}
