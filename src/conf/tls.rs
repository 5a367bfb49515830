//! The TLS part of a `music_database` connection string, with libpq's meanings: `sslmode`,
//! `sslrootcert`, `sslcert` / `sslkey`, `sslcrl`, `sslsni` (and `channel_binding`, which
//! tokio-postgres itself acts on, checked here against the mode).
//!
//! The words are collected while the string is checked ([`TlsWords::take`]), then resolved
//! once into a [`TlsPolicy`]: what a connection to a TCP host does. Unix sockets never use TLS.

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SslMode {
    /// Never TLS.
    Disable,
    /// Clear text first; TLS only if the server refuses the clear-text session.
    Allow,
    /// TLS if the server offers it (no certificate check), else clear text.
    Prefer,
    /// TLS or no connection; the certificate is not checked.
    Require,
    /// TLS, and the server's certificate chain must verify against `sslrootcert`.
    VerifyCa,
    /// As `VerifyCa`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    pub fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }

    fn parse(value: &str) -> Option<SslMode> {
        [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ]
        .into_iter()
        .find(|m| m.name() == value)
    }

    /// The server's certificate chain is checked.
    pub fn verifies(self) -> bool {
        matches!(self, SslMode::VerifyCa | SslMode::VerifyFull)
    }
}

/// Where trusted CA certificates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RootCert {
    /// A PEM file of CA certificates.
    File(String),
    /// OpenSSL's default CA store (`sslrootcert=system`).
    System,
}

/// The TLS words of a connection string, as written.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsWords {
    sslmode: Option<SslMode>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    sslcrl: Option<String>,
    sslsni: Option<bool>,
    channel_binding_required: bool,
}

/// libpq parameters this module knows but does not implement: refused by name.
const UNSUPPORTED: &[&str] = &[
    "sslcrldir",
    "sslpassword",
    "sslcertmode",
    "sslcompression",
    "sslkeylogfile",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "requiressl",
    "requirepeer",
    "gssencmode",
    "gsslib",
    "gssdelegation",
    "krbsrvname",
];

/// What a connection to a TCP host does about TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsPolicy {
    pub mode: SslMode,
    pub root_cert: Option<RootCert>,
    /// The client certificate and its key (`sslcert`, `sslkey`).
    pub client_cert: Option<(String, String)>,
    pub crl: Option<String>,
    /// Send the host name in the handshake (SNI) when it is a name, not an address.
    pub sni: bool,
}

