//! Which URLs the vault may call out to. Provider endpoints must be https on
//! a public host; an operator can allow named hosts that are private or plain
//! http (on-premise identity servers, tests) with `OAUTH_VAULT_ALLOWED_HOSTS`.
//! An entry `host:port` allows that port only; an entry `host` any port.
//! The outbound HTTP client checks the resolved addresses again at request
//! time; this check gives an early, clear answer on the form.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, Ipv6Addr},
};
use url::{Host, Url};

/// One allowed host: its name (as [`Url::host_str`] writes it: lower case,
/// IPv6 in brackets) and, if the entry named one, its only port.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedHost {
    host: String,
    port: Option<u16>,
}

impl AllowedHost {
    /// `host`, `host:port`, `[v6]` or `[v6]:port`; `None` if it is none of
    /// them (the configuration refuses such entries before they get here).
    fn parse(entry: &str) -> Option<Self> {
        let entry = entry.trim().to_ascii_lowercase();
        let (host, port) = match entry.strip_prefix('[') {
            Some(rest) => {
                let (inside, after) = rest.split_once(']')?;
                let port = match after {
                    "" => None,
                    p => Some(p.strip_prefix(':')?.parse().ok()?),
                };
                (format!("[{inside}]"), port)
            }
            None => match entry.rsplit_once(':') {
                Some((name, p)) => (name.to_string(), Some(p.parse().ok()?)),
                None => (entry, None),
            },
        };
        let url = Url::parse(&format!("http://{host}/")).ok()?;
        Some(Self {
            host: url.host_str()?.to_string(),
            port,
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct OutboundPolicy {
    allowed_hosts: Vec<AllowedHost>,
}

/// A range of the IANA special-purpose address registries (or of the
/// multicast and reserved space) that no public provider lives in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecialRange {
    pub cidr: &'static str,
    pub name: &'static str,
}

/// Why an address is refused: its range, and for an IPv6 address that
/// carries an IPv4 address (IPv4-mapped, IPv4-compatible, NAT64, 6to4),
/// the carried address and its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal {
    pub range: SpecialRange,
    pub carried: Option<(Ipv4Addr, SpecialRange)>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.range.cidr, self.range.name)?;
        if let Some((v4, inner)) = &self.carried {
            write!(f, ", which carries {v4} of {} ({})", inner.cidr, inner.name)?;
        }
        Ok(())
    }
}

const fn range(cidr: &'static str, name: &'static str) -> SpecialRange {
    SpecialRange { cidr, name }
}

/// IPv4 ranges refused (RFC 6890 and the IANA IPv4 special-purpose
/// registry: every entry that is not globally reachable, plus multicast).
/// 192.0.0.0/24 is refused whole, although two of its /32s (PCP and TURN
/// anycast) are reachable: no provider lives there.
const V4_REFUSED: &[(Ipv4Addr, u8, SpecialRange)] = &[
    (
        Ipv4Addr::new(0, 0, 0, 0),
        8,
        range("0.0.0.0/8", "\"this network\""),
    ),
    (
        Ipv4Addr::new(10, 0, 0, 0),
        8,
        range("10.0.0.0/8", "private use"),
    ),
    (
        Ipv4Addr::new(100, 64, 0, 0),
        10,
        range("100.64.0.0/10", "shared address space, CGNAT"),
    ),
    (
        Ipv4Addr::new(127, 0, 0, 0),
        8,
        range("127.0.0.0/8", "loopback"),
    ),
    (
        Ipv4Addr::new(169, 254, 0, 0),
        16,
        range("169.254.0.0/16", "link-local"),
    ),
    (
        Ipv4Addr::new(172, 16, 0, 0),
        12,
        range("172.16.0.0/12", "private use"),
    ),
    (
        Ipv4Addr::new(192, 0, 0, 0),
        24,
        range("192.0.0.0/24", "IETF protocol assignments"),
    ),
    (
        Ipv4Addr::new(192, 0, 2, 0),
        24,
        range("192.0.2.0/24", "documentation"),
    ),
    (
        Ipv4Addr::new(192, 88, 99, 0),
        24,
        range("192.88.99.0/24", "6to4 relay anycast, deprecated"),
    ),
    (
        Ipv4Addr::new(192, 168, 0, 0),
        16,
        range("192.168.0.0/16", "private use"),
    ),
    (
        Ipv4Addr::new(198, 18, 0, 0),
        15,
        range("198.18.0.0/15", "benchmarking"),
    ),
    (
        Ipv4Addr::new(198, 51, 100, 0),
        24,
        range("198.51.100.0/24", "documentation"),
    ),
    (
        Ipv4Addr::new(203, 0, 113, 0),
        24,
        range("203.0.113.0/24", "documentation"),
    ),
    (
        Ipv4Addr::new(224, 0, 0, 0),
        4,
        range("224.0.0.0/4", "multicast"),
    ),
    (
        Ipv4Addr::new(240, 0, 0, 0),
        4,
        range("240.0.0.0/4", "reserved, and the broadcast address"),
    ),
];

