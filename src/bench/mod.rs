//! Load generators: `keel bench <protocol>` drives a broker over the network and reports what
//! it measured, so Keel can be compared with other brokers on the same machine in the same run.
//!
//! Real sockets and real time only: a simulation build (`--cfg madsim`) has no network to
//! measure, so this module is left out of it (as the binary's command line is).

#![cfg(not(madsim))]

pub mod kafka;
pub mod mqtt;
