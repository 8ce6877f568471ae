//! `!report`: resolves the period with the action's clock, checks the service
//! filter against the configuration, and answers with the report the store
//! counts (`store::reports::report`), worded by `render::report`: one card
//! (an embed) posted through the outbox to the channel the command came
//! from, with the chart (`render::report_chart`, a PNG) attached to the same
//! message as the card's picture, the command acknowledged with 📊. Where the
//! command came from no channel, the report is the reply's text.
//!
//! Who may ask is the command's declaration (`who::REPORT_READERS`), checked
//! once by `permit` before this runs: a service owner holds
//! `ServiceOwner` only towards a report filtered to their service.

use chrono::{DateTime, Utc};

use super::act::Act;
use super::timers::Firing;
use super::{Desk, DeskResult, Reply};
use crate::config::DigestSettings;
use crate::domain::audit::AuditAction;
use crate::domain::digest::posting_key;
use crate::domain::priority::Priority;
use crate::domain::report::{PeriodSpec, Report, ReportQuery};
use crate::domain::timer::TimerKind;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render;
use crate::store;

pub(crate) async fn report(
    desk: &Desk,
    tx: &mut Act<'_>,
    channel: Option<&str>,
    period: PeriodSpec,
    service: Option<String>,
    priority: Option<Priority>,
) -> DeskResult<Reply> {
    let policy = desk.policy();
    let service = match service {
        None => None,
        Some(name) => match policy.service(&name) {
            Some(def) => Some(def.key.clone()),
            None => return super::rejected(render::unknown_service(policy, &name)),
        },
    };
    let query = ReportQuery {
        period: period.resolve(tx.now),
        service,
        priority,
    };
    let report = store::reports::report(tx, &query).await?;
    let Some(channel) = channel else {
        return Ok(Reply::public(render::report_text(&report)));
    };
    tx.enqueue_now(&report_post(&report, channel, String::new())).await?;
    Ok(Reply::acknowledged(render::REPORT_POSTED))
}

/// The report's card with its chart as the card's picture, posted in
/// `channel` under `text`.
fn report_post(report: &Report, channel: &str, text: String) -> Outgoing {
    let mut message = OutMessage::text(text).with_card(render::report_card(report));
    match render::report_chart(report) {
        Ok(png) => message = message.with_card_image(render::CHART_FILE, png),
        // The figures are worth posting without their picture.
        Err(e) => tracing::error!(error = %e, "report chart not drawn"),
    }
    Outgoing::post(Destination::Channel(channel.to_owned()), message)
}

/// The scheduled digest (`[reports.digest]`): at each posting, the report of
/// the whole UTC days before it, in the digest's channel; then the next
/// posting is scheduled. A posting that fell due while the desk was down is
/// made once, for the latest posting due: the report is of the period
/// before that one, and the next timer is the first posting after now.
pub(crate) async fn digest_due(desk: &Desk, tx: &mut Act<'_>, firing: &Firing) -> DeskResult<()> {
    let Some(digest) = desk.policy().reports.digest.as_ref() else {
        tracing::info!(key = %firing.timer.key, "report digest no longer configured; not posted");
        return Ok(());
    };
    let posting = digest.schedule.latest_at_or_before(tx.now);
    if firing.late_by.is_some() {
        tracing::info!(due = %firing.timer.due_at, posting = %posting, "report digest caught up once");
    }
    let query = ReportQuery {
        period: digest.schedule.period_before(posting),
        service: None,
        priority: None,
    };
    let report = store::reports::report(tx, &query).await?;
    let post = report_post(&report, &digest.channel, render::digest_heading(&digest.schedule));
    tx.record(
        None,
        AuditAction::ReportDigest,
        DIGEST_SUBJECT,
        render::history::digest_posted(&digest.channel),
        std::slice::from_ref(&post),
    );
    let now = tx.now;
    Ok(schedule_next(tx, digest, now).await?)
}

/// The stored timers' subject for the digest.
const DIGEST_SUBJECT: &str = "report";

/// Schedules the first digest posting after `now`, under its own key.
async fn schedule_next(conn: &mut store::Conn, digest: &DigestSettings, now: DateTime<Utc>) -> store::Result<()> {
    let next = digest.schedule.next_after(now);
    let kind = TimerKind::ReportDigest.as_str();
    store::timers::schedule(conn, kind, &posting_key(next), DIGEST_SUBJECT, next, "{}").await?;
    Ok(())
}

impl Desk {
    /// Arms the digest's timer at start. A pending posting of the configured
    /// schedule is kept (one already due is then made once, by the
    /// scheduler); pending postings of an older schedule are cancelled, and
    /// all of them when no digest is configured; with none left, the first
    /// posting after now is scheduled.
    pub async fn arm_digest(&self) -> Result<(), store::StoreError> {
        let now = self.clock().now();
        let kind = TimerKind::ReportDigest.as_str();
        let digest = self.policy().reports.digest.as_ref();
        let mut tx = self.store().begin().await?;
        let mut kept = false;
        for timer in store::timers::pending_of_kind(&mut tx, kind).await? {
            match digest {
                Some(d) if !kept && d.schedule.is_posting(timer.due_at) => kept = true,
                _ => {
                    store::timers::cancel_one(&mut tx, kind, &timer.key).await?;
                }
            }
        }
        if let (Some(digest), false) = (digest, kept) {
            schedule_next(&mut tx, digest, now).await?;
        }
        tx.commit().await?;
        self.timers_changed().notify_one();
        Ok(())
    }
}
