//! The Kafka wire protocol, sans-IO: frames ([`frame`]), requests decoded and checked against
//! the versions Keel serves ([`request`], [`versions`]), responses encoded ([`response`]), and
//! record batches (v2) inspected and re-based without being decoded or decompressed
//! ([`batch`]). Messages themselves are the `kafka-protocol` crate's, re-exported as
//! [`kafka_protocol`] so that every user agrees on its version.

pub mod batch;
pub mod frame;
pub mod group;
pub mod request;
pub mod response;
pub mod sasl;
pub mod versions;

pub use kafka_protocol;
