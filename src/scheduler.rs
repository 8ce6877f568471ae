//! The scheduler: wakes at the next due timer (or when told timers changed),
//! fires what is due through the desk, and on start catches up on everything
//! that fell due while the bot was down (each once). At start it also arms
//! the timers the configuration schedules (the report digest).

use std::future::Future;
use std::time::Duration;

use crate::desk::Desk;
use crate::store;

/// Runs until `shutdown` resolves.
pub async fn run(desk: Desk, shutdown: impl Future<Output = ()>) {
    tokio::pin!(shutdown);
    arm(&desk).await;
    loop {
        if let Err(e) = desk.fire_due_timers().await {
            // Due timers stay due; a storage fault is logged once by the store.
            if !desk.store().note_fault(&e) {
                tracing::error!(error = %e, "firing timers failed");
            }
        }
        let wait = next_wait(&desk).await;
        tokio::select! {
            _ = &mut shutdown => return,
            _ = desk.timers_changed().notified() => {}
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// Arms the timers the configuration schedules (the report digest) once at
/// start; a storage fault is logged and the desk runs on without them.
pub async fn arm(desk: &Desk) {
    if let Err(e) = desk.arm_digest().await {
        if !desk.store().note_fault(&e) {
            tracing::error!(error = %e, "arming the report digest failed");
        }
    }
}

/// How long to sleep: until the next timer, at most a minute (so a clock
/// moved by hand is noticed), at least a few milliseconds.
async fn next_wait(desk: &Desk) -> Duration {
    let next = match desk.store().write().await {
        Ok(mut conn) => store::timers::next_due(&mut conn).await.ok().flatten(),
        Err(_) => None,
    };
    match next {
        Some(at) => (at - desk.clock().now())
            .to_std()
            .unwrap_or(Duration::ZERO)
            .clamp(Duration::from_millis(5), Duration::from_secs(60)),
        None => Duration::from_secs(60),
    }
}
