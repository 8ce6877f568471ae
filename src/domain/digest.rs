//! The scheduled report digest (`[reports.digest]`): when it falls due and
//! which period each posting covers.
//!
//! Pure: std, chrono and chrono-tz only. A digest comes every `every` whole
//! days at a wall-clock time in a zone (`at = "Mon 09:00"`, `tz`); each posting
//! covers the `every` whole UTC days before the day it falls on, so the Monday
//! digest of a weekly schedule is last Monday to Sunday. The desk keeps one
//! stored timer for the next posting; a posting that fell due while the desk
//! was down is made once, for the latest occurrence ([`DigestSchedule::latest_at_or_before`]),
//! never once per missed occurrence.

use chrono::{DateTime, NaiveDate, NaiveTime, TimeDelta, TimeZone, Utc, Weekday};
use chrono_tz::Tz;

use super::report::Period;
use super::sla::{parse_duration, parse_time_zone, resolve_local};

/// Why a digest schedule was refused; the config check names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    #[error("every: {0}")]
    Every(String),
    #[error("at: `{0}` is not a time: write `09:00` or `Mon 09:00`")]
    At(String),
    #[error("at: a weekday needs `every` to be whole weeks (7d, 14d, …)")]
    WeekdayNeedsWeeks,
    #[error("tz: `{0}` is not an IANA time zone such as Europe/Berlin")]
    Tz(String),
}

/// When the digest is posted: every `every_days` days at `at` in `tz`, on
/// `weekday` when one is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestSchedule {
    every_days: i64,
    weekday: Option<Weekday>,
    at: NaiveTime,
    tz: Tz,
}

/// Occurrences are counted from this Monday, so a weekly digest without a
/// weekday comes on Mondays and a 14-day one on the same Mondays everywhere.
fn anchor() -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 5).expect("a real date")
}

impl DigestSchedule {
    /// Reads `every` (whole days, 1d to 366d), `at` (`HH:MM`, or `Ddd HH:MM`
    /// for a weekday) and `tz` (an IANA zone).
    pub fn parse(every: &str, at: &str, tz: &str) -> Result<Self, DigestError> {
        let span = parse_duration(every).map_err(|e| DigestError::Every(e.to_string()))?;
        let whole_days = span.num_seconds() % 86_400 == 0;
        let every_days = span.num_days();
        if !whole_days || !(1..=366).contains(&every_days) {
            return Err(DigestError::Every(format!(
                "`{}` is not a whole number of days from 1d to 366d",
                every.trim()
            )));
        }
        let bad_at = || DigestError::At(at.trim().chars().take(30).collect());
        let words: Vec<&str> = at.split_whitespace().collect();
        let (weekday, time) = match words.as_slice() {
            [time] => (None, *time),
            [day, time] => (Some(day.parse::<Weekday>().map_err(|_| bad_at())?), *time),
            _ => return Err(bad_at()),
        };
        let at = NaiveTime::parse_from_str(time, "%H:%M").map_err(|_| bad_at())?;
        if weekday.is_some() && every_days % 7 != 0 {
            return Err(DigestError::WeekdayNeedsWeeks);
        }
        let tz = parse_time_zone(tz).map_err(|_| DigestError::Tz(tz.trim().chars().take(40).collect()))?;
        Ok(Self {
            every_days,
            weekday,
            at,
            tz,
        })
    }

    /// The first day the schedule holds on, on or before `day`.
    fn on_or_before(&self, day: NaiveDate) -> NaiveDate {
        let first = anchor() + TimeDelta::days(self.weekday.map_or(0, |w| i64::from(w.num_days_from_monday())));
        let offset = (day - first).num_days().rem_euclid(self.every_days);
        day - TimeDelta::days(offset)
    }

    /// The instant of the posting on `day` (its wall-clock time in the zone).
    fn instant(&self, day: NaiveDate) -> DateTime<Utc> {
        resolve_local(self.tz, day.and_time(self.at)).unwrap_or_else(|| Utc.from_utc_datetime(&day.and_time(self.at)))
    }

    /// The latest posting at or before `now`.
    pub fn latest_at_or_before(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let step = TimeDelta::days(self.every_days);
        let mut day = self.on_or_before(now.with_timezone(&self.tz).date_naive());
        while self.instant(day + step) <= now {
            day += step;
        }
        while self.instant(day) > now {
            day -= step;
        }
        self.instant(day)
    }

    /// The first posting after `now`.
    pub fn next_after(&self, now: DateTime<Utc>) -> DateTime<Utc> {
        let step = TimeDelta::days(self.every_days);
        let latest = self.latest_at_or_before(now);
        let mut day = latest.with_timezone(&self.tz).date_naive() + step;
        while self.instant(day) <= now {
            day += step;
        }
        self.instant(day)
    }

