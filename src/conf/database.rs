//! `music_database`: a libpq connection string (URL or `key=value` words), parsed with
//! tokio-postgres's own parser and turned into the endpoints the worker connects to.
//!
//! Host names are resolved when the configuration is read (as nginx does for `proxy_pass`
//! with a literal host), so no lookup ever blocks a worker; where a `resolver` is in effect
//! they are looked up again through it when a connection is opened
//! ([`crate::ffi::resolver`]), and one that does not resolve yet is then no error. Supported: TCP hosts and
//! addresses, unix socket directories (`host=/run/postgresql`), several hosts (tried in
//! order, or shuffled with `load_balance_hosts=random`), `target_session_attrs` (see
//! [`super::hosts`]), user, password, dbname, options, application_name, and libpq's TLS words
//! (see [`super::tls`]). Not supported: GSSAPI, `hostaddr`.
//!
//! tokio-postgres says only "invalid connection string" for any mistake, so the string is
//! first read here with the same grammar ([`check`]) to name the part that is wrong and why.

use std::cell::Cell;
use std::net::{IpAddr, Ipv6Addr, ToSocketAddrs};
use std::path::PathBuf;

use tokio_postgres::config::{Host, SslMode};

use super::hosts::HostWords;
use super::tls::{SslMode as Mode, TlsPolicy, TlsWords};
use crate::ffi::peer::Endpoint;
use crate::ffi::resolver::DbResolver;
use crate::ffi::tls::TlsContext;

/// A parsed `music_database` value.
pub struct DbSettings {
    /// The connection string as written: the key of the worker's pool (pools are per whole
    /// connection string, with its user, database and password, not per address).
    pub conninfo: String,
    pub config: tokio_postgres::Config,
    pub endpoints: Vec<Endpoint>,
    /// The host name each endpoint was found under (checked against the server's certificate
    /// with `sslmode=verify-full`, sent as SNI).
    pub host_names: Vec<String>,
    /// The place in the host list of each endpoint's host: a host's addresses stay together
    /// when `load_balance_hosts=random` shuffles the hosts.
    pub host_of: Vec<usize>,
    /// `target_session_attrs` and `load_balance_hosts`.
    pub hosts: HostWords,
    /// Per host of the list: its name and port when it is a TCP host name (not an address),
    /// to be looked up again when a connection is opened if a resolver is set.
    pub names: Vec<Option<(String, u16)>>,
    /// Why host names did not resolve when the configuration was read (their hosts have no
    /// endpoints): an error unless a `resolver` looks them up later.
    pub unresolved: Vec<String>,
    /// nginx's resolver, set when the first `music_api` location that uses this setting is
    /// merged, if a `resolver` is in effect there.
    pub resolver: Cell<Option<DbResolver>>,
    /// What a TCP connection does about TLS.
    pub tls: TlsPolicy,
    /// nginx's SSL context for this setting, made when the configuration is read (only when
    /// TCP connections may use TLS).
    pub tls_context: Option<TlsContext>,
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
    /// A connection string whose every host name resolves now.
    pub fn parse(conninfo: &str) -> Result<DbSettings, String> {
        let settings = Self::parse_resolving_later(conninfo)?;
        match settings.unresolved.first() {
            Some(why) => Err(why.clone()),
            None => Ok(settings),
        }
    }

