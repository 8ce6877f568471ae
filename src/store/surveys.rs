//! Satisfaction questions asked on resolve, and their answers.

use super::{to_ms, Conn, Result};
use crate::domain::incident::IncidentId;
use chrono::{DateTime, Utc};

/// Records that the question for `incident` went out as outbox row `outbox_id`.
pub async fn ask(conn: &mut Conn, incident: IncidentId, outbox_id: i64, at: DateTime<Utc>) -> Result<()> {
    sqlx::query("INSERT INTO surveys (incident_id, outbox_id, asked_at) VALUES ($1, $2, $3)")
        .bind(incident.get())
        .bind(outbox_id)
        .bind(to_ms(at))
        .execute(conn)
        .await?;
    Ok(())
}

/// The incident whose open (unanswered) question was posted as `message_id`.
pub async fn open_by_message(conn: &mut Conn, message_id: &str) -> Result<Option<IncidentId>> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT s.incident_id FROM surveys s JOIN outbox o ON o.id = s.outbox_id
          WHERE o.platform_message_id = $1 AND s.answer IS NULL ORDER BY s.id DESC LIMIT 1",
    )
    .bind(message_id)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| IncidentId::from_row(r.0)))
}

/// Records the answer to the incident's open question; false if none was open.
pub async fn answer(conn: &mut Conn, incident: IncidentId, answer: &str, at: DateTime<Utc>) -> Result<bool> {
    let done =
        sqlx::query("UPDATE surveys SET answer = $1, answered_at = $2 WHERE incident_id = $3 AND answer IS NULL")
            .bind(answer)
            .bind(to_ms(at))
            .bind(incident.get())
            .execute(conn)
            .await?;
    Ok(done.rows_affected() > 0)
}

/// Open (unanswered, delivered) questions as (channel id, message id): the
/// incident's thread, else its card's channel.
pub async fn open_questions(conn: &mut Conn) -> Result<Vec<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT COALESCE(c.thread_id, c.channel_id), o.platform_message_id
           FROM surveys s JOIN outbox o ON o.id = s.outbox_id JOIN cards c ON c.subject = 'INC-' || s.incident_id
          WHERE s.answer IS NULL AND o.platform_message_id IS NOT NULL ORDER BY s.id",
    )
    .fetch_all(conn)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::priority::{Impact, Priority, Urgency};
    use crate::domain::{incident::NewIncident, RoleKey, UserId};
    use crate::message::{Destination, OutMessage, Outgoing};
    use crate::store::testing::temp_store;

    #[tokio::test]
    async fn a_question_is_found_by_its_message_until_it_is_answered() {
        let (store, _dir) = temp_store().await;
        let mut c = store.write().await.unwrap();
        let now = Utc::now();
        let new = NewIncident {
            title: "x".into(),
            impact: Impact::Low,
            urgency: Urgency::Low,
            priority: Priority::parse("P5").unwrap(),
            service: None,
            category: None,
            reporter: UserId::new(1),
            handler_role: RoleKey::parse("service_desk").unwrap(),
            source_link: None,
            source_message: None,
        };
        let inc = crate::store::incidents::insert(&mut c, &new, now).await.unwrap();
        let item = Outgoing::post(Destination::Thread("INC-1".into()), OutMessage::text("fixed?"));
        let outbox_id = crate::store::outbox::enqueue_one(&mut c, &item, now).await.unwrap();
        ask(&mut c, inc.id, outbox_id, now).await.unwrap();
        assert_eq!(open_by_message(&mut c, "77").await.unwrap(), None, "not delivered yet");
        crate::store::outbox::mark_delivered(&mut c, outbox_id, "77", now)
            .await
            .unwrap();
        assert_eq!(open_by_message(&mut c, "77").await.unwrap(), Some(inc.id));
        assert!(answer(&mut c, inc.id, "fixed", now).await.unwrap());
        assert!(
            !answer(&mut c, inc.id, "not_fixed", now).await.unwrap(),
            "answered once"
        );
        assert_eq!(open_by_message(&mut c, "77").await.unwrap(), None);
    }
}
