//! SLA clocks: the ITIL service-level targets of an incident.
//!
//! This module owns everything about *how long* an incident may take:
//!
//! - [`Calendar`]: when SLA time counts (24×7, or business hours in an IANA time zone,
//!   with working days, daily opening hours and holidays), and the calendar arithmetic
//!   [`Calendar::business_time_between`] and [`Calendar::deadline_after`].
//! - [`Clock`]: one SLA clock (response or resolution) as a small state machine with
//!   pauses, stops and reopening, stored as plain columns ([`ClockColumns`]).
//! - [`Threshold`] and [`ThresholdSchedule`]: the warnings (50 % and 75 % by default)
//!   and the breach (100 %), which fire once each, with [`due_thresholds`] and
//!   [`next_threshold`] for the scheduler.
//! - [`SlaPolicy`] and [`default_targets`]: the targets per priority, and the human
//!   duration syntax shared with the console and CAB deadlines ([`parse_duration`],
//!   [`format_duration`]).
//!
//! The module must stay pure: no I/O, no async, no logging, and it never reads the
//! system clock. Every function that needs the current time takes `now` as a parameter,
//! so callers and tests control time completely. No input makes it panic: arithmetic
//! that could overflow is checked or saturates.
//!
//! Durations are [`chrono::TimeDelta`] (the type that `chrono::Duration` names)
//! throughout, because they are added to and subtracted from `DateTime<Utc>` directly
//! and can be negative (a breached clock is over its target). `std::time::Duration` is
//! not used.
//!
//! Clocks work at whole-second resolution: instants given to a [`Clock`] are truncated
//! to the second and targets to whole seconds, so storing a clock as seconds is
//! lossless and every threshold falls on a whole second.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Offset, TimeDelta, TimeZone, Timelike, Utc, Weekday,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::incident::IncidentId;
use super::UserId;

const SECS_PER_MINUTE: i64 = 60;
const SECS_PER_HOUR: i64 = 3_600;
const SECS_PER_DAY: i64 = 86_400;
const SECS_PER_WEEK: i64 = 604_800;

/// How many days past its start [`Calendar::try_deadline_after`] searches a
/// business-hours calendar before it gives up (about 100 years).
///
/// A deadline further away than this is treated as never: no real SLA target is that
/// long, and the bound keeps every call fast whatever the budget.
pub const DEADLINE_HORIZON_DAYS: u32 = 36_525;

/// The longest input echoed back in an error message; longer inputs are shortened.
const ECHO_LIMIT: usize = 64;

const WEEK: [Weekday; 7] = [
    Weekday::Mon,
    Weekday::Tue,
    Weekday::Wed,
    Weekday::Thu,
    Weekday::Fri,
    Weekday::Sat,
    Weekday::Sun,
];

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// Everything that can go wrong with calendars, clocks and thresholds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlaError {
    /// A business-hours calendar was given no working day.
    #[error("business hours need at least one working day")]
    NoWorkingDays,
    /// Business hours must open before they close on the same day.
    #[error("business hours must open before they close (got {open}–{close})")]
    OpenNotBeforeClose {
        /// The opening time as given.
        open: String,
        /// The closing time as given.
        close: String,
    },
    /// A time of day that is not `HH:MM` or `HH:MM:SS` between 00:00 and 24:00.
    #[error("`{0}` is not a time of day (use HH:MM between 00:00 and 24:00)")]
    BadTimeOfDay(String),
    /// A time zone name that is not in the IANA database.
    #[error("`{0}` is not an IANA time zone (for example `Europe/Berlin`)")]
    UnknownTimeZone(String),
    /// A warning fraction that is not a whole percent between 1 % and 100 %.
    #[error("`{0}` is not a threshold (use a fraction that is a whole percent, like 0.5 or 0.75)")]
    BadThreshold(String),
    /// A stored threshold key that is not `warnNN` or `breach`.
    #[error("`{0}` is not a threshold key (expected `warnNN` with NN in 1–99, or `breach`)")]
    BadThresholdKey(String),
    /// An SLA target shorter than one second.
    #[error("an SLA target must be at least 1s (got {0})")]
    TargetTooShort(String),
    /// A stored clock whose columns contradict each other.
    #[error("the stored clock is inconsistent: {0}")]
    InvalidClock(&'static str),
    /// [`Clock::pause`] on a clock that is already paused.
    #[error("the clock is already paused")]
    AlreadyPaused,
    /// [`Clock::resume`] on a clock that is already running.
    #[error("the clock is already running")]
    AlreadyRunning,
    /// A pause, resume or stop on a stopped clock (reopen it first).
    #[error("the clock is stopped (reopen the incident to run it again)")]
    Stopped,
    /// [`Clock::continue_after_reopen`] on a clock that is not stopped.
    #[error("the clock is not stopped, so there is nothing to reopen")]
    NotStopped,
}

/// Shortens user input for an error message, so a huge input cannot flood the chat.
fn echo(input: &str) -> String {
    if input.chars().count() <= ECHO_LIMIT {
        input.to_owned()
    } else {
        let mut short: String = input.chars().take(ECHO_LIMIT).collect();
        short.push('…');
        short
    }
}

// ---------------------------------------------------------------------------
// Durations: parsing and formatting
// ---------------------------------------------------------------------------

/// A string that [`parse_duration`] rejected: the input (shortened if very long) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{input:?} is not a duration: {problem}")]
pub struct BadDuration {
    /// The rejected input, as given (shortened to 64 characters).
    pub input: String,
    /// What is wrong with it.
    pub problem: DurationProblem,
}

/// Why [`parse_duration`] rejected its input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationProblem {
    /// The input is empty or only whitespace.
    #[error("it is empty (write something like 15m, 4h or 1h30m)")]
    Empty,
    /// The input starts with a minus sign.
    #[error("it is negative (durations must be positive)")]
    Negative,
    /// A number has no unit after it, like `90`.
    #[error("`{0}` has no unit (add s, m, h, d or w)")]
    MissingUnit(String),
    /// A unit that is not `s`, `m`, `h`, `d` or `w`.
    #[error("`{0}` is not a unit (use s, m, h, d or w)")]
    UnknownUnit(String),
    /// Something other than a number where a number should start.
    #[error("expected a number at `{0}`")]
    ExpectedNumber(String),
    /// A decimal fraction like `1.5h`.
    #[error("fractions are not supported (write 1h30m instead of 1.5h)")]
    Fraction,
    /// Units out of order or repeated, like `30m1h` or `1h1h`.
    #[error("units must go from largest to smallest, each at most once (like 1d2h30m)")]
    Misordered,
    /// The total is zero, like `0m`.
    #[error("it is zero (a duration must be at least 1s)")]
    Zero,
    /// The total does not fit in a duration.
    #[error("it is too long")]
    Overflow,
}

/// Parses a human duration: one or more `<number><unit>` parts from the largest unit to
/// the smallest, each unit at most once, optionally separated by spaces.
///
/// Units are `w` (7 days), `d` (24 hours), `h`, `m` and `s`; for example `15m`, `4h`,
/// `3d`, `1h30m`, `1h 30m` and `90s`. A leading `+` is allowed (as in the console's
/// `:clock +90m`). Empty, negative, zero, fractional, unit-less, misordered, unknown
/// and overflowing inputs are rejected with an error that names the input.
///
/// Days here are plain 24-hour days; a "business day" target is written as the hours
/// of one working day (`8h` for 09:00–17:00) and counted on a business-hours calendar.
pub fn parse_duration(input: &str) -> Result<TimeDelta, BadDuration> {
    let fail = |problem| BadDuration {
        input: echo(input),
        problem,
    };
    let text = input.trim();
    let text = text.strip_prefix('+').unwrap_or(text);
    if text.starts_with('-') {
        return Err(fail(DurationProblem::Negative));
    }
    if text.trim().is_empty() {
        return Err(fail(DurationProblem::Empty));
    }
    let mut rest = text;
    let mut total: i64 = 0;
    let mut previous_unit: Option<i64> = None;
    loop {
        rest = rest.trim_start();
        if rest.is_empty() {
            break;
        }
        let digits_len = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits_len == 0 {
            return Err(fail(DurationProblem::ExpectedNumber(echo(rest))));
        }
        let (digits, after) = rest.split_at(digits_len);
        if after.starts_with(['.', ',']) {
            return Err(fail(DurationProblem::Fraction));
        }
        let unit_len: usize = after
            .chars()
            .take_while(|c| c.is_alphabetic())
            .map(char::len_utf8)
            .sum();
        let (unit, after) = after.split_at(unit_len);
        let unit_secs = match unit {
            "" => return Err(fail(DurationProblem::MissingUnit(echo(digits)))),
            "w" => SECS_PER_WEEK,
            "d" => SECS_PER_DAY,
            "h" => SECS_PER_HOUR,
            "m" => SECS_PER_MINUTE,
            "s" => 1,
            other => return Err(fail(DurationProblem::UnknownUnit(echo(other)))),
        };
        if previous_unit.is_some_and(|previous| unit_secs >= previous) {
            return Err(fail(DurationProblem::Misordered));
        }
        previous_unit = Some(unit_secs);
        total = digits
            .bytes()
            .try_fold(0_i64, |acc, digit| {
                acc.checked_mul(10)?.checked_add(i64::from(digit - b'0'))
            })
            .and_then(|value| value.checked_mul(unit_secs))
            .and_then(|part| total.checked_add(part))
            .ok_or_else(|| fail(DurationProblem::Overflow))?;
        rest = after;
    }
    if total == 0 {
        return Err(fail(DurationProblem::Zero));
    }
    TimeDelta::try_seconds(total).ok_or_else(|| fail(DurationProblem::Overflow))
}

/// Formats a duration for humans with days, hours, minutes and seconds, largest first,
/// leaving out zero parts: `"1h 30m"`, `"2d 3h"`, `"45s"`, and `"0s"` for zero.
///
/// Sub-second parts are dropped (truncated toward zero). A negative duration gets a
/// leading minus sign (`"-1h 30m"`). For every positive whole-second duration,
/// [`parse_duration`] reads the output back to the same value.
pub fn format_duration(duration: TimeDelta) -> String {
    let negative = duration < TimeDelta::zero();
    let mut rest = duration.num_seconds().unsigned_abs();
    if rest == 0 {
        return "0s".to_owned();
    }
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    for (size, unit) in [(86_400_u64, 'd'), (3_600, 'h'), (60, 'm'), (1, 's')] {
        let count = rest / size;
        rest %= size;
        if count > 0 {
            if out.len() > usize::from(negative) {
                out.push(' ');
            }
            out.push_str(&count.to_string());
            out.push(unit);
        }
    }
    out
}

/// Serde helpers that store a [`TimeDelta`] as a human duration string (`"4h"`), for
/// use with `#[serde(with = "human_duration")]` in configuration types.
pub mod human_duration {
    use super::{format_duration, parse_duration};
    use chrono::TimeDelta;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the duration with [`format_duration`].
    pub fn serialize<S: Serializer>(duration: &TimeDelta, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_duration(*duration))
    }

    /// Reads the duration with [`parse_duration`].
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<TimeDelta, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Builds a `TimeDelta` of whole seconds, saturating at the bounds instead of panicking.
fn seconds(n: i64) -> TimeDelta {
    TimeDelta::try_seconds(n).unwrap_or(if n < 0 { TimeDelta::MIN } else { TimeDelta::MAX })
}

/// Drops the sub-second part of an instant (toward the past).
fn truncate_to_second(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp(), 0).unwrap_or(at)
}

// ---------------------------------------------------------------------------
// Calendars
// ---------------------------------------------------------------------------

/// Parses a time of day `HH:MM` or `HH:MM:SS` (00:00 to 24:00) into seconds from midnight.
fn parse_time_of_day(text: &str) -> Result<u32, SlaError> {
    let bad = || SlaError::BadTimeOfDay(echo(text));
    let field = |part: Option<&str>, max: u32, min_len: usize| -> Option<u32> {
        let part = part?;
        let ok = (min_len..=2).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_digit());
        let value: u32 = if ok { part.parse().ok()? } else { return None };
        (value <= max).then_some(value)
    };
    let mut parts = text.trim().split(':');
    let hours = field(parts.next(), 24, 1).ok_or_else(bad)?;
    let minutes = field(parts.next(), 59, 2).ok_or_else(bad)?;
    let secs = match parts.next() {
        None => 0,
        some => field(some, 59, 2).ok_or_else(bad)?,
    };
    if parts.next().is_some() || (hours == 24 && (minutes, secs) != (0, 0)) {
        return Err(bad());
    }
    Ok(hours * 3_600 + minutes * 60 + secs)
}

/// Formats seconds from midnight as `HH:MM`, or `HH:MM:SS` when seconds are set.
fn format_time_of_day(secs: u32) -> String {
    let (hours, minutes, secs) = (secs / 3_600, secs / 60 % 60, secs % 60);
    if secs == 0 {
        format!("{hours:02}:{minutes:02}")
    } else {
        format!("{hours:02}:{minutes:02}:{secs:02}")
    }
}

