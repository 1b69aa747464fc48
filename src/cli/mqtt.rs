//! `keel mqtt clients|sessions|subscriptions`: MQTT sessions as meta records them
//! (`GET /api/mqtt/sessions`): who is connected and to which broker, what each session
//! subscribed to, how long a disconnected one is kept.

use clap::Subcommand;
use keel::admin::view::MqttSessionList;
use keel::meta::mqtt::SessionSummary;

use super::admin::Admin;
use super::output::{opt, CliError, Format, Out, Table};

#[derive(Subcommand)]
pub enum MqttCommand {
    /// Connected clients: client id, the broker serving it, subscriptions, will.
    Clients,
    /// Every session, connected or kept for a client that went away (with its expiry).
    Sessions,
    /// One row per subscription: client id, topic filter, maximum QoS.
    Subscriptions {
        /// Only this client's subscriptions.
        #[arg(long)]
        client: Option<String>,
    },
}

pub async fn run(cmd: MqttCommand, admin: &Admin, format: Format, out: &mut Out) -> Result<(), CliError> {
    let list: MqttSessionList = admin.get("/api/mqtt/sessions").await?;
    let now_ms = keel_rt::time::wall_ms();
    match cmd {
        MqttCommand::Clients => out.show(format, &only(list, |s| s.owner.is_some()), clients_table),
        MqttCommand::Sessions => out.show(format, &list, |l| sessions_table(l, now_ms)),
        MqttCommand::Subscriptions { client: Some(c) } => {
            out.show(format, &only(list, |s| s.client_id == c), subscriptions_table)
        }
        MqttCommand::Subscriptions { client: None } => out.show(format, &list, subscriptions_table),
    }
}

/// The sessions that pass `keep`; `total` counts them when the answer held every session, and
/// stays the cluster's count when it held the first page only (then more may match).
fn only(mut list: MqttSessionList, keep: impl Fn(&SessionSummary) -> bool) -> MqttSessionList {
    let complete = list.total <= list.sessions.len() as u64;
    list.sessions.retain(keep);
    if complete {
        list.total = list.sessions.len() as u64;
    }
    list
}

/// Says when the list is the first page only.
fn more(list: &MqttSessionList) -> String {
    let shown = list.sessions.len() as u64;
    match list.total > shown {
        true => format!("(the first sessions by client id of {} in the cluster)\n", list.total),
        false => String::new(),
    }
}

fn clients_table(list: &MqttSessionList) -> String {
    if list.sessions.is_empty() {
        return format!("no connected clients\n{}", more(list));
    }
    let mut t = Table::new(&["client id", "broker", "subscriptions", "will"]);
    for s in &list.sessions {
        t.row(vec![s.client_id.clone(), opt(s.owner), s.subscriptions.len().to_string(), yes_no(s.has_will)]);
    }
    t.render() + &more(list)
}

fn sessions_table(list: &MqttSessionList, now_ms: u64) -> String {
    if list.sessions.is_empty() {
        return "no sessions\n".into();
    }
    let mut t = Table::new(&["client id", "state", "broker", "expiry", "subscriptions", "will"]);
    for s in &list.sessions {
        t.row(vec![
            s.client_id.clone(),
            state(s, now_ms),
            opt(s.owner),
            expiry(s.expiry_s),
            s.subscriptions.len().to_string(),
            yes_no(s.has_will),
        ]);
    }
    t.render() + &more(list)
}

fn subscriptions_table(list: &MqttSessionList) -> String {
    let mut t = Table::new(&["client id", "filter", "qos"]);
    for s in &list.sessions {
        for (filter, qos) in &s.subscriptions {
            t.row(vec![s.client_id.clone(), filter.clone(), qos.to_string()]);
        }
    }
    match t.is_empty() {
        true => format!("no subscriptions\n{}", more(list)),
        false => t.render() + &more(list),
    }
}

fn state(s: &SessionSummary, now_ms: u64) -> String {
    match (s.owner, s.disconnected_at_ms) {
        (Some(_), _) => "connected".into(),
        (None, Some(at)) => format!("disconnected {} ago", ago(now_ms.saturating_sub(at))),
        (None, None) => "disconnected".into(),
    }
}

/// The Session Expiry Interval: `never` for u32::MAX, `at disconnect` for 0.
fn expiry(s: u32) -> String {
    match s {
        u32::MAX => "never".into(),
        0 => "at disconnect".into(),
        s => ago(u64::from(s) * 1_000),
    }
}

/// A duration in its largest whole unit: `42s`, `5m`, `3h`, `2d`.
fn ago(ms: u64) -> String {
    let s = ms / 1_000;
    match s {
        0..60 => format!("{s}s"),
        60..3_600 => format!("{}m", s / 60),
        3_600..86_400 => format!("{}h", s / 3_600),
        _ => format!("{}d", s / 86_400),
    }
}

fn yes_no(b: bool) -> String {
    if b { "yes" } else { "no" }.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sessions as the admin API answers them (docs/admin-api.md, "MQTT sessions").
    const SESSIONS: &str = concat!(
        r#"{"sessions":[{"client_id":"meter-1","owner":2,"generation":4,"expiry_s":3600,"disconnected_at_ms":null,"#,
        r#""subscriptions":{"cmd/meter-1":1,"fw/#":2},"has_will":true},"#,
        r#"{"client_id":"meter-2","owner":null,"generation":1,"expiry_s":4294967295,"disconnected_at_ms":1000,"#,
        r#""subscriptions":{},"has_will":false}],"total":3}"#
    );

    fn sessions() -> MqttSessionList {
        serde_json::from_str(SESSIONS).unwrap()
    }

    #[test]
    fn sessions_show_state_broker_expiry_and_that_there_are_more() {
        let expected = "\
CLIENT ID  STATE                BROKER  EXPIRY  SUBSCRIPTIONS  WILL
meter-1    connected            2       1h      2              yes
meter-2    disconnected 5m ago  -       never   0              no
(the first sessions by client id of 3 in the cluster)
";
        assert_eq!(sessions_table(&sessions(), 301_000), expected);
    }

    #[test]
    fn subscriptions_are_one_row_per_filter() {
        let expected = "\
CLIENT ID  FILTER       QOS
meter-1    cmd/meter-1  1
meter-1    fw/#         2
(the first sessions by client id of 3 in the cluster)
";
        assert_eq!(subscriptions_table(&sessions()), expected);
    }

    #[test]
    fn a_filter_over_every_session_says_nothing_of_more() {
        let mut all = sessions();
        all.total = 2;
        let one = only(all, |s| s.client_id == "meter-1");
        assert_eq!(one.total, 1);
        assert!(!subscriptions_table(&one).contains("the first sessions"));
        let first_page = only(sessions(), |s| s.client_id == "meter-1");
        assert_eq!(first_page.total, 3, "the first page only: more may match");
    }

    #[test]
    fn clients_and_empty_answers() {
        let mut list = sessions();
        list.sessions.retain(|s| s.owner.is_some());
        list.total = 1;
        assert_eq!(
            clients_table(&list),
            "CLIENT ID  BROKER  SUBSCRIPTIONS  WILL\nmeter-1    2       2              yes\n"
        );
        let none = MqttSessionList { sessions: vec![], total: 0 };
        assert_eq!(clients_table(&none), "no connected clients\n");
        assert_eq!(sessions_table(&none, 0), "no sessions\n");
        assert_eq!(expiry(0), "at disconnect");
    }
}
