//! The web console (`/ui`, docs/console.md) in a real browser: headless Chromium driven through
//! chromedriver's WebDriver REST API (a tiny client below, over loopback HTTP), against a
//! three-node cluster of real `keel` processes (MQTT and Kafka on every node). Every page is
//! opened and checked for console errors and for values the admin API returns; the topics page
//! must show a topic created while it is open; the groups page a consumer group's lag on every
//! node, its coordinator or not; with no meta quorum, a page shows the API's error. Screenshots of each page go to `$KEEL_ARTIFACTS/console-screenshots` (default:
//! `target/console-screenshots`).
//!
//! Needs `chromium` and `chromedriver` (Debian: `apt-get install chromium chromium-driver`; CI
//! installs them); `KEEL_SKIP_BROWSER=1` skips the test with a notice instead of failing.
#![cfg(not(madsim))]
// The harness drives real processes and sockets from outside any node: the seam is not in play.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{json, Value};

mod common;

use common::*;

/// How long one WebDriver call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// One HTTP/1.1 exchange on loopback: (status, JSON body or `Null`). Reads the body by its
/// `Content-Length` (chromedriver keeps connections open) or to the end.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<(u16, Value), String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect to {port}: {e}"))?;
    s.set_read_timeout(Some(CALL_TIMEOUT)).map_err(|e| e.to_string())?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).and_then(|_| s.write_all(body.as_bytes())).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut buf = [0; 64 * 1024];
    loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&raw[..at]).to_ascii_lowercase();
            let length =
                head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse().ok());
            if length.is_some_and(|n: usize| raw.len() >= at + 4 + n) {
                break;
            }
        }
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) => return Err(format!("{method} {path}: {e}")),
        }
    }
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| format!("{method} {path}: no HTTP head"))?;
    let status =
        head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad status line {head:?}"))?;
    Ok((status, serde_json::from_str(body).unwrap_or(Value::Null)))
}

/// A chromedriver process (killed on drop).
struct Driver {
    child: Child,
    port: u16,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A WebDriver session (its browser closed on drop).
struct Session<'a> {
    driver: &'a Driver,
    id: String,
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = http(self.driver.port, "DELETE", &format!("/session/{}", self.id), None);
    }
}

