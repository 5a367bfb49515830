//! What a server is to a session (a primary or a hot standby, read-write or read-only), from
//! what the server reports, and whether that is what `target_session_attrs` asks for.
//!
//! PostgreSQL 14 and later report `in_hot_standby` and `default_transaction_read_only` in
//! the startup's ParameterStatus messages, and report `in_hot_standby` again when a standby is
//! promoted: the role costs no round trip, and a pooled connection learns of a promotion as
//! soon as the server says so. Older servers report neither; then one query asks.

use crate::conf::hosts::TargetSessionAttrs;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Role {
    pub hot_standby: bool,
    pub default_read_only: bool,
}

impl Role {
    /// From the server's reported parameters; `None` when it reports them not (before 14).
    pub fn reported(in_hot_standby: Option<&str>, read_only: Option<&str>) -> Option<Role> {
        Some(Role {
            hot_standby: in_hot_standby? == "on",
            default_read_only: read_only? == "on",
        })
    }

    /// Sessions on this server only read.
    pub fn read_only(self) -> bool {
        self.hot_standby || self.default_read_only
    }

    /// The server qualifies for `target` (for `prefer-standby`: in its first pass, where only
    /// a standby does; [`Pass::Any`] takes the rest).
    pub fn qualifies(self, target: TargetSessionAttrs) -> bool {
        match target {
            TargetSessionAttrs::Any => true,
            TargetSessionAttrs::ReadWrite => !self.read_only(),
            TargetSessionAttrs::ReadOnly => self.read_only(),
            TargetSessionAttrs::Primary => !self.hot_standby,
            TargetSessionAttrs::Standby | TargetSessionAttrs::PreferStandby => self.hot_standby,
        }
    }

    /// An open connection may stay in the pool: `prefer-standby` takes any server when no
    /// standby answered, so no role change retires its connections.
    pub fn still_qualifies(self, target: TargetSessionAttrs) -> bool {
        target == TargetSessionAttrs::PreferStandby || self.qualifies(target)
    }
}

/// The passes over the host list for `target`: `prefer-standby` first looks for a standby,
/// then takes any server, as libpq does.
pub fn passes(target: TargetSessionAttrs) -> &'static [TargetSessionAttrs] {
    match target {
        TargetSessionAttrs::PreferStandby => {
            &[TargetSessionAttrs::PreferStandby, TargetSessionAttrs::Any]
        }
        TargetSessionAttrs::Any => &[TargetSessionAttrs::Any],
        TargetSessionAttrs::ReadWrite => &[TargetSessionAttrs::ReadWrite],
        TargetSessionAttrs::ReadOnly => &[TargetSessionAttrs::ReadOnly],
        TargetSessionAttrs::Primary => &[TargetSessionAttrs::Primary],
        TargetSessionAttrs::Standby => &[TargetSessionAttrs::Standby],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TargetSessionAttrs as T;

    #[test]
    fn each_target_on_each_kind_of_server() {
        let primary = Role::reported(Some("off"), Some("off")).unwrap();
        let standby = Role::reported(Some("on"), Some("off")).unwrap();
        // a primary whose sessions default to read-only is read-only, not a standby
        let read_only_primary = Role::reported(Some("off"), Some("on")).unwrap();
        let table = [
            (T::Any, [true, true, true]),
            (T::ReadWrite, [true, false, false]),
            (T::ReadOnly, [false, true, true]),
            (T::Primary, [true, false, true]),
            (T::Standby, [false, true, false]),
            (T::PreferStandby, [false, true, false]),
        ];
        for (target, want) in table {
            let got = [primary, standby, read_only_primary].map(|r| r.qualifies(target));
            assert_eq!(got, want, "{target:?}");
        }
        // a promoted standby no longer suits `standby`, but stays for `prefer-standby`
        assert!(!primary.still_qualifies(T::Standby));
        assert!(primary.still_qualifies(T::PreferStandby));
        assert!(!standby.still_qualifies(T::ReadWrite));
        assert_eq!(Role::reported(None, Some("off")), None);
        assert_eq!(passes(T::PreferStandby), &[T::PreferStandby, T::Any]);
        assert_eq!(passes(T::Standby), &[T::Standby]);
    }
}
