//! `keel cluster status|add-node|remove-node`: the meta cluster as one node sees it, and
//! changes of its voters.

use clap::Subcommand;
use keel::admin::view::ClusterView;
use keel::meta::MetaStatus;
use serde_json::json;

use super::admin::Admin;
use super::output::{fields, ids, opt, CliError, Format, Out, Table};

#[derive(Subcommand)]
pub enum ClusterCommand {
    /// Show this node's view of the meta cluster and the registered nodes.
    Status,
    /// Add a meta node (by id and RPC address) as a voter.
    AddNode { id: u64, addr: String },
    /// Remove a meta node from the voters.
    RemoveNode { id: u64 },
}

pub async fn run(cmd: ClusterCommand, admin: &Admin, format: Format, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        ClusterCommand::Status => {
            let status: ClusterView = admin.get("/api/cluster").await?;
            out.show(format, &status, status_text)
        }
        ClusterCommand::AddNode { id, addr } => {
            let body = json!({ "id": id, "addr": addr });
            let m: MetaStatus = admin.call("POST", "/api/cluster/members", Some(body)).await?;
            out.show(format, &m, |m| format!("added node {id} at {addr} (voters {})", ids(&m.voters)))
        }
        ClusterCommand::RemoveNode { id } => {
            let m: MetaStatus = admin.call("DELETE", &format!("/api/cluster/members/{id}"), None).await?;
            out.show(format, &m, |m| format!("removed node {id} (voters {})", ids(&m.voters)))
        }
    }
}

/// `cluster status`: this node's meta view, then one row per registered node.
pub fn status_text(c: &ClusterView) -> String {
    let mut pairs = vec![("node", c.node_id.to_string())];
    match &c.meta {
        Some(m) => pairs.extend([
            ("meta state", m.state.clone()),
            ("meta leader", opt(m.leader)),
            ("term", m.term.to_string()),
            ("last applied", opt(m.last_applied)),
            ("voters", ids(&m.voters)),
            ("learners", ids(&m.learners)),
        ]),
        None => pairs.push(("meta", "not a meta node".into())),
    }
    let mut text = fields(&pairs);
    text.push('\n');
    match (&c.nodes, &c.nodes_error) {
        (Some(nodes), _) => {
            let mut table = Table::new(&["id", "addr", "roles", "alive", "kafka"]);
            for n in nodes {
                let roles: Vec<String> = n.roles.iter().map(|r| format!("{r:?}").to_lowercase()).collect();
                table.row(vec![
                    n.id.to_string(),
                    n.addr.clone(),
                    roles.join(","),
                    if n.alive { "yes" } else { "no" }.into(),
                    opt(n.kafka_addr.clone()),
                ]);
            }
            text.push_str(&table.render());
        }
        (None, why) => {
            text.push_str(&format!("nodes: unknown ({})\n", why.as_deref().unwrap_or("no answer")));
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The status as the admin API answers it (docs/admin-api.md, "cluster").
    #[test]
    fn status_renders_the_meta_view_and_a_node_table() {
        let json = concat!(
            r#"{"node_id":1,"meta":{"id":1,"state":"Leader","term":3,"leader":1,"last_log_index":9,"last_applied":9,"#,
            r#""voters":[1,2],"learners":[],"members":{}},"nodes":["#,
            r#"{"id":1,"addr":"127.0.0.1:7101","roles":["meta","storage"],"alive":true,"kafka_addr":null,"kafka_tls_addr":null},"#,
            r#"{"id":2,"addr":"127.0.0.1:7102","roles":["meta","storage"],"alive":false,"kafka_addr":null,"kafka_tls_addr":null}"#,
            r#"],"nodes_error":null}"#
        );
        let c: ClusterView = serde_json::from_str(json).unwrap();
        let expected = "\
node:          1
meta state:    Leader
meta leader:   1
term:          3
last applied:  9
voters:        1,2
learners:      -

ID  ADDR            ROLES         ALIVE  KAFKA
1   127.0.0.1:7101  meta,storage  yes    -
2   127.0.0.1:7102  meta,storage  no     -
";
        assert_eq!(status_text(&c), expected);
    }
}
