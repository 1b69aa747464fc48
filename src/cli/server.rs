//! `keel server`: loads the configuration, opens the data directory and runs a node until
//! SIGTERM or Ctrl-C (a clean exit) or a fatal error (a non-zero exit, for a supervisor).

use std::sync::Arc;

use keel::config::Config;
use keel::meta::log_store::StoreOptions;
use keel::meta::records::Role;

/// `keel server`'s options.
#[derive(clap::Args)]
pub struct ServerArgs {
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
    /// Print the effective configuration (the file, the flags above, and every default) as
    /// TOML, and exit without starting.
    #[arg(long)]
    print_config: bool,
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

/// The effective configuration as TOML (what `--print-config` prints).
fn effective_toml(config: &Config) -> Result<String, String> {
    toml::to_string_pretty(config).map_err(|e| format!("cannot print the configuration: {e}"))
}

pub async fn server(args: ServerArgs) -> Result<(), super::output::CliError> {
    let config = load_config(&args)?;
    if args.print_config {
        let mut out = super::output::Out::default();
        out.text(&effective_toml(&config)?)?;
        return out.flush();
    }
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
        Some(why) => Err(format!("{why}; exiting so a supervisor can restart this node").into()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_configuration_reads_back_as_the_same_configuration() {
        let mut config = Config { node_id: 7, ..Config::default() };
        config.rpc.connect_via.insert("127.0.0.1:7101".into(), "127.0.0.1:17101".into());
        config.log.format = keel::config::LogFormat::Json;
        let printed = effective_toml(&config).unwrap();
        assert!(printed.contains("node_id = 7"), "{printed}");
        assert_eq!(Config::from_toml(&printed).unwrap(), config);
    }
}