/// Looks up an IANA time zone by its exact name, such as `Europe/Berlin`.
pub fn parse_time_zone(name: &str) -> Result<Tz, SlaError> {
    Tz::from_str(name.trim()).map_err(|_| SlaError::UnknownTimeZone(echo(name)))
}

/// The earliest instant at which the zone's wall clock shows `local` or later.
///
/// This is the instant itself for an ordinary local time, the first of the two for an
/// ambiguous one (when clocks fall back) and the end of the gap for a skipped one (when
/// clocks spring forward). The map is monotonic, so opening hours never run backwards.
pub(crate) fn resolve_local(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(at) => Some(at.with_timezone(&Utc)),
        LocalResult::Ambiguous(a, b) => Some(a.min(b).with_timezone(&Utc)),
        LocalResult::None => end_of_gap(tz, local),
    }
}

/// Finds, by bisection over whole seconds, the first instant whose local time is at or
/// after `local`, which lies in a gap of the zone (a skipped local time).
fn end_of_gap(tz: Tz, local: NaiveDateTime) -> Option<DateTime<Utc>> {
    // Real UTC offsets stay well within ±26 hours, so `lo` shows an earlier wall-clock
    // time than `local` and `hi` a later one.
    const REACH: i64 = 26 * SECS_PER_HOUR;
    let wall_clock = |timestamp: i64| -> Option<i64> {
        let at = DateTime::from_timestamp(timestamp, 0)?;
        let offset = tz.offset_from_utc_datetime(&at.naive_utc()).fix();
        timestamp.checked_add(i64::from(offset.local_minus_utc()))
    };
    let target = local.and_utc().timestamp();
    let mut lo = target.checked_sub(REACH)?;
    let mut hi = target.checked_add(REACH)?;
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if wall_clock(mid)? >= target {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    DateTime::from_timestamp(hi, 0)
}

/// Every local date whose opening hours could overlap `[from, to]`: UTC offsets are
/// under a day, so two days of margin on each side are always enough.
fn dates_around(from: DateTime<Utc>, to: DateTime<Utc>) -> impl Iterator<Item = NaiveDate> {
    let first = from
        .date_naive()
        .checked_sub_days(Days::new(2))
        .unwrap_or(NaiveDate::MIN);
    let last = to.date_naive().checked_add_days(Days::new(2)).unwrap_or(NaiveDate::MAX);
    first.iter_days().take_while(move |date| *date <= last)
}

/// Working hours: the same opening hours on a set of weekdays, in one IANA time zone,
/// with optional holidays on which the desk is closed all day.
///
/// Opening hours are read on the local wall clock of the zone, so a desk that opens at
/// 09:00 opens at 09:00 local time before and after a daylight-saving change. A local
/// time that occurs twice (clocks falling back) means its first occurrence; one that is
/// skipped (clocks springing forward) means the end of the skipped hour. Each day's
/// hours are half-open: the instant of opening counts as open, the instant of closing
/// as closed. A closing time of 24:00 (or `00:00` in [`BusinessHours::new`]) means the
/// end of the day. Times are kept to whole seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BusinessHoursSpec", into = "BusinessHoursSpec")]
pub struct BusinessHours {
    /// Working days, indexed from Monday.
    days: [bool; 7],
    /// Opening time in seconds from local midnight, below `close_secs`.
    open_secs: u32,
    /// Closing time in seconds from local midnight, up to 86 400 (24:00).
    close_secs: u32,
    tz: Tz,
    holidays: BTreeSet<NaiveDate>,
}

/// The stored form of [`BusinessHours`]: names and `HH:MM` strings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BusinessHoursSpec {
    days: Vec<Weekday>,
    open: String,
    close: String,
    tz: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    holidays: Vec<NaiveDate>,
}

impl TryFrom<BusinessHoursSpec> for BusinessHours {
    type Error = SlaError;

    fn try_from(spec: BusinessHoursSpec) -> Result<Self, SlaError> {
        Ok(Self::parse(spec.days, &spec.open, &spec.close, &spec.tz)?.with_holidays(spec.holidays))
    }
}

impl From<BusinessHours> for BusinessHoursSpec {
    fn from(hours: BusinessHours) -> Self {
        Self {
            days: hours.working_days(),
            open: format_time_of_day(hours.open_secs),
            close: format_time_of_day(hours.close_secs),
            tz: hours.tz.name().to_owned(),
            holidays: hours.holidays.into_iter().collect(),
        }
    }
}

impl BusinessHours {
    /// Makes business hours from working days, opening and closing times and a zone.
    ///
    /// A `close` of 00:00 means midnight at the end of the day. Sub-second parts of the
    /// times are dropped. Fails without a working day, or unless `open` is before
    /// `close`.
    pub fn new(
        days: impl IntoIterator<Item = Weekday>,
        open: NaiveTime,
        close: NaiveTime,
        tz: Tz,
    ) -> Result<Self, SlaError> {
        let open_secs = open.num_seconds_from_midnight();
        let close_secs = match close.num_seconds_from_midnight() {
            0 => SECS_PER_DAY as u32,
            secs => secs,
        };
        Self::from_parts(days, open_secs, close_secs, tz)
    }

    /// Makes business hours from configuration text: times as `HH:MM` or `HH:MM:SS`
    /// (`24:00` allowed for closing) and an IANA zone name such as `America/New_York`.
    pub fn parse(days: impl IntoIterator<Item = Weekday>, open: &str, close: &str, tz: &str) -> Result<Self, SlaError> {
        let tz = parse_time_zone(tz)?;
        Self::from_parts(days, parse_time_of_day(open)?, parse_time_of_day(close)?, tz)
    }

    fn from_parts(
        days: impl IntoIterator<Item = Weekday>,
        open_secs: u32,
        close_secs: u32,
        tz: Tz,
    ) -> Result<Self, SlaError> {
        let mut set = [false; 7];
        for day in days {
            set[day.num_days_from_monday() as usize] = true;
        }
        if !set.contains(&true) {
            return Err(SlaError::NoWorkingDays);
        }
        if open_secs >= close_secs {
            return Err(SlaError::OpenNotBeforeClose {
                open: format_time_of_day(open_secs),
                close: format_time_of_day(close_secs),
            });
        }
        Ok(Self {
            days: set,
            open_secs,
            close_secs,
            tz,
            holidays: BTreeSet::new(),
        })
    }

    /// Adds holidays: local dates on which the desk stays closed all day.
    #[must_use]
    pub fn with_holidays(mut self, dates: impl IntoIterator<Item = NaiveDate>) -> Self {
        self.holidays.extend(dates);
        self
    }

    /// The working days, Monday first.
    pub fn working_days(&self) -> Vec<Weekday> {
        WEEK.into_iter()
            .filter(|day| self.days[day.num_days_from_monday() as usize])
            .collect()
    }

    /// The local opening time.
    pub fn opens_at(&self) -> NaiveTime {
        NaiveTime::from_num_seconds_from_midnight_opt(self.open_secs, 0).unwrap_or(NaiveTime::MIN)
    }

    /// The local closing time; 00:00 means midnight at the end of the day.
    pub fn closes_at(&self) -> NaiveTime {
        NaiveTime::from_num_seconds_from_midnight_opt(self.close_secs % SECS_PER_DAY as u32, 0)
            .unwrap_or(NaiveTime::MIN)
    }

    /// The time zone in which the hours are read.
    pub fn tz(&self) -> Tz {
        self.tz
    }

    /// The holidays.
    pub fn holidays(&self) -> &BTreeSet<NaiveDate> {
        &self.holidays
    }

    /// Whether the desk opens at all on this local date (a working day, not a holiday).
    pub fn is_working_day(&self, date: NaiveDate) -> bool {
        self.days[date.weekday().num_days_from_monday() as usize] && !self.holidays.contains(&date)
    }

    /// The opening hours on a local date as a half-open UTC interval `[open, close)`,
    /// or `None` when the desk stays closed that day.
    pub fn hours_on(&self, date: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.is_working_day(date) {
            return None;
        }
        let midnight = date.and_time(NaiveTime::MIN);
        let at = |secs: u32| {
            let local = midnight.checked_add_signed(seconds(i64::from(secs)))?;
            resolve_local(self.tz, local)
        };
        let (open, close) = (at(self.open_secs)?, at(self.close_secs)?);
        (open < close).then_some((open, close))
    }
}

impl fmt::Display for BusinessHours {
    /// Writes the hours for humans, like `Mon Tue Wed Thu Fri 09:00–17:00 Europe/Berlin`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for day in self.working_days() {
            write!(f, "{day} ")?;
        }
        write!(
            f,
            "{}–{} {}",
            format_time_of_day(self.open_secs),
            format_time_of_day(self.close_secs),
            self.tz.name()
        )?;
        if !self.holidays.is_empty() {
            write!(f, " (+{} holidays)", self.holidays.len())?;
        }
        Ok(())
    }
}

/// How time on a [`Calendar`] is spoken of: a 24×7 target is a calendar
/// duration (`4h`), a business-hours target counts business time, whose day is
/// as long as the desk is open (`24 business hours`, 3 business days of 8 hours).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeBasis {
    /// Every instant counts: calendar durations.
    Calendar,
    /// Only opening hours count; `day` is one business day (closing minus opening).
    Business { day: TimeDelta },
}

/// When SLA time counts: around the clock, or only during business hours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Calendar {
    /// Every instant counts (24×7).
    #[serde(rename = "24x7")]
    AlwaysOpen,
    /// Only the opening hours count.
    BusinessHours(BusinessHours),
}

impl fmt::Display for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::AlwaysOpen => f.write_str("24×7"),
            Self::BusinessHours(hours) => hours.fmt(f),
        }
    }
}

impl Calendar {
    /// How durations on this calendar are spoken of.
    pub fn basis(&self) -> TimeBasis {
        match self {
            Self::AlwaysOpen => TimeBasis::Calendar,
            Self::BusinessHours(hours) => TimeBasis::Business {
                day: seconds(i64::from(hours.close_secs.saturating_sub(hours.open_secs))),
            },
        }
    }

    /// Whether SLA time counts at this instant. An instant exactly at opening counts as
    /// open, one exactly at closing as closed.
    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        self.next_open(at) == Some(at)
    }

    /// The first instant at or after `at` at which SLA time counts: `at` itself when
    /// open, else the next opening. `None` if the calendar does not open again within
    /// [`DEADLINE_HORIZON_DAYS`].
    pub fn next_open(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Self::AlwaysOpen => Some(at),
            Self::BusinessHours(hours) => dates_around(at, at)
                .next()
                .into_iter()
                .flat_map(|first| first.iter_days())
                .take(DEADLINE_HORIZON_DAYS as usize)
                .filter_map(|date| hours.hours_on(date))
                .find(|&(_, close)| close > at)
                .map(|(open, _)| open.max(at)),
        }
    }

    /// How much calendar time lies between `start` and `end`: only time inside the
    /// calendar counts. Zero when `end` is not after `start`.
    ///
    /// The cost grows with the number of days in the span (one step per day, never per
    /// minute), so a year-long span takes a few hundred steps.
    pub fn business_time_between(&self, start: DateTime<Utc>, end: DateTime<Utc>) -> TimeDelta {
        if end <= start {
            return TimeDelta::zero();
        }
        match self {
            Self::AlwaysOpen => end - start,
            Self::BusinessHours(hours) => dates_around(start, end)
                .filter_map(|date| hours.hours_on(date))
                .map(|(open, close)| (open.max(start), close.min(end)))
                .filter(|(from, to)| from < to)
                .fold(TimeDelta::zero(), |total, (from, to)| {
                    total.checked_add(&(to - from)).unwrap_or(TimeDelta::MAX)
                }),
        }
    }

    /// The earliest instant at which `budget` of calendar time has elapsed since `start`,
    /// or `None` when that instant cannot be represented or lies beyond
    /// [`DEADLINE_HORIZON_DAYS`] on a business-hours calendar.
    ///
    /// When `start` is outside the calendar, counting begins at the next opening. A zero
    /// or negative budget gives `start`. A deadline that falls exactly on a closing time
    /// is that closing instant. This is the inverse of
    /// [`Calendar::business_time_between`]: for a positive budget `b` and a deadline `d`,
    /// `business_time_between(start, d) == b`, and any earlier instant gives less.
    pub fn try_deadline_after(&self, start: DateTime<Utc>, budget: TimeDelta) -> Option<DateTime<Utc>> {
        if budget <= TimeDelta::zero() {
            return Some(start);
        }
        let hours = match self {
            Self::AlwaysOpen => return start.checked_add_signed(budget),
            Self::BusinessHours(hours) => hours,
        };
        // Calendar time never runs faster than real time.
        if budget > TimeDelta::days(i64::from(DEADLINE_HORIZON_DAYS)) {
            return None;
        }
        let mut remaining = budget;
        let first = dates_around(start, start).next()?;
        for (open, close) in first
            .iter_days()
            .take(DEADLINE_HORIZON_DAYS as usize)
            .filter_map(|date| hours.hours_on(date))
        {
            let from = open.max(start);
            if close <= from {
                continue;
            }
            let available = close - from;
            if available >= remaining {
                return from.checked_add_signed(remaining);
            }
            remaining -= available;
        }
        None
    }

    /// Like [`Calendar::try_deadline_after`], but a deadline that cannot be reached is
    /// reported as `DateTime::<Utc>::MAX_UTC`, meaning "never".
    pub fn deadline_after(&self, start: DateTime<Utc>, budget: TimeDelta) -> DateTime<Utc> {
        self.try_deadline_after(start, budget)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }
}