impl TlsWords {
    /// Takes `key=value` if it is one of the TLS words: `Ok(true)` if taken (tokio-postgres
    /// does not know it), `Ok(false)` if it is not a TLS word (or one tokio-postgres reads
    /// too, `channel_binding`), `Err` if the value is wrong or the parameter is unsupported.
    pub fn take(&mut self, key: &str, value: &str) -> Result<bool, String> {
        let invalid = |expected: &str| format!("invalid {key} \"{value}\": expected {expected}");
        let file = || match value.is_empty() {
            true => Err(format!("parameter \"{key}\" has no value")),
            false => Ok(Some(value.to_owned())),
        };
        match key {
            "sslmode" => {
                self.sslmode = Some(SslMode::parse(value).ok_or_else(|| {
                    invalid("disable, allow, prefer, require, verify-ca or verify-full")
                })?)
            }
            "sslrootcert" => self.sslrootcert = file()?,
            "sslcert" => self.sslcert = file()?,
            "sslkey" => self.sslkey = file()?,
            "sslcrl" => self.sslcrl = file()?,
            "sslsni" => {
                self.sslsni = Some(match value {
                    "1" => true,
                    "0" => false,
                    _ => return Err(invalid("0 or 1")),
                })
            }
            "channel_binding" => {
                self.channel_binding_required = match value {
                    "disable" | "prefer" => false,
                    "require" => true,
                    _ => return Err(invalid("disable, prefer or require")),
                };
                return Ok(false);
            }
            "sslnegotiation" => {
                return match value {
                    "postgres" => Ok(false),
                    "direct" => Err(format!(
                        "unsupported \"{key}={value}\": TLS starts after PostgreSQL's \
                         SSLRequest (write sslnegotiation=postgres)"
                    )),
                    _ => Err(invalid("postgres")),
                }
            }
            _ if UNSUPPORTED.contains(&key) => {
                return Err(format!("unsupported parameter \"{key}\""))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// libpq's rules, decided once: the default mode is `prefer`; `require` with a
    /// `sslrootcert` is `verify-ca`; `sslrootcert=system` is `verify-full` unless a weaker mode
    /// is written, which is refused (the system's CAs vouch for names, not for a chain).
    pub fn resolve(&self) -> Result<TlsPolicy, String> {
        let root_cert = self.sslrootcert.as_deref().map(|f| match f {
            "system" => RootCert::System,
            file => RootCert::File(file.to_owned()),
        });
        let mode = match (self.sslmode, &root_cert) {
            (None, Some(RootCert::System)) => SslMode::VerifyFull,
            (Some(mode), Some(RootCert::System)) if mode != SslMode::VerifyFull => {
                return Err(format!(
                    "sslmode={} may not be used with sslrootcert=system (write \
                     sslmode=verify-full)",
                    mode.name()
                ))
            }
            (Some(SslMode::Require), Some(RootCert::File(_))) => SslMode::VerifyCa,
            (mode, _) => mode.unwrap_or(SslMode::Prefer),
        };
        if mode.verifies() && root_cert.is_none() {
            return Err(format!(
                "sslmode={} needs sslrootcert=<CA file> (or sslrootcert=system) to check the \
                 server's certificate against",
                mode.name()
            ));
        }
        let client_cert = match (&self.sslcert, &self.sslkey) {
            (Some(cert), Some(key)) => Some((cert.clone(), key.clone())),
            (None, None) => None,
            (Some(_), None) => return Err("sslcert needs sslkey=<key file>".into()),
            (None, Some(_)) => return Err("sslkey needs sslcert=<certificate file>".into()),
        };
        if self.channel_binding_required && mode == SslMode::Disable {
            return Err(
                "channel_binding=require needs TLS: it cannot be used with sslmode=disable".into(),
            );
        }
        Ok(TlsPolicy {
            mode,
            root_cert,
            client_cert,
            crl: self.sslcrl.clone(),
            sni: self.sslsni.unwrap_or(true),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(words: &[(&str, &str)]) -> Result<TlsPolicy, String> {
        let mut w = TlsWords::default();
        for (k, v) in words {
            w.take(k, v)?;
        }
        w.resolve()
    }

    #[test]
    fn libpq_modes() {
        assert_eq!(policy(&[]).unwrap().mode, SslMode::Prefer);
        assert!(policy(&[]).unwrap().sni);
        for m in ["disable", "allow", "prefer", "require"] {
            assert_eq!(policy(&[("sslmode", m)]).unwrap().mode.name(), m);
        }
        let ca = ("sslrootcert", "/ca.pem");
        assert_eq!(
            policy(&[("sslmode", "require"), ca]).unwrap().mode,
            SslMode::VerifyCa
        );
        assert_eq!(
            policy(&[("sslmode", "prefer"), ca]).unwrap().mode,
            SslMode::Prefer
        );
        let full = policy(&[("sslmode", "verify-full"), ca, ("sslsni", "0")]).unwrap();
        assert_eq!(full.mode, SslMode::VerifyFull);
        assert_eq!(full.root_cert, Some(RootCert::File("/ca.pem".into())));
        assert!(!full.sni);
        let system = policy(&[("sslrootcert", "system")]).unwrap();
        assert_eq!(system.mode, SslMode::VerifyFull);
        assert_eq!(system.root_cert, Some(RootCert::System));
        let client = policy(&[
            ("sslcert", "/c.pem"),
            ("sslkey", "/k.pem"),
            ("sslcrl", "/r"),
        ]);
        let client = client.unwrap();
        assert_eq!(client.client_cert, Some(("/c.pem".into(), "/k.pem".into())));
        assert_eq!(client.crl.as_deref(), Some("/r"));
        assert!(policy(&[("channel_binding", "require")]).is_ok());
    }

    #[test]
    fn refusals_name_the_part() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("sslmode", "maybe")],
                "invalid sslmode \"maybe\": expected disable, allow, prefer, require, \
                 verify-ca or verify-full",
            ),
            (
                &[("sslmode", "verify-full")],
                "sslmode=verify-full needs sslrootcert=<CA file> (or sslrootcert=system) to \
                 check the server's certificate against",
            ),
            (
                &[("sslmode", "verify-ca")],
                "sslmode=verify-ca needs sslrootcert=<CA file> (or sslrootcert=system) to \
                 check the server's certificate against",
            ),
            (
                &[("sslmode", "require"), ("sslrootcert", "system")],
                "sslmode=require may not be used with sslrootcert=system (write \
                 sslmode=verify-full)",
            ),
            (&[("sslcert", "/c.pem")], "sslcert needs sslkey=<key file>"),
            (
                &[("sslkey", "/k.pem")],
                "sslkey needs sslcert=<certificate file>",
            ),
            (
                &[("sslsni", "yes")],
                "invalid sslsni \"yes\": expected 0 or 1",
            ),
            (
                &[("sslrootcert", "")],
                "parameter \"sslrootcert\" has no value",
            ),
            (
                &[("channel_binding", "always")],
                "invalid channel_binding \"always\": expected disable, prefer or require",
            ),
            (
                &[("sslmode", "disable"), ("channel_binding", "require")],
                "channel_binding=require needs TLS: it cannot be used with sslmode=disable",
            ),
            (
                &[("sslnegotiation", "direct")],
                "unsupported \"sslnegotiation=direct\": TLS starts after PostgreSQL's \
                 SSLRequest (write sslnegotiation=postgres)",
            ),
            (
                &[("sslcrldir", "/d")],
                "unsupported parameter \"sslcrldir\"",
            ),
            (
                &[("sslpassword", "x")],
                "unsupported parameter \"sslpassword\"",
            ),
        ];
        for (words, why) in cases {
            assert_eq!(policy(words).unwrap_err(), *why, "{words:?}");
        }
    }
}
