use super::*;

use Access::{Publish, Subscribe};

fn rule(topic: &str, access: &str, permission: &str) -> AclRule {
    AclRule {
        username: None,
        client_id: None,
        topic: topic.into(),
        access: access.into(),
        permission: permission.into(),
    }
}

fn for_user(user: &str, r: AclRule) -> AclRule {
    AclRule { username: Some(user.into()), ..r }
}

fn for_client(client: &str, r: AclRule) -> AclRule {
    AclRule { client_id: Some(client.into()), ..r }
}

fn acl(rules: Vec<AclRule>, default: &str) -> Acl {
    Acl::new(&rules, default).unwrap()
}

#[test]
fn no_rules_allow_everything_well_formed() {
    let a = acl(vec![], "deny");
    assert!(a.allows("c", None, Publish, "a/b"));
    assert!(a.allows("c", None, Subscribe, "#"));
    assert!(a.allows("c", Some("u"), Subscribe, "$share/g/$SYS/#"));
    for (access, bad) in [(Publish, "a/+"), (Publish, ""), (Subscribe, "a/#/b"), (Subscribe, "$share/g")] {
        assert!(!a.allows("c", None, access, bad), "{access:?} {bad:?}");
    }
}

#[test]
fn default_decides_when_no_rule_applies() {
    let rules = vec![rule("a/#", "all", "allow")];
    assert!(!acl(rules.clone(), "deny").allows("c", None, Publish, "b"));
    assert!(acl(rules.clone(), "allow").allows("c", None, Publish, "b"));
    assert!(acl(rules, "deny").allows("c", None, Publish, "a/x"));
}

#[test]
fn first_applicable_rule_wins_so_deny_goes_before_allow() {
    let deny_first = acl(vec![rule("a/secret", "all", "deny"), rule("a/#", "all", "allow")], "deny");
    assert!(!deny_first.allows("c", None, Publish, "a/secret"));
    assert!(deny_first.allows("c", None, Publish, "a/public"));
    let allow_first = acl(vec![rule("a/#", "all", "allow"), rule("a/secret", "all", "deny")], "deny");
    assert!(allow_first.allows("c", None, Publish, "a/secret"), "the earlier allow decides");
}

#[test]
fn access_kind_limits_a_rule() {
    let a = acl(vec![rule("in/#", "publish", "allow"), rule("out/#", "subscribe", "allow")], "deny");
    assert!(a.allows("c", None, Publish, "in/x"));
    assert!(!a.allows("c", None, Subscribe, "in/x"));
    assert!(a.allows("c", None, Subscribe, "out/x"));
    assert!(!a.allows("c", None, Publish, "out/x"));
}

#[test]
fn username_and_client_id_conditions() {
    let a = acl(
        vec![
            for_user("alice", rule("alice/#", "all", "allow")),
            for_client("sensor-1", rule("sensors/1", "publish", "allow")),
            for_client("sensor-2", for_user("bob", rule("sensors/2", "publish", "allow"))),
        ],
        "deny",
    );
    assert!(a.allows("any", Some("alice"), Publish, "alice/x"));
    assert!(!a.allows("any", Some("bob"), Publish, "alice/x"));
    assert!(!a.allows("any", None, Publish, "alice/x"), "anonymous is not alice");
    assert!(a.allows("sensor-1", None, Publish, "sensors/1"));
    assert!(!a.allows("sensor-10", None, Publish, "sensors/1"));
    assert!(a.allows("sensor-2", Some("bob"), Publish, "sensors/2"));
    assert!(!a.allows("sensor-2", None, Publish, "sensors/2"), "both conditions must hold");
    assert!(!a.allows("sensor-3", Some("bob"), Publish, "sensors/2"));
}

#[test]
fn placeholders_give_each_client_its_own_topics() {
    let a = acl(vec![rule("clients/%c/#", "all", "allow"), rule("users/%u/inbox", "subscribe", "allow")], "deny");
    assert!(a.allows("dev7", None, Publish, "clients/dev7/t"));
    assert!(a.allows("dev7", None, Subscribe, "clients/dev7/#"));
    assert!(!a.allows("dev7", None, Publish, "clients/dev8/t"));
    assert!(!a.allows("dev7", None, Subscribe, "clients/+/t"));
    assert!(a.allows("x", Some("carol"), Subscribe, "users/carol/inbox"));
    assert!(!a.allows("x", Some("carol"), Subscribe, "users/dave/inbox"));
    assert!(!a.allows("x", None, Subscribe, "users/%u/inbox"), "%u never applies without a username");
    assert!(!a.allows("x", None, Subscribe, "users//inbox"));
}

#[test]
fn placeholders_inside_a_level_and_literal_percent() {
    let a = acl(vec![rule("dev-%c/100%/%u%c", "publish", "allow")], "deny");
    assert!(a.allows("7", Some("u"), Publish, "dev-7/100%/u7"));
    assert!(!a.allows("7", Some("u"), Publish, "dev-7/100%/u8"));
}

#[test]
fn values_are_not_scanned_for_placeholders() {
    let a = acl(vec![rule("clients/%c", "publish", "allow")], "deny");
    assert!(a.allows("%u", Some("bob"), Publish, "clients/%u"));
    assert!(!a.allows("%u", Some("bob"), Publish, "clients/bob"));
}

