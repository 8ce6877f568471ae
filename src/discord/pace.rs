//! Pacing of REST calls under Discord's budgets, so we rarely meet a 429:
//! about 50 requests a second in all, and about 5 messages per 5 seconds in one
//! channel. Sliding windows; callers wait for a free slot, by [`Class`]
//! when the global budget is spent (answers, then deliveries, then bulk
//! direct messages on the remainder), and not at all while Discord's
//! `retry_after` from a 429 runs ([`Pacer::hold`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// At most `limit` requests in any `window`. A request's slot is taken when
/// it is let go and freed `window` after its answer came back, not after it
/// was let go: the platform counts a request when it arrives, somewhere in
/// between, so however late a request leaves (a busy machine, many at once),
/// no window of the platform's sees more than `limit`.
#[derive(Debug)]
struct Window {
    limit: usize,
    window: Duration,
    /// Slots taken: the request's id, and when its answer came (`None` in flight).
    slots: Vec<(u64, Option<Instant>)>,
}

/// How often a caller looks again while every slot is held by a request in flight.
const IN_FLIGHT_POLL: Duration = Duration::from_millis(10);

impl Window {
    fn new(limit: usize, window: Duration) -> Self {
        Self {
            limit: limit.max(1),
            window,
            slots: Vec::new(),
        }
    }

    /// How long until one more request fits.
    fn wait(&mut self, now: Instant) -> Duration {
        let window = self.window;
        self.slots
            .retain(|(_, done)| done.map_or(true, |d| now.duration_since(d) < window));
        if self.slots.len() < self.limit {
            return Duration::ZERO;
        }
        self.slots
            .iter()
            .filter_map(|(_, done)| done.map(|d| window.saturating_sub(now.duration_since(d))))
            .min()
            .unwrap_or(IN_FLIGHT_POLL)
    }

    fn take(&mut self, id: u64) {
        self.slots.push((id, None));
    }

    fn finish(&mut self, id: u64, now: Instant) {
        if let Some(slot) = self.slots.iter_mut().find(|(s, _)| *s == id) {
            slot.1 = Some(now);
        }
    }
}

/// Who is asking for a slot: when the global budget is spent, a waiting
/// answer goes before a waiting delivery, and a delivery before a bulk
/// direct message, which gets the budget's remainder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Class {
    /// A direct answer to whoever acted (a reply, a private word).
    Answer,
    /// An outbox delivery to a channel or a thread (cards, edits, posts).
    Delivery,
    /// An outbox direct message (a subscriber notice), and opening its channel.
    Bulk,
}

impl Class {
    fn index(self) -> usize {
        self as usize
    }
}

/// How long a lower class steps aside for a higher one that is waiting for
/// the slot just freed.
const YIELD: Duration = Duration::from_millis(3);

#[derive(Debug)]
struct State {
    /// The id of the next slot taken.
    next: u64,
    global: Window,
    channels: HashMap<u64, Window>,
    /// Callers of each class waiting for the global budget.
    waiting: [usize; 3],
    /// Nothing goes before this instant (Discord said so with a global 429).
    held_until: Option<Instant>,
    /// Nothing goes to a channel before its instant (a 429 on that channel).
    channel_held: HashMap<u64, Instant>,
}

/// Global and per-channel budgets.
#[derive(Debug)]
pub struct Pacer {
    state: Mutex<State>,
    per_channel: (usize, Duration),
}

/// A request's slot in the budgets: its window starts when it is dropped
/// (once the request's answer is in).
#[must_use = "hold the slot until the request's answer is in"]
pub struct Slot<'a> {
    pacer: &'a Pacer,
    id: u64,
    channel: Option<u64>,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let now = Instant::now();
        if let Ok(mut state) = self.pacer.state.lock() {
            state.global.finish(self.id, now);
            if let Some(w) = self.channel.and_then(|c| state.channels.get_mut(&c)) {
                w.finish(self.id, now);
            }
        }
    }
}

