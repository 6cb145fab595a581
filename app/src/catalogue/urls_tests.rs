//! Tests of `urls`.

#![allow(clippy::unwrap_used)]

use super::*;

/// The range an address is refused for (its outer range for addresses
/// that carry an IPv4 address), or `None`.
fn range_of(ip: &str) -> Option<&'static str> {
    refused_range(ip.parse().unwrap()).map(|r| r.range.cidr)
}

#[test]
fn every_ipv4_range_is_refused_up_to_its_boundaries() {
    // (range, addresses inside, the first addresses outside it)
    let table: &[(&str, &[&str], &[&str])] = &[
        ("0.0.0.0/8", &["0.0.0.0", "0.255.255.255"], &["1.0.0.0"]),
        (
            "10.0.0.0/8",
            &["10.0.0.0", "10.255.255.255"],
            &["9.255.255.255", "11.0.0.0"],
        ),
        (
            "100.64.0.0/10",
            &["100.64.0.0", "100.127.255.255"],
            &["100.63.255.255", "100.128.0.0"],
        ),
        (
            "127.0.0.0/8",
            &["127.0.0.1", "127.255.255.255"],
            &["126.255.255.255", "128.0.0.0"],
        ),
        (
            "169.254.0.0/16",
            &["169.254.0.0", "169.254.169.254", "169.254.255.255"],
            &["169.253.255.255", "169.255.0.0"],
        ),
        (
            "172.16.0.0/12",
            &["172.16.0.0", "172.31.255.255"],
            &["172.15.255.255", "172.32.0.0"],
        ),
        (
            "192.0.0.0/24",
            &["192.0.0.0", "192.0.0.9", "192.0.0.255"],
            &["191.255.255.255", "192.0.1.0"],
        ),
        (
            "192.0.2.0/24",
            &["192.0.2.0", "192.0.2.255"],
            &["192.0.1.255", "192.0.3.0"],
        ),
        (
            "192.88.99.0/24",
            &["192.88.99.0", "192.88.99.255"],
            &["192.88.98.255", "192.88.100.0"],
        ),
        (
            "192.168.0.0/16",
            &["192.168.0.0", "192.168.255.255"],
            &["192.167.255.255", "192.169.0.0"],
        ),
        (
            "198.18.0.0/15",
            &["198.18.0.0", "198.19.255.255"],
            &["198.17.255.255", "198.20.0.0"],
        ),
        (
            "198.51.100.0/24",
            &["198.51.100.0", "198.51.100.255"],
            &["198.51.99.255", "198.51.101.0"],
        ),
        (
            "203.0.113.0/24",
            &["203.0.113.0", "203.0.113.255"],
            &["203.0.112.255", "203.0.114.0"],
        ),
        (
            "224.0.0.0/4",
            &["224.0.0.0", "239.255.255.255"],
            &["223.255.255.255"],
        ),
        (
            "240.0.0.0/4",
            &["240.0.0.0", "255.255.255.254", "255.255.255.255"],
            &[],
        ),
    ];
    for (range, inside, outside) in table {
        for ip in *inside {
            assert_eq!(range_of(ip), Some(*range), "{ip}");
        }
        for ip in *outside {
            assert_ne!(range_of(ip), Some(*range), "{ip}");
        }
    }
    for public in [
        "1.0.0.0",
        "8.8.8.8",
        "9.255.255.255",
        "11.0.0.0",
        "100.63.255.255",
        "100.128.0.0",
        "172.15.255.255",
        "172.32.0.0",
        "192.0.1.0",
        "192.0.3.0",
        "192.31.196.1",
        "192.52.193.1",
        "192.175.48.1",
        "192.167.255.255",
        "198.17.255.255",
        "198.20.0.0",
        "223.255.255.255",
    ] {
        assert_eq!(range_of(public), None, "{public}");
    }
}