// ---------------------------------------------------------------------------
// Clocks
// ---------------------------------------------------------------------------

/// Which of an incident's two SLA clocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockKind {
    /// Runs from logging until an agent acknowledges the incident.
    Response,
    /// Runs from logging until the incident is resolved.
    Resolution,
}

impl ClockKind {
    /// Both clocks.
    pub const ALL: [ClockKind; 2] = [Self::Response, Self::Resolution];

    /// The stable storage key: `"response"` or `"resolution"`.
    pub fn key(self) -> &'static str {
        match self {
            Self::Response => "response",
            Self::Resolution => "resolution",
        }
    }

    /// Reads a storage key written by [`ClockKind::key`]; any other text is `None`.
    pub fn from_key(key: &str) -> Option<ClockKind> {
        Self::ALL.into_iter().find(|k| k.key() == key)
    }
}

/// What a clock is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    /// Counting calendar time.
    Running,
    /// Held (for example while waiting on the caller); keeps its elapsed time.
    Paused,
    /// Finished (acknowledged or resolved); keeps its elapsed time for reporting.
    Stopped,
}

/// What reopening an incident does to a stopped clock; configuration chooses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReopenPolicy {
    /// Start over from zero at the reopening ([`Clock::restart`]).
    Restart,
    /// Keep the time already used and run on ([`Clock::continue_after_reopen`]).
    #[default]
    Continue,
}

/// How much of a clock's target is left, or by how much it is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Remaining {
    /// This much calendar time is left before the breach (always positive).
    Left(TimeDelta),
    /// The target is used up: breached by this much (zero exactly at the target).
    Breached {
        /// Calendar time past the target.
        by: TimeDelta,
    },
}

impl Remaining {
    /// The remaining time as one signed value, negative when breached.
    pub fn signed(self) -> TimeDelta {
        match self {
            Self::Left(left) => left,
            Self::Breached { by } => -by,
        }
    }

    /// Whether the target has been reached.
    pub fn is_breached(self) -> bool {
        matches!(self, Self::Breached { .. })
    }
}

/// A clock as plain columns, the way the store keeps it: instants in UTC and durations
/// in whole seconds. Convert with [`Clock::from_columns`] and [`Clock::to_columns`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClockColumns {
    /// The target in seconds (at least 1).
    pub target_secs: i64,
    /// When the clock was (re)started.
    pub started_at: DateTime<Utc>,
    /// Calendar seconds counted before the current run (not negative).
    pub accumulated_secs: i64,
    /// When the current run began; `None` when paused or stopped.
    pub running_since: Option<DateTime<Utc>>,
    /// When the clock was stopped; `None` unless stopped.
    pub stopped_at: Option<DateTime<Utc>>,
}

/// One SLA clock: a target and the calendar time counted toward it.
///
/// It is pure data: every method that needs the time takes `now`, and the calendar is
/// passed in rather than stored, because it belongs to the incident's policy (which a
/// priority change can swap). The clock counts `accumulated` time from earlier runs plus,
/// while running, the calendar time since `running_since`. All instants are truncated to
/// whole seconds. An instant earlier than the start of the current run counts as no time,
/// so out-of-order events never make the clock go backwards.
///
/// It serializes as [`ClockColumns`], and deserializing checks the columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "ClockColumns", into = "ClockColumns")]
pub struct Clock {
    target: TimeDelta,
    started_at: DateTime<Utc>,
    accumulated: TimeDelta,
    running_since: Option<DateTime<Utc>>,
    stopped_at: Option<DateTime<Utc>>,
}

impl TryFrom<ClockColumns> for Clock {
    type Error = SlaError;

    fn try_from(columns: ClockColumns) -> Result<Self, SlaError> {
        Self::from_columns(columns)
    }
}

impl From<Clock> for ClockColumns {
    fn from(clock: Clock) -> Self {
        clock.to_columns()
    }
}

/// Checks an SLA target and truncates it to whole seconds.
fn checked_target(target: TimeDelta) -> Result<TimeDelta, SlaError> {
    if target.num_seconds() < 1 {
        return Err(SlaError::TargetTooShort(format_duration(target)));
    }
    Ok(seconds(target.num_seconds()))
}

impl Clock {
    /// Starts a running clock at `now` with the given target, which must be at least one
    /// second (sub-second parts are dropped).
    pub fn start(target: TimeDelta, now: DateTime<Utc>) -> Result<Self, SlaError> {
        let now = truncate_to_second(now);
        Ok(Self {
            target: checked_target(target)?,
            started_at: now,
            accumulated: TimeDelta::zero(),
            running_since: Some(now),
            stopped_at: None,
        })
    }

    /// Rebuilds a clock from stored columns, checking that they are consistent: a target
    /// of at least one second, no negative accumulated time, and not running and stopped
    /// at once.
    pub fn from_columns(columns: ClockColumns) -> Result<Self, SlaError> {
        let target =
            TimeDelta::try_seconds(columns.target_secs).ok_or(SlaError::InvalidClock("the target is out of range"))?;
        if columns.accumulated_secs < 0 {
            return Err(SlaError::InvalidClock("the accumulated time is negative"));
        }
        let accumulated = TimeDelta::try_seconds(columns.accumulated_secs)
            .ok_or(SlaError::InvalidClock("the accumulated time is out of range"))?;
        if columns.running_since.is_some() && columns.stopped_at.is_some() {
            return Err(SlaError::InvalidClock("it is both running and stopped"));
        }
        Ok(Self {
            target: checked_target(target)?,
            started_at: truncate_to_second(columns.started_at),
            accumulated,
            running_since: columns.running_since.map(truncate_to_second),
            stopped_at: columns.stopped_at.map(truncate_to_second),
        })
    }

    /// The clock as plain columns for the store.
    pub fn to_columns(&self) -> ClockColumns {
        ClockColumns {
            target_secs: self.target.num_seconds(),
            started_at: self.started_at,
            accumulated_secs: self.accumulated.num_seconds(),
            running_since: self.running_since,
            stopped_at: self.stopped_at,
        }
    }

    /// The target: how much calendar time the clock allows.
    pub fn target(&self) -> TimeDelta {
        self.target
    }

    /// When the clock was started (or last restarted).
    pub fn started_at(&self) -> DateTime<Utc> {
        self.started_at
    }

    /// Calendar time counted before the current run.
    pub fn accumulated(&self) -> TimeDelta {
        self.accumulated
    }

    /// When the current run began, if the clock is running.
    pub fn running_since(&self) -> Option<DateTime<Utc>> {
        self.running_since
    }

    /// When the clock was stopped, if it is stopped.
    pub fn stopped_at(&self) -> Option<DateTime<Utc>> {
        self.stopped_at
    }

    /// Whether the clock is running, paused or stopped.
    pub fn state(&self) -> ClockState {
        match (self.running_since, self.stopped_at) {
            (Some(_), _) => ClockState::Running,
            (None, Some(_)) => ClockState::Stopped,
            (None, None) => ClockState::Paused,
        }
    }

    /// Whether the clock is counting.
    pub fn is_running(&self) -> bool {
        self.state() == ClockState::Running
    }

    /// Whether the clock is paused.
    pub fn is_paused(&self) -> bool {
        self.state() == ClockState::Paused
    }

    /// Whether the clock is stopped.
    pub fn is_stopped(&self) -> bool {
        self.state() == ClockState::Stopped
    }

    /// Calendar time of the current run up to `now` (zero unless running).
    fn current_run(&self, now: DateTime<Utc>, calendar: &Calendar) -> TimeDelta {
        self.running_since.map_or(TimeDelta::zero(), |since| {
            calendar.business_time_between(since, truncate_to_second(now))
        })
    }

    /// Pauses a running clock at `now`, banking the calendar time of the current run.
    ///
    /// Errors with [`SlaError::AlreadyPaused`] on a paused clock and
    /// [`SlaError::Stopped`] on a stopped one, leaving the clock unchanged.
    pub fn pause(&mut self, now: DateTime<Utc>, calendar: &Calendar) -> Result<(), SlaError> {
        match self.state() {
            ClockState::Paused => Err(SlaError::AlreadyPaused),
            ClockState::Stopped => Err(SlaError::Stopped),
            ClockState::Running => {
                self.accumulated = self.elapsed(now, calendar);
                self.running_since = None;
                Ok(())
            }
        }
    }

    /// Resumes a paused clock at `now`.
    ///
    /// Errors with [`SlaError::AlreadyRunning`] on a running clock and
    /// [`SlaError::Stopped`] on a stopped one, leaving the clock unchanged.
    pub fn resume(&mut self, now: DateTime<Utc>) -> Result<(), SlaError> {
        match self.state() {
            ClockState::Running => Err(SlaError::AlreadyRunning),
            ClockState::Stopped => Err(SlaError::Stopped),
            ClockState::Paused => {
                self.running_since = Some(truncate_to_second(now));
                Ok(())
            }
        }
    }

    /// Stops a running or paused clock at `now` (acknowledged or resolved); a running
    /// clock banks the calendar time of its current run first.
    ///
    /// Errors with [`SlaError::Stopped`] on a clock that is already stopped.
    pub fn stop(&mut self, now: DateTime<Utc>, calendar: &Calendar) -> Result<(), SlaError> {
        if self.is_stopped() {
            return Err(SlaError::Stopped);
        }
        self.accumulated = self.elapsed(now, calendar);
        self.running_since = None;
        self.stopped_at = Some(truncate_to_second(now));
        Ok(())
    }

    /// Starts the clock over at `now`, from zero and running, whatever its state: the
    /// [`ReopenPolicy::Restart`] way of reopening. The target is kept.
    pub fn restart(&mut self, now: DateTime<Utc>) {
        let now = truncate_to_second(now);
        self.started_at = now;
        self.accumulated = TimeDelta::zero();
        self.running_since = Some(now);
        self.stopped_at = None;
    }

    /// Runs a stopped clock again from `now`, keeping the time it had already used: the
    /// [`ReopenPolicy::Continue`] way of reopening.
    ///
    /// Errors with [`SlaError::NotStopped`] unless the clock is stopped.
    pub fn continue_after_reopen(&mut self, now: DateTime<Utc>) -> Result<(), SlaError> {
        if !self.is_stopped() {
            return Err(SlaError::NotStopped);
        }
        self.stopped_at = None;
        self.running_since = Some(truncate_to_second(now));
        Ok(())
    }

    /// Reopens the clock at `now` as the policy says: [`Clock::restart`] or
    /// [`Clock::continue_after_reopen`].
    pub fn reopen(&mut self, now: DateTime<Utc>, policy: ReopenPolicy) -> Result<(), SlaError> {
        match policy {
            ReopenPolicy::Restart => {
                self.restart(now);
                Ok(())
            }
            ReopenPolicy::Continue => self.continue_after_reopen(now),
        }
    }

    /// Changes the target (for example after a priority change), keeping the elapsed
    /// time. The new target must be at least one second.
    pub fn set_target(&mut self, target: TimeDelta) -> Result<(), SlaError> {
        self.target = checked_target(target)?;
        Ok(())
    }

    /// Calendar time counted up to `now`: earlier runs plus the current one. A stopped
    /// or paused clock ignores `now`.
    pub fn elapsed(&self, now: DateTime<Utc>, calendar: &Calendar) -> TimeDelta {
        self.accumulated
            .checked_add(&self.current_run(now, calendar))
            .unwrap_or(TimeDelta::MAX)
    }

    /// What is left of the target at `now`, or by how much it is breached. Exactly at
    /// the target the clock counts as breached by zero, like the breach threshold.
    pub fn remaining(&self, now: DateTime<Utc>, calendar: &Calendar) -> Remaining {
        let elapsed = self.elapsed(now, calendar);
        if elapsed >= self.target {
            Remaining::Breached {
                by: elapsed - self.target,
            }
        } else {
            Remaining::Left(self.target - elapsed)
        }
    }

    /// The elapsed share of the target at `now`: 0.5 is half, 1.0 is the breach, and it
    /// goes above 1.0 when breached.
    pub fn fraction(&self, now: DateTime<Utc>, calendar: &Calendar) -> f64 {
        self.elapsed(now, calendar).num_seconds() as f64 / self.target.num_seconds() as f64
    }