    /// A connection string whose host names may not resolve yet ([`Self::unresolved`]).
    pub fn parse_resolving_later(conninfo: &str) -> Result<DbSettings, String> {
        let checked = check(conninfo)?;
        let tls = checked.tls.resolve()?;
        let mut config: tokio_postgres::Config =
            checked.rest.parse().map_err(|e: tokio_postgres::Error| {
                // not expected after `check`; tokio-postgres's reason is in the error's source
                let why = std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string());
                format!("{why} (tokio-postgres)")
            })?;
        // how the first attempt on a TCP host starts; `allow` tries clear text first
        config.ssl_mode(match tls.mode {
            Mode::Disable | Mode::Allow => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
        if config.get_user().is_none() {
            return Err("no user given (add user=... or postgres://user@...)".into());
        }
        if config.get_application_name().is_none() {
            config.application_name("ngx-music");
        }
        let hosts = config.get_hosts().to_vec();
        if hosts.is_empty() {
            return Err("no host given (add host=... or postgres://user@host/...)".into());
        }
        let ports = config.get_ports().to_vec();
        if ports.len() > 1 && ports.len() != hosts.len() {
            return Err(format!(
                "{} ports for {} hosts: give one port for all hosts, or one per host",
                ports.len(),
                hosts.len()
            ));
        }
        let mut endpoints = Vec::new();
        let mut host_names = Vec::new();
        let mut host_of = Vec::new();
        let mut names = Vec::new();
        let mut unresolved = Vec::new();
        for (i, host) in hosts.iter().enumerate() {
            let port = match ports.len() {
                0 => 5432,
                1 => ports[0],
                _ => ports[i],
            };
            match host {
                Host::Tcp(name) => {
                    let literal = name.trim_matches(['[', ']']).parse::<IpAddr>().is_ok();
                    names.push((!literal).then(|| (name.clone(), port)));
                    let addrs = match (name.as_str(), port).to_socket_addrs() {
                        Ok(addrs) => addrs,
                        Err(e) => {
                            unresolved.push(format!("host \"{name}\" not found: {e}"));
                            continue;
                        }
                    };
                    for addr in addrs {
                        endpoints.push(Endpoint::Tcp(addr));
                        host_names.push(name.clone());
                        host_of.push(i);
                    }
                }
                Host::Unix(dir) => {
                    names.push(None);
                    let mut path = PathBuf::from(dir);
                    path.push(format!(".s.PGSQL.{port}"));
                    host_names.push(dir.display().to_string());
                    endpoints.push(Endpoint::Unix(path));
                    host_of.push(i);
                }
            }
        }
        Ok(DbSettings {
            conninfo: conninfo.to_owned(),
            config,
            endpoints,
            host_names,
            host_of,
            hosts: checked.hosts,
            names,
            unresolved,
            resolver: Cell::new(None),
            tls,
            tls_context: None,
        })
    }

    /// TCP connections may use TLS, so an SSL context is needed.
    pub fn may_use_tls(&self) -> bool {
        self.tls.mode != Mode::Disable
            && (self.endpoints.iter().any(|e| matches!(e, Endpoint::Tcp(_)))
                || self.names.iter().any(Option::is_some))
    }

    /// Looks the host names up through `resolver` when connecting, from now on (the first
    /// location's resolver serves every location sharing this setting). Without one, every
    /// name must have resolved when the configuration was read.
    pub fn use_resolver(&self, resolver: Option<DbResolver>) -> Result<(), String> {
        if self.resolver.get().is_none() {
            self.resolver.set(resolver);
        }
        match (self.resolver.get(), self.unresolved.first()) {
            (None, Some(why)) => Err(format!(
                "{why} (or set a \"resolver\" to look it up when connecting)"
            )),
            _ => Ok(()),
        }
    }
}

/// The parameters tokio-postgres takes, for the "unknown parameter" message.
const KNOWN: &str = "user, password, host, port, dbname, options, application_name, \
                     connect_timeout, sslmode, sslrootcert, sslcert, sslkey, sslcrl, sslsni, \
                     sslnegotiation, channel_binding, target_session_attrs, load_balance_hosts, hostaddr, keepalives, \
                     keepalives_idle, keepalives_interval, keepalives_retries, tcp_user_timeout";

/// Reads `conninfo` with tokio-postgres's grammar (a `postgres://` / `postgresql://` URL, or
/// `key=value` words) and checks every part, so that what tokio-postgres would refuse, or what
/// this module cannot do, is refused with the part that is wrong and why. The password is
/// never in a message.
pub fn check(conninfo: &str) -> Result<Checked, String> {
    let mut tls = TlsWords::default();
    let mut hosts = HostWords::default();
    let rest = match ["postgres://", "postgresql://"]
        .iter()
        .find_map(|scheme| conninfo.strip_prefix(scheme))
    {
        Some(rest) => {
            let scheme = &conninfo[..conninfo.len() - rest.len()];
            format!("{scheme}{}", check_url(rest, &mut tls, &mut hosts)?)
        }
        None => match url_scheme(conninfo) {
            Some(scheme) => {
                return Err(format!(
                    "unsupported URL scheme \"{scheme}\": write a \"postgres://\" or \
                     \"postgresql://\" URL, or key=value words"
                ))
            }
            None => check_words(conninfo, &mut tls, &mut hosts)?,
        },
    };
    Ok(Checked { tls, hosts, rest })
}

/// What [`check`] read: the TLS words, and the string without those tokio-postgres does not
/// know (`sslrootcert`...) nor reads as libpq does (`sslmode`), for tokio-postgres's parser.
pub struct Checked {
    pub tls: TlsWords,
    pub hosts: HostWords,
    pub rest: String,
}

/// `mysql://` of `mysql://u@h/db` (RFC 3986 scheme letters).
fn url_scheme(s: &str) -> Option<&str> {
    let end = s.find("://")?;
    let name = &s[..end];
    let mut chars = name.chars();
    let first = chars.next()?;
    let letters = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first.is_ascii_alphabetic() && letters).then(|| &s[..end + 3])
}