#[test]
fn every_ipv6_range_is_refused_up_to_its_boundaries() {
    let table: &[(&str, &[&str], &[&str])] = &[
        ("::/128", &["::"], &["::2"]),
        ("::1/128", &["::1"], &[]),
        (
            "::ffff:0:0/96",
            &[
                "::ffff:10.0.0.1",
                "::ffff:127.0.0.1",
                "::ffff:255.255.255.255",
            ],
            &["::ffff:8.8.8.8", "::1:0:0:0"],
        ),
        (
            "::/96",
            &[
                "::10.0.0.1",
                "::127.0.0.1",
                "::0.0.0.2",
                "::169.254.169.254",
            ],
            &["::8.8.8.8", "::1:0:0"],
        ),
        (
            "64:ff9b::/96",
            &[
                "64:ff9b::10.0.0.1",
                "64:ff9b::127.0.0.1",
                "64:ff9b::a9fe:a9fe",
                "64:ff9b::198.18.0.1",
            ],
            &["64:ff9b::8.8.8.8", "64:ff9b::1:0:0"],
        ),
        (
            "64:ff9b:1::/48",
            &[
                "64:ff9b:1::",
                "64:ff9b:1::8.8.8.8",
                "64:ff9b:1:ffff:ffff:ffff:ffff:ffff",
            ],
            &["64:ff9b:2::", "64:ff9b:0:ffff::"],
        ),
        (
            "100::/64",
            &["100::", "100::ffff:ffff:ffff:ffff"],
            &["ff::"],
        ),
        (
            "100:0:0:1::/64",
            &["100:0:0:1::", "100::1:ffff:ffff:ffff:ffff"],
            &["100:0:0:2::"],
        ),
        (
            "2001::/32",
            &[
                "2001::",
                "2001:0:4136:e378:8000:63bf:3fff:fdd2",
                "2001:0:ffff:ffff:ffff:ffff:ffff:ffff",
            ],
            &["2001:1::"],
        ),
        (
            "2001:2::/48",
            &["2001:2::", "2001:2:0:ffff::"],
            &["2001:2:1::"],
        ),
        (
            "2001::/23",
            &[
                "2001:1::1",
                "2001:3::",
                "2001:10::",
                "2001:20::1",
                "2001:1ff:ffff::",
            ],
            &["2001:200::", "2000:ffff::"],
        ),
        (
            "2001:db8::/32",
            &["2001:db8::", "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"],
            &["2001:db7:ffff::", "2001:db9::"],
        ),
        (
            "2002::/16",
            &[
                "2002:a00:1::",
                "2002:7f00:1::",
                "2002:c0a8:101::1",
                "2002:a9fe:a9fe::",
            ],
            &["2002:808:808::", "2001:ffff::", "2003::"],
        ),
        (
            "3fff::/20",
            &["3fff::", "3fff:fff:ffff::"],
            &["3fff:1000::", "3ffe:ffff::"],
        ),
        (
            "5f00::/16",
            &["5f00::", "5f00:ffff::"],
            &["5eff:ffff::", "5f01::"],
        ),
        (
            "fc00::/7",
            &["fc00::", "fd12:3456::1", "fdff:ffff::"],
            &["fbff:ffff::", "fe00::"],
        ),
        (
            "fe80::/10",
            &["fe80::", "fe80::1", "febf:ffff::"],
            &["fe7f:ffff::"],
        ),
        (
            "fec0::/10",
            &["fec0::", "feff:ffff::"],
            &["febf:ffff::", "ff00::"],
        ),
        (
            "ff00::/8",
            &[
                "ff00::",
                "ff02::1",
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ],
            &["feff:ffff::"],
        ),
        (
            "outside 2000::/3",
            &["1fff:ffff::", "4000::", "8000::", "e000::", "64:ff9b:0:1::"],
            &["2000::", "3fff:ffff::"],
        ),
    ];
    for (range, inside, outside) in table {
        for ip in *inside {
            assert_eq!(range_of(ip), Some(*range), "{ip}");
        }
        for ip in *outside {
            assert_ne!(range_of(ip), Some(*range), "{ip}");
        }
    }
    for public in [
        "2000::",
        "2001:200::",
        "2001:db7:ffff::",
        "2001:db9::",
        "2003::",
        "2606:4700::1111",
        "2a00:1450:4001:80b::200e",
        "3ffe:ffff::",
        "3fff:1000::",
        "::ffff:8.8.8.8",
        "::8.8.8.8",
        "64:ff9b::8.8.8.8",
        "2002:808:808::",
        "2620:4f:8000::1",
    ] {
        assert_eq!(range_of(public), None, "{public}");
    }
}

#[test]
fn carried_ipv4_addresses_are_named() {
    let r = refused_range("64:ff9b::a00:1".parse().unwrap()).unwrap();
    assert_eq!(
        r.carried,
        Some((
            Ipv4Addr::new(10, 0, 0, 1),
            range("10.0.0.0/8", "private use")
        ))
    );
    assert_eq!(
        r.to_string(),
        "64:ff9b::/96 (NAT64), which carries 10.0.0.1 of 10.0.0.0/8 (private use)"
    );
    let r = refused_range("2002:a9fe:a9fe::1".parse().unwrap()).unwrap();
    assert_eq!(r.carried.unwrap().0, Ipv4Addr::new(169, 254, 169, 254));
    assert_eq!(
        refused_range("2001::1".parse().unwrap())
            .unwrap()
            .to_string(),
        "2001::/32 (Teredo)"
    );
}

