//! Which of this broker's sessions a message goes to: the subscriptions of the sessions
//! connected here, in tries by filter. Each broker matches the records it tails against its own
//! sessions only; cross-broker delivery is the log itself.
//!
//! A session with several matching subscriptions gets the message once, at the highest QoS
//! they grant, with all their subscription identifiers (MQTT 5 lets a server do this,
//! [MQTT-3.3.4-2], [MQTT-3.3.4-3]). No Local subscriptions skip their own client's messages.
//! Shared subscriptions (`$share/group/filter`) are kept apart: a message matching one goes to
//! one member of the group (chosen by the tailer, see `tail`).

use std::collections::BTreeMap;
use std::sync::Arc;

use keel_protocols::mqtt::QoS;

use super::record::MqttRecord;
use super::session::{LocalSession, SubEntry};
use super::trie::Trie;

/// A shared subscription's entry: the member's filter (to tell the group's subscriptions
/// apart) and options.
#[derive(Clone, Debug)]
struct SharedEntry {
    filter: String,
    entry: SubEntry,
}

/// A session a message goes to, and how.
pub struct Target {
    pub session: Arc<LocalSession>,
    pub qos: QoS,
    pub retain_as_published: bool,
    pub subscription_ids: Vec<u32>,
}

/// A shared subscription a message matches: its `group/filter` key and this broker's members.
pub struct SharedTarget {
    pub key: String,
    pub members: Vec<Target>,
}

/// The local sessions and their subscriptions.
#[derive(Default)]
pub struct Router {
    subs: Trie<u64, SubEntry>,
    shared: Trie<(String, u64), SharedEntry>,
    sessions: BTreeMap<u64, Arc<LocalSession>>,
}

impl Router {
    pub fn add_session(&mut self, s: Arc<LocalSession>) {
        self.sessions.insert(s.key, s);
    }

    /// Removes a session and every subscription it had here.
    pub fn remove_session(&mut self, s: &LocalSession, filters: &[String], shared: &[(String, String)]) {
        for f in filters {
            self.subs.remove(f, &s.key);
        }
        for (group, filter) in shared {
            self.shared.remove(filter, &(group.clone(), s.key));
        }
        self.sessions.remove(&s.key);
    }

    pub fn subscribe(&mut self, key: u64, filter: &str, entry: SubEntry) {
        self.subs.insert(filter, key, entry);
    }

    pub fn unsubscribe(&mut self, key: u64, filter: &str) -> bool {
        self.subs.remove(filter, &key).is_some()
    }

    pub fn subscribe_shared(&mut self, key: u64, group: &str, filter: &str, entry: SubEntry) {
        self.shared.insert(filter, (group.to_string(), key), SharedEntry { filter: filter.to_string(), entry });
    }

    pub fn unsubscribe_shared(&mut self, key: u64, group: &str, filter: &str) -> bool {
        self.shared.remove(filter, &(group.to_string(), key)).is_some()
    }

    /// This broker's members of shared subscription `group`/`filter`.
    pub fn shared_members(&self, group: &str, filter: &str) -> u32 {
        let mut n = 0;
        self.shared.for_each_at(filter, |(g, _), e| {
            if g == group && e.filter == filter {
                n += 1;
            }
        });
        n
    }

    pub fn sessions(&self) -> impl Iterator<Item = &Arc<LocalSession>> {
        self.sessions.values()
    }

    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    pub fn subscription_count(&self) -> usize {
        self.subs.len() + self.shared.len()
    }