#[test]
fn hostile_names_cannot_widen_an_allow_rule() {
    let a = acl(vec![rule("clients/%c/#", "all", "allow"), rule("users/%u/#", "all", "allow")], "deny");
    for (client, topic) in [("+", "clients/x/y"), ("#", "clients/x/y"), ("a/b", "clients/a/b/t"), ("", "clients//t")] {
        assert!(!a.allows(client, None, Publish, topic), "client {client:?} publishing {topic:?}");
    }
    assert!(!a.allows("+", None, Subscribe, "clients/+/#"));
    assert!(!a.allows("#", None, Subscribe, "clients/#"));
    assert!(!a.allows("c", Some("+"), Subscribe, "users/+/#"));
    assert!(!a.allows("c", Some("a/b"), Publish, "users/a/b/x"));
    assert!(!a.allows("c", Some(""), Publish, "users//x"));
    // `$SYS` as a client id must not turn `%c/#` into `$SYS/#`.
    let own = acl(vec![rule("%c/#", "all", "allow")], "deny");
    assert!(own.allows("dev", None, Subscribe, "dev/#"));
    assert!(!own.allows("$SYS", None, Subscribe, "$SYS/#"));
}

#[test]
fn hostile_names_make_a_deny_rule_deny() {
    let a = acl(vec![rule("clients/%c/admin", "all", "deny"), rule("clients/#", "all", "allow")], "deny");
    assert!(!a.allows("x", None, Publish, "clients/x/admin"));
    assert!(a.allows("x", None, Publish, "clients/y/admin"));
    assert!(!a.allows("x/y", None, Publish, "clients/x/y/admin"), "fails closed");
    assert!(!a.allows("x/y", None, Publish, "clients/anything"), "fails closed");
}

#[test]
fn subscriptions_need_an_allow_rule_covering_the_whole_filter() {
    let a = acl(vec![rule("a/#", "subscribe", "allow"), rule("b/+", "subscribe", "allow")], "deny");
    for ok in ["a/#", "a/+/c", "a/b", "a", "b/x", "b/+"] {
        assert!(a.allows("c", None, Subscribe, ok), "{ok}");
    }
    for no in ["#", "+/b", "b/#", "b", "b/x/y"] {
        assert!(!a.allows("c", None, Subscribe, no), "{no}");
    }
}

#[test]
fn a_deny_rule_refuses_any_filter_that_reaches_its_topics() {
    let a = acl(vec![rule("a/secret", "subscribe", "deny"), rule("#", "subscribe", "allow")], "deny");
    assert!(!a.allows("c", None, Subscribe, "a/secret"));
    assert!(!a.allows("c", None, Subscribe, "a/+"));
    assert!(!a.allows("c", None, Subscribe, "#"));
    assert!(!a.allows("c", None, Subscribe, "+/secret"));
    assert!(a.allows("c", None, Subscribe, "a/public"));
    assert!(a.allows("c", None, Subscribe, "b/#"));
}

#[test]
fn sys_topics_are_not_reached_through_wildcards() {
    let a = acl(vec![rule("#", "all", "allow")], "deny");
    assert!(a.allows("c", None, Publish, "a/b"));
    assert!(!a.allows("c", None, Publish, "$SYS/x"));
    assert!(!a.allows("c", None, Subscribe, "$SYS/#"));
    let sys = acl(vec![rule("$SYS/#", "subscribe", "allow")], "deny");
    assert!(sys.allows("c", None, Subscribe, "$SYS/brokers/+/uptime"));
    assert!(!sys.allows("c", None, Subscribe, "#"));
    // And a deny of `#` leaves `$SYS` to later rules.
    let open_sys = acl(vec![rule("#", "all", "deny"), rule("$SYS/#", "subscribe", "allow")], "deny");
    assert!(open_sys.allows("c", None, Subscribe, "$SYS/x"));
    assert!(!open_sys.allows("c", None, Subscribe, "x"));
}

#[test]
fn shared_subscriptions_are_checked_by_their_filter() {
    let a = acl(vec![rule("jobs/#", "subscribe", "allow")], "deny");
    assert!(a.allows("c", None, Subscribe, "$share/workers/jobs/+"));
    assert!(!a.allows("c", None, Subscribe, "$share/workers/other/+"));
    assert!(!a.allows("c", None, Subscribe, "$share/jobs/#"), "group `jobs`, filter `#`");
    assert!(!a.allows("c", None, Subscribe, "$share/workers"));
}

#[test]
fn bad_rules_are_refused_with_their_place() {
    let bad = [
        (rule("a/#/b", "all", "allow"), "mqtt.acl[1].topic"),
        (rule("a+", "all", "allow"), "mqtt.acl[1].topic"),
        (rule("", "all", "allow"), "mqtt.acl[1].topic"),
        (rule("%c#", "all", "allow"), "mqtt.acl[1].topic"),
        (rule("+%u", "all", "allow"), "mqtt.acl[1].topic"),
        (rule("$share/g/a", "all", "allow"), "mqtt.acl[1].topic"),
        (rule("a", "read", "allow"), "mqtt.acl[1].access"),
        (rule("a", "all", "permit"), "mqtt.acl[1].permission"),
        (for_user("", rule("a", "all", "allow")), "mqtt.acl[1].username"),
        (for_client("", rule("a", "all", "allow")), "mqtt.acl[1].username and client_id"),
    ];
    for (r, place) in bad {
        let err = Acl::new(&[rule("ok/#", "all", "allow"), r.clone()], "deny").unwrap_err();
        assert!(err.starts_with(place), "{r:?}: {err}");
    }
    assert!(Acl::new(&[], "maybe").unwrap_err().starts_with("mqtt.acl_default"));
    assert!(Acl::new(&[rule("%c/%u/#", "all", "allow"), rule("+/%%c", "all", "deny")], "allow").is_ok());
}
