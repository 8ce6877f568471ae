//! Pacing of REST calls under Discord's budgets, so we rarely meet a 429:
//! about 50 requests a second in all, and about 5 messages per 5 seconds in one
//! channel. Sliding windows; callers wait for a free slot.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most `limit` events in any `window`.
#[derive(Debug)]
struct Window {
    limit: usize,
    window: Duration,
    times: VecDeque<Instant>,
}

impl Window {
    fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            times: VecDeque::new(),
        }
    }

    /// How long until one more event fits.
    fn wait(&mut self, now: Instant) -> Duration {
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= self.window)
        {
            self.times.pop_front();
        }
        if self.times.len() < self.limit {
            Duration::ZERO
        } else {
            self.times.front().map_or(Duration::ZERO, |oldest| {
                self.window.saturating_sub(now.duration_since(*oldest))
            })
        }
    }
}

/// Global and per-channel budgets.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<(Window, HashMap<u64, Window>)>,
    per_channel: (usize, Duration),
}

impl Pacer {
    /// Discord's published budgets, with a little headroom (the config's defaults).
    #[cfg(test)]
    pub fn discord() -> Self {
        Self::new(45, Duration::from_secs(1), 5, Duration::from_secs(5))
    }

    pub fn new(global: usize, global_window: Duration, per_channel: usize, channel_window: Duration) -> Self {
        Self {
            state: Mutex::new((Window::new(global, global_window), HashMap::new())),
            per_channel: (per_channel, channel_window),
        }
    }

    /// Waits for a slot for one request, counted against `channel` too when given.
    pub async fn acquire(&self, channel: Option<u64>) {
        loop {
            let wait = {
                let now = Instant::now();
                let Ok(mut guard) = self.state.lock() else { return };
                let (global, channels) = &mut *guard;
                let mut wait = global.wait(now);
                if let Some(c) = channel {
                    let (limit, window) = self.per_channel;
                    let w = channels.entry(c).or_insert_with(|| Window::new(limit, window));
                    wait = wait.max(w.wait(now));
                    if wait.is_zero() {
                        w.times.push_back(now);
                    }
                }
                if wait.is_zero() {
                    global.times.push_back(now);
                }
                wait
            };
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn sends_to_one_channel_are_held_to_five_per_five_seconds() {
        let pacer = Pacer::discord();
        let start = Instant::now();
        for _ in 0..11 {
            pacer.acquire(Some(7)).await;
        }
        // 5 at once, 5 more after 5 s, the 11th after 10 s.
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(10));
    }

    #[tokio::test(start_paused = true)]
    async fn an_outage_fan_out_of_300_dms_stays_under_the_global_budget() {
        // Each DM is two requests: opening the DM channel (global only) and the send.
        let pacer = Pacer::discord();
        let start = Instant::now();
        let mut stamps = Vec::new();
        for user in 0..300u64 {
            pacer.acquire(None).await;
            stamps.push(Instant::now());
            pacer.acquire(Some(10_000 + user)).await;
            stamps.push(Instant::now());
        }
        for (i, t) in stamps.iter().enumerate() {
            let in_window = stamps[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
                .count();
            assert!(in_window <= 45, "{in_window} requests within a second of request {i}");
        }
        // 600 requests at 45 a second: a little over 13 seconds, not minutes.
        let took = Instant::now().duration_since(start);
        assert!(
            took >= Duration::from_secs(13) && took < Duration::from_secs(15),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_budget_spans_channels() {
        let pacer = Pacer::new(3, Duration::from_secs(1), 5, Duration::from_secs(5));
        let start = Instant::now();
        for c in 0..7u64 {
            pacer.acquire(Some(c)).await;
        }
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(2));
        pacer.acquire(None).await;
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(2));
    }
}
