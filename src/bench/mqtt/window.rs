//! A publisher's QoS 1/2 window: which packet identifiers are in flight (PUBLISH sent, PUBACK
//! or PUBCOMP not yet received), at most `limit` at a time.

/// Packet identifiers 1..=65535 and whether each is in flight.
pub struct Window {
    in_flight: Vec<u64>,
    count: usize,
    limit: usize,
    last_id: u16,
}

impl Window {
    /// A window of `limit` identifiers (1 to 65535).
    pub fn new(limit: u16) -> Window {
        Window { in_flight: vec![0; 65536 / 64], count: 0, limit: usize::from(limit.max(1)), last_id: 0 }
    }

    /// Identifiers that may still be taken.
    pub fn room(&self) -> usize {
        self.limit - self.count
    }

    /// Identifiers in flight.
    pub fn in_flight(&self) -> usize {
        self.count
    }

    /// Lowers the limit (to the broker's Receive Maximum).
    pub fn cap(&mut self, limit: u16) {
        self.limit = self.limit.min(usize::from(limit.max(1))).max(self.count);
    }

    fn is_set(&self, id: u16) -> bool {
        self.in_flight[usize::from(id) / 64] & (1 << (id % 64)) != 0
    }

    /// Takes the next free identifier; `None` when the window is full.
    pub fn take(&mut self) -> Option<u16> {
        if self.count >= self.limit {
            return None;
        }
        let mut id = self.last_id;
        loop {
            id = if id == u16::MAX { 1 } else { id + 1 };
            if !self.is_set(id) {
                break;
            }
        }
        self.in_flight[usize::from(id) / 64] |= 1 << (id % 64);
        self.count += 1;
        self.last_id = id;
        Some(id)
    }

    /// Frees `id`; false if it was not in flight (an acknowledgement for nothing).
    pub fn release(&mut self, id: u16) -> bool {
        if id == 0 || !self.is_set(id) {
            return false;
        }
        self.in_flight[usize::from(id) / 64] &= !(1 << (id % 64));
        self.count -= 1;
        true
    }

    /// Whether `id` is in flight.
    pub fn holds(&self, id: u16) -> bool {
        id != 0 && self.is_set(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_up_to_the_limit_and_wraps_around_in_flight_ids() {
        let mut w = Window::new(3);
        assert_eq!((w.take(), w.take(), w.take(), w.take()), (Some(1), Some(2), Some(3), None));
        assert!(w.release(2) && !w.release(2) && !w.release(0));
        assert_eq!((w.take(), w.room(), w.in_flight()), (Some(4), 0, 3));
        let mut w = Window::new(u16::MAX);
        for _ in 0..65534 {
            w.take().unwrap();
        }
        w.release(1);
        w.release(65534);
        assert_eq!((w.take(), w.take(), w.take()), (Some(65535), Some(1), Some(65534)));
        assert!(w.holds(1) && !w.holds(0));
    }

    #[test]
    fn the_cap_never_strands_what_is_in_flight() {
        let mut w = Window::new(64);
        for _ in 0..10 {
            w.take();
        }
        w.cap(4);
        assert_eq!((w.room(), w.take()), (0, None));
        (1..=10).for_each(|id| assert!(w.release(id)));
        w.cap(100);
        assert_eq!(w.room(), 10);
    }
}
