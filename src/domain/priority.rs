//! Impact, urgency and the ITIL priority matrix that turns the two into P1–P5.

use std::collections::BTreeMap;
use std::fmt;

/// How widely an incident hurts the business.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Impact {
    High,
    Medium,
    Low,
}

/// How quickly the business needs the incident resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Urgency {
    High,
    Medium,
    Low,
}

/// The words users type for impact and urgency.
pub const LEVELS: [&str; 3] = ["high", "medium", "low"];

macro_rules! level_text {
    ($ty:ident) => {
        impl $ty {
            pub const ALL: [$ty; 3] = [$ty::High, $ty::Medium, $ty::Low];

            /// Parses `high`, `medium` or `low` (any case; `med`, `h`, `m`, `l` too).
            pub fn parse(s: &str) -> Option<Self> {
                match s.to_ascii_lowercase().as_str() {
                    "high" | "h" => Some($ty::High),
                    "medium" | "med" | "m" => Some($ty::Medium),
                    "low" | "l" => Some($ty::Low),
                    _ => None,
                }
            }

            pub fn as_str(self) -> &'static str {
                match self {
                    $ty::High => "high",
                    $ty::Medium => "medium",
                    $ty::Low => "low",
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
level_text!(Impact);
level_text!(Urgency);

/// P1 (most urgent) to P5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(u8);

impl Priority {
    pub const ALL: [Priority; 5] = [Priority(1), Priority(2), Priority(3), Priority(4), Priority(5)];

    /// Parses `P1`..`P5` (any case).
    pub fn parse(s: &str) -> Option<Self> {
        let rest = s.strip_prefix('P').or_else(|| s.strip_prefix('p'))?;
        match rest.parse::<u8>() {
            Ok(n @ 1..=5) => Some(Priority(n)),
            _ => None,
        }
    }

    pub fn from_level(n: i64) -> Option<Self> {
        u8::try_from(n).ok().filter(|n| (1..=5).contains(n)).map(Priority)
    }

    pub fn level(self) -> u8 {
        self.0
    }
}

impl fmt::Display for Priority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "P{}", self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Priority::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("`{s}` is not a priority (P1..P5)")))
    }
}

/// A cell missing from a configured matrix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("priority.matrix.{impact}.{urgency} is missing")]
pub struct MissingCell {
    pub impact: Impact,
    pub urgency: Urgency,
}

/// The impact × urgency matrix, complete by construction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriorityMatrix {
    cells: [[Priority; 3]; 3],
}

impl PriorityMatrix {
    /// Builds a matrix from configured rows (`impact -> urgency -> priority`),
    /// naming the first missing cell.
    pub fn from_rows(rows: &BTreeMap<Impact, BTreeMap<Urgency, Priority>>) -> Result<Self, MissingCell> {
        let mut cells = [[Priority(5); 3]; 3];
        for (i, impact) in Impact::ALL.iter().enumerate() {
            for (u, urgency) in Urgency::ALL.iter().enumerate() {
                cells[i][u] = *rows.get(impact).and_then(|row| row.get(urgency)).ok_or(MissingCell {
                    impact: *impact,
                    urgency: *urgency,
                })?;
            }
        }
        Ok(Self { cells })
    }

    /// The ITIL default: high/high is P1, low/low is P5, each step down in impact
    /// or urgency lowers the priority by one.
    pub fn itil_default() -> Self {
        let p = Priority;
        Self {
            cells: [[p(1), p(2), p(3)], [p(2), p(3), p(4)], [p(3), p(4), p(5)]],
        }
    }

    pub fn priority(&self, impact: Impact, urgency: Urgency) -> Priority {
        let i = Impact::ALL.iter().position(|x| *x == impact).unwrap_or(2);
        let u = Urgency::ALL.iter().position(|x| *x == urgency).unwrap_or(2);
        self.cells[i][u]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matrix_maps_every_cell_as_documented() {
        let m = PriorityMatrix::itil_default();
        let cases = [
            ("high/high is the most urgent", Impact::High, Urgency::High, 1),
            ("high impact, medium urgency", Impact::High, Urgency::Medium, 2),
            ("high impact, low urgency", Impact::High, Urgency::Low, 3),
            ("medium impact, high urgency", Impact::Medium, Urgency::High, 2),
            ("medium/medium is the middle", Impact::Medium, Urgency::Medium, 3),
            ("medium impact, low urgency", Impact::Medium, Urgency::Low, 4),
            ("low impact, high urgency", Impact::Low, Urgency::High, 3),
            ("low impact, medium urgency", Impact::Low, Urgency::Medium, 4),
            ("low/low is P5", Impact::Low, Urgency::Low, 5),
        ];
        for (what, i, u, p) in cases {
            assert_eq!(m.priority(i, u).level(), p, "{what}");
        }
    }

    #[test]
    fn configured_rows_build_the_same_matrix_and_a_gap_is_named() {
        let mut rows: BTreeMap<Impact, BTreeMap<Urgency, Priority>> = BTreeMap::new();
        let d = PriorityMatrix::itil_default();
        for i in Impact::ALL {
            for u in Urgency::ALL {
                rows.entry(i).or_default().insert(u, d.priority(i, u));
            }
        }
        assert_eq!(PriorityMatrix::from_rows(&rows).unwrap(), d);
        rows.get_mut(&Impact::Low).unwrap().remove(&Urgency::Medium);
        let err = PriorityMatrix::from_rows(&rows).unwrap_err();
        assert_eq!(err.to_string(), "priority.matrix.low.medium is missing");
    }

    #[test]
    fn priorities_parse_only_p1_to_p5() {
        assert_eq!(Priority::parse("P1"), Some(Priority(1)));
        assert_eq!(Priority::parse("p5"), Some(Priority(5)));
        for bad in ["P0", "P6", "1", "P", "Px", "P-1", ""] {
            assert_eq!(Priority::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn levels_parse_long_and_short_words() {
        assert_eq!(Impact::parse("HIGH"), Some(Impact::High));
        assert_eq!(Urgency::parse("med"), Some(Urgency::Medium));
        assert_eq!(Urgency::parse("l"), Some(Urgency::Low));
        assert_eq!(Impact::parse("critical"), None);
    }
}
