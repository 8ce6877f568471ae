//! Identifiers shared by every domain module: chat users and ITIL role keys.
//!
//! Pure: std, serde and thiserror only.

use std::fmt;

/// A chat user (a Discord snowflake, or a console user's stable number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct UserId(u64);

impl UserId {
    pub const fn new(id: u64) -> Self {
        Self(id)
    }

    pub const fn get(self) -> u64 {
        self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The number of a record id written `<PREFIX><n>` (any case) or a bare `n`,
/// n ≥ 1: `INC-12`, `out-3`, `7`.
pub fn parse_numbered(s: &str, prefix: &str) -> Option<i64> {
    let digits = match s.get(..prefix.len()) {
        Some(p) if p.eq_ignore_ascii_case(prefix) => &s[prefix.len()..],
        _ => s,
    };
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse::<i64>().ok().filter(|n| *n > 0)
}

/// The key of an ITIL role in config (`service_desk`, `change_manager`, `cab`, …):
/// lowercase ASCII letters, digits and `_`, 1–48 characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct RoleKey(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a role key (use lowercase letters, digits and `_`, at most 48)")]
pub struct BadRoleKey(pub String);

impl RoleKey {
    pub fn parse(s: &str) -> Result<Self, BadRoleKey> {
        let ok = !s.is_empty()
            && s.len() <= 48
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(BadRoleKey(s.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RoleKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for RoleKey {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        RoleKey::parse(&s).map_err(serde::de::Error::custom)
    }
}
