//! TCP through the seam: tokio sockets in production, madsim's simulated network in simulation.
//!
//! Simulated TCP buffers writes until `flush()`: every writer flushes after each frame.

pub use tokio::net::{TcpListener, TcpStream};

/// Sets TCP_NODELAY where the backend supports it (a no-op in simulation).
pub fn set_nodelay(stream: &TcpStream) {
    #[cfg(not(madsim))]
    {
        let _ = stream.set_nodelay(true);
    }
    #[cfg(madsim)]
    {
        let _ = stream;
    }
}