    /// The sessions `record` goes to (ordinary subscriptions), and the shared subscriptions it
    /// matches with their local members.
    pub fn targets(&self, record: &MqttRecord) -> (Vec<Target>, Vec<SharedTarget>) {
        let mut by_session: BTreeMap<u64, (QoS, bool, Vec<u32>)> = BTreeMap::new();
        self.subs.for_each_match(&record.topic, |key, e| {
            let Some(s) = self.sessions.get(key) else { return };
            if e.no_local && s.client_id == record.publisher {
                return;
            }
            let t = by_session.entry(*key).or_insert((QoS::AtMostOnce, false, Vec::new()));
            t.0 = t.0.max(e.qos);
            t.1 |= e.retain_as_published;
            t.2.extend(e.subscription_id);
        });
        let targets = by_session
            .into_iter()
            .filter_map(|(key, (qos, rap, mut ids))| {
                ids.sort_unstable();
                ids.dedup();
                let session = self.sessions.get(&key)?.clone();
                Some(Target { session, qos: qos.min(record.qos), retain_as_published: rap, subscription_ids: ids })
            })
            .collect();
        let mut groups: BTreeMap<String, Vec<Target>> = BTreeMap::new();
        self.shared.for_each_match(&record.topic, |(group, key), e| {
            let Some(session) = self.sessions.get(key) else { return };
            let target = Target {
                session: session.clone(),
                qos: e.entry.qos.min(record.qos),
                retain_as_published: e.entry.retain_as_published,
                subscription_ids: e.entry.subscription_id.into_iter().collect(),
            };
            groups.entry(format!("{group}/{}", e.filter)).or_default().push(target);
        });
        let shared = groups.into_iter().map(|(key, members)| SharedTarget { key, members }).collect();
        (targets, shared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use keel_protocols::mqtt::PublishProperties;

    fn session(key: u64, client: &str) -> Arc<LocalSession> {
        LocalSession::new(key, client.into(), 1, false, &[0], 1 << 20, 8)
    }

    fn entry(qos: QoS, id: Option<u32>) -> SubEntry {
        SubEntry { qos, no_local: false, retain_as_published: false, subscription_id: id }
    }

    fn record(topic: &str, qos: QoS, publisher: &str) -> MqttRecord {
        MqttRecord {
            topic: topic.into(),
            qos,
            retain: false,
            publisher: publisher.into(),
            properties: PublishProperties::default(),
            payload: Bytes::new(),
        }
    }

    #[test]
    fn overlapping_subscriptions_deliver_once_at_the_highest_qos_with_every_identifier() {
        let mut r = Router::default();
        r.add_session(session(1, "a"));
        r.subscribe(1, "x/+", entry(QoS::AtMostOnce, Some(4)));
        r.subscribe(1, "x/#", entry(QoS::ExactlyOnce, Some(9)));
        let (t, shared) = r.targets(&record("x/y", QoS::AtLeastOnce, "p"));
        assert!(shared.is_empty());
        assert_eq!(t.len(), 1);
        // Capped by the published QoS.
        assert_eq!((t[0].qos, t[0].subscription_ids.clone()), (QoS::AtLeastOnce, vec![4, 9]));
    }

    #[test]
    fn no_local_skips_the_publishers_own_messages() {
        let mut r = Router::default();
        r.add_session(session(1, "me"));
        r.add_session(session(2, "other"));
        for key in [1, 2] {
            r.subscribe(key, "t", SubEntry { no_local: true, ..entry(QoS::AtLeastOnce, None) });
        }
        let (t, _) = r.targets(&record("t", QoS::AtLeastOnce, "me"));
        assert_eq!(t.iter().map(|t| t.session.key).collect::<Vec<_>>(), vec![2]);
    }

    #[test]
    fn shared_members_are_grouped_by_group_and_filter_and_removed_with_their_session() {
        let mut r = Router::default();
        let (a, b) = (session(1, "a"), session(2, "b"));
        r.add_session(a.clone());
        r.add_session(b);
        r.subscribe_shared(1, "g", "t/+", entry(QoS::AtLeastOnce, None));
        r.subscribe_shared(2, "g", "t/+", entry(QoS::AtLeastOnce, None));
        r.subscribe_shared(2, "h", "t/#", entry(QoS::AtLeastOnce, None));
        let (t, shared) = r.targets(&record("t/1", QoS::AtLeastOnce, "p"));
        assert!(t.is_empty());
        let keys: Vec<(&str, usize)> = shared.iter().map(|s| (s.key.as_str(), s.members.len())).collect();
        assert_eq!(keys, vec![("g/t/+", 2), ("h/t/#", 1)]);
        assert_eq!(r.shared_members("g", "t/+"), 2);
        r.remove_session(&a, &[], &[("g".into(), "t/+".into())]);
        assert_eq!(r.shared_members("g", "t/+"), 1);
    }
}
