//! The production binary as real processes on loopback: a single node with defaults, and a
//! three-node meta cluster that keeps its metadata and elects a new leader when the leader's
//! process is killed.
#![cfg(not(madsim))]
// The harness drives real processes and sockets from outside any node: the seam is not in play.
#![allow(clippy::disallowed_methods, clippy::disallowed_types)]

use std::process::Command;
use std::time::Duration;

use serde_json::Value;

mod common;

use common::*;

/// A single node's config under `dir` (defaults but for loopback ports); returns its path and
/// the admin port.
fn single_node_config(dir: &std::path::Path) -> (std::path::PathBuf, u16) {
    let (rpc, admin) = (free_port(), free_port());
    let config = dir.join("keel.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = {:?}\n[rpc]\nlisten = \"127.0.0.1:{rpc}\"\n[admin]\nlisten = \"127.0.0.1:{admin}\"\n{}",
            dir.join("data"),
            broker_section(free_port())
        ),
    )
    .unwrap();
    (config, admin)
}

#[test]
fn single_node_with_defaults_serves_topics_and_stops_on_sigterm() {
    let dir = temp_dir("single");
    let (config, admin) = single_node_config(&dir);
    let mut p = start(&config, &dir, admin);
    wait_for("a leader", Duration::from_secs(20), || leader_of(&p.admin));
    let (ok, out, _) = cli(&p.admin, &["topic", "create", "orders", "--partitions", "3"]);
    assert!(ok, "{out}");
    let (ok, _, err) = cli(&p.admin, &["topic", "create", "orders"]);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) = cli(&p.admin, &["topic", "create", "x", "--engine", "teapot"]);
    assert!(!ok && err.contains("unknown engine"), "{err}");
    let (ok, _, err) = cli(&p.admin, &["topic", "create", "y", "--replication-factor", "3"]);
    assert!(!ok && err.contains("needs 3 live storage nodes"), "{err}");
    let (ok, out, _) = cli(&p.admin, &["topic", "describe", "orders"]);
    assert!(ok && out.contains("partitions:") && out.contains("PARTITION  LEADER"), "{out}");
    let (ok, out, _) = cli(&p.admin, &["topic", "describe", "orders", "-o", "json"]);
    assert!(ok && out.contains("\"partitions\": 3"), "{out}");
    let metrics = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(keel::admin::client::request(&p.admin, "GET", "/metrics", None)).unwrap().1
    };
    assert!(metrics.contains("keel_meta_is_leader 1"), "{metrics}");

    // SIGTERM: a clean exit; the topic is still there after a restart.
    let pid = p.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = p.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let p = start(&config, &dir, admin);
    wait_for("a leader after restart", Duration::from_secs(20), || leader_of(&p.admin));
    let (ok, out, _) = cli(&p.admin, &["topic", "list"]);
    assert!(ok && out.contains("orders"), "{out}");
}