/// `key=value` words: the value may be quoted with `'`; `\` escapes the next character.
/// Returns the string without the TLS words.
fn check_words(s: &str, tls: &mut TlsWords, hosts: &mut HostWords) -> Result<String, String> {
    let mut rest = String::with_capacity(s.len());
    let mut kept_from = 0;
    let mut it = s.char_indices().peekable();
    let mut previous: Option<&str> = None;
    // after an unquoted password, a word that does not fit is probably the password's rest
    let after_password = "a word after the password is not a parameter (a password with \
                          spaces must be quoted: password='...')";
    loop {
        while it.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = it.peek() else {
            rest.push_str(&s[kept_from..]);
            return Ok(rest);
        };
        while it
            .next_if(|&(_, c)| !c.is_whitespace() && c != '=')
            .is_some()
        {}
        let end = it.peek().map_or(s.len(), |&(i, _)| i);
        let key = &s[start..end];
        if key.is_empty() {
            return Err("\"=\" without a parameter name before it".into());
        }
        while it.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        if it.next_if(|&(_, c)| c == '=').is_none() {
            if previous == Some("password") {
                return Err(after_password.into());
            }
            return Err(format!("parameter \"{key}\" has no \"=\" and value"));
        }
        if previous == Some("password") && !is_known(key) {
            return Err(after_password.into());
        }
        while it.next_if(|&(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if it.next_if(|&(_, c)| c == '\'').is_some() {
            loop {
                match it.next() {
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => value.extend(it.next().map(|(_, c)| c)),
                    Some((_, c)) => value.push(c),
                    None => return Err(format!("unterminated quote in the value of \"{key}\"")),
                }
            }
        } else {
            while let Some((_, c)) = it.next_if(|&(_, c)| !c.is_whitespace()) {
                match c {
                    '\\' => value.extend(it.next().map(|(_, c)| c)),
                    c => value.push(c),
                }
            }
            if value.is_empty() {
                return Err(format!("parameter \"{key}\" has no value"));
            }
        }
        if check_parameter(key, &value, tls, hosts)? {
            let end = it.peek().map_or(s.len(), |&(i, _)| i);
            rest.push_str(&s[kept_from..start]);
            kept_from = end;
        }
        previous = Some(key);
    }
}

/// `[user[:password]@][host[:port][,...]][/dbname][?key=value&...]`, after the scheme.
/// Returns it without the TLS parameters.
fn check_url(s: &str, tls: &mut TlsWords, words: &mut HostWords) -> Result<String, String> {
    let mut rest = s;
    if let Some(at) = rest.find('@') {
        let credentials = &rest[..at];
        if credentials.contains(['/', '?']) {
            // the user name would be read up to this "@", through the host and the path
            return Err(
                "an \"@\" after the host part of the URL: write an \"@\" in a \
                        parameter as %40"
                    .into(),
            );
        }
        let user = credentials.split(':').next().unwrap_or_default();
        decode(user).map_err(|_| "the user name of the URL is not percent-encoded UTF-8")?;
        rest = &rest[at + 1..];
    }
    let host_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (hosts, after) = rest.split_at(host_end);
    if hosts.contains('@') {
        // only a second "@" gets here: the password (which is not shown) had one
        return Err(
            "the host part of the URL has an \"@\": write an \"@\" in the user name \
                    or password as %40"
                .into(),
        );
    }
    if !hosts.is_empty() {
        for chunk in hosts.split(',') {
            check_url_host(chunk)?;
        }
    }
    let (path, query) = match after.find('?') {
        Some(q) => (&after[..q], Some(&after[q + 1..])),
        None => (after, None),
    };
    if let Some(dbname) = path.strip_prefix('/') {
        decode(dbname).map_err(|_| "the database name of the URL is not percent-encoded UTF-8")?;
    }
    let mut kept: Vec<&str> = Vec::new();
    let mut query = query.unwrap_or_default();
    while !query.is_empty() {
        let piece = &query[..query.find('&').unwrap_or(query.len())];
        let Some(eq) = query.find('=') else {
            return Err(format!("URL parameter \"{query}\" has no \"=\" and value"));
        };
        let key = decode(&query[..eq])
            .map_err(|_| "a URL parameter name is not percent-encoded UTF-8".to_owned())?;
        query = &query[eq + 1..];
        let (value, next) = match query.find('&') {
            Some(amp) => (&query[..amp], &query[amp + 1..]),
            None => (query, ""),
        };
        query = next;
        if key == "host" {
            // one host, not a list: tokio-postgres reads `?host=` as a single name
            check_url_host_name(value)?;
            kept.push(piece);
            continue;
        }
        let value = decode(value).map_err(|_| {
            format!("the value of URL parameter \"{key}\" is not percent-encoded UTF-8")
        })?;
        if !check_parameter(&key, &value, tls, words)? {
            kept.push(piece);
        }
    }
    let before_query = &s[..s.len() - after.len() + path.len()];
    Ok(match kept.is_empty() {
        true => before_query.to_owned(),
        false => format!("{before_query}?{}", kept.join("&")),
    })
}

/// One `host[:port]` or `[v6address][:port]` of a URL.
fn check_url_host(chunk: &str) -> Result<(), String> {
    let (host, port) = match chunk.strip_prefix('[') {
        Some(bracketed) => {
            let Some(close) = bracketed.find(']') else {
                return Err(format!("unterminated \"[\" in host \"{chunk}\""));
            };
            let port = match &bracketed[close + 1..] {
                "" => None,
                after => match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => {
                        return Err(format!(
                            "only \":port\" may follow \"]\" in host \"{chunk}\""
                        ))
                    }
                },
            };
            (&bracketed[..close], port)
        }
        None => match chunk.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (chunk, None),
        },
    };
    check_url_host_name(host)?;
    if let Some(port) = port {
        let port = decode(port).unwrap_or_else(|_| port.to_owned());
        if !port.is_empty() && parse_port(&port).is_none() {
            return Err(format!(
                "bad port \"{port}\" in host \"{chunk}\": a port is a number from 1 to 65535"
            ));
        }
    }
    Ok(())
}

