use super::*;
use crate::config::{AclRule, MqttUser};

/// Cheap hashes: the tests exercise the rules, not the cost.
fn user(name: &str, password: &str) -> MqttUser {
    MqttUser {
        username: name.into(),
        password_hash: hash_password(password.as_bytes(), name.as_bytes(), 3),
        admin: false,
    }
}

fn section(allow_anonymous: bool, users: Vec<MqttUser>) -> MqttSection {
    MqttSection { allow_anonymous, users, ..MqttSection::default() }
}

fn allowed(name: Option<&str>) -> Login {
    Login::Allowed { username: name.map(str::to_string) }
}

#[test]
fn zero_config_admits_everyone_as_they_say() {
    let auth = Authenticator::new(&MqttSection::default()).unwrap();
    assert_eq!(auth.login(None, None), allowed(None));
    assert_eq!(auth.login(Some("anyone"), None), allowed(Some("anyone")));
    assert_eq!(auth.login(Some("anyone"), Some(b"whatever")), allowed(Some("anyone")));
    assert!(auth.allows("c", Some("anyone"), Access::Publish, "a/b"));
}

#[test]
fn no_users_and_no_anonymous_admits_nobody() {
    let auth = Authenticator::new(&section(false, vec![])).unwrap();
    assert_eq!(auth.login(None, None), Login::NotAuthorized);
    assert_eq!(auth.login(Some("anyone"), Some(b"pw")), Login::BadCredentials);
}

#[test]
fn configured_users_need_their_password() {
    let auth = Authenticator::new(&section(false, vec![user("alice", "wonder"), user("bob", "builder")])).unwrap();
    assert_eq!(auth.login(Some("alice"), Some(b"wonder")), allowed(Some("alice")));
    assert_eq!(auth.login(Some("bob"), Some(b"builder")), allowed(Some("bob")));
    assert_eq!(auth.login(Some("alice"), Some(b"builder")), Login::BadCredentials);
    assert_eq!(auth.login(Some("alice"), Some(b"")), Login::BadCredentials);
    assert_eq!(auth.login(Some("alice"), None), Login::BadCredentials);
    assert_eq!(auth.login(Some("Alice"), Some(b"wonder")), Login::BadCredentials);
    assert_eq!(auth.login(Some("carol"), Some(b"wonder")), Login::BadCredentials);
    assert_eq!(auth.login(Some("carol"), None), Login::BadCredentials);
    assert_eq!(auth.login(None, None), Login::NotAuthorized);
    assert_eq!(auth.login(None, Some(b"wonder")), Login::NotAuthorized, "a password alone is no one");
}

#[test]
fn with_users_anonymous_is_still_anonymous_only() {
    let auth = Authenticator::new(&section(true, vec![user("alice", "wonder")])).unwrap();
    assert_eq!(auth.login(None, None), allowed(None));
    assert_eq!(auth.login(Some("carol"), None), Login::BadCredentials, "unknown names are not anonymous");
    assert_eq!(auth.login(Some("alice"), Some(b"nope")), Login::BadCredentials);
    assert_eq!(auth.login(Some("alice"), Some(b"wonder")), allowed(Some("alice")));
}

#[test]
fn only_successes_are_cached_and_the_cache_is_consulted() {
    let auth = Authenticator::new(&section(false, vec![user("alice", "wonder")])).unwrap();
    assert_eq!(auth.login(Some("alice"), Some(b"nope")), Login::BadCredentials);
    assert_eq!(auth.cache.len(), 0);
    for _ in 0..3 {
        assert_eq!(auth.login(Some("alice"), Some(b"wonder")), allowed(Some("alice")));
    }
    assert_eq!(auth.cache.len(), 1);
    // Planting a pair shows the cache answers before PBKDF2 does.
    auth.cache.insert("alice", b"planted");
    assert_eq!(auth.login(Some("alice"), Some(b"planted")), allowed(Some("alice")));
    // A new config is a new authenticator with an empty cache.
    let fresh = Authenticator::new(&section(false, vec![user("alice", "changed")])).unwrap();
    assert_eq!(fresh.login(Some("alice"), Some(b"wonder")), Login::BadCredentials);
}

