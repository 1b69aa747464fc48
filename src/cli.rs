//! The command line: `keel server` runs a node; `keel bench` loads a broker and `keel passwd`
//! hashes a password locally; the other subcommands talk to the admin API.

use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use keel::config::Config;
use keel::meta::log_store::StoreOptions;
use keel::meta::records::Role;
use serde_json::{json, Value};

#[derive(Parser)]
#[command(name = "keel", version, about = "A multi-protocol message broker")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node. With no arguments: a whole single-node cluster under ./keel-data.
    Server(ServerArgs),
    /// Manage topics.
    Topic {
        #[command(subcommand)]
        command: TopicCommand,
        #[arg(long, global = true, default_value = "http://127.0.0.1:9464")]
        admin: String,
    },
    /// Manage bindings: Kafka topics that are views of the MQTT messages of a topic filter.
    Binding {
        #[command(subcommand)]
        command: BindingCommand,
        #[arg(long, global = true, default_value = "http://127.0.0.1:9464")]
        admin: String,
    },
    /// Append records to a topic partition (acknowledged once synced on every in-sync replica).
    Produce {
        topic: String,
        /// The records' values.
        #[arg(required = true)]
        values: Vec<String>,
        #[arg(long, default_value_t = 0)]
        partition: u32,
        #[arg(long, default_value = "http://127.0.0.1:9464")]
        admin: String,
    },
    /// Print committed records of a topic partition from an offset.
    Consume {
        topic: String,
        #[arg(long, default_value_t = 0)]
        partition: u32,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, default_value = "http://127.0.0.1:9464")]
        admin: String,
    },
    /// Inspect and change the cluster.
    Cluster {
        #[command(subcommand)]
        command: ClusterCommand,
        #[arg(long, global = true, default_value = "http://127.0.0.1:9464")]
        admin: String,
    },
    /// Load a broker (Keel or any other) and report what it sustained.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Print a `[[mqtt.users]]` entry for USERNAME, its password read from stdin (one line).
    Passwd { username: String },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// MQTT publishers to subscribers (rates, losses, latency), or many connections.
    Mqtt(keel::bench::mqtt::Options),
    /// Kafka producers and consumers (rates, MB/s, end-to-end latency).
    Kafka(keel::bench::kafka::Options),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// A TOML configuration file (see docs/config.md).
    #[arg(long)]
    config: Option<String>,
    /// Where the node keeps its files (overrides the config file).
    #[arg(long)]
    data_dir: Option<String>,
    /// Roles to run, comma-separated: meta,broker,storage (overrides the config file).
    #[arg(long, value_delimiter = ',')]
    roles: Option<Vec<String>>,
    /// This node's id (overrides the config file).
    #[arg(long)]
    node_id: Option<u64>,
}

#[derive(Subcommand)]
enum TopicCommand {
    /// Create a topic.
    Create {
        name: String,
        #[arg(long, default_value_t = 1)]
        partitions: u32,
        #[arg(long, default_value_t = 1)]
        replication_factor: u32,
        /// memory, segment, object or rocksdb
        #[arg(long, default_value = "segment")]
        engine: String,
        #[arg(long)]
        retention_ms: Option<u64>,
        /// In-sync replicas (leader included) a shard needs to accept writes.
        #[arg(long, default_value_t = 1)]
        min_insync_replicas: u32,
    },
    /// List topics.
    List,
    /// Show a topic, its shards and their placement.
    Describe { name: String },
    /// Delete a topic.
    Delete { name: String },
}

#[derive(Subcommand)]
enum BindingCommand {
    /// Bind Kafka topic NAME to the MQTT messages whose topic matches FILTER (e.g. `sensors/#`).
    Create { name: String, filter: String },
    /// Remove a binding (the messages stay in the MQTT log).
    Delete { name: String },
}

