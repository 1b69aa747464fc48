//! `keel binding create|delete`: Kafka topics that are views of the MQTT messages matching a
//! topic filter (`docs/kafka.md`, "One log, two views").

use clap::Subcommand;
use keel::admin::view::{BindingView, Deleted};
use serde_json::json;

use super::admin::{segment, Admin};
use super::output::{CliError, Format, Out};

#[derive(Subcommand)]
pub enum BindingCommand {
    /// Bind Kafka topic NAME to the MQTT messages whose topic matches FILTER (e.g. `sensors/#`).
    Create { name: String, filter: String },
    /// Remove a binding (the messages stay in the MQTT log).
    Delete { name: String },
}

pub async fn run(cmd: BindingCommand, admin: &Admin, format: Format, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        BindingCommand::Create { name, filter } => {
            let body = json!({ "kafka_topic": name, "filter": filter });
            let b: BindingView = admin.call("POST", "/api/bindings", Some(body)).await?;
            out.show(format, &b, |b| {
                format!("bound Kafka topic {} to MQTT filter {} (on {})", b.name, b.filter, b.topic)
            })
        }
        BindingCommand::Delete { name } => {
            let d: Deleted = admin.call("DELETE", &format!("/api/bindings/{}", segment(&name)), None).await?;
            out.show(format, &d, |d| format!("deleted binding {}", d.deleted))
        }
    }
}