    /// The instant at which the clock will reach `fraction` of its target if it keeps
    /// running: the first whole second at which [`Clock::fraction`] is at least
    /// `fraction`.
    ///
    /// `None` when the clock is paused or stopped, when it has already reached that
    /// fraction at `now`, when `fraction` is not a positive number, or when the instant
    /// lies beyond the calendar's horizon.
    pub fn next_deadline(&self, now: DateTime<Utc>, calendar: &Calendar, fraction: f64) -> Option<DateTime<Utc>> {
        let target = self.target.num_seconds() as f64;
        let reached = |secs: i64| secs as f64 / target >= fraction;
        if fraction.is_nan() || fraction <= 0.0 || reached(self.elapsed(now, calendar).num_seconds()) {
            return None;
        }
        let guess = (fraction * target).ceil();
        if guess.is_nan() || guess >= 1e15 {
            return None;
        }
        // Nudge the float estimate to the exact smallest whole second that reaches it.
        let mut needed = guess as i64;
        for _ in 0..4 {
            if needed > 1 && reached(needed - 1) {
                needed -= 1;
            }
        }
        for _ in 0..4 {
            if !reached(needed) {
                needed += 1;
            }
        }
        self.instant_reaching(calendar, needed)
    }

    /// The instant at which the running clock's elapsed time reaches `needed_secs`.
    fn instant_reaching(&self, calendar: &Calendar, needed_secs: i64) -> Option<DateTime<Utc>> {
        let since = self.running_since?;
        let budget = needed_secs.checked_sub(self.accumulated.num_seconds())?;
        calendar.try_deadline_after(since, seconds(budget))
    }
}

/// One clock of an incident, with where it stands in its runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredClock {
    pub incident: IncidentId,
    pub kind: ClockKind,
    /// How many times the clock was restarted (thresholds are kept per run).
    pub run: i64,
    pub clock: Clock,
    /// Who stopped it (acknowledged or resolved), when stopped by a person.
    pub stopped_by: Option<UserId>,
    /// Thresholds announced in the current run.
    pub fired: BTreeSet<Threshold>,
}

// ---------------------------------------------------------------------------
// Thresholds
// ---------------------------------------------------------------------------

/// A warning level: a whole percent of the target from 1 to 99.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WarnPercent(u8);

impl WarnPercent {
    /// The percent, from 1 to 99.
    pub fn get(self) -> u8 {
        self.0
    }
}

/// A point on a clock that announces something once: a warning at a share of the target,
/// or the breach at 100 %.
///
/// Thresholds order by their share, every warning before the breach. Each has a stable
/// storage key (`"warn50"`, `"warn75"`, `"breach"`), which is also its `Display` form
/// and its serde form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Threshold {
    /// A warning at this percent of the target.
    Warning(WarnPercent),
    /// The breach, at 100 % of the target.
    Breach,
}

impl Threshold {
    /// A warning at `percent` of the target (1 to 99).
    pub fn warning(percent: u8) -> Result<Self, SlaError> {
        if (1..=99).contains(&percent) {
            Ok(Self::Warning(WarnPercent(percent)))
        } else {
            Err(SlaError::BadThreshold(format!("{percent}%")))
        }
    }

    /// The threshold at a fraction of the target as configuration writes it: `0.5` and
    /// `0.75` are warnings, `1.0` is the breach. The fraction must be a whole percent.
    pub fn from_fraction(fraction: f64) -> Result<Self, SlaError> {
        let percent = (fraction * 100.0).round();
        let whole = (fraction * 100.0 - percent).abs() < 1e-6;
        if !(whole && (1.0..=100.0).contains(&percent)) {
            return Err(SlaError::BadThreshold(fraction.to_string()));
        }
        if percent >= 100.0 {
            Ok(Self::Breach)
        } else {
            Self::warning(percent as u8)
        }
    }

    /// The percent of the target at which the threshold falls (100 for the breach).
    pub fn percent(self) -> u8 {
        match self {
            Self::Warning(percent) => percent.get(),
            Self::Breach => 100,
        }
    }

    /// The share of the target at which the threshold falls (1.0 for the breach).
    pub fn fraction(self) -> f64 {
        f64::from(self.percent()) / 100.0
    }

    /// The stable storage key: `"warn50"`, `"warn75"`, …, or `"breach"`.
    pub fn key(self) -> String {
        match self {
            Self::Warning(percent) => format!("warn{}", percent.get()),
            Self::Breach => "breach".to_owned(),
        }
    }

    /// Reads a storage key written by [`Threshold::key`]; only the exact key is accepted.
    pub fn from_key(key: &str) -> Result<Self, SlaError> {
        let bad = || SlaError::BadThresholdKey(echo(key));
        let threshold = match key.strip_prefix("warn") {
            _ if key == "breach" => Self::Breach,
            Some(digits) if (1..=2).contains(&digits.len()) => {
                Self::warning(digits.parse().map_err(|_| bad())?).map_err(|_| bad())?
            }
            _ => return Err(bad()),
        };
        if threshold.key() == key {
            Ok(threshold)
        } else {
            Err(bad())
        }
    }

    /// Calendar seconds that must elapse for the threshold to fall due on a clock with
    /// this target: the percent of the target, rounded up to a whole second.
    fn needed_secs(self, target: TimeDelta) -> i64 {
        let needed = (i128::from(target.num_seconds()) * i128::from(self.percent()) + 99) / 100;
        i64::try_from(needed).unwrap_or(i64::MAX)
    }

    /// Whether the threshold is due once `elapsed` of `target` has been used: exactly at
    /// the threshold's share counts as due.
    pub fn is_due(self, elapsed: TimeDelta, target: TimeDelta) -> bool {
        elapsed.num_seconds() >= self.needed_secs(target)
    }
}

impl fmt::Display for Threshold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.key())
    }
}

impl FromStr for Threshold {
    type Err = SlaError;

    fn from_str(key: &str) -> Result<Self, SlaError> {
        Self::from_key(key)
    }
}

impl Serialize for Threshold {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.key())
    }
}

impl<'de> Deserialize<'de> for Threshold {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = String::deserialize(deserializer)?;
        Self::from_key(&key).map_err(serde::de::Error::custom)
    }
}

/// The thresholds configured for clocks: warnings in ascending order, then always the
/// breach. Serializes as its list of fractions, such as `[0.5, 0.75, 1.0]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "Vec<f64>", into = "Vec<f64>")]
pub struct ThresholdSchedule {
    /// Sorted, without duplicates, always ending with [`Threshold::Breach`].
    thresholds: Vec<Threshold>,
}

impl Default for ThresholdSchedule {
    /// Warnings at 50 % and 75 %, then the breach.
    fn default() -> Self {
        Self {
            thresholds: vec![
                Threshold::Warning(WarnPercent(50)),
                Threshold::Warning(WarnPercent(75)),
                Threshold::Breach,
            ],
        }
    }
}

impl ThresholdSchedule {
    /// Builds a schedule from warning fractions (like `[0.5, 0.75]`) in any order; the
    /// breach at 1.0 is always added, and listing it too is harmless. Every fraction must
    /// be a whole percent from 1 % to 100 %.
    pub fn new(fractions: impl IntoIterator<Item = f64>) -> Result<Self, SlaError> {
        let mut set = BTreeSet::from([Threshold::Breach]);
        for fraction in fractions {
            set.insert(Threshold::from_fraction(fraction)?);
        }
        Ok(Self {
            thresholds: set.into_iter().collect(),
        })
    }

    /// The thresholds in the order they fall due, ending with the breach.
    pub fn thresholds(&self) -> &[Threshold] {
        &self.thresholds
    }
}

impl TryFrom<Vec<f64>> for ThresholdSchedule {
    type Error = SlaError;

    fn try_from(fractions: Vec<f64>) -> Result<Self, SlaError> {
        Self::new(fractions)
    }
}

impl From<ThresholdSchedule> for Vec<f64> {
    fn from(schedule: ThresholdSchedule) -> Self {
        schedule.thresholds.iter().map(|t| t.fraction()).collect()
    }
}

/// The thresholds of `schedule` that are due on `clock` at `now` and have not fired yet,
/// in the order they fell due, each once.
///
/// When `now` has jumped past several thresholds (catch-up after downtime) all of them
/// are returned, in order. A paused or stopped clock still reports thresholds it reached
/// before it stopped counting, so a breach that happened during downtime is recorded;
/// the caller decides what to announce. The caller adds the returned thresholds to
/// `fired` once it has acted on them.
pub fn due_thresholds(
    clock: &Clock,
    calendar: &Calendar,
    schedule: &ThresholdSchedule,
    fired: &BTreeSet<Threshold>,
    now: DateTime<Utc>,
) -> Vec<Threshold> {
    let elapsed = clock.elapsed(now, calendar);
    schedule
        .thresholds()
        .iter()
        .copied()
        .filter(|threshold| !fired.contains(threshold) && threshold.is_due(elapsed, clock.target()))
        .collect()
}

/// When the scheduler should next look at a clock, and for which threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ThresholdTimer {
    /// The first threshold, in order, that has not fired yet.
    pub threshold: Threshold,
    /// When it falls due; `now` if it is already due (overdue timers fire at once).
    pub at: DateTime<Utc>,
}

/// The next instant at which a threshold of `schedule` that has not fired yet falls due
/// on `clock`, for the scheduler's stored timer row.
///
/// If an unfired threshold is already due, the timer is at `now`. `None` when every
/// threshold has fired, or when the clock is paused or stopped (and nothing unfired is
/// due), or when the next one lies beyond the calendar's horizon.
pub fn next_threshold(
    clock: &Clock,
    calendar: &Calendar,
    schedule: &ThresholdSchedule,
    fired: &BTreeSet<Threshold>,
    now: DateTime<Utc>,
) -> Option<ThresholdTimer> {
    let threshold = schedule
        .thresholds()
        .iter()
        .copied()
        .find(|threshold| !fired.contains(threshold))?;
    let at = if threshold.is_due(clock.elapsed(now, calendar), clock.target()) {
        now
    } else {
        clock.instant_reaching(calendar, threshold.needed_secs(clock.target()))?
    };
    Some(ThresholdTimer { threshold, at })
}

/// The instant at which a running `clock` reaches `threshold`, past or future, for a
/// stored timer that fires at the threshold's true due time (so a timer that fires
/// late after downtime knows how late it is).
///
/// When the threshold was already reached before the current run began (the time
/// banked in earlier runs covers it), the answer is the start of the current run.
/// `None` when the clock is paused or stopped, or the instant lies beyond the
/// calendar's horizon.
pub fn threshold_instant(clock: &Clock, calendar: &Calendar, threshold: Threshold) -> Option<DateTime<Utc>> {
    clock.instant_reaching(calendar, threshold.needed_secs(clock.target()))
}

// ---------------------------------------------------------------------------
// Policies
// ---------------------------------------------------------------------------

/// The SLA of one priority: the response and resolution targets and the calendar on
/// which both clocks count. In configuration the targets are human durations (`"15m"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaPolicy {
    /// How long until an agent must acknowledge.
    #[serde(with = "human_duration")]
    pub respond: TimeDelta,
    /// How long until the incident must be resolved.
    #[serde(with = "human_duration")]
    pub resolve: TimeDelta,
    /// When SLA time counts.
    pub calendar: Calendar,
}

impl SlaPolicy {
    /// The target of one of the two clocks.
    pub fn target(&self, kind: ClockKind) -> TimeDelta {
        match kind {
            ClockKind::Response => self.respond,
            ClockKind::Resolution => self.resolve,
        }
    }

    /// Starts one of the two clocks at `now` (when the incident is logged).
    pub fn start_clock(&self, kind: ClockKind, now: DateTime<Utc>) -> Result<Clock, SlaError> {
        Clock::start(self.target(kind), now)
    }
}

/// The default business hours: Monday to Friday, 09:00–17:00, UTC. Configuration
/// normally sets the desk's own zone.
pub fn default_business_hours() -> BusinessHours {
    BusinessHours {
        days: [true, true, true, true, true, false, false],
        open_secs: 9 * 3_600,
        close_secs: 17 * 3_600,
        tz: Tz::UTC,
        holidays: BTreeSet::new(),
    }
}

