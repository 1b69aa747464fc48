//! Randomness: OS-seeded in production, the run's seeded generator in simulation.

pub use ::rand::{Rng, RngCore, SeedableRng};

/// The generator handed out by [`rng`].
#[cfg(not(madsim))]
pub type ThreadRng = ::rand::rngs::ThreadRng;
/// The generator handed out by [`rng`].
#[cfg(madsim)]
pub type ThreadRng = madsim::rand::GlobalRng;

/// A handle to this thread's (production) or this run's (simulation) generator.
#[allow(clippy::disallowed_methods)]
pub fn rng() -> ThreadRng {
    #[cfg(not(madsim))]
    {
        ::rand::thread_rng()
    }
    #[cfg(madsim)]
    {
        madsim::rand::thread_rng()
    }
}

/// A random `u64`.
pub fn u64() -> u64 {
    rng().next_u64()
}

/// A deterministic generator seeded from [`rng`], for components that keep their own stream.
pub fn seeded_child() -> ::rand::rngs::StdRng {
    ::rand::rngs::StdRng::seed_from_u64(u64())
}