/// A caller's place among those waiting for the global budget, given up when dropped.
struct Waiting<'a> {
    pacer: &'a Pacer,
    class: Option<Class>,
}

impl Waiting<'_> {
    fn set(&mut self, state: &mut State, class: Option<Class>) {
        if let Some(c) = self.class.take() {
            state.waiting[c.index()] -= 1;
        }
        if let Some(c) = class {
            state.waiting[c.index()] += 1;
        }
        self.class = class;
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if let (Some(c), Ok(mut state)) = (self.class, self.pacer.state.lock()) {
            state.waiting[c.index()] -= 1;
        }
    }
}

impl Pacer {
    /// Discord's published budgets, with a little headroom (the config's defaults).
    #[cfg(test)]
    pub fn discord() -> Self {
        Self::new(48, Duration::from_secs(1), 5, Duration::from_secs(5))
    }

    pub fn new(global: usize, global_window: Duration, per_channel: usize, channel_window: Duration) -> Self {
        Self {
            state: Mutex::new(State {
                next: 1,
                global: Window::new(global, global_window),
                channels: HashMap::new(),
                waiting: [0; 3],
                held_until: None,
                channel_held: HashMap::new(),
            }),
            per_channel: (per_channel, channel_window),
        }
    }

    /// Waits for a slot for one request of `class`, counted against `channel`
    /// too when given (an answer is held to a channel only while Discord's
    /// 429 on it runs: Discord, not the pacer, decides what an answer may
    /// cost). Keep the slot until the request's answer is in.
    pub async fn acquire(&self, channel: Option<u64>, class: Class) -> Slot<'_> {
        let mut waiting = Waiting {
            pacer: self,
            class: None,
        };
        let counted = channel.filter(|_| class != Class::Answer);
        loop {
            let wait = {
                let now = Instant::now();
                let Ok(mut guard) = self.state.lock() else {
                    return Slot {
                        pacer: self,
                        id: 0,
                        channel: None,
                    };
                };
                let state = &mut *guard;
                let held = state
                    .held_until
                    .into_iter()
                    .chain(channel.and_then(|c| state.channel_held.get(&c).copied()))
                    .map(|t| t.saturating_duration_since(now))
                    .max()
                    .unwrap_or(Duration::ZERO);
                let (limit, window) = self.per_channel;
                let channel_wait = match counted {
                    Some(c) => state
                        .channels
                        .entry(c)
                        .or_insert_with(|| Window::new(limit, window))
                        .wait(now),
                    None => Duration::ZERO,
                };
                let own = held.max(channel_wait);
                if !own.is_zero() {
                    // Not waiting for the global budget (yet): no place among those who are.
                    waiting.set(state, None);
                    own
                } else {
                    let global = state.global.wait(now);
                    let ahead = state.waiting[..class.index()].iter().sum::<usize>() > 0;
                    if global.is_zero() && !ahead {
                        waiting.set(state, None);
                        let id = state.next;
                        state.next += 1;
                        state.global.take(id);
                        if let Some(c) = counted {
                            if let Some(w) = state.channels.get_mut(&c) {
                                w.take(id);
                            }
                        }
                        return Slot {
                            pacer: self,
                            id,
                            channel: counted,
                        };
                    }
                    if waiting.class.is_none() {
                        waiting.set(state, Some(class));
                    }
                    if global.is_zero() {
                        YIELD
                    } else {
                        global
                    }
                }
            };
            tokio::time::sleep(wait).await;
        }
    }

    /// Holds every request for `after` (a global 429), or those to `channel`.
    pub fn hold(&self, channel: Option<u64>, after: Duration) {
        let until = Instant::now() + after;
        let Ok(mut state) = self.state.lock() else { return };
        let slot = match channel {
            Some(c) => state.channel_held.entry(c).or_insert(until),
            None => state.held_until.get_or_insert(until),
        };
        if *slot < until {
            *slot = until;
        }
        // Holds that are over are forgotten, so the map stays small.
        let now = Instant::now();
        state.channel_held.retain(|_, t| *t > now);
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
            let _ = pacer.acquire(Some(7), Class::Delivery).await;
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
            let _ = pacer.acquire(None, Class::Bulk).await;
            stamps.push(Instant::now());
            let _ = pacer.acquire(Some(10_000 + user), Class::Bulk).await;
            stamps.push(Instant::now());
        }
        for (i, t) in stamps.iter().enumerate() {
            let in_window = stamps[i..]
                .iter()
                .take_while(|u| u.duration_since(*t) < Duration::from_secs(1))
                .count();
            assert!(in_window <= 48, "{in_window} requests within a second of request {i}");
        }
        // 600 requests at 48 a second: about 12 seconds, not minutes.
        let took = Instant::now().duration_since(start);
        assert!(
            took >= Duration::from_secs(12) && took < Duration::from_secs(14),
            "{took:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_global_budget_spans_channels() {
        let pacer = Pacer::new(3, Duration::from_secs(1), 5, Duration::from_secs(5));
        let start = Instant::now();
        for c in 0..7u64 {
            let _ = pacer.acquire(Some(c), Class::Delivery).await;
        }
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(2));
        let _ = pacer.acquire(None, Class::Delivery).await;
        assert_eq!(Instant::now().duration_since(start), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn when_the_budget_is_spent_an_answer_goes_before_waiting_bulk_and_bulk_gets_the_remainder() {
        let pacer = std::sync::Arc::new(Pacer::new(4, Duration::from_secs(1), 5, Duration::from_secs(5)));
        let start = Instant::now();
        let order = std::sync::Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        // Twelve direct messages queue up first: three windows' worth.
        for i in 0..12u64 {
            let (pacer, order) = (pacer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _ = pacer.acquire(Some(100 + i), Class::Bulk).await;
                order
                    .lock()
                    .unwrap()
                    .push((format!("dm{i}"), Instant::now().duration_since(start)));
            }));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        // Then an answer and a delivery, while the budget is spent.
        for (name, class) in [("answer", Class::Answer), ("card", Class::Delivery)] {
            let (pacer, order) = (pacer.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _ = pacer.acquire(Some(7), class).await;
                order
                    .lock()
                    .unwrap()
                    .push((name.to_owned(), Instant::now().duration_since(start)));
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        let at = |name: &str| order.iter().position(|(n, _)| n == name).unwrap();
        // The first window went to four DMs; the next slots to the answer, then the card.
        assert!(order[..4].iter().all(|(n, _)| n.starts_with("dm")), "{order:?}");
        assert_eq!((at("answer"), at("card")), (4, 5), "{order:?}");
        assert_eq!(
            order[4].1,
            Duration::from_secs(1),
            "the answer takes the first freed slot"
        );
        // Bulk was not starved: it had the rest, four a second.
        assert_eq!(order.len(), 14);
        assert!(order.last().unwrap().1 < Duration::from_secs(4), "{order:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_hold_after_a_429_stops_everyone_or_one_channel_for_discords_wait() {
        let pacer = Pacer::discord();
        let start = Instant::now();
        pacer.hold(None, Duration::from_millis(1500));
        let _ = pacer.acquire(None, Class::Answer).await;
        assert_eq!(Instant::now().duration_since(start), Duration::from_millis(1500));
        // A channel's hold keeps that channel waiting, not another.
        pacer.hold(Some(7), Duration::from_secs(2));
        let _ = pacer.acquire(Some(8), Class::Delivery).await;
        assert_eq!(Instant::now().duration_since(start), Duration::from_millis(1500));
        let _ = pacer.acquire(Some(7), Class::Delivery).await;
        assert_eq!(Instant::now().duration_since(start), Duration::from_millis(3500));
    }
}
