//! Access rules: who may publish to which topics and subscribe to which filters.
//!
//! Rules are tried in order; the first that applies to the client and the request decides. A
//! rule applies when its `username` and `client_id` (where set) are the client's and its
//! access covers the request; `%c` and `%u` in its topic stand for the client id and username.
//! With no rules everything is allowed (the zero-config broker); when rules exist and none
//! applies, `acl_default` decides.
//!
//! Subscribing is checked against the whole set of topics the filter can match: an `allow`
//! rule decides only when it covers every one of them, and a `deny` rule decides as soon as it
//! shares a single one with it, so `deny a/secret` then `allow a/#` refuses `a/+`. A shared
//! subscription `$share/<group>/<f>` is checked as `f`.
//!
//! A client cannot widen a rule through its own name: a placeholder whose value is empty,
//! starts with `$` or holds `/`, `+`, `#` or NUL does not let an `allow` rule apply, and makes
//! a `deny` rule deny (fail closed). A `%u` rule never applies to a client without a username.
//! Malformed requests (a wildcard in a topic name, an invalid filter) are always refused.

use std::borrow::Cow;

use crate::config::AclRule;

use super::topic::{covers, matches, overlaps, subscription_filter, valid_filter, valid_topic};

/// What a client asks to do with a topic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Access {
    /// PUBLISH to a topic name.
    Publish,
    /// SUBSCRIBE with a topic filter (possibly `$share/<group>/<filter>`).
    Subscribe,
}

/// The checked, ordered access rules.
#[derive(Clone, Debug)]
pub struct Acl {
    rules: Vec<Rule>,
    default_allow: bool,
}

#[derive(Clone, Debug)]
struct Rule {
    username: Option<String>,
    client_id: Option<String>,
    /// A valid topic filter once its placeholders are replaced by safe values.
    topic: String,
    publish: bool,
    subscribe: bool,
    allow: bool,
}

/// A rule's topic with the client's values put in.
enum Substituted<'a> {
    Filter(Cow<'a, str>),
    /// `%u` and the client has no username: the rule does not apply.
    NoUsername,
    /// A value that could change the filter's shape (see the module docs).
    Unsafe,
}

impl Acl {
    /// Checks `rules` (in order) and `default` ("allow" or "deny").
    pub fn new(rules: &[AclRule], default: &str) -> Result<Acl, String> {
        let default_allow = parse_permission(default)
            .ok_or_else(|| format!("mqtt.acl_default: \"allow\" or \"deny\", not {default:?}"))?;
        let rules = rules
            .iter()
            .enumerate()
            .map(|(i, r)| Rule::new(r).map_err(|e| format!("mqtt.acl[{i}].{e}")))
            .collect::<Result<_, _>>()?;
        Ok(Acl { rules, default_allow })
    }

    /// Whether the client may `access` the topic name (publish) or filter (subscribe).
    pub fn allows(&self, client_id: &str, username: Option<&str>, access: Access, topic_or_filter: &str) -> bool {
        let requested = match access {
            Access::Publish => valid_topic(topic_or_filter).then_some(topic_or_filter),
            Access::Subscribe => subscription_filter(topic_or_filter),
        };
        let Some(requested) = requested else {
            return false;
        };
        if self.rules.is_empty() {
            return true;
        }
        self.rules.iter().find_map(|r| r.decide(client_id, username, access, requested)).unwrap_or(self.default_allow)
    }

    /// Whether any rule names a username (those are only as good as the login behind them).
    pub(crate) fn names_usernames(&self) -> bool {
        self.rules.iter().any(|r| r.username.is_some())
    }
}

impl Rule {
    fn new(r: &AclRule) -> Result<Rule, String> {
        let (publish, subscribe) = match r.access.as_str() {
            "publish" => (true, false),
            "subscribe" => (false, true),
            "all" => (true, true),
            other => return Err(format!("access: \"publish\", \"subscribe\" or \"all\", not {other:?}")),
        };
        let allow = parse_permission(&r.permission)
            .ok_or_else(|| format!("permission: \"allow\" or \"deny\", not {:?}", r.permission))?;
        if r.username.as_deref() == Some("") || r.client_id.as_deref() == Some("") {
            return Err("username and client_id: leave one out rather than empty".into());
        }
        let shape = r.topic.replace("%c", "c").replace("%u", "u");
        if !valid_filter(&shape) {
            return Err(format!("topic: {:?} is not a valid topic filter", r.topic));
        }
        if r.topic.starts_with("$share/") {
            return Err(format!("topic: {:?}: name the filter; shared subscriptions are checked by it", r.topic));
        }
        let (username, client_id, topic) = (r.username.clone(), r.client_id.clone(), r.topic.clone());
        Ok(Rule { username, client_id, topic, publish, subscribe, allow })
    }

    /// `Some(allowed)` when this rule decides the request, `None` when it does not apply.
    fn decide(&self, client_id: &str, username: Option<&str>, access: Access, requested: &str) -> Option<bool> {
        let access_ok = match access {
            Access::Publish => self.publish,
            Access::Subscribe => self.subscribe,
        };
        let names_ok = self.username.as_deref().is_none_or(|u| Some(u) == username)
            && self.client_id.as_deref().is_none_or(|c| c == client_id);
        if !access_ok || !names_ok {
            return None;
        }
        let filter = match substitute(&self.topic, client_id, username) {
            Substituted::Filter(f) => f,
            Substituted::NoUsername => return None,
            Substituted::Unsafe => return (!self.allow).then_some(false),
        };
        let hit = match access {
            Access::Publish => matches(&filter, requested),
            Access::Subscribe if self.allow => covers(&filter, requested),
            Access::Subscribe => overlaps(&filter, requested),
        };
        hit.then_some(self.allow)
    }
}

fn parse_permission(p: &str) -> Option<bool> {
    match p {
        "allow" => Some(true),
        "deny" => Some(false),
        _ => None,
    }
}

/// Replaces `%c` and `%u` in one pass (a value is never itself scanned for placeholders).
fn substitute<'a>(template: &'a str, client_id: &str, username: Option<&str>) -> Substituted<'a> {
    if !template.contains('%') {
        return Substituted::Filter(Cow::Borrowed(template));
    }
    if template.contains("%u") && username.is_none() {
        return Substituted::NoUsername;
    }
    let mut out = String::with_capacity(template.len() + client_id.len());
    let mut rest = template;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let value = match rest[at + 1..].chars().next() {
            Some('c') => Some(client_id),
            Some('u') => username,
            _ => None,
        };
        match value {
            Some(v) if !safe_value(v) => return Substituted::Unsafe,
            Some(v) => {
                out.push_str(v);
                rest = &rest[at + 2..];
            }
            None => {
                out.push('%');
                rest = &rest[at + 1..];
            }
        }
    }
    out.push_str(rest);
    Substituted::Filter(Cow::Owned(out))
}

/// Whether a client id or username can stand in a topic level without changing its shape.
fn safe_value(v: &str) -> bool {
    !v.is_empty() && !v.starts_with('$') && !v.contains(['/', '+', '#', '\0'])
}

#[cfg(test)]
mod tests;
