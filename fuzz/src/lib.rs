//! What Keel's fuzz targets share: the byte layout of a fuzzed directory of files ([`files`]),
//! an executor for the async recovery paths ([`exec`]), the seed corpora written from the real
//! encoders ([`seeds`] and the per-target generators), and the MQTT session's scripted
//! conversation ([`session_script`]).
//!
//! Seeds: a target started with `KEEL_FUZZ_SEED_DIR=<dir>` writes valid encodings (made by the
//! real encoders and engines) into `<dir>` before libFuzzer reads its corpus, so every run starts
//! from inputs that reach past the first checks. `ci/fuzz.sh` sets it to the target's corpus.

pub mod exec;
pub mod files;
pub mod meta_dir;
pub mod rpc_seeds;
pub mod seeds;
pub mod segment_dir;
pub mod session_script;
pub mod session_seeds;
pub mod stored_seeds;
