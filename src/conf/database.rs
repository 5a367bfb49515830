//! `music_database`: a libpq connection string (URL or `key=value` words), parsed with
//! tokio-postgres's own parser and turned into the endpoints the worker connects to.
//!
//! Host names are resolved when the configuration is read (as nginx does for `proxy_pass`
//! with a literal host), so no lookup ever blocks a worker. Supported: TCP hosts and
//! addresses, unix socket directories (`host=/run/postgresql`), several hosts (tried in
//! order), user, password, dbname, application_name, connect_timeout. Not supported: TLS
//! (`sslmode=require` is refused at configuration time), GSSAPI, `target_session_attrs`
//! other than `any`.

use std::net::ToSocketAddrs;
use std::path::PathBuf;

use tokio_postgres::config::{Host, SslMode};

use crate::ffi::peer::Endpoint;

/// A parsed `music_database` value.
pub struct DbSettings {
    /// The connection string as written: the key of the worker's pool (trap 4 of the notes:
    /// pools are per whole connection string, not per address).
    pub conninfo: String,
    pub config: tokio_postgres::Config,
    pub endpoints: Vec<Endpoint>,
}

impl std::fmt::Debug for DbSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // never print the password
        f.debug_struct("DbSettings")
            .field("endpoints", &self.endpoints)
            .finish()
    }
}

impl DbSettings {
    pub fn parse(conninfo: &str) -> Result<DbSettings, String> {
        let mut config: tokio_postgres::Config = conninfo.parse().map_err(|e| format!("{e}"))?;
        if config.get_ssl_mode() == SslMode::Require {
            return Err("sslmode=require is not supported (no TLS to PostgreSQL yet)".into());
        }
        config.ssl_mode(SslMode::Disable);
        if config.get_user().is_none() {
            return Err("no user given (add user=... or postgres://user@...)".into());
        }
        if config.get_application_name().is_none() {
            config.application_name("ngx-music");
        }
        let hosts = config.get_hosts().to_vec();
        if hosts.is_empty() {
            return Err("no host given".into());
        }
        let ports = config.get_ports().to_vec();
        let mut endpoints = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let port = match ports.len() {
                0 => 5432,
                1 => ports[0],
                _ => *ports
                    .get(i)
                    .ok_or("the number of ports does not match the hosts")?,
            };
            match host {
                Host::Tcp(name) => {
                    let addrs = (name.as_str(), port)
                        .to_socket_addrs()
                        .map_err(|e| format!("host \"{name}\" not found: {e}"))?;
                    endpoints.extend(addrs.map(Endpoint::Tcp));
                }
                Host::Unix(dir) => {
                    let mut path = PathBuf::from(dir);
                    path.push(format!(".s.PGSQL.{port}"));
                    endpoints.push(Endpoint::Unix(path));
                }
            }
        }
        Ok(DbSettings {
            conninfo: conninfo.to_owned(),
            config,
            endpoints,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_and_keywords() {
        let d = DbSettings::parse("postgres://u:p@127.0.0.1:5433/db").unwrap();
        assert_eq!(
            d.endpoints,
            vec![Endpoint::Tcp("127.0.0.1:5433".parse().unwrap())]
        );
        assert_eq!(d.config.get_dbname(), Some("db"));
        let d = DbSettings::parse("host=/tmp/pg port=6000 user=u dbname=x").unwrap();
        assert_eq!(
            d.endpoints,
            vec![Endpoint::Unix("/tmp/pg/.s.PGSQL.6000".into())]
        );
        let d = DbSettings::parse("host=localhost user=u").unwrap();
        assert!(!d.endpoints.is_empty());
        assert!(format!("{d:?}").contains("endpoints"));
    }

    #[test]
    fn refused() {
        assert!(DbSettings::parse("host=127.0.0.1").is_err(), "no user");
        assert!(DbSettings::parse("not a conninfo").is_err());
        assert!(DbSettings::parse("host=127.0.0.1 user=u sslmode=require").is_err());
        assert!(DbSettings::parse("host=no-such-host.invalid user=u").is_err());
        assert!(!format!(
            "{:?}",
            DbSettings::parse("host=::1 user=u password=secret").unwrap()
        )
        .contains("secret"));
    }
}
