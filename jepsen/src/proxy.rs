//! Fault-injecting TCP proxies, one per directed inter-node link.
//!
//! Node `a` reaches node `b`'s RPC port through the proxy of link `(a, b)` (keel's
//! `rpc.connect_via`), so the harness sees and controls every byte between nodes. A blocked
//! direction `(from, to)` stalls the bytes `from` sends to `to` on every connection between the
//! two (those `from` opened and those `to` opened): they wait in the proxy and the kernel
//! buffers behind it, as packets would be dropped and retransmitted under a real partition,
//! and flow again, in order, when the direction is healed. One-way partitions are a direction
//! blocked without its reverse. New connections are accepted but stall the same way.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// Directions whose bytes stall: (from node, to node).
#[derive(Default)]
pub struct Blocked(Mutex<BTreeSet<(u64, u64)>>);

impl Blocked {
    fn is_blocked(&self, from: u64, to: u64) -> bool {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).contains(&(from, to))
    }

    /// Replaces the blocked directions.
    pub fn set(&self, directions: BTreeSet<(u64, u64)>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = directions;
    }
}

/// The proxies of a cluster: the address each node dials for each peer.
pub struct Proxies {
    /// (from, to) → the proxy `from` dials to reach `to`.
    pub links: BTreeMap<(u64, u64), SocketAddr>,
    pub blocked: Arc<Blocked>,
}

impl Proxies {
    /// One proxy per ordered pair of `nodes` (id → real RPC address), listening on loopback.
    pub fn start(nodes: &BTreeMap<u64, SocketAddr>) -> std::io::Result<Proxies> {
        let blocked = Arc::new(Blocked::default());
        let mut links = BTreeMap::new();
        for &from in nodes.keys() {
            for (&to, &target) in nodes {
                if from == to {
                    continue;
                }
                let listener = TcpListener::bind("127.0.0.1:0")?;
                links.insert((from, to), listener.local_addr()?);
                let blocked = blocked.clone();
                thread::spawn(move || accept_loop(listener, from, to, target, blocked));
            }
        }
        Ok(Proxies { links, blocked })
    }
}

fn accept_loop(listener: TcpListener, from: u64, to: u64, target: SocketAddr, blocked: Arc<Blocked>) {
    for client in listener.incoming().flatten() {
        let Ok(upstream) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) else {
            continue; // the peer is down: the connection closes, as a refused one would
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (Ok(c2), Ok(u2)) = (client.try_clone(), upstream.try_clone()) else { continue };
        let b = blocked.clone();
        thread::spawn(move || pump(client, upstream, from, to, &b));
        let b = blocked.clone();
        thread::spawn(move || pump(u2, c2, to, from, &b));
    }
}

/// Copies `src` to `dst` (bytes from node `from` to node `to`), stalling while that direction
/// is blocked; closes both ways when either side closes.
fn pump(mut src: TcpStream, mut dst: TcpStream, from: u64, to: u64, blocked: &Blocked) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match src.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        while blocked.is_blocked(from, to) {
            thread::sleep(Duration::from_millis(20));
        }
        if dst.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = src.shutdown(Shutdown::Both);
    let _ = dst.shutdown(Shutdown::Both);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn echo_server() -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        thread::spawn(move || {
            for mut s in l.incoming().flatten() {
                thread::spawn(move || {
                    let mut buf = [0u8; 1024];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 || s.write_all(&buf[..n]).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        addr
    }

    fn roundtrip(s: &mut TcpStream, msg: &[u8]) -> std::io::Result<Vec<u8>> {
        s.write_all(msg)?;
        let mut got = vec![0u8; msg.len()];
        s.read_exact(&mut got)?;
        Ok(got)
    }

    #[test]
    fn a_blocked_direction_stalls_bytes_until_healed_then_delivers_them_in_order() {
        let nodes = BTreeMap::from([(1, echo_server()), (2, echo_server())]);
        let proxies = Proxies::start(&nodes).unwrap();
        let mut s = TcpStream::connect(proxies.links[&(1, 2)]).unwrap();
        s.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
        assert_eq!(roundtrip(&mut s, b"ping").unwrap(), b"ping");
        // 2 cannot answer 1: the echo stalls, then arrives after the heal.
        proxies.blocked.set(BTreeSet::from([(2, 1)]));
        assert!(roundtrip(&mut s, b"lost?").is_err(), "nothing comes back while blocked");
        proxies.blocked.set(BTreeSet::new());
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut got = vec![0u8; 5];
        s.read_exact(&mut got).unwrap();
        assert_eq!(got, b"lost?", "delivered late, not dropped");
        assert_eq!(roundtrip(&mut s, b"again").unwrap(), b"again");
    }
}