#[test]
fn three_node_cluster_elects_a_new_leader_and_keeps_metadata() {
    let dir = temp_dir("three");
    let rpc: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let admin: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers: String = (0..3).map(|i| format!("{} = \"127.0.0.1:{}\"\n", i + 1, rpc[i])).collect();
    let mut procs: Vec<Option<Proc>> = Vec::new();
    let mut configs = Vec::new();
    for i in 0..3 {
        let (config, d) = node_config(&dir, i as u64 + 1, rpc[i], admin[i], None, &peers);
        procs.push(Some(start(&config, &d, admin[i])));
        configs.push((config, d));
    }
    let url = |i: usize| format!("http://127.0.0.1:{}", admin[i]);
    let leader = wait_for("a leader", Duration::from_secs(30), || leader_of(&url(0)));
    let li = leader as usize - 1;
    let other = (li + 1) % 3;
    // Nodes register themselves as storage nodes shortly after they start.
    wait_for("three registered nodes", Duration::from_secs(30), || {
        let (ok, out, _) = cli(&url(other), &["cluster", "status", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).ok()?;
        (ok && v["nodes"].as_array()?.len() == 3).then_some(())
    });
    let (ok, out, err) =
        cli(&url(other), &["topic", "create", "before", "--partitions", "3", "--replication-factor", "3"]);
    assert!(ok, "create through a follower: {out} {err}");
    let shards = |admin: &str| -> Option<Vec<(u64, u64)>> {
        let (ok, out, _) = cli(admin, &["topic", "describe", "before", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).ok().filter(|_| ok)?;
        v["shards"].as_array()?.iter().map(|s| Some((s["leader"].as_u64()?, s["epoch"].as_u64()?))).collect()
    };
    let before = shards(&url(other)).unwrap();
    assert!(before.iter().any(|(l, _)| *l == leader), "one shard is led by the node about to die: {before:?}");

    procs[li] = None; // SIGKILL the leader
    let new_leader =
        wait_for("a new leader", Duration::from_secs(30), || leader_of(&url(other)).filter(|l| *l != leader));
    assert_ne!(new_leader, leader);
    let (ok, out, err) = cli(&url(other), &["topic", "describe", "before", "-o", "json"]);
    assert!(ok && out.contains("\"name\": \"before\""), "acknowledged metadata survives: {out} {err}");
    // Failure detection moves the dead node's shard leaderships, each under a new epoch.
    let moved = wait_for("shard leaders to move off the dead node", Duration::from_secs(30), || {
        shards(&url(other)).filter(|s| s.iter().all(|(l, _)| *l != leader))
    });
    for ((l0, e0), (l1, e1)) in before.iter().zip(&moved) {
        assert!(if *l0 == leader { e1 > e0 && l1 != l0 } else { (l1, e1) == (l0, e0) }, "{before:?} -> {moved:?}");
    }
    let (ok, _, err) = cli(&url(other), &["topic", "create", "after"]);
    assert!(ok, "writes continue with two of three: {err}");

    // The old leader comes back and catches up.
    procs[li] = Some(start(&configs[li].0, &configs[li].1, admin[li]));
    wait_for("the restarted node to catch up", Duration::from_secs(30), || {
        let h = health(&url(li))?;
        let applied = h["meta"]["last_applied"].as_u64()?;
        let target = health(&url(other))?["meta"]["last_applied"].as_u64()?;
        (applied >= target).then_some(())
    });
    let (ok, out, _) = cli(&url(li), &["topic", "list"]);
    assert!(ok && out.contains("before") && out.contains("after"), "{out}");
    let (ok, out, _) = cli(&url(li), &["cluster", "status", "-o", "json"]);
    assert!(ok && out.contains("\"voters\""), "{out}");

    // A fourth node joins (it is not among the bootstrap peers, so it waits to be added), is
    // added as a voter through a follower's admin API, catches up, and is removed again.
    let (rpc4, admin4) = (free_port(), free_port());
    let (config4, d4) = node_config(&dir, 4, rpc4, admin4, None, &peers);
    let p4 = start(&config4, &d4, admin4);
    let leader_now = wait_for("a leader", Duration::from_secs(30), || leader_of(&url(0)));
    let follower = (0..3).find(|i| *i as u64 + 1 != leader_now).unwrap();
    let (ok, out, err) = cli(&url(follower), &["cluster", "add-node", "4", &format!("127.0.0.1:{rpc4}")]);
    assert!(ok, "add-node: {out} {err}");
    let voters = |admin: &str| -> Option<usize> { Some(health(admin)?["meta"]["voters"].as_array()?.len()) };
    wait_for("node 4 to see four voters", Duration::from_secs(30), || (voters(&p4.admin)? == 4).then_some(()));
    let (ok, out, _) = cli(&p4.admin, &["topic", "list"]);
    assert!(ok && out.contains("before") && out.contains("after"), "node 4 serves reads: {out}");
    // The three old nodes hold every replica: rebalancing moves some to the new node, each
    // through an extra replica that catches up before the old one goes.
    wait_for("a replica moved to node 4 and in sync", Duration::from_secs(60), || {
        let (ok, out, _) = cli(&url(follower), &["topic", "describe", "before", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).ok().filter(|_| ok)?;
        let shards = v["shards"].as_array()?;
        let moved = shards.iter().any(|s| {
            let has = |k: &str| s[k].as_array().is_some_and(|a| a.iter().any(|n| n.as_u64() == Some(4)));
            has("replicas") && has("isr") && s["replicas"].as_array().map(Vec::len) == Some(3)
        });
        moved.then_some(())
    });
    let (ok, out, err) = cli(&url(follower), &["cluster", "remove-node", "4"]);
    assert!(ok, "remove-node: {out} {err}");
    wait_for("three voters again", Duration::from_secs(30), || (voters(&url(follower))? == 3).then_some(()));
}

#[test]
fn acknowledged_records_survive_the_death_of_their_shard_leader() {
    shard_leader_dies("data", "segment");
}

/// The same on the `object` engine: segments tiered to `<data_dir>/objects` (local files).
#[test]
fn acknowledged_records_survive_the_death_of_their_shard_leader_on_the_object_engine() {
    shard_leader_dies("data-object", "object");
}

fn shard_leader_dies(dir_name: &str, engine: &str) {
    let dir = temp_dir(dir_name);
    let rpc: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let admin: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let peers: String = (0..3).map(|i| format!("{} = \"127.0.0.1:{}\"\n", i + 1, rpc[i])).collect();
    let mut procs: Vec<Option<Proc>> = (0..3)
        .map(|i| {
            let (config, d) = node_config(&dir, i as u64 + 1, rpc[i], admin[i], None, &peers);
            Some(start(&config, &d, admin[i]))
        })
        .collect();
    let url = |i: usize| format!("http://127.0.0.1:{}", admin[i]);
    wait_for("a leader", Duration::from_secs(30), || leader_of(&url(0)));
    wait_for("three registered nodes", Duration::from_secs(30), || {
        let (ok, out, _) = cli(&url(0), &["cluster", "status", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).ok()?;
        (ok && v["nodes"].as_array()?.len() == 3).then_some(())
    });
    let (ok, out, err) = cli(&url(0), &["topic", "create", "orders", "--replication-factor", "3", "--engine", engine]);
    assert!(ok, "{out} {err}");
    let shard_leader = |admin: &str| -> Option<u64> {
        let (ok, out, _) = cli(admin, &["topic", "describe", "orders", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).ok().filter(|_| ok)?;
        v["shards"][0]["leader"].as_u64()
    };
    let produce = |i: usize, values: &[&str]| -> bool {
        let mut args = vec!["produce", "orders"];
        args.extend_from_slice(values);
        cli(&url(i), &args).0
    };
    // Replicas start within a reconciliation period: retry until the first produce is acknowledged.
    wait_for("the first acknowledged produce", Duration::from_secs(30), || produce(0, &["a", "b", "c"]).then_some(()));
    assert!(produce(1, &["d"]), "a second produce through another node");
    wait_for("describe shows the high watermark", Duration::from_secs(10), || {
        let (ok, out, _) = cli(&url(0), &["topic", "describe", "orders", "-o", "json"]);
        let v: Value = serde_json::from_str(&out).ok().filter(|_| ok)?;
        (v["shards"][0]["high_watermark"].as_u64()? >= 4).then_some(())
    });

    let dead = shard_leader(&url(0)).unwrap();
    procs[dead as usize - 1] = None; // SIGKILL the shard's leader
    let alive = (0..3).find(|i| *i as u64 + 1 != dead).unwrap();
    wait_for("a new shard leader", Duration::from_secs(30), || shard_leader(&url(alive)).filter(|l| *l != dead));
    wait_for("a produce acknowledged by the new leader", Duration::from_secs(40), || {
        produce(alive, &["e"]).then_some(())
    });

    let (ok, out, err) = cli(&url(alive), &["consume", "orders"]);
    assert!(ok, "{err}");
    let values: Vec<&str> = out.lines().filter_map(|l| l.split('\t').nth(1)).collect();
    for v in ["a", "b", "c", "d", "e"] {
        assert!(values.contains(&v), "acknowledged record {v:?} lost: {values:?}");
    }
    let offsets: Vec<u64> = out.lines().filter_map(|l| l.split('\t').next()?.parse().ok()).collect();
    assert!(offsets.windows(2).all(|w| w[1] == w[0] + 1) && offsets.first() == Some(&0), "dense offsets: {offsets:?}");
}

/// The operator's CLI against a real node: a confirmation, `topic describe` as a table and as
/// JSON without enum wrappers, `consume` reading every page up to the high watermark and
/// stopping, `--max-records`, `--offset`, `--from-time`, `KEEL_ADMIN`, an unreachable admin
/// API, and a reader that closes the pipe early (`keel consume ... | head -n 3`).
#[test]
fn cli_shows_tables_and_json_and_consumes_every_page_then_stops() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;

    // 100-byte values in produce batches of 5,000 (under the admin API's 1 MiB body): each
    // batch is stored whole and a read page (1 MiB) holds about one of them.
    const BATCH: usize = 5_000;
    const N: usize = 6 * BATCH;
    let pad = "x".repeat(94);
    let dir = temp_dir("cli");
    let (config, admin) = single_node_config(&dir);
    let p = start(&config, &dir, admin);
    wait_for("a leader", Duration::from_secs(20), || leader_of(&p.admin));
    let (ok, out, err) = cli(&p.admin, &["topic", "create", "events", "--partitions", "2"]);
    assert!(ok, "{out} {err}");
    assert_eq!(out.trim(), "created topic events (2 partitions, rf 1, min in-sync 1, engine segment)");

    let value = |i: usize| format!("r{i:05}{pad}");
    let values: Vec<String> = (0..N).map(value).collect();
    let produce = |batch: &[String]| -> (bool, String, String) {
        let mut args = vec!["produce", "events"];
        args.extend(batch.iter().map(String::as_str));
        cli(&p.admin, &args)
    };
    // The shard's replica starts within a reconciliation period: retry the first batch.
    let first = wait_for("the first acknowledged produce", Duration::from_secs(30), || {
        let (ok, out, _) = produce(&values[..BATCH]);
        ok.then_some(out)
    });
    assert_eq!(first.trim(), format!("produced {BATCH} records to events/0 (offsets 0..={})", BATCH - 1));
    for batch in values[BATCH..].chunks(BATCH) {
        let (ok, out, err) = produce(batch);
        assert!(ok, "{out} {err}");
    }

    // Describe: settings and one aligned row per partition, or the JSON schema.
    let (ok, out, err) = cli(&p.admin, &["topic", "describe", "events"]);
    assert!(ok, "{err}");
    assert!(out.contains("topic:") && out.contains("events") && out.contains("engine:"), "{out}");
    let row = |partition: &str| -> Vec<String> {
        let line = out.lines().find(|l| l.split_whitespace().next() == Some(partition)).unwrap_or("");
        line.split_whitespace().map(str::to_string).collect()
    };
    assert!(out.lines().any(|l| l.starts_with("PARTITION  LEADER  EPOCH  REPLICAS  ISR")), "{out}");
    assert_eq!(row("0")[5..8], [N.to_string(), "0".into(), N.to_string()], "HW, log start, log end: {out}");
    assert!(row("0")[8].ends_with("MiB"), "size: {out}");
    assert_eq!(row("1")[5..], ["0", "0", "0", "0B"], "{out}");
    let (ok, out, err) = cli(&p.admin, &["topic", "describe", "events", "-o", "json"]);
    assert!(ok, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (v["kind"].as_str(), v["name"].as_str(), v["partitions"].as_u64()),
        (Some("topic"), Some("events"), Some(2))
    );
    assert_eq!(v["shards"][0]["high_watermark"].as_u64(), Some(N as u64), "{out}");
    assert!(v["shards"][0]["stored_bytes"].as_u64() > Some(100 * N as u64), "{out}");
    assert!(v.get("Topic").is_none() && !out.contains("\"Topic\""), "no enum wrapper: {out}");
    let (ok, out, _) = cli(&p.admin, &["topic", "list", "-o", "json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(ok && v["topics"].as_array().unwrap().iter().any(|t| t["name"] == "events"), "{out}");

    // One admin page holds fewer than N records: the CLI must page to read them all.
    let page = {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let path = "/api/topics/events/partitions/0/records?offset=0";
        rt.block_on(keel::admin::client::request(&p.admin, "GET", path, None)).unwrap().1
    };
    let page: Value = serde_json::from_str(&page).unwrap();
    let page_len = page["records"].as_array().unwrap().len();
    assert!(page_len > 0 && page_len < N, "one page has {page_len} of {N} records");

    let (ok, out, err) = cli(&p.admin, &["consume", "events"]);
    assert!(ok, "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), N, "every record, then a stop at the high watermark");
    for (i, line) in lines.iter().enumerate() {
        assert_eq!(*line, format!("{i}\t{}", value(i)));
    }
    let (ok, out, _) = cli(&p.admin, &["consume", "events", "--max-records", "3", "-o", "json"]);
    let offsets: Vec<u64> =
        out.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["offset"].as_u64().unwrap()).collect();
    assert!(ok && offsets == [0, 1, 2], "{out}");
    let (ok, out, _) = cli(&p.admin, &["consume", "events", "--offset", &(N - 2).to_string()]);
    assert!(ok && out.lines().count() == 2, "{out}");
    let (ok, out, _) = cli(&p.admin, &["consume", "events", "--from-time", "1h", "--max-records", "1"]);
    assert!(ok && out.trim() == format!("0\t{}", value(0)), "records are younger than an hour: {out}");
    let (ok, out, _) = cli(&p.admin, &["consume", "events", "--from-time", "9999-01-01T00:00:00Z"]);
    assert!(ok && out.is_empty(), "nothing in the future: {out}");
    let (ok, out, _) = cli(&p.admin, &["consume", "events", "--partition", "1"]);
    assert!(ok && out.is_empty(), "an empty partition ends at once: {out}");
    let (ok, out, _) = cli(&p.admin, &["topic", "describe", "events"]);
    assert!(ok && out.contains("retention:") && out.contains("unlimited"), "{out}");

    // --follow keeps tailing past the high watermark: a record produced later arrives.
    let mut follower = Command::new(KEEL)
        .args(["consume", "events", "--partition", "1", "--follow", "--admin", &p.admin])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let follower_out = follower.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(follower_out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let (ok, out, err) = cli(&p.admin, &["produce", "events", "--partition", "1", "late"]);
    assert!(ok, "{out} {err}");
    let line = rx.recv_timeout(Duration::from_secs(30));
    let _ = follower.kill();
    let _ = follower.wait();
    reader.join().unwrap();
    assert_eq!(line.as_deref(), Ok("0\tlate"), "the follower prints what is produced after it started");

    // `keel consume events | head -n 3`: the reader goes away; a quiet exit, status 0.
    let mut child = Command::new(KEEL)
        .args(["consume", "events", "--admin", &p.admin])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    for i in 0..3 {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        assert_eq!(line, format!("{i}\t{}\n", value(i)));
    }
    drop(reader);
    let status = wait_for("consume to exit", Duration::from_secs(30), || child.try_wait().unwrap());
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success() && !stderr.contains("panicked"), "{status}: {stderr}");
    assert!(stderr.is_empty(), "quiet: {stderr}");

    // The admin address from KEEL_ADMIN; a wrong one says what to do.
    let out = Command::new(KEEL).args(["topic", "list"]).env("KEEL_ADMIN", &p.admin).output().unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("events"), "{out:?}");
    let dead = format!("http://127.0.0.1:{}", free_port());
    let out = Command::new(KEEL).args(["topic", "list"]).env("KEEL_ADMIN", &dead).output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains(&dead) && err.contains("keel server") && err.contains("KEEL_ADMIN"),
        "{err}"
    );
    let (ok, _, err) = cli(&p.admin, &["topic", "describe", "nope"]);
    assert!(!ok && err.contains("does not exist") && err.contains("HTTP 404"), "{err}");
}

/// Authentication on (`allow_anonymous = false`): the admin API and the console ask for the
/// MQTT users' credentials; a user reads, only an admin user changes; `/health` and `/metrics`
/// stay open; `keel` authenticates with KEEL_USER and KEEL_PASSWORD.
#[test]
fn with_authentication_on_the_admin_api_reads_for_users_and_changes_for_admins() {
    let dir = temp_dir("admin-auth");
    let (config, admin) = single_node_config(&dir);
    let user = |name: &str, admin: bool| {
        let hash = keel::broker::auth::hash_password(b"s3cret", name.as_bytes(), 1_000);
        format!("[[mqtt.users]]\nusername = \"{name}\"\npassword_hash = \"{hash}\"\nadmin = {admin}\n")
    };
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace("[mqtt]\n", "[mqtt]\nallow_anonymous = false\n");
    std::fs::write(&config, format!("{text}{}{}", user("alice", true), user("bob", false))).unwrap();
    let p = start(&config, &dir, admin);
    wait_for("the node serving", Duration::from_secs(20), || health(&p.admin));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let call = |method: &str, path: &str, who: Option<&str>| {
        let c = who.map(|u| keel::admin::http::Credentials { username: u.into(), password: "s3cret".into() });
        let body = serde_json::json!({ "name": "t" });
        let body = (method == "POST").then_some(&body);
        rt.block_on(keel::admin::client::request_as(&p.admin, method, path, body, c.as_ref())).unwrap().0
    };
    assert_eq!(call("GET", "/api/topics", None), 401);
    assert_eq!(call("GET", "/ui", None), 401);
    assert_eq!(call("GET", "/metrics", None), 200);
    assert_eq!(call("GET", "/api/topics", Some("bob")), 200);
    assert_eq!(call("GET", "/ui", Some("bob")), 200);
    assert_eq!(call("POST", "/api/topics", Some("bob")), 403);
    assert_eq!(call("POST", "/api/topics", Some("alice")), 201);

    let keel = |who: &str, args: &[&str]| {
        let out = Command::new(KEEL)
            .args(args)
            .args(["--admin", &p.admin])
            .env("KEEL_USER", who)
            .env("KEEL_PASSWORD", "s3cret")
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (ok, err) = keel("bob", &["topic", "create", "u"]);
    assert!(!ok && err.contains("HTTP 403") && err.contains("admin = true"), "{err}");
    assert!(keel("alice", &["topic", "create", "u"]).0);
    let (ok, _, err) = cli(&p.admin, &["topic", "list"]);
    assert!(!ok && err.contains("HTTP 401") && err.contains("KEEL_USER"), "{err}");
}

/// A topic deleted and created again under the same name starts empty: the old incarnation's
/// records are not served (they once were: its files were reopened), and its files are
/// discarded.
#[test]
fn a_topic_deleted_and_created_again_starts_empty() {
    let dir = temp_dir("recreate");
    let (config, admin) = single_node_config(&dir);
    let p = start(&config, &dir, admin);
    wait_for("a leader", Duration::from_secs(20), || leader_of(&p.admin));
    let ok = |args: &[&str]| {
        let (ok, out, err) = cli(&p.admin, args);
        assert!(ok, "keel {args:?}: {err}");
        out
    };
    ok(&["topic", "create", "t"]);
    ok(&["produce", "t", "old-1", "old-2"]);
    let old_files = || {
        let shards = dir.join("data/shards/t");
        std::fs::read_dir(&shards).map(|d| d.count()).unwrap_or(0)
    };
    ok(&["topic", "delete", "t"]);
    ok(&["topic", "create", "t"]);
    ok(&["produce", "t", "new-1"]);
    let out = wait_for("the new topic's record", Duration::from_secs(20), || {
        let out = ok(&["consume", "t"]);
        out.contains("new-1").then_some(out)
    });
    assert_eq!(out, "0\tnew-1\n", "only the new incarnation's record");
    // The old incarnation's log files go (its directory may stay, empty).
    let logs = |d: &std::path::Path| -> usize { std::fs::read_dir(d.join("log")).map(|r| r.count()).unwrap_or(0) };
    wait_for("the old log's files discarded", Duration::from_secs(20), || {
        let dirs: Vec<_> = std::fs::read_dir(dir.join("data/shards/t")).unwrap().flatten().map(|e| e.path()).collect();
        (old_files() == 2 && dirs.iter().filter(|d| logs(d) > 0).count() == 1).then_some(())
    });
}