    /// What the posting at `at` covers: the `every` whole UTC days before
    /// the UTC day it falls on.
    pub fn period_before(&self, at: DateTime<Utc>) -> Period {
        let midnight = at.date_naive().and_hms_opt(0, 0, 0).expect("midnight exists");
        let to = Utc.from_utc_datetime(&midnight);
        Period {
            from: to - TimeDelta::days(self.every_days),
            to,
        }
    }

    /// How the schedule reads in `!help`-style text: `every 7d, Mon 09:00 UTC`.
    pub fn describe(&self) -> String {
        let day = self.weekday.map(|w| format!("{w} ")).unwrap_or_default();
        format!(
            "every {}d, {day}{} {}",
            self.every_days,
            self.at.format("%H:%M"),
            self.tz
        )
    }

    /// Whether `at` is one of the schedule's postings (used to keep a stored
    /// timer that still matches after a restart).
    pub fn is_posting(&self, at: DateTime<Utc>) -> bool {
        self.latest_at_or_before(at) == at
    }

    /// Weekday of the schedule, if it has one.
    pub fn weekday(&self) -> Option<Weekday> {
        self.weekday
    }
}

/// The stored timer key of the posting at `at`: its UTC instant, so each
/// posting is its own timer and fires once.
pub fn posting_key(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Datelike;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn weekly() -> DigestSchedule {
        DigestSchedule::parse("7d", "Mon 09:00", "UTC").unwrap()
    }

    #[test]
    fn a_weekly_digest_falls_on_the_next_monday_at_nine() {
        // 2026-12-02 is a Wednesday.
        let s = weekly();
        assert_eq!(s.next_after(at("2026-12-02T10:00:00Z")), at("2026-12-07T09:00:00Z"));
        assert_eq!(
            s.latest_at_or_before(at("2026-12-02T10:00:00Z")),
            at("2026-11-30T09:00:00Z")
        );
        // Exactly at the posting: that posting is the latest, the next is a week on.
        assert_eq!(
            s.latest_at_or_before(at("2026-12-07T09:00:00Z")),
            at("2026-12-07T09:00:00Z")
        );
        assert_eq!(s.next_after(at("2026-12-07T09:00:00Z")), at("2026-12-14T09:00:00Z"));
        assert_eq!(s.next_after(at("2026-12-07T08:59:59Z")), at("2026-12-07T09:00:00Z"));
    }

    #[test]
    fn a_posting_covers_the_whole_utc_days_before_its_day() {
        let p = weekly().period_before(at("2026-12-07T09:00:00Z"));
        assert_eq!((p.from, p.to), (at("2026-11-30T00:00:00Z"), at("2026-12-07T00:00:00Z")));
    }

    #[test]
    fn the_wall_clock_time_is_the_zones_across_a_daylight_saving_change() {
        let s = DigestSchedule::parse("7d", "Mon 09:00", "Europe/Berlin").unwrap();
        // Winter: UTC+1. Summer: UTC+2.
        assert_eq!(s.next_after(at("2026-12-02T10:00:00Z")), at("2026-12-07T08:00:00Z"));
        assert_eq!(s.next_after(at("2026-03-25T10:00:00Z")), at("2026-03-30T07:00:00Z"));
    }

    #[test]
    fn a_daily_digest_and_a_fortnightly_one_keep_their_rhythm() {
        let daily = DigestSchedule::parse("1d", "17:30", "UTC").unwrap();
        assert_eq!(daily.next_after(at("2026-12-02T17:30:00Z")), at("2026-12-03T17:30:00Z"));
        let fortnightly = DigestSchedule::parse("14d", "Fri 08:00", "UTC").unwrap();
        let first = fortnightly.next_after(at("2026-12-02T00:00:00Z"));
        assert_eq!(first.weekday(), Weekday::Fri);
        assert_eq!(fortnightly.next_after(first), first + TimeDelta::days(14));
        assert!(fortnightly.is_posting(first) && !fortnightly.is_posting(first + TimeDelta::days(7)));
    }

    #[test]
    fn bad_schedules_name_what_is_wrong() {
        for (every, at, tz, want) in [
            ("7h", "09:00", "UTC", "whole number of days"),
            ("0d", "09:00", "UTC", "every:"),
            ("400d", "09:00", "UTC", "whole number of days"),
            ("soon", "09:00", "UTC", "every:"),
            ("7d", "Monday at nine", "UTC", "is not a time"),
            ("7d", "Funday 09:00", "UTC", "is not a time"),
            ("7d", "25:00", "UTC", "is not a time"),
            ("3d", "Mon 09:00", "UTC", "whole weeks"),
            ("7d", "09:00", "Mars/Olympus", "IANA"),
        ] {
            let err = DigestSchedule::parse(every, at, tz).unwrap_err().to_string();
            assert!(err.contains(want), "{every} {at} {tz}: {err}");
        }
    }

    #[test]
    fn a_posting_key_is_its_utc_instant() {
        assert_eq!(posting_key(at("2026-12-07T09:00:00Z")), "2026-12-07T09:00:00Z");
    }
}
