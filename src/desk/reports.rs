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

use super::act::Act;
use super::{Desk, DeskResult, Reply};
use crate::domain::priority::Priority;
use crate::domain::report::{PeriodSpec, ReportQuery};
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
    let mut message = OutMessage::text("").with_card(render::report_card(&report));
    match render::report_chart(&report) {
        Ok(png) => message = message.with_card_image(render::CHART_FILE, png),
        // The figures are worth posting without their picture.
        Err(e) => tracing::error!(error = %e, "report chart not drawn"),
    }
    let post = Outgoing::post(Destination::Channel(channel.to_owned()), message);
    tx.enqueue_now(&post).await?;
    Ok(Reply::acknowledged(render::REPORT_POSTED))
}
