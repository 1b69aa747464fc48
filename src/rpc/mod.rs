//! Internal RPC between nodes: prost envelopes in length-delimited frames over the seam's TCP.
//!
//! One connection per peer carries many requests at once (each has an id), each with a
//! deadline; the client bounds requests in flight and reconnects after a failure; the server
//! bounds concurrent requests per connection. A malformed or oversize frame closes that one
//! connection. The wire format is in `docs/rpc.md`.

mod client;
mod error;
mod frame;
mod server;
pub mod shard;

pub use client::{RpcClient, RpcClientConfig};
pub use error::{RemoteError, RpcError};
pub use frame::{decode_frame, encode_frame, Envelope, FrameError, Kind, FRAME_BYTES_MAX};
pub use server::{serve, serve_connection, RpcServerConfig, RpcService};