impl Session<'_> {
    fn call(&self, method: &str, what: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}/{what}", self.id);
        let (status, v) = http(self.driver.port, method, &path, body.as_ref()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(status, 200, "WebDriver {method} {what}: {v}");
        v["value"].clone()
    }

    fn go(&self, url: &str) {
        self.call("POST", "url", Some(json!({ "url": url })));
    }

    /// Runs `script` (a function body) in the page and returns its value.
    fn js(&self, script: &str) -> Value {
        self.call("POST", "execute/sync", Some(json!({ "script": script, "args": [] })))
    }

    /// Waits (bounded) until `script` returns something other than `null`/`false`.
    fn wait(&self, what: &str, limit: Duration, script: &str) -> Value {
        let start = Instant::now();
        loop {
            let v = self.js(script);
            if !v.is_null() && v != json!(false) {
                return v;
            }
            if start.elapsed() > limit {
                let page = self.js("return document.body.innerText");
                let errors = self.js("return window.keelErrors");
                panic!(
                    "timed out after {limit:?} waiting for {what}; page errors {errors}, browser log {}; the page shows:\n{}",
                    self.browser_log(),
                    page.as_str().unwrap_or("")
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits for `page` to have rendered after now, then checks no error reached the page.
    fn open(&self, base: &str, hash: &str, page: &str) {
        let before = self.js("return Date.now()").as_u64().unwrap_or(0);
        self.go(&format!("{base}/ui#{hash}"));
        let script = format!(
            "var m = document.getElementById('main'); return m && m.getAttribute('data-page') === '{page}' && Number(m.getAttribute('data-rendered')) >= {before};"
        );
        self.wait(&format!("page {page}"), Duration::from_secs(15), &script);
        self.assert_no_errors(page);
    }

    fn assert_no_errors(&self, page: &str) {
        let errors = self.js("return window.keelErrors || ['window.keelErrors is missing: the page did not load'];");
        assert_eq!(errors, json!([]), "errors on page {page}");
        // The browser's own log (failed loads included), where chromedriver offers it.
        let log = self.browser_log();
        let severe: Vec<&Value> = log.as_array().into_iter().flatten().filter(|e| e["level"] == "SEVERE").collect();
        assert!(severe.is_empty(), "browser log errors on page {page}: {severe:?}");
    }

    /// The browser's log entries since the last call (`Null` where chromedriver has none).
    fn browser_log(&self) -> Value {
        let path = format!("/session/{}/se/log", self.id);
        match http(self.driver.port, "POST", &path, Some(&json!({"type": "browser"}))) {
            Ok((200, v)) => v["value"].clone(),
            _ => Value::Null,
        }
    }

    fn text(&self, css: &str) -> String {
        let script = format!("var e = document.querySelector({}); return e ? e.textContent.trim() : null;", json!(css));
        self.js(&script).as_str().unwrap_or("").to_string()
    }

    fn screenshot(&self, dir: &Path, name: &str) {
        let b64 = self.call("GET", "screenshot", None);
        let png = base64::engine::general_purpose::STANDARD.decode(b64.as_str().unwrap_or("")).expect("a base64 PNG");
        assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }
}

/// The first of `candidates` that exists (an absolute path, or a name on `PATH`).
fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(env) {
        return Some(PathBuf::from(p)).filter(|p| p.exists());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    for c in candidates {
        let c = Path::new(c);
        if c.is_absolute() && c.exists() {
            return Some(c.to_path_buf());
        }
        if let Some(found) = std::env::split_paths(&path).map(|d| d.join(c)).find(|p| p.exists()) {
            return Some(found);
        }
    }
    None
}

fn screenshot_dir() -> PathBuf {
    let base = match std::env::var_os("KEEL_ARTIFACTS") {
        Some(a) => PathBuf::from(a),
        None => std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target")),
    };
    let dir = base.join("console-screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn admin(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let (status, text) = rt.block_on(keel::admin::client::request(base, method, path, body.as_ref())).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A persistent MQTT 3.1.1 session `client_id` subscribed to `sensors/#` at QoS 1; the
/// connection stays open (the session is served by that broker) until the stream is dropped.
fn mqtt_session(port: u16, client_id: &str) -> Option<TcpStream> {
    let id = client_id.as_bytes();
    let mut connect = vec![0x10, (12 + id.len()) as u8, 0, 4, b'M', b'Q', b'T', b'T', 4, 0, 0, 60, 0, id.len() as u8];
    connect.extend_from_slice(id);
    let filter = b"sensors/#";
    let mut subscribe = vec![0x82, (5 + filter.len()) as u8, 0, 1, 0, filter.len() as u8];
    subscribe.extend_from_slice(filter);
    subscribe.push(1);
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(&connect).ok()?;
    let mut connack = [0; 4];
    s.read_exact(&mut connack).ok()?;
    (connack[0] == 0x20 && connack[3] == 0).then_some(())?;
    s.write_all(&subscribe).ok()?;
    let mut suback = [0; 5];
    s.read_exact(&mut suback).ok()?;
    (suback[0] == 0x90 && suback[4] == 1).then_some(s)
}

/// One Kafka request (header v1, no client id) to `port`; the response after its correlation id.
fn kafka_call(port: u16, api_key: i16, version: i16, body: &[u8]) -> Option<Vec<u8>> {
    let mut req = [api_key.to_be_bytes(), version.to_be_bytes()].concat();
    req.extend_from_slice(&7i32.to_be_bytes());
    req.extend_from_slice(&(-1i16).to_be_bytes());
    req.extend_from_slice(body);
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    s.write_all(&[&(req.len() as i32).to_be_bytes()[..], &req].concat()).ok()?;
    let mut size = [0; 4];
    s.read_exact(&mut size).ok()?;
    let mut resp = vec![0; usize::try_from(i32::from_be_bytes(size)).ok()?];
    s.read_exact(&mut resp).ok()?;
    resp.get(4..).map(<[u8]>::to_vec)
}

fn kafka_string(s: &str) -> Vec<u8> {
    [&(s.len() as i16).to_be_bytes()[..], s.as_bytes()].concat()
}

/// Commits offset 0 of orders/0 for `group` (a standalone consumer: generation -1, no member)
/// at its coordinator, found through `bootstrap`; returns the coordinator's index in `kafka`.
fn commit_offset(bootstrap: u16, kafka: &[u16], group: &str) -> Option<usize> {
    // FindCoordinator v0: error_code, node_id, host, port.
    let found = kafka_call(bootstrap, 10, 0, &kafka_string(group))?;
    (found.get(0..2)? == [0, 0]).then_some(())?;
    let host_len = usize::from(u16::from_be_bytes(found.get(6..8)?.try_into().ok()?));
    let port = i32::from_be_bytes(found.get(8 + host_len..12 + host_len)?.try_into().ok()?);
    let index = kafka.iter().position(|p| i32::from(*p) == port)?;
    // OffsetCommit v2: group, generation -1, member "", retention -1, [orders: [0: offset 0]].
    let mut body = kafka_string(group);
    body.extend_from_slice(&(-1i32).to_be_bytes());
    body.extend(kafka_string(""));
    body.extend_from_slice(&(-1i64).to_be_bytes());
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend(kafka_string("orders"));
    body.extend_from_slice(&1i32.to_be_bytes());
    body.extend_from_slice(&0i32.to_be_bytes());
    body.extend_from_slice(&0i64.to_be_bytes());
    body.extend_from_slice(&(-1i16).to_be_bytes());
    let answer = kafka_call(kafka[index], 8, 2, &body)?;
    // [topics: name, [partition, error_code]]: the error code is the last two bytes.
    (answer.len() >= 2 && answer[answer.len() - 2..] == [0, 0]).then_some(index)
}

#[test]
fn console_pages_show_the_cluster_in_a_real_browser() {
    let started = Instant::now();
    if std::env::var("KEEL_SKIP_BROWSER").is_ok_and(|v| v == "1") {
        println!("NOTICE: tests/console.rs skipped (KEEL_SKIP_BROWSER=1): the web console was not tested in a browser");
        return;
    }
    let chromium =
        find_program("KEEL_CHROMIUM", &["/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome"]);
    let chromedriver = find_program("KEEL_CHROMEDRIVER", &["/usr/bin/chromedriver", "chromedriver"]);
    let (Some(chromium), Some(chromedriver)) = (chromium, chromedriver) else {
        panic!(
            "the console test needs Chromium and chromedriver: `apt-get install -y chromium chromium-driver` \
             (or set KEEL_CHROMIUM / KEEL_CHROMEDRIVER), or set KEEL_SKIP_BROWSER=1 to skip it"
        );
    };

    // A three-node cluster, every node with every role.
    let dir = temp_dir("console");
    let rpc: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let admin_ports: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let mqtt: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let kafka: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers: String = (0..3).map(|i| format!("{} = \"127.0.0.1:{}\"\n", i + 1, rpc[i])).collect();
    let mut procs: Vec<Proc> = (0..3)
        .map(|i| {
            let (config, d) = node_config(&dir, i as u64 + 1, rpc[i], admin_ports[i], Some(mqtt[i]), &peers);
            let text = std::fs::read_to_string(&config).unwrap();
            let with_kafka = text.replace("kafka_listen = \"\"", &format!("kafka_listen = \"127.0.0.1:{}\"", kafka[i]));
            std::fs::write(&config, with_kafka).unwrap();
            start(&config, &d, admin_ports[i])
        })
        .collect();
    let base = format!("http://127.0.0.1:{}", admin_ports[0]);
    wait_for("a meta leader", Duration::from_secs(30), || leader_of(&base));
    wait_for("three live nodes", Duration::from_secs(30), || {
        let (_, v) = admin(&base, "GET", "/api/cluster", None);
        (v["nodes"].as_array()?.iter().filter(|n| n["alive"] == true).count() == 3).then_some(())
    });
    let (status, v) =
        admin(&base, "POST", "/api/topics", Some(json!({"name": "orders", "partitions": 3, "replication_factor": 2})));
    assert_eq!(status, 201, "{v}");
    wait_for("a produce to orders", Duration::from_secs(20), || {
        let (s, _) =
            admin(&base, "POST", "/api/topics/orders/partitions/0/records", Some(json!({"records": ["a", "b"]})));
        (s == 200).then_some(())
    });
    // A consumer group's committed offset (0 of partition 0, whose HW is 2): a lag of 2.
    let coordinator =
        wait_for("a committed offset", Duration::from_secs(30), || commit_offset(kafka[0], &kafka, "console-group"));
    let mqtt_client = wait_for("an MQTT session", Duration::from_secs(30), || mqtt_session(mqtt[0], "console-test"));

    // The browser.
    let profile = dir.join("chromium-profile");
    let driver_port = free_port();
    let driver = Driver {
        child: Command::new(&chromedriver)
            .arg(format!("--port={driver_port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display())),
        port: driver_port,
    };
    wait_for("chromedriver", Duration::from_secs(15), || {
        let (_, v) = http(driver_port, "GET", "/status", None).ok()?;
        (v["value"]["ready"] == true).then_some(())
    });
    let caps = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:loggingPrefs": { "browser": "ALL" },
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,900",
                format!("--user-data-dir={}", profile.display()),
            ],
        },
    }}});
    let (status, v) = http(driver_port, "POST", "/session", Some(&caps)).unwrap();
    assert_eq!(status, 200, "no browser session: {v}");
    let session = Session { driver: &driver, id: v["value"]["sessionId"].as_str().expect("a session id").to_string() };
    let shots = screenshot_dir();

    // Overview: the meta leader and term the API reports, and the three nodes.
    session.open(&base, "/", "overview");
    let health = admin(&base, "GET", "/health", None).1;
    let leader = health["meta"]["leader"].as_u64().expect("a leader");
    session.wait(
        "the meta leader",
        Duration::from_secs(10),
        &format!("var e = document.getElementById('meta-leader'); return e && e.textContent === '{leader}';"),
    );
    assert!(!session.text("#meta-term").is_empty());
    let rows = session.js("return document.querySelectorAll('tr[data-node]').length");
    assert_eq!(rows, json!(3), "node rows");
    session.screenshot(&shots, "overview");

    // Topics: orders with 3 partitions; a topic created while the page is open shows up.
    session.open(&base, "/topics", "topics");
    assert_eq!(session.text("tr[data-topic=\"orders\"] .partitions"), "3");
    let (status, v) = admin(&base, "POST", "/api/topics", Some(json!({"name": "payments", "partitions": 2})));
    assert_eq!(status, 201, "{v}");
    session.wait(
        "the new topic on the open page",
        Duration::from_secs(10),
        "return document.querySelector('tr[data-topic=\"payments\"]') !== null;",
    );
    assert_eq!(session.text("tr[data-topic=\"payments\"] .partitions"), "2");
    session.assert_no_errors("topics");
    session.screenshot(&shots, "topics");

    // One topic: its shards with the leaders the API reports.
    session.open(&base, "/topics/orders", "topic");
    let (_, t) = admin(&base, "GET", "/api/topics/orders", None);
    let shards = t["shards"].as_array().expect("shards").clone();
    assert_eq!(session.js("return document.querySelectorAll('tr[data-partition]').length"), json!(shards.len()));
    for s in &shards {
        let p = &s["partition"];
        let leader = s["leader"].as_u64().map(|l| l.to_string()).unwrap_or_else(|| "offline".into());
        assert_eq!(session.text(&format!("tr[data-partition=\"{p}\"] td:nth-child(2)")), leader, "leader of shard {p}");
    }
    session.wait("partition 0's high watermark", Duration::from_secs(10), "var e = document.querySelector('tr[data-partition=\"0\"] td:nth-child(6)'); return e && e.textContent === '2';");
    session.screenshot(&shots, "topic");

    // MQTT: the persistent session, served by node 1.
    session.open(&base, "/mqtt", "mqtt");
    let broker = session.text("tr[data-client=\"console-test\"] td:nth-child(2)");
    assert_eq!(broker, "node 1");
    assert!(session.text("tr[data-client=\"console-test\"] td:nth-child(4)").contains("sensors/#"));
    session.screenshot(&shots, "mqtt");

    // Consumer groups: every group of the cluster with its lag, whichever node coordinates it
    // (read from __consumer_offsets); the same on the coordinator's console.
    let coordinator_base = format!("http://127.0.0.1:{}", admin_ports[coordinator]);
    for b in [&coordinator_base, &base] {
        session.open(b, "/groups", "groups");
        session.wait("the group's lag", Duration::from_secs(25), "var e = document.querySelector('tr[data-group=\"console-group\"] td:nth-child(2)'); return e && e.textContent === '2';");
    }
    assert!(session.text("tr[data-group=\"console-group\"]").contains("orders/0: 2"));
    session.assert_no_errors("groups");
    session.screenshot(&shots, "groups");

    // Charts: MQTT QoS 1 publishes while the page is open show up as a packet rate and a
    // PUBLISH-to-PUBACK latency (the PUBACKs pile up unread on the socket).
    session.open(&base, "/charts", "charts");
    let seen = |chart: &str| {
        let script = format!("return Number(document.getElementById('chart-{chart}').getAttribute('data-max')) > 0;");
        session.js(&script) == json!(true)
    };
    let start = Instant::now();
    let mut packet_id: u16 = 0;
    while !(seen("mqtt-packets") && seen("mqtt-p99")) {
        assert!(start.elapsed() < Duration::from_secs(20), "no MQTT packet rate or latency on the charts");
        packet_id += 1;
        let [hi, lo] = packet_id.to_be_bytes();
        let publish = [0x32, 12, 0, 7, b'o', b't', b'h', b'e', b'r', b'/', b'x', hi, lo, b'!'];
        (&mqtt_client).write_all(&publish).expect("an MQTT publish");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(session.js("return document.querySelector('#chart-mqtt-packets path.series') !== null;") == json!(true));
    session.assert_no_errors("charts");
    session.screenshot(&shots, "charts");

    // A route that does not exist: a page saying so, never a blank one.
    session.open(&base, "/nowhere", "unknown");
    assert!(session.text("main").contains("Not found"));

    // Two nodes down, no meta quorum: the surviving node's console shows the API's error in
    // place of the topics, never a blank page.
    let survivor = format!("http://127.0.0.1:{}", admin_ports[2]);
    drop(procs.drain(..2));
    session.go(&format!("{survivor}/ui#/topics"));
    session.wait(
        "an error on the page",
        Duration::from_secs(30),
        "var e = document.querySelector('main .error'); return e && e.textContent.indexOf('/api/topics') >= 0;",
    );
    assert!(session.text("#main h1").contains("Topics"));
    session.screenshot(&shots, "no-quorum");

    println!("console pages checked in {:?}; screenshots in {}", started.elapsed(), shots.display());
}
