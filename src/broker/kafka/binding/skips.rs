//! What a bound topic's reads already know holds nothing for it: per binding and partition, the
//! last range of the log found without a matching record. A consumer of a narrow filter sits at
//! an offset below records that are not its own (its position moves only when a matching record
//! comes back); remembering the range lets its next fetch start past them instead of scanning
//! them again. Records below the high watermark never change, so a range stays true as long as
//! the binding's filter does (it is kept with the range and compared).

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// One partition's known-empty range `[from, to)` and the filter it holds for.
struct Skip {
    filter: String,
    from: i64,
    to: i64,
}

/// The known-empty ranges of this broker's bound reads.
#[derive(Default)]
pub struct Skips(Mutex<HashMap<(String, u32), Skip>>);

impl Skips {
    /// Where a read of binding `name` (`filter`) from `offset` can start.
    pub fn start(&self, name: &str, filter: &str, partition: u32, offset: i64) -> i64 {
        let map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match map.get(&(name.to_string(), partition)) {
            Some(s) if s.filter == filter && s.from <= offset && offset < s.to => s.to,
            _ => offset,
        }
    }

    /// Notes that `[from, to)` holds no record of binding `name` (`filter`), joined to the range
    /// known already when the two touch.
    pub fn note(&self, name: &str, filter: &str, partition: u32, from: i64, to: i64) {
        if to <= from {
            return;
        }
        let mut map = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let key = (name.to_string(), partition);
        match map.get_mut(&key) {
            Some(s) if s.filter == filter && s.from <= from && from <= s.to => s.to = s.to.max(to),
            _ => {
                map.insert(key, Skip { filter: filter.to_string(), from, to });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_inside_a_known_empty_range_starts_at_its_end_and_ranges_that_touch_join() {
        let s = Skips::default();
        assert_eq!(s.start("b", "a/#", 0, 5), 5);
        s.note("b", "a/#", 0, 5, 10);
        assert_eq!((s.start("b", "a/#", 0, 5), s.start("b", "a/#", 0, 9)), (10, 10));
        assert_eq!((s.start("b", "a/#", 0, 4), s.start("b", "a/#", 0, 10)), (4, 10));
        s.note("b", "a/#", 0, 10, 20);
        assert_eq!(s.start("b", "a/#", 0, 6), 20);
        s.note("b", "a/#", 0, 30, 40);
        assert_eq!((s.start("b", "a/#", 0, 6), s.start("b", "a/#", 0, 31)), (6, 40));
    }

    #[test]
    fn a_range_holds_only_for_its_binding_partition_and_filter() {
        let s = Skips::default();
        s.note("b", "a/#", 0, 0, 10);
        assert_eq!(s.start("b", "a/#", 1, 0), 0);
        assert_eq!(s.start("c", "a/#", 0, 0), 0);
        assert_eq!(s.start("b", "x/#", 0, 0), 0);
        s.note("b", "a/#", 0, 3, 3);
        assert_eq!(s.start("b", "a/#", 0, 3), 10);
    }
}
