//! Internal RPC over real loopback TCP: many calls share one connection, deadlines hold,
//! in-flight calls are bounded, and a malformed or oversize frame closes only its own
//! connection.
#![cfg(not(madsim))]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use keel::rpc::{serve, RemoteError, RpcClient, RpcClientConfig, RpcError, RpcServerConfig, RpcService};
use keel_rt::net::TcpListener;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// `echo` returns its body; `sleep` waits the number of milliseconds in its body.
struct Echo;

#[async_trait]
impl RpcService for Echo {
    async fn call(&self, method: &str, body: Bytes) -> Result<Bytes, RemoteError> {
        match method {
            "echo" => Ok(body),
            "sleep" => {
                let ms: u64 = std::str::from_utf8(&body).unwrap().parse().unwrap();
                keel_rt::time::sleep(Duration::from_millis(ms)).await;
                Ok(body)
            }
            _ => Err(RemoteError::new(RemoteError::NO_SUCH_METHOD, "no such method")),
        }
    }
}

async fn server() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    keel_rt::task::spawn(serve(l, Arc::new(Echo), RpcServerConfig { concurrent_max: 64, frame_bytes_max: 1024 }));
    addr
}

const T: Duration = Duration::from_secs(5);

#[tokio::test]
async fn concurrent_calls_share_a_connection_and_match_their_responses() {
    let c = Arc::new(RpcClient::new(server().await, RpcClientConfig::default()));
    let calls: Vec<_> = (0..50)
        .map(|i| {
            let c = c.clone();
            // Later calls sleep less, so responses come back out of order.
            keel_rt::task::spawn(async move {
                let body = Bytes::from(format!("{}", 50 - i));
                (c.call("sleep", body.clone(), T).await.unwrap(), body)
            })
        })
        .collect();
    for call in calls {
        let (got, sent) = call.await.unwrap();
        assert_eq!(got, sent);
    }
    let e = c.call("nope", Bytes::new(), T).await.unwrap_err();
    assert!(matches!(e, RpcError::Remote(RemoteError { code: RemoteError::NO_SUCH_METHOD, .. })), "{e:?}");
}

#[tokio::test]
async fn deadlines_and_the_in_flight_bound_hold() {
    let addr = server().await;
    let c = RpcClient::new(addr.clone(), RpcClientConfig::default());
    let e = c.call("sleep", Bytes::from("2000"), Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(e, RpcError::Timeout);

    let one = Arc::new(RpcClient::new(addr, RpcClientConfig { in_flight_max: 1, ..RpcClientConfig::default() }));
    let busy = {
        let one = one.clone();
        keel_rt::task::spawn(async move { one.call("sleep", Bytes::from("300"), T).await })
    };
    keel_rt::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(one.call("echo", Bytes::new(), T).await.unwrap_err(), RpcError::Overloaded);
    busy.await.unwrap().unwrap();
    assert!(one.call("echo", Bytes::new(), T).await.is_ok(), "the permit comes back");
}

#[tokio::test]
async fn bad_frames_close_only_their_own_connection() {
    let addr = server().await;
    let good = RpcClient::new(addr.clone(), RpcClientConfig::default());
    assert_eq!(good.call("echo", Bytes::from("a"), T).await.unwrap(), Bytes::from("a"));

    for bad in [
        {
            let mut b = BytesMut::new();
            b.put_u32(5);
            b.put_slice(&[0xff; 5]); // not an envelope
            b
        },
        {
            let mut b = BytesMut::new();
            b.put_u32(1 << 30); // far over the server's 1 KiB limit
            b
        },
    ] {
        let mut raw = keel_rt::net::TcpStream::connect(addr.as_str()).await.unwrap();
        raw.write_all(&bad).await.unwrap();
        raw.flush().await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(T, raw.read(&mut buf)).await.expect("server closes").unwrap_or(0);
        assert_eq!(n, 0, "the server closed the bad connection");
        assert_eq!(good.call("echo", Bytes::from("b"), T).await.unwrap(), Bytes::from("b"), "others unaffected");
    }
}

#[tokio::test]
async fn an_absent_peer_is_unavailable_until_it_listens() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    drop(l);
    let c = RpcClient::new(addr.clone(), RpcClientConfig::default());
    let e = c.call("echo", Bytes::new(), T).await.unwrap_err();
    assert!(matches!(e, RpcError::NotSent(_)) && e.not_executed(), "{e:?}");
    let l = TcpListener::bind(addr.as_str()).await.unwrap();
    keel_rt::task::spawn(serve(l, Arc::new(Echo), RpcServerConfig::default()));
    assert_eq!(c.call("echo", Bytes::from("x"), T).await.unwrap(), Bytes::from("x"), "the next call dials again");
}

/// `rpc.connect_via`: a peer known by one address is dialled at another (the Jepsen harness's
/// proxies), and stays known by its own; peers not named are dialled directly.
#[tokio::test]
async fn connect_via_dials_the_given_address_for_a_peer() {
    let real = server().await;
    // Nothing listens on port 1 of loopback: reached only through `connect_via`.
    let named = "127.0.0.1:1".to_string();
    let peers = keel::meta::network::Peers::with_connect_via([(named.clone(), real.clone())].into());
    let got = peers.call(&named, "echo", Bytes::from_static(b"via"), T).await.unwrap();
    assert_eq!(got, Bytes::from_static(b"via"));
    let got = peers.call(&real, "echo", Bytes::from_static(b"direct"), T).await.unwrap();
    assert_eq!(got, Bytes::from_static(b"direct"));
    let plain = keel::meta::network::Peers::default();
    let e = plain.call(&named, "echo", Bytes::new(), Duration::from_millis(500)).await.unwrap_err();
    assert!(matches!(e, RpcError::NotSent(_)), "{e:?}");
}
