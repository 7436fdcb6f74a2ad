//! The SSRF guard: a webhook URL must be http(s) and resolve only to public addresses
//! (never loopback, private, link-local, shared, multicast or otherwise reserved), checked
//! when the endpoint is created and again by the resolver each delivery connects through,
//! so a name that resolves elsewhere later (DNS rebinding) is refused at the connection.
//! `WEBHOOK_ALLOW_PRIVATE_URLS=true` lifts it (tests and local development only).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::error::{AppError, AppResult};

fn v4_is_public(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Whether `ip` is an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4_is_public(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return v4_is_public(v4);
            }
            let first = v6.segments()[0];
            !(v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80 // link-local
                || (first == 0x2001 && v6.segments()[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::from([0, 0, 0, 0, 0, 0xffff, 0, 0]))
        }
    }
}

/// A webhook URL, checked: http or https, a host, at most 2,048 characters, and (unless
/// `allow_private`) every address it resolves to public. BAD_USER_INPUT naming `field`.
pub async fn check(url: &str, allow_private: bool, field: &str) -> AppResult<url::Url> {
    let bad = |why: &str| AppError::bad_input(field, why.to_owned());
    if url.len() > 2048 {
        return Err(bad("at most 2,048 characters"));
    }
    let parsed = url::Url::parse(url.trim()).map_err(|_| bad("not a URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(bad("must be an http or https URL"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(bad("must not carry credentials"));
    }
    let Some(host) = parsed.host_str() else {
        return Err(bad("has no host"));
    };
    if allow_private {
        return Ok(parsed);
    }
    let port = parsed.port_or_known_default().unwrap_or(443);
    let host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|_| bad("its host does not resolve"))?
            .collect(),
    };
    if addresses.is_empty() {
        return Err(bad("its host does not resolve"));
    }
    if addresses.iter().any(|a| !is_public(a.ip())) {
        return Err(bad(
            "resolves to a loopback, private or link-local address, which webhooks may not reach",
        ));
    }
    Ok(parsed)
}

/// The resolver every delivery connects through: only public addresses of a name.
#[derive(Debug, Clone, Copy)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        Box::pin(async move {
            let found: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(format!(
                    "{} resolves to no public address (refused: webhooks may not reach private networks)",
                    name.as_str()
                )
                .into());
            }
            Ok(Box::new(found.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["8.8.8.8", "196.201.214.200", "2606:4700::1111"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn urls_to_private_hosts_are_refused_unless_allowed() {
        for url in [
            "http://127.0.0.1:9/hook",
            "http://localhost/hook",
            "http://[::1]/hook",
            "http://169.254.169.254/latest/meta-data",
        ] {
            let err = check(url, false, "input.url").await.unwrap_err();
            assert_eq!(err.code(), "BAD_USER_INPUT", "{url}");
        }
        assert!(
            check("http://127.0.0.1:9/hook", true, "input.url")
                .await
                .is_ok()
        );
        assert!(
            check("ftp://example.com/", true, "input.url")
                .await
                .is_err()
        );
        assert!(
            check("http://u:p@example.com/", true, "input.url")
                .await
                .is_err()
        );
    }
}
