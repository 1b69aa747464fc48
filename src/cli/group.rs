//! `keel group list|describe`: Kafka consumer groups as `__consumer_offsets` records them
//! (`GET /api/groups`): state, generation, members and their assignments, committed offsets
//! and lag behind each partition's high watermark.

use clap::Subcommand;
use keel::admin::view::{GroupList, GroupView};

use super::admin::{segment, Admin};
use super::output::{fields, opt, CliError, Format, Out, Table};

#[derive(Subcommand)]
pub enum GroupCommand {
    /// List consumer groups with their state, members and total lag.
    List,
    /// Show a group: its generation, members and their partitions, and per partition the
    /// committed offset, the high watermark and the lag.
    Describe { group: String },
}

pub async fn run(cmd: GroupCommand, admin: &Admin, format: Format, out: &mut Out) -> Result<(), CliError> {
    match cmd {
        GroupCommand::List => {
            let list: GroupList = admin.get("/api/groups").await?;
            out.show(format, &list, list_table)
        }
        GroupCommand::Describe { group } => {
            let g: GroupView = admin.get(&format!("/api/groups/{}", segment(&group))).await?;
            out.show(format, &g, describe_text)
        }
    }
}

fn list_table(list: &GroupList) -> String {
    if list.groups.is_empty() {
        return "no consumer groups\n".into();
    }
    let mut t = Table::new(&["group", "state", "generation", "protocol", "members", "partitions", "lag"]);
    for g in &list.groups {
        t.row(vec![
            g.group.clone(),
            g.state.clone(),
            opt(g.generation),
            dash(&g.protocol),
            g.members.to_string(),
            g.partitions.to_string(),
            opt(g.lag),
        ]);
    }
    t.render()
}

fn describe_text(g: &GroupView) -> String {
    let mut text = fields(&[
        ("group", g.group.clone()),
        ("state", g.state.clone()),
        ("generation", opt(g.generation)),
        ("protocol", format!("{} ({})", dash(&g.protocol), dash(&g.protocol_type))),
        ("leader", dash(&g.leader)),
    ]);
    text.push('\n');
    if g.members.is_empty() {
        text.push_str("no members recorded\n");
    } else {
        let mut t = Table::new(&["member", "client", "assignment"]);
        for m in &g.members {
            let assignment: Vec<String> = m
                .assignment
                .iter()
                .map(|a| {
                    let ps: Vec<String> = a.partitions.iter().map(i32::to_string).collect();
                    format!("{}[{}]", a.topic, ps.join(","))
                })
                .collect();
            t.row(vec![m.member_id.clone(), m.client_id.clone(), dash(&assignment.join(" "))]);
        }
        text.push_str(&t.render());
    }
    text.push('\n');
    if g.offsets.is_empty() {
        text.push_str("no committed offsets\n");
    } else {
        let mut t = Table::new(&["topic", "partition", "committed", "high watermark", "lag"]);
        for o in &g.offsets {
            t.row(vec![
                o.topic.clone(),
                o.partition.to_string(),
                o.committed.to_string(),
                opt(o.high_watermark),
                opt(o.lag),
            ]);
        }
        text.push_str(&t.render());
    }
    text
}

fn dash(s: &str) -> String {
    if s.is_empty() {
        "-".into()
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A group as the admin API answers it (docs/admin-api.md, "groups").
    const GROUP: &str = concat!(
        r#"{"group":"billing","state":"stable","generation":3,"protocol_type":"consumer","protocol":"range","#,
        r#""leader":"m-1","members":[{"member_id":"m-1","client_id":"rdkafka","assignment":[{"topic":"orders","#,
        r#""partitions":[0,1]}]}],"offsets":[{"topic":"orders","partition":0,"committed":7,"high_watermark":10,"#,
        r#""lag":3},{"topic":"orders","partition":1,"committed":4,"high_watermark":null,"lag":null}]}"#
    );

    #[test]
    fn describe_renders_members_and_offsets_with_lag() {
        let g: GroupView = serde_json::from_str(GROUP).unwrap();
        let expected = "\
group:       billing
state:       stable
generation:  3
protocol:    range (consumer)
leader:      m-1

MEMBER  CLIENT   ASSIGNMENT
m-1     rdkafka  orders[0,1]

TOPIC   PARTITION  COMMITTED  HIGH WATERMARK  LAG
orders  0          7          10              3
orders  1          4          -               -
";
        assert_eq!(describe_text(&g), expected);
    }

    #[test]
    fn list_renders_a_row_per_group_and_says_when_there_is_none() {
        let list: GroupList = serde_json::from_str(concat!(
            r#"{"groups":[{"group":"billing","state":"stable","generation":3,"protocol":"range","members":2,"#,
            r#""partitions":4,"lag":12},{"group":"old","state":"empty","generation":null,"protocol":"","members":0,"#,
            r#""partitions":1,"lag":null}]}"#
        ))
        .unwrap();
        let expected = "\
GROUP    STATE   GENERATION  PROTOCOL  MEMBERS  PARTITIONS  LAG
billing  stable  3           range     2        4           12
old      empty   -           -         0        1           -
";
        assert_eq!(list_table(&list), expected);
        assert_eq!(list_table(&GroupList { groups: vec![] }), "no consumer groups\n");
    }
}