/// What to do with an IPv6 range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum V6Rule {
    /// Refuse the whole range.
    Refuse,
    /// Check the IPv4 address in the last 32 bits.
    CarriesLast32,
    /// Check the IPv4 address in bits 16..48 (6to4).
    Carries16To48,
}

/// IPv6 ranges, most specific first (the IANA IPv6 special-purpose
/// registry, plus site-local and multicast). Anything else outside global
/// unicast 2000::/3 is refused too (see [`refused_range`]).
///
/// Teredo (2001::/32) is refused whole rather than decoded: it tunnels to
/// whatever IPv4 client its relay reaches, and the whole 2001::/23 (IETF
/// protocol assignments: Teredo, benchmarking, ORCHID, AMT, AS112 and a few
/// anycast services) holds no provider.
const V6_RULES: &[(Ipv6Addr, u8, SpecialRange, V6Rule)] = &[
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        128,
        range("::/128", "unspecified"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1),
        128,
        range("::1/128", "loopback"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0xffff, 0, 0),
        96,
        range("::ffff:0:0/96", "IPv4-mapped"),
        V6Rule::CarriesLast32,
    ),
    (
        Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
        96,
        range("::/96", "IPv4-compatible, deprecated"),
        V6Rule::CarriesLast32,
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0),
        96,
        range("64:ff9b::/96", "NAT64"),
        V6Rule::CarriesLast32,
    ),
    (
        Ipv6Addr::new(0x64, 0xff9b, 1, 0, 0, 0, 0, 0),
        48,
        range("64:ff9b:1::/48", "NAT64 local use"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 0, 0, 0, 0, 0),
        64,
        range("100::/64", "discard-only"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x100, 0, 0, 1, 0, 0, 0, 0),
        64,
        range("100:0:0:1::/64", "dummy prefix"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        32,
        range("2001::/32", "Teredo"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x2001, 2, 0, 0, 0, 0, 0, 0),
        48,
        range("2001:2::/48", "benchmarking"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0),
        23,
        range("2001::/23", "IETF protocol assignments"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
        32,
        range("2001:db8::/32", "documentation"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0),
        16,
        range("2002::/16", "6to4"),
        V6Rule::Carries16To48,
    ),
    (
        Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0),
        20,
        range("3fff::/20", "documentation"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0x5f00, 0, 0, 0, 0, 0, 0, 0),
        16,
        range("5f00::/16", "segment routing (SRv6) SIDs"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0xfc00, 0, 0, 0, 0, 0, 0, 0),
        7,
        range("fc00::/7", "unique-local"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
        10,
        range("fe80::/10", "link-local"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0xfec0, 0, 0, 0, 0, 0, 0, 0),
        10,
        range("fec0::/10", "site-local, deprecated"),
        V6Rule::Refuse,
    ),
    (
        Ipv6Addr::new(0xff00, 0, 0, 0, 0, 0, 0, 0),
        8,
        range("ff00::/8", "multicast"),
        V6Rule::Refuse,
    ),
];

const NOT_GLOBAL_UNICAST: SpecialRange = range(
    "outside 2000::/3",
    "not global unicast: reserved or unassigned",
);

fn v4_in(ip: Ipv4Addr, net: Ipv4Addr, prefix: u8) -> bool {
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

fn v6_in(ip: Ipv6Addr, net: Ipv6Addr, prefix: u8) -> bool {
    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
    u128::from(ip) & mask == u128::from(net) & mask
}

fn refused_v4(ip: Ipv4Addr) -> Option<SpecialRange> {
    V4_REFUSED
        .iter()
        .find(|(net, prefix, _)| v4_in(ip, *net, *prefix))
        .map(|(_, _, r)| *r)
}

/// Why `ip` is refused as a destination, or `None` for a public address.
///
/// IPv4: every range of [`V4_REFUSED`]. IPv6: the ranges of [`V6_RULES`];
/// an IPv6 address that carries an IPv4 address (IPv4-mapped,
/// IPv4-compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) is refused when the
/// carried address is; and every address outside global unicast 2000::/3.
pub fn refused_range(ip: IpAddr) -> Option<Refusal> {
    let v6 = match ip {
        IpAddr::V4(v4) => {
            return refused_v4(v4).map(|range| Refusal {
                range,
                carried: None,
            })
        }
        IpAddr::V6(v6) => v6,
    };
    if let Some((_, _, range, rule)) = V6_RULES
        .iter()
        .find(|(net, prefix, _, _)| v6_in(v6, *net, *prefix))
    {
        let bits = u128::from(v6);
        let carried = match rule {
            V6Rule::Refuse => {
                return Some(Refusal {
                    range: *range,
                    carried: None,
                })
            }
            V6Rule::CarriesLast32 => Ipv4Addr::from((bits & 0xffff_ffff) as u32),
            V6Rule::Carries16To48 => Ipv4Addr::from(((bits >> 80) & 0xffff_ffff) as u32),
        };
        return refused_v4(carried).map(|inner| Refusal {
            range: *range,
            carried: Some((carried, inner)),
        });
    }
    if !v6_in(v6, Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3) {
        return Some(Refusal {
            range: NOT_GLOBAL_UNICAST,
            carried: None,
        });
    }
    None
}

/// Whether no public provider can live at `ip` (see [`refused_range`]).
pub fn is_private_ip(ip: IpAddr) -> bool {
    refused_range(ip).is_some()
}

/// A host name that names this machine or a private network by convention.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.ends_with(".local")
        || name.ends_with(".internal")
        || name.ends_with(".home.arpa")
        || !name.contains('.')
}

impl OutboundPolicy {
    /// `allowed_hosts`: `host`, `host:port`, `[v6]` or `[v6]:port` entries.
    pub fn new(allowed_hosts: Vec<String>) -> Self {
        Self {
            allowed_hosts: allowed_hosts
                .iter()
                .filter_map(|h| AllowedHost::parse(h))
                .collect(),
        }
    }

    /// Whether the operator allowed this URL's host and port: an entry with
    /// a port allows that port only, an entry without one any port.
    pub fn is_allowed_host(&self, url: &Url) -> bool {
        let Some(host) = url.host_str() else {
            return false;
        };
        let port = url.port_or_known_default();
        self.allowed_hosts
            .iter()
            .any(|h| h.host == host && h.port.is_none_or(|p| Some(p) == port))
    }

    /// Whether the operator allowed the host `name` on some port: the
    /// resolver's view, which knows no port. The outbound client asks it
    /// only for URLs whose host and port [`Self::is_allowed_host`] allowed.
    pub fn allows_host_name(&self, name: &str) -> bool {
        let name = name.to_ascii_lowercase();
        self.allowed_hosts.iter().any(|h| h.host == name)
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
        let refusal = match host {
            Host::Ipv4(ip) => refused_range(IpAddr::V4(ip)).map(|r| (ip.to_string(), r)),
            Host::Ipv6(ip) => refused_range(IpAddr::V6(ip)).map(|r| (ip.to_string(), r)),
            Host::Domain(name) => {
                if is_local_name(name) {
                    return Err(
                        "The host must be public; private and local addresses are refused unless the operator allows them".into(),
                    );
                }
                None
            }
        };
        if let Some((ip, refusal)) = refusal {
            return Err(format!(
                "The host must be public: {ip} is in {refusal}; private, local and special-purpose addresses are refused unless the operator allows the host"
            ));
        }
        Ok(url)
    }
}

#[cfg(test)]
#[path = "urls_tests.rs"]
mod tests;