/// A host of a URL, percent-encoded: a unix socket directory (`%2Frun%2Fpostgresql`, any
/// bytes) or a TCP host name or address (UTF-8).
fn check_url_host_name(raw: &str) -> Result<(), String> {
    let bytes = decode_bytes(raw);
    if bytes.first() == Some(&b'/') {
        return Ok(());
    }
    let host = String::from_utf8(bytes)
        .map_err(|_| format!("the host \"{raw}\" of the URL is not percent-encoded UTF-8"))?;
    check_host(&host)
}

/// Percent-decoding as tokio-postgres does it: a `%` not followed by two hex digits stays.
fn decode_bytes(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match (
            b[i],
            b.get(i + 1).copied().and_then(hex),
            b.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

fn decode(s: &str) -> Result<String, std::string::FromUtf8Error> {
    String::from_utf8(decode_bytes(s))
}

fn parse_port(s: &str) -> Option<u16> {
    s.parse::<u16>().ok().filter(|&p| p > 0)
}

fn is_known(key: &str) -> bool {
    KNOWN.split(", ").any(|k| k.trim() == key)
}

/// A TCP host name or address, or a unix socket directory.
fn check_host(host: &str) -> Result<(), String> {
    if host.is_empty() {
        return Err("an empty host name".into());
    }
    if host.contains(':') && !host.starts_with('/') && host.parse::<Ipv6Addr>().is_err() {
        return Err(format!(
            "the host name \"{host}\" has a \":\": write the port as port=... (or use a \
             postgres://user@host:port/dbname URL)"
        ));
    }
    Ok(())
}

/// One parameter, by name: known, with a value this module can use. `password` is never shown.
/// `Ok(true)`: a TLS word taken into `tls`, or a multi-host word into `hosts`, to be left out
/// of what tokio-postgres parses.
fn check_parameter(
    key: &str,
    value: &str,
    tls: &mut TlsWords,
    hosts: &mut HostWords,
) -> Result<bool, String> {
    if tls.take(key, value)? || hosts.take(key, value)? {
        return Ok(true);
    }
    check_other_parameter(key, value).map(|()| false)
}

fn check_other_parameter(key: &str, value: &str) -> Result<(), String> {
    let invalid = |expected: &str| format!("invalid {key} \"{value}\": expected {expected}");
    let whole = |expected: &str| match value.parse::<i64>() {
        Ok(_) => Ok(()),
        Err(_) => Err(invalid(expected)),
    };
    match key {
        "user" | "password" | "dbname" | "options" | "application_name" => Ok(()),
        "host" => value.split(',').try_for_each(check_host),
        "port" => value.split(',').try_for_each(|port| {
            match port.is_empty() || parse_port(port).is_some() {
                true => Ok(()),
                false => Err(invalid("a number from 1 to 65535")),
            }
        }),
        // checked by `TlsWords::take`, and read by tokio-postgres too
        "sslnegotiation" | "channel_binding" => Ok(()),
        "hostaddr" => match value.split(',').all(|a| a.parse::<IpAddr>().is_ok()) {
            true => Err(format!(
                "unsupported \"{key}\": write the address as host={value}"
            )),
            false => Err(invalid("an IP address")),
        },
        "connect_timeout" | "keepalives_idle" | "keepalives_interval" | "tcp_user_timeout" => {
            whole("a whole number of seconds")
        }
        "keepalives" => match value.parse::<u64>() {
            Ok(_) => Ok(()),
            Err(_) => Err(invalid("0 or 1")),
        },
        "keepalives_retries" => match value.parse::<u32>() {
            Ok(_) => Ok(()),
            Err(_) => Err(invalid("a number")),
        },
        _ => Err(format!("unknown parameter \"{key}\" (known: {KNOWN})")),
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

    /// The message for `conninfo`, checked for the password "s3cret" on the way.
    fn refusal(conninfo: &str) -> String {
        let why = DbSettings::parse(conninfo).unwrap_err();
        assert!(!why.contains("s3cret"), "password in {why:?}");
        why
    }

    #[test]
    fn refused_with_the_part_and_why() {
        let known = format!("(known: {KNOWN})");
        let cases: &[(&str, String)] = &[
            (
                "host=127.0.0.1",
                "no user given (add user=... or postgres://user@...)".into(),
            ),
            (
                "user=u dbname=x",
                "no host given (add host=... or postgres://user@host/...)".into(),
            ),
            (
                "foo=bar user=u",
                format!("unknown parameter \"foo\" {known}"),
            ),
            (
                "postgres://u@h/db?foo=bar",
                format!("unknown parameter \"foo\" {known}"),
            ),
            (
                "host=::1 user=u sslmode=verify-full",
                "sslmode=verify-full needs sslrootcert=<CA file> (or sslrootcert=system) to \
                 check the server's certificate against"
                    .into(),
            ),
            (
                "postgres://u@h/db?sslmode=require&sslrootcert=system",
                "sslmode=require may not be used with sslrootcert=system (write \
                 sslmode=verify-full)"
                    .into(),
            ),
            (
                "host=::1 user=u sslmode=maybe",
                "invalid sslmode \"maybe\": expected disable, allow, prefer, require, \
                 verify-ca or verify-full"
                    .into(),
            ),
            (
                "host=::1 user=u sslmode=disable channel_binding=require",
                "channel_binding=require needs TLS: it cannot be used with sslmode=disable".into(),
            ),
            (
                "postgres://u@h/db?sslcrldir=/etc/crl",
                "unsupported parameter \"sslcrldir\"".into(),
            ),
            (
                "host=::1 user=u sslcert=/c.pem",
                "sslcert needs sslkey=<key file>".into(),
            ),
            (
                "host=::1 user=u sslnegotiation=direct",
                "unsupported \"sslnegotiation=direct\": TLS starts after PostgreSQL's \
                 SSLRequest (write sslnegotiation=postgres)"
                    .into(),
            ),
            (
                "postgres://u:s3cret@host:notaport/db",
                "bad port \"notaport\" in host \"host:notaport\": a port is a number from 1 to \
                 65535"
                    .into(),
            ),
            (
                "postgres://u:s3cret@[::1]:99999/db",
                "bad port \"99999\" in host \"[::1]:99999\": a port is a number from 1 to 65535"
                    .into(),
            ),
            (
                "host=::1 port=0 user=u",
                "invalid port \"0\": expected a number from 1 to 65535".into(),
            ),
            (
                "host=db:notaport user=u",
                "the host name \"db:notaport\" has a \":\": write the port as port=... (or use \
                 a postgres://user@host:port/dbname URL)"
                    .into(),
            ),
            (
                "postgres://u@[::1/db",
                "unterminated \"[\" in host \"[::1\"".into(),
            ),
            (
                "postgres://u@[::1]x/db",
                "only \":port\" may follow \"]\" in host \"[::1]x\"".into(),
            ),
            (
                "mysql://u:s3cret@h/db",
                "unsupported URL scheme \"mysql://\": write a \"postgres://\" or \
                 \"postgresql://\" URL, or key=value words"
                    .into(),
            ),
            (
                "host=::1 user=u password='s3cret",
                "unterminated quote in the value of \"password\"".into(),
            ),
            (
                "host=::1 user",
                "parameter \"user\" has no \"=\" and value".into(),
            ),
            (
                "host=::1 user x",
                "parameter \"user\" has no \"=\" and value".into(),
            ),
            ("host=::1 user=", "parameter \"user\" has no value".into()),
            (
                "=u host=::1",
                "\"=\" without a parameter name before it".into(),
            ),
            (
                "host=::1 user=u password=s3 cret=x",
                "a word after the password is not a parameter (a password with spaces must be \
                 quoted: password='...')"
                    .into(),
            ),
            (
                "host=::1 user=u password=s3 cret",
                "a word after the password is not a parameter (a password with spaces must be \
                 quoted: password='...')"
                    .into(),
            ),
            (
                "postgres://u:s3@cret@h/db",
                "the host part of the URL has an \"@\": write an \"@\" in the user name or \
                 password as %40"
                    .into(),
            ),
            (
                "postgres://h/db?password=s3cret@x",
                "an \"@\" after the host part of the URL: write an \"@\" in a parameter as %40"
                    .into(),
            ),
            (
                "postgres://u@h/db?user",
                "URL parameter \"user\" has no \"=\" and value".into(),
            ),
            (
                "postgres://%ff@h/db",
                "the user name of the URL is not percent-encoded UTF-8".into(),
            ),
            (
                "postgres://u@h/%ff",
                "the database name of the URL is not percent-encoded UTF-8".into(),
            ),
            (
                "postgres://u@h/db?application_name=%ff",
                "the value of URL parameter \"application_name\" is not percent-encoded UTF-8"
                    .into(),
            ),
            (
                "postgres://u@%ff/db",
                "the host \"%ff\" of the URL is not percent-encoded UTF-8".into(),
            ),
            ("host=a,,b user=u", "an empty host name".into()),
            (
                "host=::1 user=u connect_timeout=soon",
                "invalid connect_timeout \"soon\": expected a whole number of seconds".into(),
            ),
            (
                "host=::1 user=u keepalives=yes",
                "invalid keepalives \"yes\": expected 0 or 1".into(),
            ),
            (
                "host=::1 user=u target_session_attrs=replica",
                "invalid target_session_attrs \"replica\": expected any, read-write, \
                 read-only, primary, standby or prefer-standby"
                    .into(),
            ),
            (
                "postgres://u@h/db?load_balance_hosts=yes",
                "invalid load_balance_hosts \"yes\": expected disable or random".into(),
            ),
            (
                "user=u hostaddr=127.0.0.1",
                "unsupported \"hostaddr\": write the address as host=127.0.0.1".into(),
            ),
            (
                "user=u hostaddr=localhost",
                "invalid hostaddr \"localhost\": expected an IP address".into(),
            ),
            (
                "host=::1,127.0.0.1,::1 port=1,2 user=u",
                "2 ports for 3 hosts: give one port for all hosts, or one per host".into(),
            ),
        ];
        for (conninfo, why) in cases {
            assert_eq!(&refusal(conninfo), why, "{conninfo}");
        }
        assert!(refusal("host=no-such-host.invalid user=u")
            .starts_with("host \"no-such-host.invalid\" not found: "));
    }

    #[test]
    fn accepted_forms() {
        for conninfo in [
            "host=::1 user=u sslmode=disable",
            "host=::1 user=u sslmode=prefer channel_binding=prefer target_session_attrs=any",
            "host='/tmp/pg' user='u v' password='s3 \\' cret' dbname=x",
            "postgresql://u:p%40ss@127.0.0.1:5432,[::1]:6000/db?application_name=a%20b",
            "postgres://u@%2Ftmp%2Fpg/db",
            "postgres://u@/db?host=/tmp/pg&port=6000",
            "host=::1,127.0.0.1 port=,6000 user=u connect_timeout=5",
        ] {
            DbSettings::parse(conninfo).unwrap_or_else(|e| panic!("{conninfo}: {e}"));
        }
        let d = DbSettings::parse("host='/tmp/pg' user='u v' password='a \\' b'").unwrap();
        assert_eq!(d.config.get_password(), Some(&b"a ' b"[..]));
        let d = DbSettings::parse("postgres://u:p%40ss@127.0.0.1:5433,[::1]/db").unwrap();
        assert_eq!(d.config.get_password(), Some(&b"p@ss"[..]));
        assert_eq!(
            d.endpoints,
            vec![
                Endpoint::Tcp("127.0.0.1:5433".parse().unwrap()),
                Endpoint::Tcp("[::1]:5432".parse().unwrap())
            ]
        );
    }

    /// The TLS words are read here (libpq's meanings) and left out of what tokio-postgres
    /// parses, which knows neither `sslrootcert` nor `verify-full`.
    #[test]
    fn tls_words() {
        let d = DbSettings::parse(
            "host=127.0.0.1 user=u sslmode=verify-full sslrootcert='/ca dir/ca.pem' \
             sslcert=/c.pem sslkey=/k.pem sslcrl=/crl.pem sslsni=0 channel_binding=require",
        )
        .unwrap();
        assert_eq!(d.tls.mode, Mode::VerifyFull);
        assert_eq!(
            d.tls.root_cert,
            Some(super::super::tls::RootCert::File("/ca dir/ca.pem".into()))
        );
        assert_eq!(d.config.get_ssl_mode(), SslMode::Require);
        assert_eq!(
            d.config.get_channel_binding(),
            tokio_postgres::config::ChannelBinding::Require
        );
        assert_eq!(d.host_names, vec!["127.0.0.1".to_owned()]);
        assert!(d.may_use_tls());
        let d = DbSettings::parse(
            "postgresql://u@127.0.0.1/db?sslrootcert=%2Fca.pem&application_name=x&sslmode=require",
        )
        .unwrap();
        assert_eq!(d.tls.mode, Mode::VerifyCa);
        assert_eq!(d.config.get_application_name(), Some("x"));
        assert_eq!(d.config.get_dbname(), Some("db"));
        let d = DbSettings::parse("postgres://u@127.0.0.1/db?sslmode=require").unwrap();
        assert_eq!(d.tls.mode, Mode::Require);
        assert_eq!(d.config.get_dbname(), Some("db"));
        // libpq's default, and no TLS where every host is a unix socket
        let d = DbSettings::parse("host=127.0.0.1 user=u").unwrap();
        assert_eq!(d.tls.mode, Mode::Prefer);
        assert_eq!(d.config.get_ssl_mode(), SslMode::Prefer);
        assert!(!DbSettings::parse("host=/tmp user=u").unwrap().may_use_tls());
        assert!(!DbSettings::parse("host=127.0.0.1 user=u sslmode=disable")
            .unwrap()
            .may_use_tls());
        let d = DbSettings::parse("host=127.0.0.1 user=u sslmode=allow").unwrap();
        assert_eq!(d.config.get_ssl_mode(), SslMode::Disable);
        assert!(d.may_use_tls());
    }

    /// libpq's multi-host words are read here, with all six roles PostgreSQL 14 knows.
    #[test]
    fn multi_host_words() {
        use super::super::hosts::TargetSessionAttrs as T;
        let d = DbSettings::parse(
            "postgres://u@127.0.0.1:5433,[::1]:5434,127.0.0.1/db?target_session_attrs=prefer-standby&load_balance_hosts=random",
        )
        .unwrap();
        assert_eq!(d.hosts.target, T::PreferStandby);
        assert!(d.hosts.random);
        assert_eq!(d.host_of, vec![0, 1, 2]);
        assert_eq!(d.config.get_dbname(), Some("db"));
        let d = DbSettings::parse("host=::1,/tmp user=u target_session_attrs=standby").unwrap();
        assert_eq!(d.hosts.target, T::Standby);
        assert!(!d.hosts.random);
        assert_eq!(d.host_of, vec![0, 1]);
        let d = DbSettings::parse("host=::1 user=u").unwrap();
        assert_eq!(d.hosts, HostWords::default());
        assert_eq!(d.hosts.target, T::Any);
    }

    /// A name that does not resolve when the configuration is read is kept for the resolver;
    /// without one it is refused, with what to do.
    #[test]
    fn names_resolved_later() {
        let d = DbSettings::parse_resolving_later("host=no-such-host.invalid,127.0.0.1 user=u")
            .unwrap();
        assert_eq!(
            d.names,
            vec![Some(("no-such-host.invalid".to_owned(), 5432)), None]
        );
        assert_eq!(
            d.endpoints,
            vec![Endpoint::Tcp("127.0.0.1:5432".parse().unwrap())]
        );
        assert_eq!(d.host_of, vec![1]);
        assert_eq!(d.unresolved.len(), 1);
        let why = d.use_resolver(None).unwrap_err();
        assert!(
            why.starts_with("host \"no-such-host.invalid\" not found: "),
            "{why}"
        );
        assert!(why.ends_with(" (or set a \"resolver\" to look it up when connecting)"));
        // TLS may be needed for a host known only by name
        let d = DbSettings::parse_resolving_later("host=no-such-host.invalid user=u").unwrap();
        assert!(d.endpoints.is_empty() && d.may_use_tls());
        // addresses and resolvable names need no resolver
        let d = DbSettings::parse("host=localhost,::1 user=u").unwrap();
        assert_eq!(d.names, vec![Some(("localhost".to_owned(), 5432)), None]);
        assert!(d.use_resolver(None).is_ok());
    }

    #[test]
    fn debug_hides_the_password() {
        assert!(!format!(
            "{:?}",
            DbSettings::parse("host=::1 user=u password=secret").unwrap()
        )
        .contains("secret"));
    }
}
