//! Which URLs the vault may call out to. Provider endpoints must be https on
//! a public host; an operator can allow named hosts that are private or plain
//! http (on-premise identity servers, tests) with `OAUTH_VAULT_ALLOWED_HOSTS`.
//! The outbound HTTP client checks the resolved addresses again at request
//! time; this check gives an early, clear answer on the form.

use std::net::IpAddr;
use url::{Host, Url};

#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    /// Lower-case `host` or `host:port` entries.
    allowed_hosts: Vec<String>,
}

/// Loopback, private, link-local, unique-local, unspecified, CGNAT, multicast
/// and documentation ranges: nothing a public provider lives on.
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || (o[0] == 100 && (64..128).contains(&o[1]))
                || o[0] == 0
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private_ip(IpAddr::V4(v4)))
        }
    }
}

impl OutboundPolicy {
    pub fn new(allowed_hosts: Vec<String>) -> Self {
        Self { allowed_hosts }
    }

    /// Whether the operator allowed this URL's host (with or without its port).
    pub fn is_allowed_host(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let with_port = url
            .port_or_known_default()
            .map(|p| format!("{host}:{p}"))
            .unwrap_or_default();
        self.allowed_hosts.iter().any(|h| {
            let h = h.trim_start_matches('[').replace("]:", ":");
            let h = h.trim_end_matches(']');
            h == host || h == with_port
        })
    }

    /// Whether the operator allowed `host` on some port (the resolver's view;
    /// the port was checked with the whole URL before the request).
    pub fn allows_host_name(&self, host: &str) -> bool {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        self.allowed_hosts.iter().any(|h| {
            let h = h.trim_start_matches('[');
            let name = match h.rsplit_once(':') {
                Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
                _ => h,
            };
            name.trim_end_matches(']').eq_ignore_ascii_case(host)
        })
    }

    /// Parses and checks a provider endpoint; the error says what to fix.
    pub fn check_endpoint(&self, text: &str) -> Result<Url, String> {
        let url = Url::parse(text.trim())
            .map_err(|_| "Enter a full URL, starting with https://".to_string())?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err("The URL must not contain a user name or password".into());
        }
        if url.fragment().is_some() {
            return Err("The URL must not contain a #fragment".into());
        }
        let Some(host) = url.host() else {
            return Err("The URL needs a host name".into());
        };
        if self.is_allowed_host(&url) {
            return match url.scheme() {
                "https" | "http" => Ok(url),
                _ => Err("Use an https:// URL".into()),
            };
        }
        if url.scheme() != "https" {
            return Err("Use an https:// URL (plain http is refused)".into());
        }
        let private = match host {
            Host::Ipv4(ip) => is_private_ip(IpAddr::V4(ip)),
            Host::Ipv6(ip) => is_private_ip(IpAddr::V6(ip)),
            Host::Domain(name) => {
                let name = name.to_ascii_lowercase();
                name == "localhost"
                    || name.ends_with(".localhost")
                    || name.ends_with(".local")
                    || name.ends_with(".internal")
                    || !name.contains('.')
            }
        };
        if private {
            return Err(
                "The host must be public; private and local addresses are refused unless the operator allows them".into(),
            );
        }
        Ok(url)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn public_https_endpoints_pass() {
        let p = OutboundPolicy::default();
        assert!(p
            .check_endpoint("https://app.attio.com/oauth/token")
            .is_ok());
    }

    #[test]
    fn plain_http_private_and_odd_urls_are_refused() {
        let p = OutboundPolicy::default();
        for bad in [
            "http://idp.example.com/token",
            "https://127.0.0.1/token",
            "https://10.1.2.3/token",
            "https://192.168.0.10/token",
            "https://169.254.169.254/latest",
            "https://[::1]/token",
            "https://[fd00::1]/token",
            "https://localhost/token",
            "https://intranet/token",
            "https://idp.internal/token",
            "https://user:pw@idp.example.com/token",
            "ftp://idp.example.com/token",
            "idp.example.com/token",
        ] {
            assert!(p.check_endpoint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn operator_allowed_hosts_may_be_private_or_http() {
        let p = OutboundPolicy::new(vec!["127.0.0.1:9000".into(), "idp.internal".into()]);
        assert!(p.check_endpoint("http://127.0.0.1:9000/token").is_ok());
        assert!(p.check_endpoint("http://127.0.0.1:9001/token").is_err());
        assert!(p.check_endpoint("https://idp.internal/token").is_ok());
    }
}
