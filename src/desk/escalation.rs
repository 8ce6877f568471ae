//! Escalation actions: functional (`!escalate INC-n`, ⬆️), hierarchical
//! (`!escalate INC-n up`), the reporter's request for escalation, and major
//! incidents (`!major INC-n [off]`). Every notice is routed through a RACI row.

use super::act::Act;
use super::{rejected, Actor, Desk, DeskError, DeskResult, Reply};
use crate::domain::escalation::{audience, ladder, next_rung, next_tier, Party, TierError};
use crate::domain::incident::{Incident, IncidentId};
use crate::domain::raci::{Action, Route};
use crate::domain::text::bounded;
use crate::domain::RoleKey;
use crate::message::{Destination, OutMessage, Outgoing};
use crate::render;
use crate::store;

/// The emoji that escalates an incident functionally from its card or thread.
pub const ESCALATE: &str = "⬆";

impl Desk {
    /// The messages of one notice: one per channel among the roles it reaches
    /// (pinging the roles that are pinged there), and one in the incident's
    /// thread when its assignee is addressed.
    pub(crate) fn notify(
        &self,
        inc: &Incident,
        route: &Route,
        ping: &[Party],
        tell: &[Party],
        text: &str,
    ) -> Vec<Outgoing> {
        let policy = self.policy();
        let who = audience(route, ping, tell, inc.assignee.is_some());
        // (channel, the role whose channel it is, the roles pinged there)
        let mut channels: Vec<(String, RoleKey, Vec<RoleKey>)> = Vec::new();
        let roles = who
            .ping_roles
            .iter()
            .map(|r| (r, true))
            .chain(who.tell_roles.iter().map(|r| (r, false)));
        for (role, pinged) in roles {
            let channel = policy
                .role(role)
                .map(|d| d.channel.clone())
                .unwrap_or_else(|| role.to_string());
            match channels.iter_mut().find(|c| c.0 == channel) {
                Some(c) if pinged => c.2.push(role.clone()),
                Some(_) => {}
                None => channels.push((channel, role.clone(), if pinged { vec![role.clone()] } else { vec![] })),
            }
        }
        let subject = inc.id.to_string();
        let mut out: Vec<Outgoing> = channels
            .into_iter()
            .map(|(_, role, pings)| {
                Outgoing::post(
                    Destination::RoleChannel(role),
                    OutMessage::text(text).pinging_roles(pings),
                )
                .about(subject.clone())
            })
            .collect();
        if let (Some(pinged), Some(user)) = (who.assignee, inc.assignee) {
            let mut message = OutMessage::text(text);
            if pinged {
                message = message.pinging_users([user]);
            }
            out.push(Outgoing::post(Destination::Thread(subject.clone()), message).about(subject));
        }
        out
    }

    /// An optional reason, trimmed and checked against the note limit (newlines kept).
    pub(super) fn checked_reason(&self, reason: Option<String>) -> DeskResult<Option<String>> {
        match reason {
            Some(r) => Ok(Some(
                bounded("reason", &r, self.policy().limits.note_max, true)
                    .map_err(|e| DeskError::Rejected(render::text_refused(&e)))?,
            )),
            None => Ok(None),
        }
    }

    /// `!escalate INC-n [up] [reason]`: agents escalate; the reporter asks for it.
    pub(crate) async fn escalate(
        &self,
        tx: &mut Act<'_>,
        actor: &Actor,
        id: IncidentId,
        up: bool,
        reason: Option<String>,
    ) -> DeskResult<Reply> {
        let inc = self.visible(tx, actor, id).await?;
        let reason = self.checked_reason(reason)?;
        if !inc.state.is_open() {
            return rejected(render::not_open(&inc, "escalated"));
        }
        if !self.is_agent(actor) {
            // `visible` let only the reporter through.
            return self.request_escalation(tx, actor, &inc, reason).await;
        }
        if up {
            self.escalate_up(tx, actor, inc, reason).await
        } else {
            self.escalate_functional(tx, actor, inc, reason).await
        }
    }

