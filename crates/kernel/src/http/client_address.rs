//! The address a request came from, for per-address rate limits.
//!
//! Without proxies it is the TCP peer. Behind proxies every peer is a proxy
//! (Railway's edge, a Procfile host's router, a load balancer), and the
//! client is in `X-Forwarded-For`, which each proxy appends the address it
//! saw to. Only the entries our own proxies added can be trusted, so with
//! `TRUSTED_PROXY_HOPS=n` the client is the n-th entry from the right;
//! anything to its left was written by the client and is ignored. With the
//! default 0 the header is ignored entirely (a client could otherwise claim
//! any address and dodge its limit).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;

use super::AppState;
use crate::error::AppError;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

impl FromRequestParts<AppState> for ClientAddress {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        // Requests handed to the router in-process have no peer: they share
        // one "unspecified" address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(Self(client_address(
            peer,
            &parts.headers,
            state.config.trusted_proxy_hops,
        )))
    }
}

fn client_address(peer: IpAddr, headers: &HeaderMap, trusted_hops: usize) -> IpAddr {
    if trusted_hops == 0 {
        return peer;
    }
    let forwarded: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    forwarded
        .len()
        .checked_sub(trusted_hops)
        .and_then(|index| forwarded[index].parse().ok())
        .unwrap_or(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    #[test]
    fn only_the_entries_trusted_proxies_added_count() {
        let proxy: IpAddr = [10, 0, 0, 1].into();
        let spoofed = headers(&["6.6.6.6, 203.0.113.7"]);
        assert_eq!(
            client_address(proxy, &spoofed, 0),
            proxy,
            "no proxy trusted"
        );
        assert_eq!(
            client_address(proxy, &spoofed, 1),
            IpAddr::from([203, 0, 113, 7]),
            "one proxy: the rightmost entry, not the client's claim"
        );
        assert_eq!(
            client_address(proxy, &headers(&["6.6.6.6", "203.0.113.7, 10.0.0.9"]), 2),
            IpAddr::from([203, 0, 113, 7]),
            "two proxies, over two header lines"
        );
        assert_eq!(client_address(proxy, &headers(&[]), 1), proxy, "no header");
        assert_eq!(
            client_address(proxy, &headers(&["junk"]), 1),
            proxy,
            "not an address"
        );
    }
}
