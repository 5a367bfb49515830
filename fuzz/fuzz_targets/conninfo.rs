//! `music_database` values: tokio-postgres's own `Config` parser and `DbSettings::parse`.
//!
//! `DbSettings::parse` resolves TCP host names, so it only gets inputs whose TCP hosts are
//! all IP literals (`std` parses those without a lookup: no DNS query ever leaves the fuzzer)
//! or unix socket directories. Input: the connection string (UTF-8).
//!
//! Checks: what tokio-postgres refuses (once the TLS words it does not know are taken out),
//! DbSettings refuses; an accepted string has a user, the `sslmode` tokio-postgres starts with
//! for its libpq mode, an application name, one endpoint and host name per host (port from the
//! matching position, the single port, or 5432); `Debug` prints the endpoints only.
#![no_main]

use std::net::{IpAddr, SocketAddr};

use libfuzzer_sys::fuzz_target;
use ngx_music::conf::database::check;
use ngx_music::conf::tls::SslMode as Libpq;
use ngx_music::conf::DbSettings;
use ngx_music::ffi::peer::Endpoint;
use tokio_postgres::config::{Host, SslMode};

fuzz_target!(|data: &[u8]| {
    let Ok(conninfo) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(checked) = check(conninfo) else {
        assert!(DbSettings::parse(conninfo).is_err());
        return;
    };
    let config = match checked.rest.parse::<tokio_postgres::Config>() {
        Ok(config) => config,
        Err(_) => {
            assert!(DbSettings::parse(conninfo).is_err());
            return;
        }
    };
    let hosts = config.get_hosts().to_vec();
    let no_lookup = hosts.iter().all(|h| match h {
        Host::Tcp(name) => name.parse::<IpAddr>().is_ok(),
        Host::Unix(_) => true,
    });
    if !no_lookup {
        return;
    }
    let settings = match DbSettings::parse(conninfo) {
        Ok(settings) => settings,
        Err(msg) => {
            assert!(
                !msg.starts_with("host \""),
                "lookup failed for an IP literal: {msg}"
            );
            return;
        }
    };
    assert_eq!(settings.conninfo, conninfo);
    assert!(settings.config.get_user().is_some());
    let first = match settings.tls.mode {
        Libpq::Disable | Libpq::Allow => SslMode::Disable,
        Libpq::Prefer => SslMode::Prefer,
        Libpq::Require | Libpq::VerifyCa | Libpq::VerifyFull => SslMode::Require,
    };
    assert_eq!(settings.config.get_ssl_mode(), first);
    assert_eq!(settings.host_names.len(), settings.endpoints.len());
    assert!(settings.config.get_application_name().is_some());
    assert_eq!(
        settings.endpoints.len(),
        hosts.len(),
        "{:?}",
        settings.endpoints
    );
    let ports = config.get_ports();
    for (i, (host, endpoint)) in hosts.iter().zip(&settings.endpoints).enumerate() {
        let port = match ports {
            [] => 5432,
            [p] => *p,
            many => many[i],
        };
        match (host, endpoint) {
            (Host::Tcp(name), Endpoint::Tcp(addr)) => {
                assert_eq!(*addr, SocketAddr::new(name.parse().unwrap(), port))
            }
            (Host::Unix(dir), Endpoint::Unix(path)) => {
                assert_eq!(*path, dir.join(format!(".s.PGSQL.{port}")))
            }
            other => panic!("host and endpoint differ: {other:?}"),
        }
    }
    assert_eq!(
        format!("{settings:?}"),
        format!("DbSettings {{ endpoints: {:?} }}", settings.endpoints)
    );
});
