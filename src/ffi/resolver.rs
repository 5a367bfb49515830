//! Host names of `music_database` looked up when a connection is opened, through nginx's own
//! resolver (the `resolver` directive in effect where `music_api` is), as `proxy_pass` with
//! variables does: never blocking the worker, answers cached as nginx caches them (the TTL,
//! or `valid=`). Without a `resolver`, names stay as they were resolved when the
//! configuration was read.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::ptr::NonNull;

use nginx_sys::{
    ngx_addr_t, ngx_create_pool, ngx_destroy_pool, ngx_http_core_loc_conf_t, ngx_msec_t,
    ngx_pool_t, ngx_resolver_t, ngx_str_t,
};
use ngx::async_::resolver::Resolver;
use ngx::core::Pool;

use super::process::cycle_log;

/// nginx's resolver of a `music_api` location.
#[derive(Clone, Copy, Debug)]
pub struct DbResolver {
    resolver: NonNull<ngx_resolver_t>,
    timeout: ngx_msec_t,
}

impl DbResolver {
    /// The location's resolver, when a `resolver` directive gave it servers: nginx gives
    /// every location one, and one without servers can resolve nothing.
    pub fn of_location(clcf: &ngx_http_core_loc_conf_t) -> Option<DbResolver> {
        let resolver = NonNull::new(clcf.resolver)?;
        // SAFETY: `clcf.resolver` is the resolver nginx made for this configuration; it lives
        // as long as the cycle.
        let servers = unsafe { resolver.as_ref().connections.nelts };
        (servers > 0).then_some(DbResolver {
            resolver,
            timeout: clcf.resolver_timeout,
        })
    }

    /// The addresses of `name` (A and AAAA, as nginx's resolver asks), with `port`.
    pub async fn resolve(&self, name: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
        /// The request's own memory pool, destroyed after the resolution's results are gone.
        struct Owned(*mut ngx_pool_t);
        impl Drop for Owned {
            fn drop(&mut self) {
                // SAFETY: the pool was created below and nothing allocated in it is used
                // after this (the resolution and its results are dropped first).
                unsafe { ngx_destroy_pool(self.0) }
            }
        }
        // SAFETY: a new pool on the cycle's log, which outlives it.
        let raw = unsafe { ngx_create_pool(1024, cycle_log()) };
        if raw.is_null() {
            return Err("out of memory".into());
        }
        let owned = Owned(raw);
        // SAFETY: `raw` is a live pool, destroyed by `owned` only after `pool`'s last use.
        let pool = unsafe { Pool::from_ngx_pool(owned.0) };
        let text = ngx_str_t {
            len: name.len(),
            data: name.as_ptr() as *mut u8,
        };
        let resolver = Resolver::from_resolver(self.resolver, self.timeout);
        let addrs = match resolver.resolve_name(&text, &pool).await {
            Ok(found) => found.iter().filter_map(|a| socket_addr(a, port)).collect(),
            Err(e) => return Err(e.to_string()),
        };
        drop(owned);
        Ok(addrs)
    }
}

fn socket_addr(addr: &ngx_addr_t, port: u16) -> Option<SocketAddr> {
    if addr.sockaddr.is_null() {
        return None;
    }
    // SAFETY: nginx's resolver gives a sockaddr of `socklen` bytes, of the family it names.
    unsafe {
        match i32::from((*addr.sockaddr).sa_family) {
            libc::AF_INET if addr.socklen as usize >= size_of::<libc::sockaddr_in>() => {
                let sin = &*(addr.sockaddr as *const libc::sockaddr_in);
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, port)))
            }
            libc::AF_INET6 if addr.socklen as usize >= size_of::<libc::sockaddr_in6>() => {
                let sin6 = &*(addr.sockaddr as *const libc::sockaddr_in6);
                let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    port,
                    0,
                    sin6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}
