//! Open-loop pacing of one publisher: message n is due at start + n / rate. A publisher that
//! fell behind (the broker pushed back) catches up at once rather than silently sending less,
//! so latency at a fixed rate includes the time messages waited to be sent.

use std::time::Duration;

use keel_rt::time::Instant;

/// When each message of a fixed-rate stream is due.
pub struct Pacer {
    start: Instant,
    /// Messages per second; `None`: unpaced.
    rate: Option<f64>,
}

impl Pacer {
    /// A pacer for `rate` messages per second (0 or less: no pacing) from `start`.
    pub fn new(start: Instant, rate: f64) -> Pacer {
        Pacer { start, rate: (rate > 0.0).then_some(rate) }
    }

    /// How many messages may be sent at `now` when `sent` were: `u64::MAX` when unpaced.
    pub fn due(&self, now: Instant, sent: u64) -> u64 {
        match self.rate {
            None => u64::MAX,
            Some(rate) => {
                let owed = (now.saturating_duration_since(self.start).as_secs_f64() * rate) as u64 + 1;
                owed.saturating_sub(sent)
            }
        }
    }

    /// When message `sent` (counting from 0) is due; `None` when unpaced.
    pub fn next_at(&self, sent: u64) -> Option<Instant> {
        self.rate.map(|rate| self.start + Duration::from_secs_f64(sent as f64 / rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_fall_due_at_the_rate() {
        let start = keel_rt::time::now();
        let p = Pacer::new(start, 1000.0);
        assert_eq!(p.due(start, 0), 1);
        assert_eq!(p.due(start + Duration::from_millis(10), 1), 10);
        assert_eq!(p.due(start + Duration::from_millis(10), 20), 0);
        assert_eq!(p.next_at(20), Some(start + Duration::from_millis(20)));
        let unpaced = Pacer::new(start, 0.0);
        assert_eq!((unpaced.due(start, 1 << 40), unpaced.next_at(5)), (u64::MAX, None));
    }
}
