//! The segment engine: a durable log in its own on-disk format, over the disk seam.
//!
//! A log is a directory of segments, each a `.log` file of record batches (named by its base
//! offset) with two sparse index files. Appends go to the last (active) segment; it rolls to a
//! new one past `segment_bytes_max` or `segment_ms`; retention drops whole sealed segments.
//! Every byte goes through [`keel_rt::disk::Disk`], so the same code runs on real files and on
//! the simulated disk whose crashes tear unsynced writes. The byte layouts and the recovery
//! rules are in `docs/segment-format.md`.
//!
//! Files, one concept each: [`format`] (batches), [`varint`], [`index`] (sparse indexes),
//! [`names`] (file names), [`config`], `log_segment` (one segment's bookkeeping), `cache`
//! (the tail cache), `scan` and `view` (checked sequential reading), `engine` (state, locks,
//! sync), `append`, `read`, `truncate`, `retention`, `recovery` (open), `tiering` (what the object tier
//! needs: segment listing, raw sealed bytes, restarting the log at an offset).

mod append;
mod cache;
pub mod config;
mod engine;
pub mod format;
pub mod index;
mod log_segment;
pub mod names;
mod read;
mod recovery;
mod retention;
mod scan;
mod tiering;
mod truncate;
pub mod varint;
mod view;

pub use config::SegmentConfig;
pub use engine::{RecoveryReport, SegmentEngine};
pub(crate) use read::Budget;
pub use tiering::SegmentInfo;