#[derive(Subcommand)]
enum ClusterCommand {
    /// Show this node's view of the meta cluster and the registered nodes.
    Status,
    /// Add a meta node (by id and RPC address) as a voter.
    AddNode { id: u64, addr: String },
    /// Remove a meta node from the voters.
    RemoveNode { id: u64 },
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("keel: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        match cli.command {
            Command::Server(args) => server(args).await,
            Command::Topic { command, admin } => topic(command, &admin).await,
            Command::Binding { command, admin } => binding(command, &admin).await,
            Command::Cluster { command, admin } => cluster(command, &admin).await,
            Command::Produce { topic, values, partition, admin } => {
                let path = format!("/api/topics/{topic}/partitions/{partition}/records");
                call(&admin, "POST", &path, Some(json!({ "records": values }))).await.map(|v| print(&v))
            }
            Command::Consume { topic, partition, offset, admin } => consume(&admin, &topic, partition, offset).await,
            Command::Bench { command: BenchCommand::Mqtt(opts) } => keel::bench::mqtt::run(opts).await,
            Command::Bench { command: BenchCommand::Kafka(opts) } => keel::bench::kafka::run(opts).await,
            Command::Passwd { username } => passwd(&username),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("keel: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The broker's TLS certificate and key, read once before the seam starts (like the config).
fn tls_files(config: &Config) -> Result<Option<keel::broker::TlsFiles>, String> {
    let b = &config.broker;
    if b.tls_cert_file.is_empty() {
        return Ok(None);
    }
    #[allow(clippy::disallowed_methods)] // read once, before the seam starts
    let read = |path: &str| std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"));
    Ok(Some(keel::broker::TlsFiles { cert_pem: read(&b.tls_cert_file)?, key_pem: read(&b.tls_key_file)? }))
}

fn load_config(args: &ServerArgs) -> Result<Config, String> {
    let mut config = match &args.config {
        Some(path) => {
            #[allow(clippy::disallowed_methods)] // the config is read once, before the seam starts
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {path}: {e}"))?;
            Config::from_toml(&text).map_err(|e| format!("{path}: {e}"))?
        }
        None => Config::default(),
    };
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(id) = args.node_id {
        config.node_id = id;
    }
    if let Some(roles) = &args.roles {
        config.roles = roles
            .iter()
            .map(|r| match r.as_str() {
                "meta" => Ok(Role::Meta),
                "broker" => Ok(Role::Broker),
                "storage" => Ok(Role::Storage),
                other => Err(format!("unknown role {other:?} (expected meta, broker or storage)")),
            })
            .collect::<Result<_, _>>()?;
    }
    config.validate()?;
    Ok(config)
}

/// The object tier: files under `<data_dir>/objects` (created if missing) unless
/// `storage.object_store_url` names another store.
async fn object_tier(
    config: &keel::config::Config,
    disk: &keel_rt::disk::RealDisk,
) -> Result<keel::node::ObjectTier, String> {
    use keel_rt::disk::Disk;
    let s = &config.storage;
    let (store, prefix) = if s.object_store_url.is_empty() {
        disk.create_dir_all("objects").await.map_err(|e| format!("object dir: {e}"))?;
        let root = std::path::Path::new(&config.data_dir).join("objects");
        let store =
            keel_storage::object::local_store(&root).map_err(|e| format!("object store at {}: {e}", root.display()))?;
        (store, String::new())
    } else {
        keel_storage::object::store_from_url(&s.object_store_url, &s.object_store_options).map_err(|e| e.to_string())?
    };
    Ok(keel::node::ObjectTier { store, prefix, config: keel_storage::ObjectConfig::default() })
}

async fn server(args: ServerArgs) -> Result<(), String> {
    let config = load_config(&args)?;
    keel::logging::init(&config.log, config.node_id)?;
    let disk =
        keel_rt::disk::RealDisk::new(&config.data_dir).map_err(|e| format!("data dir {}: {e}", config.data_dir))?;
    let object_tier = object_tier(&config, &disk).await?;
    let tls = tls_files(&config)?;
    let store = StoreOptions {
        unsafe_ack_before_replication: config.storage.unsafe_ack_before_replication,
        ..StoreOptions::default()
    };
    let parts = keel::node::NodeParts {
        config,
        disk: Arc::new(disk),
        apply_hook: None,
        store,
        object_tier: Some(object_tier),
        tls,
    };
    let node = keel::node::Node::start(parts).await.map_err(|e| format!("cannot start: {e}"))?;
    let fatal = tokio::select! {
        _ = shutdown_signal() => None,
        why = node.fatal() => Some(why),
    };
    tracing::info!(reason = fatal.as_deref().unwrap_or("signal"), "shutting down");
    node.shutdown().await;
    match fatal {
        None => Ok(()),
        Some(why) => Err(format!("{why}; exiting so a supervisor can restart this node")),
    }
}

async fn shutdown_signal() {
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

/// Reads one line from stdin and prints a `[[mqtt.users]]` TOML entry with its hash.
fn passwd(username: &str) -> Result<(), String> {
    if username.is_empty() {
        return Err("the username is empty".into());
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("reading the password from stdin: {e}"))?;
    let password = line.strip_suffix('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).unwrap_or(&line);
    if password.is_empty() {
        return Err("the password (one line on stdin) is empty".into());
    }
    let hash = keel::broker::auth::new_password_hash(password.as_bytes());
    // A JSON string is a valid TOML basic string (same escapes), once DEL is escaped too.
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default().replace('\u{7f}', "\\u007f");
    println!("[[mqtt.users]]\nusername = {}\npassword_hash = {}", quote(username), quote(&hash));
    Ok(())
}

async fn call(admin: &str, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
    let (status, text) = keel::admin::client::request(admin, method, path, body.as_ref()).await?;
    let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    if (200..300).contains(&status) {
        Ok(value)
    } else {
        let msg = value.get("error").and_then(Value::as_str).map(str::to_string).unwrap_or_else(|| value.to_string());
        Err(format!("{msg} (HTTP {status})"))
    }
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

async fn binding(cmd: BindingCommand, admin: &str) -> Result<(), String> {
    match cmd {
        BindingCommand::Create { name, filter } => {
            let body = json!({ "kafka_topic": name, "filter": filter });
            print(&call(admin, "POST", "/api/bindings", Some(body)).await?)
        }
        BindingCommand::Delete { name } => print(&call(admin, "DELETE", &format!("/api/bindings/{name}"), None).await?),
    }
    Ok(())
}

async fn topic(cmd: TopicCommand, admin: &str) -> Result<(), String> {
    match cmd {
        TopicCommand::Create { name, partitions, replication_factor, engine, retention_ms, min_insync_replicas } => {
            let body = json!({
                "name": name,
                "partitions": partitions,
                "replication_factor": replication_factor,
                "engine": engine,
                "retention_ms": retention_ms,
                "min_insync_replicas": min_insync_replicas,
            });
            print(&call(admin, "POST", "/api/topics", Some(body)).await?);
        }
        TopicCommand::List => {
            let v = call(admin, "GET", "/api/topics", None).await?;
            for t in v.get("Topics").and_then(Value::as_array).into_iter().flatten() {
                println!(
                    "{}\tpartitions={}\treplication_factor={}\tengine={}",
                    t["name"].as_str().unwrap_or(""),
                    t["partitions"],
                    t["replication_factor"],
                    t["engine"].as_str().unwrap_or("")
                );
            }
        }
        TopicCommand::Describe { name } => print(&call(admin, "GET", &format!("/api/topics/{name}"), None).await?),
        TopicCommand::Delete { name } => print(&call(admin, "DELETE", &format!("/api/topics/{name}"), None).await?),
    }
    Ok(())
}

async fn consume(admin: &str, topic: &str, partition: u32, offset: u64) -> Result<(), String> {
    let v = call(admin, "GET", &format!("/api/topics/{topic}/partitions/{partition}/records?offset={offset}"), None)
        .await?;
    for r in v["records"].as_array().into_iter().flatten() {
        println!("{}\t{}", r["offset"], r["value"].as_str().unwrap_or(""));
    }
    Ok(())
}

async fn cluster(cmd: ClusterCommand, admin: &str) -> Result<(), String> {
    let v = match cmd {
        ClusterCommand::Status => call(admin, "GET", "/api/cluster", None).await?,
        ClusterCommand::AddNode { id, addr } => {
            call(admin, "POST", "/api/cluster/members", Some(json!({ "id": id, "addr": addr }))).await?
        }
        ClusterCommand::RemoveNode { id } => call(admin, "DELETE", &format!("/api/cluster/members/{id}"), None).await?,
    };
    print(&v);
    Ok(())
}
