//! Bindings: a Kafka topic name that is a view of another topic's records, those whose keys (MQTT
//! topic names) match an MQTT topic filter. The MQTT namespace log is the one topic with any: its
//! bindings let Kafka clients read and write MQTT messages with no copy (`docs/kafka.md`, "One
//! log, two views"). A binding lives on the topic it views, so it travels with the topic's record
//! through the metadata watch and `keel topic describe` shows it.

use std::collections::BTreeMap;

use keel_protocols::mqtt::topic::valid_filter;

use super::command::{MetaError, MetaOk, MetaResult};
use super::records::TopicRecord;
use super::state::{valid_name, MetaState, TOPIC_NAME_BYTES_MAX};

/// What a Kafka topic name stands for: a topic (no filter) or a binding (the topic it views and
/// the filter its record keys must match).
#[derive(Clone, Copy, Debug)]
pub struct Target<'a> {
    pub topic: &'a TopicRecord,
    pub filter: Option<&'a str>,
}

/// Resolves a Kafka topic name among `topics` and their bindings.
pub fn resolve<'a>(topics: &'a BTreeMap<String, TopicRecord>, name: &str) -> Option<Target<'a>> {
    if let Some(topic) = topics.get(name) {
        return Some(Target { topic, filter: None });
    }
    bound(topics, name).map(|(topic, f)| Target { topic, filter: Some(f) })
}

/// The topic whose binding `name` is, and the binding's filter.
fn bound<'a>(topics: &'a BTreeMap<String, TopicRecord>, name: &str) -> Option<(&'a TopicRecord, &'a str)> {
    topics.values().find_map(|t| t.bindings.get(name).map(|f| (t, f.as_str())))
}

impl MetaState {
    /// The topic whose binding `name` is, and the binding's filter.
    pub fn bound(&self, name: &str) -> Option<(&TopicRecord, &str)> {
        bound(&self.topics, name)
    }

    /// Sets (or, with `filter` `None`, removes) binding `name` on `topic`.
    pub(crate) fn bind(&mut self, topic: &str, name: &str, filter: Option<&str>) -> MetaResult {
        let invalid = |reason: String| Err(MetaError::Invalid { reason });
        if !self.topics.contains_key(topic) {
            return Err(MetaError::TopicNotFound { name: topic.to_string() });
        }
        if let Some(f) = filter {
            if !valid_name(name) {
                return invalid(format!(
                    "binding name must be 1 to {TOPIC_NAME_BYTES_MAX} ASCII letters, digits, '.', '_' or '-'"
                ));
            }
            if !valid_filter(f) || f.starts_with("$share/") {
                return invalid(format!("{f:?} is not an MQTT topic filter"));
            }
            if self.topics.contains_key(name) {
                return Err(MetaError::TopicExists { name: name.to_string() });
            }
            if let Some((other, _)) = self.bound(name).filter(|(t, _)| t.name != topic) {
                return invalid(format!("{name:?} is already a binding of {:?}", other.name));
            }
        }
        let t = self.topics.get_mut(topic).expect("checked");
        let changed = match filter {
            Some(f) => t.bindings.insert(name.to_string(), f.to_string()).as_deref() != Some(f),
            None => t.bindings.remove(name).is_some(),
        };
        if !changed && filter.is_none() {
            return invalid(format!("{name:?} is not a binding of {topic:?}"));
        }
        if changed {
            t.version += 1;
        }
        Ok(MetaOk::Topic(t.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meta::command::{MetaCommand, TopicSpec};
    use crate::meta::records::Role;

    fn state() -> MetaState {
        let mut s = MetaState::default();
        let node = MetaCommand::RegisterNode {
            id: 1,
            addr: "a".into(),
            roles: vec![Role::Storage],
            kafka_addr: None,
            kafka_tls_addr: None,
        };
        s.apply(&node).unwrap();
        s.apply(&MetaCommand::CreateTopic(TopicSpec::for_test("__mqtt", 4, 1))).unwrap();
        s.apply(&MetaCommand::CreateTopic(TopicSpec::for_test("orders", 1, 1))).unwrap();
        s
    }

    fn bind(s: &mut MetaState, name: &str, filter: Option<&str>) -> MetaResult {
        s.apply(&MetaCommand::Bind { topic: "__mqtt".into(), name: name.into(), filter: filter.map(String::from) })
    }

    #[test]
    fn a_binding_is_set_found_changed_and_removed_with_the_topic_version_bumped() {
        let mut s = state();
        assert!(matches!(bind(&mut s, "sensors", Some("sensors/#")), Ok(MetaOk::Topic(t)) if t.version == 2));
        assert_eq!(s.bound("sensors").map(|(t, f)| (t.name.as_str(), f)), Some(("__mqtt", "sensors/#")));
        assert!(matches!(bind(&mut s, "sensors", Some("sensors/#")), Ok(MetaOk::Topic(t)) if t.version == 2));
        assert!(matches!(bind(&mut s, "sensors", Some("sensors/+/t")), Ok(MetaOk::Topic(t)) if t.version == 3));
        assert!(matches!(bind(&mut s, "sensors", None), Ok(MetaOk::Topic(t)) if t.bindings.is_empty()));
        assert_eq!(s.bound("sensors"), None);
        assert!(matches!(bind(&mut s, "sensors", None), Err(MetaError::Invalid { .. })));
    }

    #[test]
    fn a_binding_never_shadows_a_topic_and_a_topic_never_shadows_a_binding() {
        let mut s = state();
        assert_eq!(bind(&mut s, "orders", Some("a/#")), Err(MetaError::TopicExists { name: "orders".into() }));
        bind(&mut s, "sensors", Some("sensors/#")).unwrap();
        let create = MetaCommand::CreateTopic(TopicSpec::for_test("sensors", 1, 1));
        assert_eq!(s.apply(&create), Err(MetaError::TopicExists { name: "sensors".into() }));
    }

    #[test]
    fn bad_names_filters_and_topics_are_refused() {
        let mut s = state();
        for (name, filter) in [("", "a"), ("a b", "a"), ("ok", "a/#/b"), ("ok", "a+"), ("ok", "$share/g/a"), ("ok", "")]
        {
            assert!(matches!(bind(&mut s, name, Some(filter)), Err(MetaError::Invalid { .. })), "{name:?} {filter:?}");
        }
        let missing = MetaCommand::Bind { topic: "nope".into(), name: "x".into(), filter: Some("a".into()) };
        assert!(matches!(s.apply(&missing), Err(MetaError::TopicNotFound { .. })));
    }
}