    /// Hands the incident to the next support tier of its service.
    pub(crate) async fn escalate_functional(
        &self,
        tx: &mut Act<'_>,
        actor: &Actor,
        mut inc: Incident,
        reason: Option<String>,
    ) -> DeskResult<Reply> {
        let policy = self.policy();
        let now = tx.now;
        let chain = policy.tiers_for(inc.service.as_deref());
        let step = match next_tier(chain, inc.tier) {
            Ok(step) => step,
            Err(TierError::LastTier { role }) => return rejected(render::last_tier(policy, &inc, &role)),
            Err(TierError::NoTiers) => return rejected(render::last_tier(policy, &inc, &inc.handler_role)),
        };
        let from = std::mem::replace(&mut inc.handler_role, step.role);
        let from_tier = inc.tier;
        inc.tier = step.tier;
        // The new group decides who works on it: the previous assignee was in the old group.
        inc.assignee = None;
        inc.updated_at = now;
        store::incidents::update(tx, &inc, now).await?;

        let by = self.name_of(tx, actor.user).await?;
        let text = render::escalated_functional(policy, &inc, &by, &from, chain.len(), reason.as_deref());
        let route = self.route_for(Action::EscalateFunctional, &inc);
        let subject = inc.id.to_string();
        let mut out = vec![
            self.card(tx, &inc, false).await?,
            Outgoing::post(Destination::Thread(subject.clone()), OutMessage::text(text.clone())).about(&subject),
        ];
        out.extend(self.notify(
            &inc,
            &route,
            &[Party::Responsible],
            &[Party::Consulted, Party::Informed],
            &text,
        ));
        let details = format!(
            "tier {} → {}: {from} → {}{}",
            from_tier + 1,
            inc.tier + 1,
            inc.handler_role,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        tx.record(
            Some(actor.user),
            Action::EscalateFunctional.as_str(),
            &subject,
            &details,
            &out,
        );
        tracing::info!(incident = %inc.id, to = %inc.handler_role, tier = inc.tier, "escalated functionally");
        Ok(Reply::public(render::escalated_functional_reply(
            policy,
            &inc,
            chain.len(),
        )))
    }

    /// Raises the incident one rung: the incident manager, then the service owner.
    async fn escalate_up(
        &self,
        tx: &mut Act<'_>,
        actor: &Actor,
        inc: Incident,
        reason: Option<String>,
    ) -> DeskResult<Reply> {
        let policy = self.policy();
        let now = tx.now;
        let route = self.route_for(Action::EscalateHierarchical, &inc);
        let rungs = ladder(&route);
        let mut esc = store::escalations::get(tx, inc.id).await?;
        let Some((level, role, party)) = next_rung(&rungs, esc.level) else {
            return rejected(render::top_of_ladder(policy, &inc, rungs.last()));
        };
        esc.level = level;
        store::escalations::set(tx, inc.id, &esc, now).await?;

        let by = self.name_of(tx, actor.user).await?;
        let text = render::escalated_up(policy, &inc, &by, &role, reason.as_deref());
        let subject = inc.id.to_string();
        let mut out = vec![
            self.card(tx, &inc, false).await?,
            Outgoing::post(Destination::Thread(subject.clone()), OutMessage::text(text.clone())).about(&subject),
        ];
        out.extend(self.notify(&inc, &route, &[party], &[Party::Consulted, Party::Informed], &text));
        let details = format!(
            "level {level}: {role}{}",
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        tx.record(
            Some(actor.user),
            Action::EscalateHierarchical.as_str(),
            &subject,
            &details,
            &out,
        );
        tracing::info!(incident = %inc.id, to = %role, level, "escalated hierarchically");
        Ok(Reply::public(render::escalated_up_reply(policy, &inc, &role)))
    }

    /// A reporter asks for escalation: only the current tier is told.
    async fn request_escalation(
        &self,
        tx: &mut Act<'_>,
        actor: &Actor,
        inc: &Incident,
        reason: Option<String>,
    ) -> DeskResult<Reply> {
        let policy = self.policy();
        let by = self.name_of(tx, actor.user).await?;
        let text = render::escalation_requested(policy, inc, &by, reason.as_deref());
        let out = vec![Outgoing::post(
            Destination::RoleChannel(inc.handler_role.clone()),
            OutMessage::text(text).pinging_roles([inc.handler_role.clone()]),
        )
        .about(inc.id.to_string())];
        let details = format!(
            "to {}{}",
            inc.handler_role,
            reason.map(|r| format!(": {r}")).unwrap_or_default()
        );
        tx.record(
            Some(actor.user),
            "escalation_request",
            &inc.id.to_string(),
            &details,
            &out,
        );
        Ok(Reply::public(render::escalation_requested_reply(policy, inc)))
    }

    /// `!major INC-n [reason]` declares a major incident; `!major INC-n off <reason>` reverts it.
    pub(crate) async fn major(
        &self,
        tx: &mut Act<'_>,
        actor: &Actor,
        id: IncidentId,
        off: bool,
        reason: Option<String>,
    ) -> DeskResult<Reply> {
        self.require_agent(actor, "major")?;
        let policy = self.policy();
        let now = tx.now;
        let inc = self.visible(tx, actor, id).await?;
        let reason = self.checked_reason(reason)?;
        if !inc.state.is_open() {
            return rejected(render::not_open(&inc, "declared major"));
        }
        let mut esc = store::escalations::get(tx, id).await?;
        let by = self.name_of(tx, actor.user).await?;
        let route = self.route_for(Action::MajorIncident, &inc);
        let everyone = [
            Party::Responsible,
            Party::Accountable,
            Party::Consulted,
            Party::Informed,
        ];
        let subject = id.to_string();
        let (text, ping, action, reply): (String, &[Party], &str, String) = if off {
            if !esc.major {
                return rejected(render::not_major(id));
            }
            let Some(reason) = reason.as_deref() else {
                return rejected(render::major_off_needs_reason(&policy.prefix, id));
            };
            esc.major = false;
            esc.major_since = None;
            store::escalations::set(tx, id, &esc, now).await?;
            self.retarget_clocks(tx, id, self.sla_policy(&inc, true), self.sla_policy(&inc, false))
                .await?;
            (
                render::major_reverted(policy, &inc, &by, reason),
                &[],
                "major_incident_off",
                render::major_reverted_reply(&inc),
            )
        } else {
            if esc.major {
                return rejected(render::already_major(id));
            }
            esc.major = true;
            esc.major_since = Some(now);
            store::escalations::set(tx, id, &esc, now).await?;
            self.retarget_clocks(tx, id, self.sla_policy(&inc, false), self.sla_policy(&inc, true))
                .await?;
            (
                render::major_declared(policy, &inc, &by, reason.as_deref()),
                &policy.escalation.major_ping,
                Action::MajorIncident.as_str(),
                render::major_reply(&inc),
            )
        };
        let mut out = vec![
            self.card(tx, &inc, false).await?,
            Outgoing::post(Destination::Thread(subject.clone()), OutMessage::text(text.clone())).about(&subject),
        ];
        out.extend(self.notify(&inc, &route, ping, &everyone, &text));
        let details = reason.unwrap_or_default();
        tx.record(Some(actor.user), action, &subject, &details, &out);
        tracing::info!(incident = %id, major = !off, "major incident");
        Ok(Reply::public(reply))
    }
}
