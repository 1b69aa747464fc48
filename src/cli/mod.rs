//! The command line: `keel server` runs a node; `keel bench` loads a broker, `keel passwd`
//! hashes a password and `keel completions` prints a shell's completions, all locally; the other
//! subcommands talk to the admin API of a node (`--admin` or `KEEL_ADMIN`).
//!
//! This file holds the clap definitions and the dispatch; each concept has its own module:
//! [`output`] (tables, JSON, a closed stdout), [`admin`] (the API client and its errors),
//! [`topic`], [`binding`], [`produce`], [`consume`], [`cluster`], [`group`], [`mqtt`], [`server`],
//! [`passwd`].

mod admin;
mod binding;
mod cluster;
mod consume;
mod group;
mod mqtt;
mod output;
mod passwd;
mod produce;
mod server;
mod timespec;
mod topic;

use std::io::Write;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use self::admin::{Admin, AdminArgs};
use self::output::{CliError, Format, Out};

#[derive(Parser)]
#[command(name = "keel", version, about = "A multi-protocol message broker")]
struct Cli {
    /// How to print answers: aligned tables and sentences, or the admin API's JSON.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = Format::Table)]
    output: Format,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node. With no arguments: a whole single-node cluster under ./keel-data.
    Server(server::ServerArgs),
    /// Manage topics.
    Topic {
        #[command(subcommand)]
        command: topic::TopicCommand,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Manage bindings: Kafka topics that are views of the MQTT messages of a topic filter.
    Binding {
        #[command(subcommand)]
        command: binding::BindingCommand,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Append records to a topic partition (acknowledged once synced on every in-sync replica).
    Produce {
        #[command(flatten)]
        args: produce::ProduceArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Print the committed records of a partition up to its high watermark, then exit.
    ///
    /// Reads from the log start (or --offset, or --from-time) up to the high watermark seen
    /// when it starts, paging through the admin API; --follow keeps tailing instead.
    Consume {
        #[command(flatten)]
        args: consume::ConsumeArgs,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Inspect and change the cluster.
    Cluster {
        #[command(subcommand)]
        command: cluster::ClusterCommand,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Kafka consumer groups: state, members, assignments, committed offsets and lag.
    Group {
        #[command(subcommand)]
        command: group::GroupCommand,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// MQTT clients, sessions and subscriptions across the cluster.
    Mqtt {
        #[command(subcommand)]
        command: mqtt::MqttCommand,
        #[command(flatten)]
        admin: AdminArgs,
    },
    /// Load a broker (Keel or any other) and report what it sustained.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
    /// Print a `[[mqtt.users]]` entry for USERNAME, its password read from stdin (one line).
    Passwd { username: String },
    /// Print the completion script of a shell.
    ///
    /// e.g. `keel completions bash > ~/.local/share/bash-completion/completions/keel`.
    Completions { shell: clap_complete::Shell },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// MQTT publishers to subscribers (rates, losses, latency), or many connections.
    Mqtt(keel::bench::mqtt::Options),
    /// Kafka producers and consumers (rates, MB/s, end-to-end latency).
    Kafka(keel::bench::kafka::Options),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let mut out = Out::default();
    let result = rt.block_on(dispatch(cli, &mut out)).and_then(|()| out.flush());
    match result {
        Ok(()) | Err(CliError::StdoutClosed) => ExitCode::SUCCESS,
        Err(CliError::Failed(e)) => fail(&e),
    }
}

/// Says why on stderr (quietly if stderr is closed too) and fails.
fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "keel: {message}");
    ExitCode::FAILURE
}

async fn dispatch(cli: Cli, out: &mut Out) -> Result<(), CliError> {
    let format = cli.output;
    match cli.command {
        Command::Server(args) => Ok(server::server(args).await?),
        Command::Topic { command, admin } => topic::run(command, &Admin::new(&admin), format, out).await,
        Command::Binding { command, admin } => binding::run(command, &Admin::new(&admin), format, out).await,
        Command::Cluster { command, admin } => cluster::run(command, &Admin::new(&admin), format, out).await,
        Command::Group { command, admin } => group::run(command, &Admin::new(&admin), format, out).await,
        Command::Mqtt { command, admin } => mqtt::run(command, &Admin::new(&admin), format, out).await,
        Command::Produce { args, admin } => produce::run(args, &Admin::new(&admin), format, out).await,
        Command::Consume { args, admin } => consume::run(args, &Admin::new(&admin), format, out).await,
        Command::Bench { command: BenchCommand::Mqtt(opts) } => Ok(keel::bench::mqtt::run(opts).await?),
        Command::Bench { command: BenchCommand::Kafka(opts) } => Ok(keel::bench::kafka::run(opts).await?),
        Command::Passwd { username } => passwd::passwd(&username, out),
        Command::Completions { shell } => completions(shell, out),
    }
}

/// `keel completions SHELL`: the script, generated from the clap definitions above.
fn completions(shell: clap_complete::Shell, out: &mut Out) -> Result<(), CliError> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "keel", &mut script);
    out.text(&String::from_utf8_lossy(&script))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clap_definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn output_and_admin_go_anywhere_on_the_line() {
        let cli =
            Cli::try_parse_from(["keel", "topic", "describe", "t", "-o", "json", "--admin", "http://h:1"]).unwrap();
        assert_eq!(cli.output, Format::Json);
        let Command::Topic { admin, .. } = cli.command else { panic!("a topic command") };
        assert_eq!(admin.admin, "http://h:1");
        let cli = Cli::try_parse_from(["keel", "-o", "json", "consume", "t", "--max-records", "3"]).unwrap();
        assert_eq!(cli.output, Format::Json);
    }

    #[test]
    fn offset_and_from_time_exclude_each_other() {
        assert!(Cli::try_parse_from(["keel", "consume", "t", "--offset", "1", "--from-time", "5m"]).is_err());
        assert!(Cli::try_parse_from(["keel", "consume", "t", "--from-time", "soon"]).is_err());
    }

    #[test]
    fn completions_cover_the_subcommands() {
        let mut script = Vec::new();
        clap_complete::generate(clap_complete::Shell::Bash, &mut Cli::command(), "keel", &mut script);
        let script = String::from_utf8(script).unwrap();
        assert!(script.contains("consume") && script.contains("--max-records"), "{script}");
    }
}