/// The default policies for priorities P1 to P5 (index 0 is P1); configuration
/// overrides them.
///
/// | priority | respond | resolve | calendar |
/// | --- | --- | --- | --- |
/// | P1 | 15m | 4h | 24×7 |
/// | P2 | 30m | 8h | 24×7 |
/// | P3 | 4h | 24h (3 business days) | business hours |
/// | P4 | 8h (1 business day) | 40h (5 business days) | business hours |
/// | P5 | 8h (1 business day) | 80h (10 business days) | business hours |
///
/// A business day is the 8 hours of [`default_business_hours`].
pub fn default_targets() -> [SlaPolicy; 5] {
    let policy = |respond_mins: i64, resolve_hours: i64, calendar: Calendar| SlaPolicy {
        respond: TimeDelta::minutes(respond_mins),
        resolve: TimeDelta::hours(resolve_hours),
        calendar,
    };
    let business = || Calendar::BusinessHours(default_business_hours());
    [
        policy(15, 4, Calendar::AlwaysOpen),
        policy(30, 8, Calendar::AlwaysOpen),
        policy(4 * 60, 3 * 8, business()),
        policy(8 * 60, 5 * 8, business()),
        policy(8 * 60, 10 * 8, business()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::value::{Error as ValueError, StrDeserializer};
    use serde::de::IntoDeserializer;

    const WORKWEEK: [Weekday; 5] = [Weekday::Mon, Weekday::Tue, Weekday::Wed, Weekday::Thu, Weekday::Fri];

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a valid RFC 3339 instant")
    }

    fn secs(n: i64) -> TimeDelta {
        TimeDelta::seconds(n)
    }

    fn mins(n: i64) -> TimeDelta {
        TimeDelta::minutes(n)
    }

    fn hours(n: i64) -> TimeDelta {
        TimeDelta::hours(n)
    }

    /// Monday to Friday, 09:00–17:00 in the zone.
    fn office(tz: &str) -> Calendar {
        Calendar::BusinessHours(BusinessHours::parse(WORKWEEK, "09:00", "17:00", tz).expect("valid office hours"))
    }

    /// Every day of the week, the given hours in the zone.
    fn daily(open: &str, close: &str, tz: &str) -> Calendar {
        Calendar::BusinessHours(BusinessHours::parse(WEEK, open, close, tz).expect("valid hours"))
    }

    fn hours_of(calendar: &Calendar) -> &BusinessHours {
        match calendar {
            Calendar::BusinessHours(hours) => hours,
            Calendar::AlwaysOpen => panic!("expected business hours"),
        }
    }

    /// A small deterministic generator (xorshift64*) for property-style loops.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn below(&mut self, n: u64) -> i64 {
            (self.next() % n) as i64
        }
    }

    /// Calendars for property loops: offices in three zones (one with a 30-minute DST
    /// shift), a night shift that straddles DST changes, and 24×7.
    fn sample_calendars() -> Vec<Calendar> {
        vec![
            office("UTC"),
            office("America/New_York"),
            office("Europe/Berlin"),
            office("Australia/Lord_Howe"),
            daily("01:00", "04:00", "Europe/Berlin"),
            Calendar::BusinessHours(
                BusinessHours::parse(WEEK, "00:00", "24:00", "America/New_York")
                    .expect("valid hours")
                    .with_holidays([
                        NaiveDate::from_ymd_opt(2024, 3, 10).expect("date"),
                        NaiveDate::from_ymd_opt(2024, 7, 4).expect("date"),
                    ]),
            ),
            Calendar::AlwaysOpen,
        ]
    }

    // ----- durations -----

    #[test]
    fn a_calendar_says_whether_its_time_is_calendar_or_business_time() {
        assert_eq!(Calendar::AlwaysOpen.basis(), TimeBasis::Calendar);
        assert_eq!(office("UTC").basis(), TimeBasis::Business { day: hours(8) });
        assert_eq!(
            daily("08:30", "18:00", "Europe/Berlin").basis(),
            TimeBasis::Business { day: mins(570) }
        );
        assert_eq!(
            daily("00:00", "24:00", "UTC").basis(),
            TimeBasis::Business { day: hours(24) }
        );
    }

    #[test]
    fn parse_duration_accepts_the_documented_forms() {
        let cases = [
            ("15m", 900),
            ("4h", 14_400),
            ("3d", 259_200),
            ("1h30m", 5_400),
            ("90s", 90),
            ("1h 30m", 5_400),
            ("  2d 3h  ", 183_600),
            ("1w", 604_800),
            ("1w2d", 777_600),
            ("+90m", 5_400),
            ("1d5s", 86_405),
            ("1h0m", 3_600),
            ("120m", 7_200),
            ("007s", 7),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_duration(input), Ok(secs(expected)), "input {input:?}");
        }
    }

    #[test]
    fn parse_duration_rejects_every_bad_input_with_the_reason() {
        use DurationProblem::*;
        let cases = [
            ("", Empty),
            ("   ", Empty),
            ("+", Empty),
            ("-5m", Negative),
            ("+-5m", Negative),
            ("90", MissingUnit("90".into())),
            ("1h30", MissingUnit("30".into())),
            ("15%", MissingUnit("15".into())),
            ("15x", UnknownUnit("x".into())),
            ("15min", UnknownUnit("min".into())),
            ("15M", UnknownUnit("M".into())),
            ("h", ExpectedNumber("h".into())),
            ("1h x", ExpectedNumber("x".into())),
            ("1.5h", Fraction),
            ("1,5h", Fraction),
            ("30m1h", Misordered),
            ("1h1h", Misordered),
            ("0m", Zero),
            ("0h 0s", Zero),
            ("99999999999999999999s", Overflow),
            ("9223372036854775807s", Overflow),
            ("15250284452472w", Overflow),
            ("15250284452471w 9999999d", Overflow),
        ];
        for (input, problem) in cases {
            let error = parse_duration(input).expect_err(input);
            assert_eq!(error.problem, problem, "input {input:?}");
            assert_eq!(error.input, input, "input {input:?}");
        }
    }

    #[test]
    fn bad_duration_messages_name_the_input_and_the_problem() {
        let message = parse_duration("15x").expect_err("bad unit").to_string();
        assert_eq!(
            message,
            "\"15x\" is not a duration: `x` is not a unit (use s, m, h, d or w)"
        );
        let message = parse_duration("").expect_err("empty").to_string();
        assert!(message.starts_with("\"\" is not a duration: it is empty"), "{message}");

        let long = format!("{}x", "1".repeat(200));
        let error = parse_duration(&long).expect_err("long input");
        assert_eq!(error.input.chars().count(), ECHO_LIMIT + 1);
        assert!(error.input.ends_with('…'));
    }

    #[test]
    fn format_duration_writes_the_largest_units_first() {
        let cases = [
            (TimeDelta::zero(), "0s"),
            (secs(45), "45s"),
            (mins(90), "1h 30m"),
            (hours(51), "2d 3h"),
            (secs(86_401), "1d 1s"),
            (secs(90_061), "1d 1h 1m 1s"),
            (TimeDelta::days(14), "14d"),
            (-mins(90), "-1h 30m"),
            (TimeDelta::milliseconds(1_500), "1s"),
            (TimeDelta::milliseconds(-500), "0s"),
        ];
        for (duration, expected) in cases {
            assert_eq!(format_duration(duration), expected, "{duration:?}");
        }
        assert!(format_duration(TimeDelta::MAX).ends_with('s'));
        assert!(format_duration(TimeDelta::MIN).starts_with('-'));
    }

    #[test]
    fn format_then_parse_round_trips_every_positive_duration() {
        let mut rng = Rng(0x5eed_0001);
        let fixed = [1, 59, 60, 61, 3_599, 3_600, 86_399, 86_400, 604_800, 1_000_000_007];
        let random = (0..2_000).map(|_| 1 + rng.below(10_000_000_000));
        for n in fixed.into_iter().chain(random) {
            let text = format_duration(secs(n));
            assert_eq!(parse_duration(&text), Ok(secs(n)), "{n}s formatted as {text:?}");
        }
        let text = format_duration(TimeDelta::MAX);
        assert_eq!(parse_duration(&text), Ok(secs(TimeDelta::MAX.num_seconds())));
    }

    #[test]
    fn human_duration_serde_reads_and_rejects_strings() {
        let ok: StrDeserializer<'_, ValueError> = "1h30m".into_deserializer();
        assert_eq!(human_duration::deserialize(ok), Ok(mins(90)));
        let bad: StrDeserializer<'_, ValueError> = "soon".into_deserializer();
        let error = human_duration::deserialize(bad).expect_err("not a duration");
        assert!(error.to_string().contains("\"soon\""), "{error}");
    }

    // ----- calendars -----

    #[test]
    fn always_open_calendar_counts_every_instant() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-13T22:30:00Z");
        let end = utc("2024-01-15T01:00:00Z");
        assert_eq!(calendar.business_time_between(start, end), mins(26 * 60 + 30));
        assert_eq!(calendar.business_time_between(end, start), TimeDelta::zero());
        assert_eq!(calendar.deadline_after(start, hours(3)), utc("2024-01-14T01:30:00Z"));
        assert!(calendar.is_open(start));
        assert_eq!(calendar.next_open(start), Some(start));
    }

    #[test]
    fn business_time_counts_only_open_hours() {
        let calendar = office("UTC");
        let cases = [
            ("2024-01-08T08:00:00Z", "2024-01-08T10:00:00Z", hours(1)),
            ("2024-01-08T09:00:00Z", "2024-01-08T17:00:00Z", hours(8)),
            ("2024-01-08T16:30:00Z", "2024-01-08T18:00:00Z", mins(30)),
            ("2024-01-08T17:00:00Z", "2024-01-08T18:00:00Z", TimeDelta::zero()),
            ("2024-01-08T07:00:00Z", "2024-01-08T08:00:00Z", TimeDelta::zero()),
            ("2024-01-08T10:00:00Z", "2024-01-08T10:00:00Z", TimeDelta::zero()),
            ("2024-01-08T12:00:00Z", "2024-01-08T11:00:00Z", TimeDelta::zero()),
            ("2024-01-08T16:00:00Z", "2024-01-09T10:00:00Z", hours(2)),
            // Friday afternoon to Monday morning skips the weekend.
            ("2024-01-12T16:00:00Z", "2024-01-15T10:00:00Z", hours(2)),
            ("2024-01-13T10:00:00Z", "2024-01-14T18:00:00Z", TimeDelta::zero()),
            ("2024-01-08T09:00:00Z", "2024-01-15T09:00:00Z", hours(40)),
            (
                "2024-01-08T09:00:00.250Z",
                "2024-01-08T09:00:01Z",
                TimeDelta::milliseconds(750),
            ),
        ];
        for (start, end, expected) in cases {
            assert_eq!(
                calendar.business_time_between(utc(start), utc(end)),
                expected,
                "{start} → {end}"
            );
        }
    }

    #[test]
    fn holidays_are_closed_all_day() {
        let christmas = NaiveDate::from_ymd_opt(2024, 12, 25).expect("date");
        let hours_ = BusinessHours::parse(WORKWEEK, "09:00", "17:00", "UTC")
            .expect("valid hours")
            .with_holidays([christmas]);
        assert!(!hours_.is_working_day(christmas));
        assert_eq!(hours_.hours_on(christmas), None);
        let calendar = Calendar::BusinessHours(hours_);
        let between = calendar.business_time_between(utc("2024-12-24T16:00:00Z"), utc("2024-12-26T10:00:00Z"));
        assert_eq!(between, hours(2));
        assert!(!calendar.is_open(utc("2024-12-25T12:00:00Z")));
        assert_eq!(
            calendar.next_open(utc("2024-12-25T12:00:00Z")),
            Some(utc("2024-12-26T09:00:00Z"))
        );
    }

    #[test]
    fn an_instant_at_opening_is_open_and_one_at_closing_is_closed() {
        let calendar = office("UTC");
        let cases = [
            ("2024-01-08T09:00:00Z", true),
            ("2024-01-08T08:59:59.999Z", false),
            ("2024-01-08T16:59:59.999Z", true),
            ("2024-01-08T17:00:00Z", false),
            ("2024-01-13T12:00:00Z", false),
        ];
        for (at, open) in cases {
            assert_eq!(calendar.is_open(utc(at)), open, "{at}");
        }
        assert_eq!(
            calendar.next_open(utc("2024-01-12T17:00:00Z")),
            Some(utc("2024-01-15T09:00:00Z"))
        );
        assert_eq!(
            calendar.next_open(utc("2024-01-12T10:00:00Z")),
            Some(utc("2024-01-12T10:00:00Z"))
        );
    }

    #[test]
    fn business_time_follows_the_zone_of_the_calendar() {
        let start = utc("2024-01-08T12:00:00Z");
        let end = utc("2024-01-08T20:00:00Z");
        let cases = [
            ("UTC", hours(5)),              // open 09:00–17:00 UTC
            ("Europe/Berlin", hours(4)),    // open 08:00–16:00 UTC in winter
            ("America/New_York", hours(6)), // open 14:00–22:00 UTC in winter
        ];
        for (tz, expected) in cases {
            assert_eq!(office(tz).business_time_between(start, end), expected, "{tz}");
        }
    }

    #[test]
    fn days_with_a_dst_change_are_shorter_or_longer_in_real_time() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        let cases = [
            // Whole local days.
            ("00:00", "24:00", "America/New_York", date(2024, 3, 10), hours(23)),
            ("00:00", "24:00", "America/New_York", date(2024, 11, 3), hours(25)),
            ("00:00", "24:00", "Europe/Berlin", date(2024, 3, 31), hours(23)),
            ("00:00", "24:00", "Europe/Berlin", date(2024, 10, 27), hours(25)),
            ("00:00", "24:00", "Europe/Berlin", date(2024, 6, 1), hours(24)),
            // A night shift across the change: 01:00–04:00 wall clock.
            ("01:00", "04:00", "America/New_York", date(2024, 3, 10), hours(2)),
            ("01:00", "04:00", "America/New_York", date(2024, 11, 3), hours(4)),
            ("01:00", "04:00", "Europe/Berlin", date(2024, 3, 31), hours(2)),
            ("01:00", "04:00", "Europe/Berlin", date(2024, 10, 27), hours(4)),
            // Lord Howe Island shifts by 30 minutes.
            (
                "00:00",
                "24:00",
                "Australia/Lord_Howe",
                date(2024, 4, 7),
                mins(24 * 60 + 30),
            ),
        ];
        for (open, close, tz, day, expected) in cases {
            let calendar = daily(open, close, tz);
            let (from, to) = hours_of(&calendar).hours_on(day).expect("open that day");
            assert_eq!(to - from, expected, "{open}–{close} {tz} on {day}");
            assert_eq!(calendar.business_time_between(from, to), expected);
        }
    }

    #[test]
    fn office_hours_keep_local_time_across_a_dst_change() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        let new_york = office("America/New_York");
        let hours_ny = hours_of(&new_york);
        assert_eq!(
            hours_ny.hours_on(date(2024, 3, 8)),
            Some((utc("2024-03-08T14:00:00Z"), utc("2024-03-08T22:00:00Z")))
        );
        assert_eq!(
            hours_ny.hours_on(date(2024, 3, 11)),
            Some((utc("2024-03-11T13:00:00Z"), utc("2024-03-11T21:00:00Z")))
        );
        let friday = utc("2024-03-08T21:00:00Z");
        let monday = utc("2024-03-11T14:00:00Z");
        assert_eq!(new_york.business_time_between(friday, monday), hours(2));
        assert_eq!(new_york.deadline_after(friday, hours(2)), monday);

        let berlin = office("Europe/Berlin");
        let friday = utc("2024-03-29T15:00:00Z");
        let monday = utc("2024-04-01T08:00:00Z");
        assert_eq!(berlin.business_time_between(friday, monday), hours(2));
        assert_eq!(berlin.deadline_after(friday, hours(2)), monday);
        // In autumn the office opens an hour later in UTC.
        let friday = utc("2024-10-25T14:00:00Z"); // 16:00 CEST
        let monday = utc("2024-10-28T09:00:00Z"); // 10:00 CET
        assert_eq!(berlin.business_time_between(friday, monday), hours(2));
    }

    #[test]
    fn local_times_in_a_dst_gap_or_overlap_resolve_to_the_first_real_instant() {
        let date = |y, m, d| NaiveDate::from_ymd_opt(y, m, d).expect("date");
        let cases = [
            // 02:30 does not exist on 31 March in Berlin: open when the gap ends (03:00 CEST).
            (
                "02:30",
                "12:00",
                date(2024, 3, 31),
                "2024-03-31T01:00:00Z",
                "2024-03-31T10:00:00Z",
            ),
            // Closing inside the gap closes when the gap ends.
            (
                "00:00",
                "02:30",
                date(2024, 3, 31),
                "2024-03-30T23:00:00Z",
                "2024-03-31T01:00:00Z",
            ),
            // 02:30 happens twice on 27 October: the first one (CEST) counts.
            (
                "02:30",
                "12:00",
                date(2024, 10, 27),
                "2024-10-27T00:30:00Z",
                "2024-10-27T11:00:00Z",
            ),
        ];
        for (open, close, day, from, to) in cases {
            let calendar = daily(open, close, "Europe/Berlin");
            assert_eq!(
                hours_of(&calendar).hours_on(day),
                Some((utc(from), utc(to))),
                "{open}–{close} on {day}"
            );
        }
    }

    #[test]
    fn a_year_of_business_hours_is_counted_day_by_day() {
        let start = utc("2023-01-01T00:00:00Z");
        let end = utc("2024-01-01T00:00:00Z");
        // 2023 has 260 weekdays; DST does not move local office hours.
        for tz in ["UTC", "America/New_York", "Europe/Berlin"] {
            assert_eq!(office(tz).business_time_between(start, end), hours(260 * 8), "{tz}");
        }
        assert_eq!(
            office("UTC").deadline_after(start, hours(260 * 8)),
            utc("2023-12-29T17:00:00Z")
        );

        let decade_start = utc("2014-01-01T00:00:00Z");
        let decade_end = utc("2024-01-01T00:00:00Z");
        let weekdays = NaiveDate::from_ymd_opt(2014, 1, 1)
            .expect("date")
            .iter_days()
            .take_while(|d| *d < NaiveDate::from_ymd_opt(2024, 1, 1).expect("date"))
            .filter(|d| d.weekday().num_days_from_monday() < 5)
            .count() as i64;
        assert_eq!(
            office("Europe/Berlin").business_time_between(decade_start, decade_end),
            hours(weekdays * 8)
        );
    }

    #[test]
    fn deadline_after_starts_counting_at_the_next_opening() {
        let calendar = office("UTC");
        let cases = [
            ("2024-01-13T12:00:00Z", hours(1), "2024-01-15T10:00:00Z"),
            ("2024-01-08T07:00:00Z", hours(8), "2024-01-08T17:00:00Z"),
            ("2024-01-08T16:00:00Z", hours(2), "2024-01-09T10:00:00Z"),
            ("2024-01-08T17:00:00Z", secs(1), "2024-01-09T09:00:01Z"),
            ("2024-01-12T16:00:00Z", hours(1), "2024-01-12T17:00:00Z"),
            ("2024-01-13T12:00:00Z", TimeDelta::zero(), "2024-01-13T12:00:00Z"),
            ("2024-01-13T12:00:00Z", -hours(1), "2024-01-13T12:00:00Z"),
        ];
        for (start, budget, expected) in cases {
            assert_eq!(
                calendar.deadline_after(utc(start), budget),
                utc(expected),
                "{start} + {budget}"
            );
        }
    }

    #[test]
    fn deadline_after_is_the_inverse_of_business_time_between() {
        let mut rng = Rng(0x0b5e_55ed);
        let year_start = utc("2024-01-01T00:00:00Z");
        let one_ns = TimeDelta::nanoseconds(1);
        for calendar in sample_calendars() {
            for round in 0..250 {
                let mut start = year_start + secs(rng.below(366 * 86_400));
                if round % 5 == 0 {
                    start += TimeDelta::nanoseconds(rng.below(1_000_000_000));
                }
                let budget = secs(1 + rng.below(120 * 3_600));
                let deadline = calendar.deadline_after(start, budget);
                assert!(deadline > start, "{calendar}: {start} + {budget}");
                assert_eq!(
                    calendar.business_time_between(start, deadline),
                    budget,
                    "{calendar}: {start} + {budget} gave {deadline}"
                );
                assert!(
                    calendar.business_time_between(start, deadline - one_ns) < budget,
                    "{calendar}: {deadline} is not the earliest deadline for {start} + {budget}"
                );
                assert!(calendar.is_open(deadline - one_ns), "{calendar}: {deadline}");

                let end = start + secs(rng.below(30 * 86_400));
                let between = calendar.business_time_between(start, end);
                let back = calendar.deadline_after(start, between);
                assert!(back <= end, "{calendar}: {start} → {end}");
                assert_eq!(calendar.business_time_between(start, back), between);
            }
        }
    }

    #[test]
    fn calendar_arithmetic_never_panics_at_the_edges_of_time() {
        let starts = [
            DateTime::<Utc>::MIN_UTC,
            DateTime::<Utc>::MIN_UTC + TimeDelta::days(1),
            DateTime::<Utc>::MAX_UTC - TimeDelta::days(1),
            DateTime::<Utc>::MAX_UTC,
        ];
        let budgets = [
            secs(1),
            hours(10),
            TimeDelta::days(i64::from(DEADLINE_HORIZON_DAYS) * 2),
            TimeDelta::MAX,
            TimeDelta::MIN,
        ];
        for calendar in sample_calendars() {
            for start in starts {
                for budget in budgets {
                    let _ = calendar.try_deadline_after(start, budget);
                    let _ = calendar.deadline_after(start, budget);
                }
                let _ = calendar.is_open(start);
                let _ = calendar.next_open(start);
                let near = |days| start.checked_add_signed(TimeDelta::days(days));
                let end = near(3).or(near(-3)).expect("a nearby instant");
                let _ = calendar.business_time_between(start, end);
                let _ = calendar.business_time_between(end, start);
            }
        }
        let far = office("UTC").try_deadline_after(
            utc("2024-01-01T00:00:00Z"),
            TimeDelta::days(i64::from(DEADLINE_HORIZON_DAYS)),
        );
        assert_eq!(far, None);
        assert_eq!(
            Calendar::AlwaysOpen.deadline_after(DateTime::<Utc>::MAX_UTC, secs(1)),
            DateTime::<Utc>::MAX_UTC
        );
    }

    #[test]
    fn business_hours_reject_bad_configuration() {
        let cases: [(&[Weekday], &str, &str, &str, SlaError); 8] = [
            (&[], "09:00", "17:00", "UTC", SlaError::NoWorkingDays),
            (
                &WORKWEEK,
                "17:00",
                "09:00",
                "UTC",
                SlaError::OpenNotBeforeClose {
                    open: "17:00".into(),
                    close: "09:00".into(),
                },
            ),
            (
                &WORKWEEK,
                "09:00",
                "09:00",
                "UTC",
                SlaError::OpenNotBeforeClose {
                    open: "09:00".into(),
                    close: "09:00".into(),
                },
            ),
            (
                &WORKWEEK,
                "25:00",
                "17:00",
                "UTC",
                SlaError::BadTimeOfDay("25:00".into()),
            ),
            (&WORKWEEK, "9", "17:00", "UTC", SlaError::BadTimeOfDay("9".into())),
            (
                &WORKWEEK,
                "09:60",
                "17:00",
                "UTC",
                SlaError::BadTimeOfDay("09:60".into()),
            ),
            (
                &WORKWEEK,
                "09:00",
                "24:30",
                "UTC",
                SlaError::BadTimeOfDay("24:30".into()),
            ),
            (
                &WORKWEEK,
                "09:00",
                "17:00",
                "Mars/Olympus_Mons",
                SlaError::UnknownTimeZone("Mars/Olympus_Mons".into()),
            ),
        ];
        for (days, open, close, tz, error) in cases {
            assert_eq!(
                BusinessHours::parse(days.iter().copied(), open, close, tz),
                Err(error),
                "{days:?} {open}–{close} {tz}"
            );
        }

        let late = BusinessHours::parse(WORKWEEK, "9:00", "24:00", "Europe/Berlin").expect("ok");
        assert_eq!(late.opens_at(), NaiveTime::from_hms_opt(9, 0, 0).expect("time"));
        assert_eq!(late.closes_at(), NaiveTime::MIN);
        assert_eq!(late.to_string(), "Mon Tue Wed Thu Fri 09:00–24:00 Europe/Berlin");
        let same = BusinessHours::new(
            WORKWEEK,
            NaiveTime::from_hms_opt(9, 0, 0).expect("time"),
            NaiveTime::MIN,
            chrono_tz::Europe::Berlin,
        );
        assert_eq!(same, Ok(late.clone()));

        let spec = BusinessHoursSpec::from(late.clone().with_holidays([NaiveDate::MIN]));
        assert_eq!(spec.close, "24:00");
        assert_eq!(BusinessHours::try_from(spec), Ok(late.with_holidays([NaiveDate::MIN])));
    }

    // ----- clocks -----

    #[test]
    fn a_running_clock_counts_calendar_time() {
        let calendar = office("UTC");
        let clock = Clock::start(hours(4), utc("2024-01-08T16:00:00Z")).expect("clock");
        let now = utc("2024-01-09T10:00:00Z");
        assert!(clock.is_running());
        assert_eq!(clock.elapsed(now, &calendar), hours(2));
        assert_eq!(clock.fraction(now, &calendar), 0.5);
        assert_eq!(clock.remaining(now, &calendar), Remaining::Left(hours(2)));
        assert_eq!(clock.elapsed(utc("2024-01-01T00:00:00Z"), &calendar), TimeDelta::zero());
    }

    #[derive(Debug, Clone, Copy)]
    enum Step {
        Pause(i64),
        Resume(i64),
        Stop(i64),
        /// At this many minutes after the start, the clock shows this many minutes.
        Expect(i64, i64),
    }

    #[test]
    fn pauses_freeze_the_clock_and_resuming_continues_it() {
        use Step::*;
        let start = utc("2024-01-08T09:00:00Z"); // a Monday
        let cases: [(&str, Calendar, Vec<Step>); 3] = [
            (
                "24×7 with two pauses",
                Calendar::AlwaysOpen,
                vec![
                    Expect(60, 60),
                    Pause(60),
                    Expect(170, 60),
                    Resume(180),
                    Expect(200, 80),
                    Pause(240),
                    Resume(600),
                    Expect(720, 240),
                    Stop(720),
                    Expect(10_000, 240),
                ],
            ),
            (
                "office hours paused over the weekend",
                office("UTC"),
                // Paused Friday 16:00, resumed Monday 08:00 (before opening).
                vec![
                    Pause(4 * 1440 + 420),
                    Expect(7 * 1440, 4 * 480 + 420),
                    Resume(7 * 1440 - 60),
                    Expect(7 * 1440 + 60, 4 * 480 + 480),
                ],
            ),
            (
                "paused then stopped keeps the paused time",
                Calendar::AlwaysOpen,
                vec![Pause(30), Stop(90), Expect(500, 30)],
            ),
        ];
        for (name, calendar, steps) in cases {
            let mut clock = Clock::start(hours(100), start).expect("clock");
            for step in steps {
                match step {
                    Pause(m) => clock.pause(start + mins(m), &calendar).expect(name),
                    Resume(m) => clock.resume(start + mins(m)).expect(name),
                    Stop(m) => clock.stop(start + mins(m), &calendar).expect(name),
                    Expect(m, shown) => assert_eq!(
                        clock.elapsed(start + mins(m), &calendar),
                        mins(shown),
                        "{name}: at +{m}m"
                    ),
                }
            }
        }
    }

    #[test]
    fn pausing_twice_or_resuming_a_running_clock_is_a_typed_error() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let mut clock = Clock::start(hours(1), start).expect("clock");
        assert_eq!(clock.resume(start + mins(1)), Err(SlaError::AlreadyRunning));
        clock.pause(start + mins(10), &calendar).expect("pause");
        let paused = clock;
        assert_eq!(clock.pause(start + mins(20), &calendar), Err(SlaError::AlreadyPaused));
        assert_eq!(clock, paused, "a refused pause changes nothing");
        assert!(clock.is_paused());
        assert_eq!(clock.elapsed(start + mins(50), &calendar), mins(10));
    }

    #[test]
    fn a_stopped_clock_refuses_to_pause_resume_or_stop_again() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let mut clock = Clock::start(hours(1), start).expect("clock");
        assert_eq!(clock.continue_after_reopen(start), Err(SlaError::NotStopped));
        clock.stop(start + mins(5), &calendar).expect("stop");
        let stopped = clock;
        assert_eq!(clock.pause(start + mins(6), &calendar), Err(SlaError::Stopped));
        assert_eq!(clock.resume(start + mins(6)), Err(SlaError::Stopped));
        assert_eq!(clock.stop(start + mins(6), &calendar), Err(SlaError::Stopped));
        assert_eq!(clock, stopped);
        assert!(clock.is_stopped());
        assert_eq!(clock.state(), ClockState::Stopped);
        assert_eq!(clock.stopped_at(), Some(start + mins(5)));
        assert_eq!(clock.elapsed(start + hours(9), &calendar), mins(5));
    }

    #[test]
    fn an_instant_before_the_current_run_counts_as_no_time() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let mut clock = Clock::start(hours(1), start).expect("clock");
        assert_eq!(clock.elapsed(start - hours(1), &calendar), TimeDelta::zero());
        clock.pause(start - hours(1), &calendar).expect("pause");
        assert_eq!(clock.accumulated(), TimeDelta::zero());
    }

    #[test]
    fn remaining_turns_into_breached_by_at_the_target() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let clock = Clock::start(hours(1), start).expect("clock");
        let cases = [
            (mins(59), Remaining::Left(mins(1))),
            (mins(60), Remaining::Breached { by: TimeDelta::zero() }),
            (mins(75), Remaining::Breached { by: mins(15) }),
        ];
        for (after, expected) in cases {
            assert_eq!(clock.remaining(start + after, &calendar), expected, "+{after}");
        }
        let over = clock.remaining(start + mins(75), &calendar);
        assert!(over.is_breached());
        assert_eq!(over.signed(), -mins(15));
        assert_eq!(Remaining::Left(mins(1)).signed(), mins(1));
    }

    #[test]
    fn fractions_reach_50_75_and_breach_exactly_at_the_boundary_instants() {
        let schedule = ThresholdSchedule::default();
        let none = BTreeSet::new();
        let warn = |p| Threshold::warning(p).expect("warning");
        let cases = [
            (
                "24×7, 4h",
                Calendar::AlwaysOpen,
                hours(4),
                "2024-01-08T10:00:00Z",
                ["2024-01-08T12:00:00Z", "2024-01-08T13:00:00Z", "2024-01-08T14:00:00Z"],
            ),
            (
                "office, 3 business days from Friday 13:00",
                office("UTC"),
                hours(24),
                "2024-01-12T13:00:00Z",
                // Half falls exactly on Monday's closing time.
                ["2024-01-15T17:00:00Z", "2024-01-16T15:00:00Z", "2024-01-17T13:00:00Z"],
            ),
            (
                "New York office over the spring DST change",
                office("America/New_York"),
                hours(24),
                "2024-03-07T14:00:00Z", // Thursday 09:00 EST
                // Monday opens at 13:00 UTC and closes at 21:00 UTC (EDT).
                ["2024-03-08T18:00:00Z", "2024-03-11T15:00:00Z", "2024-03-11T21:00:00Z"],
            ),
            (
                "24×7, 45s (half is 22.5s, due at 23s)",
                Calendar::AlwaysOpen,
                secs(45),
                "2024-01-08T10:00:00Z",
                ["2024-01-08T10:00:23Z", "2024-01-08T10:00:34Z", "2024-01-08T10:00:45Z"],
            ),
        ];
        for (name, calendar, target, start, instants) in cases {
            let clock = Clock::start(target, utc(start)).expect("clock");
            let thresholds = [warn(50), warn(75), Threshold::Breach];
            for ((threshold, fraction), at) in thresholds.into_iter().zip([0.5, 0.75, 1.0]).zip(instants) {
                let at = utc(at);
                let before = at - secs(1);
                assert_eq!(
                    clock.next_deadline(utc(start), &calendar, fraction),
                    Some(at),
                    "{name}: {threshold}"
                );
                assert!(clock.fraction(at, &calendar) >= fraction, "{name}: {threshold} at {at}");
                assert!(
                    clock.fraction(before, &calendar) < fraction,
                    "{name}: {threshold} before {at}"
                );
                assert!(
                    due_thresholds(&clock, &calendar, &schedule, &none, at).contains(&threshold),
                    "{name}: {threshold}"
                );
                assert!(
                    !due_thresholds(&clock, &calendar, &schedule, &none, before).contains(&threshold),
                    "{name}: {threshold}"
                );
            }
            let breach = utc(instants[2]);
            assert_eq!(clock.fraction(breach, &calendar), 1.0, "{name}");
            assert_eq!(
                clock.remaining(breach, &calendar),
                Remaining::Breached { by: TimeDelta::zero() }
            );
        }
    }

    #[test]
    fn next_deadline_is_none_when_paused_stopped_or_already_past() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let mut clock = Clock::start(hours(4), start).expect("clock");
        let now = start + hours(3);
        assert_eq!(clock.next_deadline(now, &calendar, 0.5), None, "already past");
        assert_eq!(clock.next_deadline(now, &calendar, 0.75), None, "exactly now");
        assert_eq!(clock.next_deadline(now, &calendar, 1.0), Some(start + hours(4)));
        assert_eq!(clock.next_deadline(now, &calendar, 2.0), Some(start + hours(8)));
        for odd in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert_eq!(clock.next_deadline(start, &calendar, odd), None, "{odd}");
        }

        clock.pause(now, &calendar).expect("pause");
        assert_eq!(clock.next_deadline(now, &calendar, 1.0), None, "paused");
        clock.resume(now + hours(1)).expect("resume");
        assert_eq!(clock.next_deadline(now, &calendar, 1.0), Some(start + hours(5)));
        clock.stop(now + hours(1), &calendar).expect("stop");
        assert_eq!(clock.next_deadline(now, &calendar, 1.0), None, "stopped");
    }

    #[test]
    fn next_deadline_agrees_with_fraction_at_whole_seconds() {
        let mut rng = Rng(0xdead_beef);
        let year_start = utc("2024-01-01T00:00:00Z");
        for calendar in sample_calendars() {
            for _ in 0..60 {
                let start = year_start + secs(rng.below(366 * 86_400));
                let target = secs(1 + rng.below(60 * 3_600));
                let mut clock = Clock::start(target, start).expect("clock");
                let paused_for = secs(rng.below(86_400));
                let ran_for = secs(rng.below(3_600));
                clock.pause(start + ran_for, &calendar).expect("pause");
                clock.resume(start + ran_for + paused_for).expect("resume");
                let now = start + ran_for + paused_for;
                let fraction = [0.1, 0.33, 0.5, 0.75, 0.9, 1.0][rng.below(6) as usize];
                if let Some(at) = clock.next_deadline(now, &calendar, fraction) {
                    assert!(at > now);
                    assert_eq!(at, truncate_to_second(at));
                    assert!(clock.fraction(at, &calendar) >= fraction, "{calendar}");
                    assert!(clock.fraction(at - secs(1), &calendar) < fraction, "{calendar}");
                } else {
                    assert!(clock.fraction(now, &calendar) >= fraction, "{calendar}");
                }
            }
        }
    }

    #[test]
    fn reopening_restarts_or_continues_as_configured() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let mut resolved = Clock::start(hours(8), start).expect("clock");
        resolved.stop(start + hours(2), &calendar).expect("stop");
        let reopened_at = start + hours(5);
        let later = start + hours(6);

        let mut restarted = resolved;
        restarted.reopen(reopened_at, ReopenPolicy::Restart).expect("restart");
        assert!(restarted.is_running());
        assert_eq!(restarted.started_at(), reopened_at);
        assert_eq!(restarted.elapsed(later, &calendar), hours(1));
        assert_eq!(restarted.target(), hours(8));

        let mut continued = resolved;
        continued.reopen(reopened_at, ReopenPolicy::Continue).expect("continue");
        assert!(continued.is_running());
        assert_eq!(continued.started_at(), start);
        assert_eq!(continued.elapsed(later, &calendar), hours(3));

        let mut running = Clock::start(hours(8), start).expect("clock");
        assert_eq!(running.reopen(later, ReopenPolicy::Continue), Err(SlaError::NotStopped));
        running.restart(later);
        assert_eq!(running.elapsed(later + hours(1), &calendar), hours(1));
        assert_eq!(ReopenPolicy::default(), ReopenPolicy::Continue);
    }

    #[test]
    fn clock_columns_round_trip_and_inconsistent_rows_are_rejected() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let running = Clock::start(hours(4), start).expect("clock");
        let mut paused = running;
        paused.pause(start + mins(30), &calendar).expect("pause");
        let mut stopped = paused;
        stopped.stop(start + hours(1), &calendar).expect("stop");
        for clock in [running, paused, stopped] {
            assert_eq!(Clock::from_columns(clock.to_columns()), Ok(clock));
            assert_eq!(Clock::try_from(ClockColumns::from(clock)), Ok(clock));
        }
        assert_eq!(
            paused.to_columns(),
            ClockColumns {
                target_secs: 14_400,
                started_at: start,
                accumulated_secs: 1_800,
                running_since: None,
                stopped_at: None,
            }
        );

        let good = running.to_columns();
        let cases = [
            (
                ClockColumns { target_secs: 0, ..good },
                SlaError::TargetTooShort("0s".into()),
            ),
            (
                ClockColumns {
                    target_secs: -5,
                    ..good
                },
                SlaError::TargetTooShort("-5s".into()),
            ),
            (
                ClockColumns {
                    target_secs: i64::MAX,
                    ..good
                },
                SlaError::InvalidClock("the target is out of range"),
            ),
            (
                ClockColumns {
                    accumulated_secs: -1,
                    ..good
                },
                SlaError::InvalidClock("the accumulated time is negative"),
            ),
            (
                ClockColumns {
                    stopped_at: Some(start),
                    ..good
                },
                SlaError::InvalidClock("it is both running and stopped"),
            ),
        ];
        for (columns, error) in cases {
            assert_eq!(Clock::from_columns(columns), Err(error), "{columns:?}");
        }
    }

    #[test]
    fn clocks_keep_whole_seconds() {
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00.900Z");
        let clock = Clock::start(TimeDelta::milliseconds(1_500), start).expect("clock");
        assert_eq!(clock.target(), secs(1));
        assert_eq!(clock.started_at(), utc("2024-01-08T09:00:00Z"));
        assert_eq!(clock.elapsed(utc("2024-01-08T09:00:01.100Z"), &calendar), secs(1));
        assert_eq!(
            Clock::start(TimeDelta::milliseconds(500), start),
            Err(SlaError::TargetTooShort("0s".into()))
        );
        let mut retargeted = clock;
        retargeted.set_target(hours(2)).expect("retarget");
        assert_eq!(retargeted.target(), hours(2));
        assert!(retargeted.set_target(TimeDelta::zero()).is_err());
    }

    #[test]
    fn clock_kind_keys_are_stable_and_read_back() {
        for (kind, key) in [(ClockKind::Response, "response"), (ClockKind::Resolution, "resolution")] {
            assert_eq!(kind.key(), key);
            assert_eq!(ClockKind::from_key(key), Some(kind));
        }
        for bad in ["", "Response", "resolution ", "ack"] {
            assert_eq!(ClockKind::from_key(bad), None, "{bad:?}");
        }
    }

    // ----- thresholds -----

    #[test]
    fn threshold_keys_are_stable_and_read_back() {
        let warn = |p| Threshold::warning(p).expect("warning");
        let cases = [
            (warn(50), "warn50"),
            (warn(75), "warn75"),
            (warn(5), "warn5"),
            (warn(99), "warn99"),
            (Threshold::Breach, "breach"),
        ];
        for (threshold, key) in cases {
            assert_eq!(threshold.key(), key);
            assert_eq!(threshold.to_string(), key);
            assert_eq!(Threshold::from_key(key), Ok(threshold));
            assert_eq!(key.parse::<Threshold>(), Ok(threshold));
            let de: StrDeserializer<'_, ValueError> = key.into_deserializer();
            assert_eq!(Threshold::deserialize(de), Ok(threshold));
        }
        for bad in [
            "", "warn", "warn0", "warn100", "warn050", "WARN50", "breach ", "warn5x", "warn+5",
        ] {
            assert_eq!(
                Threshold::from_key(bad),
                Err(SlaError::BadThresholdKey(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn thresholds_order_warnings_before_the_breach() {
        let warn = |p| Threshold::warning(p).expect("warning");
        let mut shuffled = vec![Threshold::Breach, warn(75), warn(5), warn(50)];
        shuffled.sort();
        assert_eq!(shuffled, [warn(5), warn(50), warn(75), Threshold::Breach]);

        let fractions = [
            (0.5, Ok(warn(50))),
            (0.75, Ok(warn(75))),
            (0.01, Ok(warn(1))),
            (0.99, Ok(warn(99))),
            (0.29, Ok(warn(29))),
            (1.0, Ok(Threshold::Breach)),
            (0.875, Err(SlaError::BadThreshold("0.875".into()))),
            (0.0, Err(SlaError::BadThreshold("0".into()))),
            (1.5, Err(SlaError::BadThreshold("1.5".into()))),
            (-0.5, Err(SlaError::BadThreshold("-0.5".into()))),
            (f64::NAN, Err(SlaError::BadThreshold("NaN".into()))),
        ];
        for (fraction, expected) in fractions {
            assert_eq!(Threshold::from_fraction(fraction), expected, "{fraction}");
        }
        assert_eq!(Threshold::warning(0), Err(SlaError::BadThreshold("0%".into())));
        assert_eq!(Threshold::warning(100), Err(SlaError::BadThreshold("100%".into())));

        assert_eq!(
            ThresholdSchedule::new([0.75, 0.5, 0.5, 1.0]),
            Ok(ThresholdSchedule::default())
        );
        assert_eq!(
            ThresholdSchedule::new([0.9]).map(|s| s.thresholds().to_vec()),
            Ok(vec![warn(90), Threshold::Breach])
        );
        assert_eq!(
            ThresholdSchedule::new([]).map(|s| s.thresholds().to_vec()),
            Ok(vec![Threshold::Breach])
        );
        assert!(ThresholdSchedule::new([0.5, 0.875]).is_err());
        assert_eq!(Vec::<f64>::from(ThresholdSchedule::default()), [0.5, 0.75, 1.0]);
    }

    /// Runs a scheduler the way the bot would: wake at each timer, fire what is due.
    fn run_scheduler(
        clock: &Clock,
        calendar: &Calendar,
        schedule: &ThresholdSchedule,
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<(Threshold, DateTime<Utc>)> {
        let mut fired = BTreeSet::new();
        let mut log = Vec::new();
        let mut now = from;
        while let Some(timer) = next_threshold(clock, calendar, schedule, &fired, now) {
            if timer.at > until {
                break;
            }
            now = now.max(timer.at);
            for threshold in due_thresholds(clock, calendar, schedule, &fired, now) {
                assert!(fired.insert(threshold), "{threshold} fired twice");
                log.push((threshold, now));
            }
        }
        log
    }

    #[test]
    fn thresholds_fire_once_each_and_in_order() {
        let warn = |p| Threshold::warning(p).expect("warning");
        let start = utc("2024-01-12T13:00:00Z");
        let clock = Clock::start(hours(24), start).expect("clock");
        let log = run_scheduler(
            &clock,
            &office("UTC"),
            &ThresholdSchedule::default(),
            start,
            utc("2024-02-01T00:00:00Z"),
        );
        assert_eq!(
            log,
            [
                (warn(50), utc("2024-01-15T17:00:00Z")),
                (warn(75), utc("2024-01-16T15:00:00Z")),
                (Threshold::Breach, utc("2024-01-17T13:00:00Z")),
            ]
        );

        // Polling every minute instead of using the timer fires the same, once each.
        let calendar = Calendar::AlwaysOpen;
        let clock = Clock::start(hours(4), start).expect("clock");
        let schedule = ThresholdSchedule::default();
        let mut fired = BTreeSet::new();
        let mut log = Vec::new();
        for minute in 0..=300 {
            let now = start + mins(minute);
            for threshold in due_thresholds(&clock, &calendar, &schedule, &fired, now) {
                fired.insert(threshold);
                log.push((threshold, minute));
            }
        }
        assert_eq!(log, [(warn(50), 120), (warn(75), 180), (Threshold::Breach, 240)]);
    }

    #[test]
    fn thresholds_catch_up_in_order_after_downtime() {
        let warn = |p| Threshold::warning(p).expect("warning");
        let calendar = Calendar::AlwaysOpen;
        let schedule = ThresholdSchedule::default();
        let start = utc("2024-01-08T09:00:00Z");
        let clock = Clock::start(hours(4), start).expect("clock");
        let back = start + hours(5);
        let mut fired = BTreeSet::new();
        assert_eq!(
            due_thresholds(&clock, &calendar, &schedule, &fired, back),
            [warn(50), warn(75), Threshold::Breach]
        );
        fired.insert(warn(50));
        assert_eq!(
            due_thresholds(&clock, &calendar, &schedule, &fired, back),
            [warn(75), Threshold::Breach]
        );
        assert_eq!(
            next_threshold(&clock, &calendar, &schedule, &fired, back),
            Some(ThresholdTimer {
                threshold: warn(75),
                at: back
            })
        );
        fired.extend([warn(75), Threshold::Breach]);
        assert_eq!(due_thresholds(&clock, &calendar, &schedule, &fired, back), []);
        assert_eq!(next_threshold(&clock, &calendar, &schedule, &fired, back), None);

        let log = run_scheduler(&clock, &calendar, &schedule, back, back + hours(1));
        assert_eq!(log, [(warn(50), back), (warn(75), back), (Threshold::Breach, back)]);
    }

    #[test]
    fn the_threshold_timer_points_at_the_earliest_unfired_threshold() {
        let warn = |p| Threshold::warning(p).expect("warning");
        let calendar = office("Europe/Berlin");
        let schedule = ThresholdSchedule::default();
        let start = utc("2024-03-28T15:00:00Z"); // Thursday 16:00 CET
        let clock = Clock::start(hours(16), start).expect("clock");
        let mut fired = BTreeSet::new();
        // 8h: Thursday 1h, then Friday 08:00–15:00 UTC.
        let timer = next_threshold(&clock, &calendar, &schedule, &fired, start).expect("timer");
        assert_eq!(
            timer,
            ThresholdTimer {
                threshold: warn(50),
                at: utc("2024-03-29T15:00:00Z")
            }
        );
        assert_eq!(Some(timer.at), clock.next_deadline(start, &calendar, 0.5));
        fired.insert(warn(50));
        // 12h: Thursday 1h and Friday 8h, then Monday after the DST change from 07:00 UTC.
        let timer = next_threshold(&clock, &calendar, &schedule, &fired, start).expect("timer");
        assert_eq!(
            timer,
            ThresholdTimer {
                threshold: warn(75),
                at: utc("2024-04-01T10:00:00Z")
            }
        );
        assert_eq!(Some(timer.at), clock.next_deadline(start, &calendar, 0.75));
    }

    #[test]
    fn a_paused_or_stopped_clock_sets_no_threshold_timer() {
        let warn = |p| Threshold::warning(p).expect("warning");
        let calendar = Calendar::AlwaysOpen;
        let schedule = ThresholdSchedule::default();
        let none = BTreeSet::new();
        let start = utc("2024-01-08T09:00:00Z");
        let mut clock = Clock::start(hours(4), start).expect("clock");
        clock.pause(start + hours(1), &calendar).expect("pause");
        let later = start + hours(10);
        assert_eq!(next_threshold(&clock, &calendar, &schedule, &none, later), None);
        assert_eq!(due_thresholds(&clock, &calendar, &schedule, &none, later), []);

        // Paused after passing 50 %: the overdue warning still gets a timer at `now`.
        clock.resume(later).expect("resume");
        clock.pause(later + hours(1) + mins(30), &calendar).expect("pause");
        let much_later = later + hours(20);
        assert_eq!(
            next_threshold(&clock, &calendar, &schedule, &none, much_later),
            Some(ThresholdTimer {
                threshold: warn(50),
                at: much_later
            })
        );
        let fired = BTreeSet::from([warn(50)]);
        assert_eq!(next_threshold(&clock, &calendar, &schedule, &fired, much_later), None);

        // A clock stopped after its target still reports the breach it reached.
        let mut late = Clock::start(hours(1), start).expect("clock");
        late.stop(start + hours(2), &calendar).expect("stop");
        assert_eq!(
            due_thresholds(&late, &calendar, &schedule, &none, start + hours(3)),
            [warn(50), warn(75), Threshold::Breach]
        );
        let all = BTreeSet::from([warn(50), warn(75), Threshold::Breach]);
        assert_eq!(
            next_threshold(&late, &calendar, &schedule, &all, start + hours(3)),
            None
        );
    }

    #[test]
    fn threshold_instants_are_exact_past_or_future_and_only_for_running_clocks() {
        let warn = |p| Threshold::warning(p).expect("warning");
        let calendar = Calendar::AlwaysOpen;
        let start = utc("2024-01-08T09:00:00Z");
        let mut clock = Clock::start(hours(4), start).expect("clock");
        assert_eq!(
            threshold_instant(&clock, &calendar, warn(50)),
            Some(utc("2024-01-08T11:00:00Z"))
        );
        assert_eq!(
            threshold_instant(&clock, &calendar, Threshold::Breach),
            Some(utc("2024-01-08T13:00:00Z"))
        );
        // At exactly that instant the threshold is due, one second before it is not.
        let at = threshold_instant(&clock, &calendar, warn(75)).expect("instant");
        assert!(warn(75).is_due(clock.elapsed(at, &calendar), clock.target()));
        assert!(!warn(75).is_due(clock.elapsed(at - secs(1), &calendar), clock.target()));

        // A pause of one hour moves every instant by one hour.
        clock.pause(start + hours(1), &calendar).expect("pause");
        assert_eq!(threshold_instant(&clock, &calendar, warn(50)), None);
        clock.resume(start + hours(2)).expect("resume");
        assert_eq!(
            threshold_instant(&clock, &calendar, warn(50)),
            Some(utc("2024-01-08T12:00:00Z"))
        );
        // Reached in an earlier run: due from the start of this one.
        let mut long = Clock::start(hours(2), start).expect("clock");
        long.pause(start + hours(1) + mins(30), &calendar).expect("pause");
        long.resume(start + hours(5)).expect("resume");
        assert_eq!(threshold_instant(&long, &calendar, warn(50)), Some(start + hours(5)));
        long.stop(start + hours(6), &calendar).expect("stop");
        assert_eq!(threshold_instant(&long, &calendar, Threshold::Breach), None);

        // Business hours: 50 % of 8h from Friday 15:00 is Monday 11:00 (UTC office).
        let friday = utc("2024-01-12T15:00:00Z");
        let clock = Clock::start(hours(8), friday).expect("clock");
        assert_eq!(
            threshold_instant(&clock, &office("UTC"), warn(50)),
            Some(utc("2024-01-15T11:00:00Z"))
        );
    }

    // ----- policies -----

    #[test]
    fn default_targets_cover_p1_to_p5() {
        let targets = default_targets();
        let expected = [
            (mins(15), hours(4), true),
            (mins(30), hours(8), true),
            (hours(4), hours(24), false),
            (hours(8), hours(40), false),
            (hours(8), hours(80), false),
        ];
        for (index, (policy, (respond, resolve, always))) in targets.iter().zip(expected).enumerate() {
            let name = format!("P{}", index + 1);
            assert_eq!(policy.respond, respond, "{name}");
            assert_eq!(policy.resolve, resolve, "{name}");
            assert_eq!(policy.calendar == Calendar::AlwaysOpen, always, "{name}");
            let now = utc("2024-01-08T09:00:00Z");
            for kind in [ClockKind::Response, ClockKind::Resolution] {
                let clock = policy.start_clock(kind, now).expect("clock");
                assert_eq!(clock.target(), policy.target(kind), "{name} {}", kind.key());
                assert!(clock.is_running());
            }
        }
        assert_eq!(
            default_business_hours().to_string(),
            "Mon Tue Wed Thu Fri 09:00–17:00 UTC"
        );
        assert_eq!(Calendar::AlwaysOpen.to_string(), "24×7");
    }
}
