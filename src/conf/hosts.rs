//! libpq's words about several hosts: `target_session_attrs` (which server of the list a
//! session may use) and `load_balance_hosts` (in which order they are tried). Both are read
//! here and left out of what tokio-postgres parses: it knows only three of the six roles, and
//! applies them only in `connect()`, which the module does not use (see `crate::db::role`).

/// `target_session_attrs`, with PostgreSQL 14's meanings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum TargetSessionAttrs {
    /// Any server that accepts the session.
    #[default]
    Any,
    /// A server whose sessions may write (not a hot standby, and
    /// `default_transaction_read_only` off).
    ReadWrite,
    /// A server whose sessions only read (a hot standby, or `default_transaction_read_only`
    /// on).
    ReadOnly,
    /// A server that is not in hot standby.
    Primary,
    /// A server in hot standby.
    Standby,
    /// A standby if any of the hosts is one; else any server.
    PreferStandby,
}

impl TargetSessionAttrs {
    const WORDS: [(&'static str, TargetSessionAttrs); 6] = [
        ("any", TargetSessionAttrs::Any),
        ("read-write", TargetSessionAttrs::ReadWrite),
        ("read-only", TargetSessionAttrs::ReadOnly),
        ("primary", TargetSessionAttrs::Primary),
        ("standby", TargetSessionAttrs::Standby),
        ("prefer-standby", TargetSessionAttrs::PreferStandby),
    ];

    pub fn name(self) -> &'static str {
        Self::WORDS
            .iter()
            .find(|(_, t)| *t == self)
            .map_or("any", |(w, _)| w)
    }
}

/// The multi-host words of one connection string, as [`super::database::check`] reads them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostWords {
    pub target: TargetSessionAttrs,
    /// `load_balance_hosts=random`: the hosts, then each host's addresses, in a new random
    /// order for every connection.
    pub random: bool,
}

impl HostWords {
    /// Takes `key=value` if it is one of these words (`Ok(true)`), checking its value.
    pub fn take(&mut self, key: &str, value: &str) -> Result<bool, String> {
        match key {
            "target_session_attrs" => {
                let Some((_, target)) = TargetSessionAttrs::WORDS.iter().find(|(w, _)| *w == value)
                else {
                    return Err(format!(
                        "invalid target_session_attrs \"{value}\": expected any, read-write, \
                         read-only, primary, standby or prefer-standby"
                    ));
                };
                self.target = *target;
                Ok(true)
            }
            "load_balance_hosts" => {
                self.random = match value {
                    "disable" => false,
                    "random" => true,
                    _ => {
                        return Err(format!(
                            "invalid load_balance_hosts \"{value}\": expected disable or random"
                        ))
                    }
                };
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_word_and_its_name() {
        for (word, target) in TargetSessionAttrs::WORDS {
            let mut w = HostWords::default();
            assert_eq!(w.take("target_session_attrs", word), Ok(true));
            assert_eq!(w.target, target);
            assert_eq!(target.name(), word);
        }
        let mut w = HostWords::default();
        assert_eq!(w.take("load_balance_hosts", "random"), Ok(true));
        assert!(w.random);
        assert_eq!(w.take("load_balance_hosts", "disable"), Ok(true));
        assert!(!w.random);
        assert_eq!(w.take("user", "u"), Ok(false));
        assert_eq!(
            w.take("target_session_attrs", "replica"),
            Err(
                "invalid target_session_attrs \"replica\": expected any, read-write, read-only, \
                 primary, standby or prefer-standby"
                    .into()
            )
        );
        assert_eq!(
            w.take("load_balance_hosts", "yes"),
            Err("invalid load_balance_hosts \"yes\": expected disable or random".into())
        );
    }
}