#[test]
fn public_https_endpoints_pass() {
    let p = OutboundPolicy::default();
    assert!(p
        .check_endpoint("https://app.attio.com/oauth/token")
        .is_ok());
    assert!(p.check_endpoint("https://8.8.8.8/token").is_ok());
    assert!(p.check_endpoint("https://[2606:4700::1111]/token").is_ok());
}

#[test]
fn plain_http_private_and_odd_urls_are_refused() {
    let p = OutboundPolicy::default();
    for bad in [
        "http://idp.example.com/token",
        "https://127.0.0.1/token",
        "https://2130706433/token",
        "https://10.1.2.3/token",
        "https://192.168.0.10/token",
        "https://169.254.169.254/latest",
        "https://198.18.0.1/token",
        "https://192.0.0.8/token",
        "https://255.255.255.255/token",
        "https://[::1]/token",
        "https://[fd00::1]/token",
        "https://[::ffff:10.0.0.1]/token",
        "https://[64:ff9b::a9fe:a9fe]/latest",
        "https://[64:ff9b:1::1]/token",
        "https://[2002:7f00:1::]/token",
        "https://[2001::1]/token",
        "https://[::127.0.0.1]/token",
        "https://[fec0::1]/token",
        "https://localhost/token",
        "https://localhost./token",
        "https://intranet/token",
        "https://intranet./token",
        "https://idp.internal/token",
        "https://router.home.arpa/token",
        "https://user:pw@idp.example.com/token",
        "ftp://idp.example.com/token",
        "idp.example.com/token",
    ] {
        assert!(p.check_endpoint(bad).is_err(), "{bad}");
    }
}

#[test]
fn refused_addresses_say_which_range() {
    let p = OutboundPolicy::default();
    let error = p.check_endpoint("https://198.18.0.1/token").unwrap_err();
    assert!(
        error.starts_with("The host must be public: 198.18.0.1 is in 198.18.0.0/15 (benchmarking)"),
        "{error}"
    );
    let error = p
        .check_endpoint("https://[64:ff9b::a9fe:a9fe]/x")
        .unwrap_err();
    assert!(
        error.contains("which carries 169.254.169.254 of 169.254.0.0/16 (link-local)"),
        "{error}"
    );
    assert!(!error.contains('\n'));
}

#[test]
fn operator_allowed_hosts_may_be_private_or_http() {
    let p = OutboundPolicy::new(vec!["127.0.0.1:9000".into(), "idp.internal".into()]);
    assert!(p.check_endpoint("http://127.0.0.1:9000/token").is_ok());
    assert!(p.check_endpoint("http://127.0.0.1:9001/token").is_err());
    assert!(p.check_endpoint("https://127.0.0.1:9001/token").is_err());
    assert!(p.check_endpoint("https://127.0.0.1/token").is_err());
    assert!(p.check_endpoint("https://idp.internal/token").is_ok());
    assert!(p.check_endpoint("http://idp.internal:8443/token").is_ok());
}

#[test]
fn an_allowed_port_is_the_only_port_allowed() {
    let p = OutboundPolicy::new(vec![
        "idp.corp.example:8443".into(),
        "sso.corp.example".into(),
        "[fd00::5]:9000".into(),
        "IdP.Upper.Example:443".into(),
    ]);
    let allowed = |u: &str| p.is_allowed_host(&Url::parse(u).unwrap());
    assert!(allowed("https://idp.corp.example:8443/token"));
    assert!(!allowed("https://idp.corp.example/token"));
    assert!(!allowed("https://idp.corp.example:8444/token"));
    assert!(allowed("https://sso.corp.example/token"));
    assert!(allowed("http://sso.corp.example:8080/token"));
    assert!(allowed("http://[fd00::5]:9000/token"));
    assert!(!allowed("http://[fd00::5]:9001/token"));
    // the default port counts as written
    assert!(allowed("https://idp.upper.example/token"));
    assert!(!allowed("http://idp.upper.example/token"));
    assert!(p.check_endpoint("https://[fd00::5]:9001/token").is_err());
    // the resolver's view: names, whatever the port
    assert!(p.allows_host_name("idp.corp.example"));
    assert!(p.allows_host_name("SSO.corp.example"));
    assert!(!p.allows_host_name("corp.example"));
}
