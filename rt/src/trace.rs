//! A digest of the run's event trace, for the determinism check.
//!
//! In simulation every seam effect that can vary (RPC frames sent and received, disk operations,
//! fault points fired, client operations) is folded into one FNV-1a digest. Running a seed twice
//! must give the same digest; a differing digest means some effect escaped the seam. In
//! production [`record`] compiles to nothing.

/// `KEEL_SIM_TRACE` set: print every recorded event, to find where two runs of a seed part.
#[cfg(madsim)]
static TRACE_TO_STDERR: std::sync::LazyLock<bool> =
    std::sync::LazyLock::new(|| std::env::var_os("KEEL_SIM_TRACE").is_some());

// Per thread: a simulated run lives on one thread, and runs may go on in parallel.
#[cfg(madsim)]
thread_local! {
    static DIGEST: std::cell::Cell<u64> = const { std::cell::Cell::new(FNV_OFFSET) };
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Folds `bytes` into a running FNV-1a hash.
pub fn fnv1a(mut hash: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(FNV_PRIME);
    }
    hash
}

/// FNV-1a of `bytes` from the offset basis.
pub fn hash(bytes: &[u8]) -> u64 {
    fnv1a(FNV_OFFSET, bytes)
}

/// Records one event: a tag and a value, with the simulated time it happened at.
#[inline]
pub fn record(tag: &str, value: u64) {
    #[cfg(madsim)]
    {
        let now = crate::time::since_start().as_nanos() as u64;
        if *TRACE_TO_STDERR {
            eprintln!("trace {now} {} {tag} {value}", madsim::plugin::node());
        }
        let mut h = fnv1a(DIGEST.get(), tag.as_bytes());
        h = fnv1a(h, &value.to_le_bytes());
        DIGEST.set(fnv1a(h, &now.to_le_bytes()));
    }
    #[cfg(not(madsim))]
    {
        let _ = (tag, value);
    }
}

/// Resets the digest at the start of a simulated run.
pub fn reset() {
    #[cfg(madsim)]
    {
        DIGEST.set(FNV_OFFSET);
    }
}

/// The digest so far.
pub fn digest() -> u64 {
    #[cfg(madsim)]
    {
        DIGEST.get()
    }
    #[cfg(not(madsim))]
    {
        FNV_OFFSET
    }
}
