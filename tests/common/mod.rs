//! Helpers shared by the tests that run the production binary as real processes on loopback.
// Each test crate uses only some of them.
#![allow(dead_code)]
// The harness drives real processes and sockets from outside any node: the seam is not in play.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const KEEL: &str = env!("CARGO_BIN_EXE_keel");

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("keel-test-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

pub struct Proc {
    pub child: Child,
    pub admin: String,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[broker]` section of a test node: MQTT on `mqtt` (loopback), no WebSocket listener.
pub fn broker_section(mqtt: u16) -> String {
    format!("[broker]\nmqtt_listen = \"127.0.0.1:{mqtt}\"\nmqtt_ws_listen = \"\"\nkafka_listen = \"\"\n[mqtt]\nsys_interval_s = 0\n")
}

/// Writes the config of node `id` under `dir`/n`id` and returns (config path, node dir).
/// `mqtt`: the broker role's MQTT port; `None`: no broker role (meta and storage only).
pub fn node_config(dir: &Path, id: u64, rpc: u16, admin: u16, mqtt: Option<u16>, peers: &str) -> (PathBuf, PathBuf) {
    let d = dir.join(format!("n{id}"));
    std::fs::create_dir_all(&d).unwrap();
    let config = d.join("keel.toml");
    let (roles, broker) = match mqtt {
        Some(port) => ("[\"meta\", \"storage\", \"broker\"]", broker_section(port)),
        None => ("[\"meta\", \"storage\"]", String::new()),
    };
    let text = format!(
        "node_id = {id}\nroles = {roles}\ndata_dir = {:?}\n[rpc]\nlisten = \"127.0.0.1:{rpc}\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n{broker}[meta.peers]\n{peers}",
        d.join("data"),
    );
    std::fs::write(&config, text).unwrap();
    (config, d)
}

pub fn start(config: &Path, dir: &Path, admin_port: u16) -> Proc {
    let log = std::fs::File::create(dir.join("keel.log")).unwrap();
    let child =
        Command::new(KEEL).args(["server", "--config"]).arg(config).stdout(Stdio::null()).stderr(log).spawn().unwrap();
    Proc { child, admin: format!("http://127.0.0.1:{admin_port}") }
}

/// Runs a `keel` subcommand against `admin`; returns (success, stdout, stderr).
pub fn cli(admin: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(KEEL).args(args).args(["--admin", admin]).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

pub fn health(admin: &str) -> Option<Value> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, body) = rt.block_on(keel::admin::client::request(admin, "GET", "/health", None)).ok()?;
    (status == 200).then(|| serde_json::from_str(&body).ok()).flatten()
}

pub fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn leader_of(admin: &str) -> Option<u64> {
    health(admin)?["meta"]["leader"].as_u64()
}
