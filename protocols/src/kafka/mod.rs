//! The Kafka wire protocol, sans-IO: frames ([`frame`]), requests decoded and checked against
//! the versions Keel serves ([`request`], [`versions`]), responses encoded ([`response`]),
//! record batches (v2) inspected and re-based without being decoded or decompressed
//! ([`batch`]), and a batch's records decompressed, bounded, where they must be read
//! ([`decompress`]). Messages themselves are the `kafka-protocol` crate's, re-exported as
//! [`kafka_protocol`] so that every user agrees on its version.

pub mod batch;
pub mod decompress;
pub mod frame;
pub mod group;
pub mod request;
pub mod response;
pub mod sasl;
pub mod versions;

pub use kafka_protocol;
