//! Fault points, two-tier as in FoundationDB's BUGGIFY.
//!
//! A site is named by a static string. In a simulated run with fault points switched on, the
//! first time a site is reached the seed decides whether it is enabled for the whole run (tier
//! one); an enabled site then fires with a per-site probability each time it is reached (tier
//! two). Rare paths (short reads, slow syncs, early timeouts, dropped responses) are thereby
//! exercised in some seeds and not others. In production [`point`] is always false.

#[cfg(madsim)]
mod sim {
    use std::cell::RefCell;
    use std::collections::BTreeMap;

    use rand::Rng;

    pub struct Sites {
        pub on: bool,
        pub sites: BTreeMap<&'static str, Option<f64>>,
    }

    thread_local! {
        // Per thread: a simulated run lives on one thread.
        pub static SITES: RefCell<Sites> = const { RefCell::new(Sites { on: false, sites: BTreeMap::new() }) };
    }

    pub fn point(site: &'static str) -> bool {
        let mut rng = crate::rand::rng();
        let p = SITES.with_borrow_mut(|s| {
            if !s.on {
                return None;
            }
            // Tier one: a quarter of sites are enabled in a given run.
            *s.sites.entry(site).or_insert_with(|| rng.gen_bool(0.25).then(|| [0.01, 0.05, 0.2][rng.gen_range(0..3)]))
        });
        let fired = p.is_some_and(|p| rng.gen_bool(p));
        if fired {
            crate::trace::record(site, 1);
        }
        fired
    }
}

/// Whether the fault point `site` fires now.
#[inline]
pub fn point(site: &'static str) -> bool {
    #[cfg(madsim)]
    {
        sim::point(site)
    }
    #[cfg(not(madsim))]
    {
        let _ = site;
        false
    }
}

/// Switches fault points on or off for the current simulated run (off in the liveness phase).
pub fn set_enabled(on: bool) {
    #[cfg(madsim)]
    {
        sim::SITES.with_borrow_mut(|s| s.on = on);
    }
    #[cfg(not(madsim))]
    {
        let _ = on;
    }
}

/// Forgets every site's tier-one decision at the start of a simulated run.
pub fn reset() {
    #[cfg(madsim)]
    {
        sim::SITES.with_borrow_mut(|s| {
            s.on = false;
            s.sites.clear();
        });
    }
}

/// The sites enabled so far in this run, for the run's printed settings.
pub fn enabled_sites() -> Vec<&'static str> {
    #[cfg(madsim)]
    {
        sim::SITES.with_borrow(|s| s.sites.iter().filter(|(_, p)| p.is_some()).map(|(k, _)| *k).collect())
    }
    #[cfg(not(madsim))]
    {
        Vec::new()
    }
}