#[test]
fn a_cached_pair_does_not_outlive_its_user() {
    let auth = Authenticator::new(&section(false, vec![user("alice", "wonder")])).unwrap();
    auth.cache.insert("mallory", b"pw");
    assert_eq!(auth.login(Some("mallory"), Some(b"pw")), Login::BadCredentials, "users are checked first");
}

#[test]
fn malformed_hashes_and_duplicates_are_refused() {
    let broken =
        MqttUser { username: "eve".into(), password_hash: "pbkdf2-sha256$1$c2FsdA==$short".into(), admin: false };
    let err = Authenticator::new(&section(false, vec![user("alice", "a"), broken])).unwrap_err();
    assert!(err.starts_with("mqtt.users[1].password_hash (eve): hash"), "{err}");
    let plain = MqttUser { username: "eve".into(), password_hash: "hunter2".into(), admin: false };
    assert!(Authenticator::new(&section(false, vec![plain])).unwrap_err().starts_with("mqtt.users[0]"));
    let err = Authenticator::new(&section(false, vec![user("alice", "a"), user("alice", "b")])).unwrap_err();
    assert!(err.contains("\"alice\" is listed twice"), "{err}");
    let err = Authenticator::new(&section(false, vec![user("", "a")])).unwrap_err();
    assert!(err.starts_with("mqtt.users[0].username"), "{err}");
}

#[test]
fn bad_acl_rules_are_refused() {
    let rule = AclRule {
        username: None,
        client_id: None,
        topic: "a/#/b".into(),
        access: "all".into(),
        permission: "allow".into(),
    };
    let s = MqttSection { acl: vec![rule], ..MqttSection::default() };
    assert!(Authenticator::new(&s).unwrap_err().starts_with("mqtt.acl[0].topic"));
}

#[test]
fn username_rules_need_real_users_when_anyone_may_claim_a_name() {
    let rule = AclRule {
        username: Some("admin".into()),
        client_id: None,
        topic: "#".into(),
        access: "all".into(),
        permission: "allow".into(),
    };
    let open = MqttSection { acl: vec![rule.clone()], ..MqttSection::default() };
    assert!(Authenticator::new(&open).unwrap_err().contains("any client may claim any username"));
    let with_users = MqttSection { acl: vec![rule.clone()], ..section(true, vec![user("admin", "pw")]) };
    assert!(Authenticator::new(&with_users).is_ok());
    let closed = MqttSection { acl: vec![rule], ..section(false, vec![]) };
    assert!(Authenticator::new(&closed).is_ok());
}

#[test]
fn logins_and_rules_together() {
    let rules = vec![
        AclRule {
            username: Some("admin".into()),
            client_id: None,
            topic: "#".into(),
            access: "all".into(),
            permission: "allow".into(),
        },
        AclRule {
            username: None,
            client_id: None,
            topic: "users/%u/#".into(),
            access: "all".into(),
            permission: "allow".into(),
        },
    ];
    let s = MqttSection {
        acl: rules,
        acl_default: "deny".into(),
        ..section(true, vec![user("admin", "root"), user("ann", "pw")])
    };
    let auth = Authenticator::new(&s).unwrap();
    let Login::Allowed { username } = auth.login(Some("ann"), Some(b"pw")) else { panic!("ann logs in") };
    let ann = username.as_deref();
    assert!(auth.allows("c1", ann, Access::Subscribe, "users/ann/#"));
    assert!(!auth.allows("c1", ann, Access::Subscribe, "users/+/#"));
    assert!(auth.allows("c2", Some("admin"), Access::Subscribe, "users/+/#"));
    assert!(!auth.allows("c2", Some("admin"), Access::Subscribe, "$SYS/#"));
    assert!(!auth.allows("c3", None, Access::Publish, "users/ann/x"), "anonymous has no %u");
}

#[test]
fn shareable_across_connection_tasks() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Authenticator>();
}
