//! A topic-filter trie: subscriptions by filter level, so that matching a topic name costs its
//! levels (times the wildcards met), not the number of subscriptions.
//!
//! Matching follows MQTT: `+` matches one whole level, `#` (last) this level and every level
//! below, its parent included (`a/#` matches `a`); a topic name starting with `$` is not matched
//! by a filter whose first level is a wildcard [MQTT-4.7.2-1].

use std::collections::BTreeMap;

/// Subscriptions by filter: each filter holds entries by key (a session, or a shared group's
/// member).
#[derive(Debug)]
pub struct Trie<K, V> {
    root: Node<K, V>,
    len: usize,
}

#[derive(Debug)]
struct Node<K, V> {
    children: BTreeMap<String, Node<K, V>>,
    entries: BTreeMap<K, V>,
}

impl<K, V> Default for Node<K, V> {
    fn default() -> Self {
        Node { children: BTreeMap::new(), entries: BTreeMap::new() }
    }
}

impl<K, V> Default for Trie<K, V> {
    fn default() -> Self {
        Trie { root: Node::default(), len: 0 }
    }
}

impl<K: Ord + Clone, V> Trie<K, V> {
    /// Adds (or replaces) `key`'s entry under `filter`; the old value if there was one.
    pub fn insert(&mut self, filter: &str, key: K, value: V) -> Option<V> {
        let mut node = &mut self.root;
        for level in filter.split('/') {
            node = node.children.entry(level.to_string()).or_default();
        }
        let old = node.entries.insert(key, value);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `key`'s entry under `filter` (and nodes left empty).
    pub fn remove(&mut self, filter: &str, key: &K) -> Option<V> {
        let levels: Vec<&str> = filter.split('/').collect();
        let old = remove_at(&mut self.root, &levels, key);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// Entries in all.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Calls `f` with every entry stored under exactly `filter`.
    pub fn for_each_at(&self, filter: &str, mut f: impl FnMut(&K, &V)) {
        let mut node = &self.root;
        for level in filter.split('/') {
            match node.children.get(level) {
                Some(n) => node = n,
                None => return,
            }
        }
        node.entries.iter().for_each(|(k, v)| f(k, v));
    }

    /// Calls `f` with every entry whose filter matches `topic`.
    pub fn for_each_match(&self, topic: &str, mut f: impl FnMut(&K, &V)) {
        let levels: Vec<&str> = topic.split('/').collect();
        let dollar = topic.starts_with('$');
        walk(&self.root, &levels, 0, dollar, &mut f);
    }
}

fn remove_at<K: Ord, V>(node: &mut Node<K, V>, levels: &[&str], key: &K) -> Option<V> {
    let Some((first, rest)) = levels.split_first() else { return node.entries.remove(key) };
    let child = node.children.get_mut(*first)?;
    let old = remove_at(child, rest, key);
    if child.entries.is_empty() && child.children.is_empty() {
        node.children.remove(*first);
    }
    old
}

fn walk<K, V>(node: &Node<K, V>, levels: &[&str], depth: usize, dollar: bool, f: &mut impl FnMut(&K, &V)) {
    let wildcards_allowed = !(depth == 0 && dollar);
    if wildcards_allowed {
        if let Some(hash) = node.children.get("#") {
            hash.entries.iter().for_each(|(k, v)| f(k, v));
        }
    }
    let Some((level, rest)) = levels.split_first() else {
        node.entries.iter().for_each(|(k, v)| f(k, v));
        return;
    };
    if let Some(exact) = node.children.get(*level) {
        walk(exact, rest, depth + 1, dollar, f);
    }
    if wildcards_allowed {
        if let Some(plus) = node.children.get("+") {
            walk(plus, rest, depth + 1, dollar, f);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keel_protocols::mqtt::topic::matches;

    fn matched(t: &Trie<u32, ()>, topic: &str) -> Vec<u32> {
        let mut out = Vec::new();
        t.for_each_match(topic, |k, _| out.push(*k));
        out.sort();
        out
    }

    #[test]
    fn matches_like_the_spec_examples() {
        let mut t = Trie::default();
        for (i, f) in [
            "sport/tennis/player1/#",
            "sport/#",
            "#",
            "+/+",
            "/+",
            "+",
            "sport/+/player1",
            "$SYS/#",
            "+/monitor/Clients",
        ]
        .iter()
        .enumerate()
        {
            t.insert(f, i as u32, ());
        }
        assert_eq!(matched(&t, "sport/tennis/player1"), vec![0, 1, 2, 6]);
        assert_eq!(matched(&t, "sport/tennis/player1/ranking"), vec![0, 1, 2]);
        assert_eq!(matched(&t, "sport"), vec![1, 2, 5]);
        assert_eq!(matched(&t, "/finance"), vec![2, 3, 4]);
        // `$` topics: only filters naming `$` at the first level.
        assert_eq!(matched(&t, "$SYS/monitor/Clients"), vec![7]);
        assert_eq!(matched(&t, "$SYS"), vec![7]);
    }

    #[test]
    fn agrees_with_the_codec_matcher_on_every_small_case() {
        let levels = ["a", "b", "$x", "", "+", "#"];
        let mut filters = Vec::new();
        for a in levels {
            filters.push(a.to_string());
            for b in levels {
                filters.push(format!("{a}/{b}"));
                for c in levels {
                    filters.push(format!("{a}/{b}/{c}"));
                }
            }
        }
        filters.retain(|f| keel_protocols::mqtt::topic::valid_filter(f));
        let mut t = Trie::default();
        for (i, f) in filters.iter().enumerate() {
            t.insert(f, i as u32, ());
        }
        let names: Vec<String> = filters.iter().filter(|f| !f.contains(['+', '#'])).cloned().collect();
        for name in &names {
            let want: Vec<u32> = (0..filters.len() as u32).filter(|i| matches(&filters[*i as usize], name)).collect();
            assert_eq!(matched(&t, name), want, "topic {name:?}");
        }
    }

    #[test]
    fn removal_prunes_and_counts() {
        let mut t = Trie::default();
        t.insert("a/b/c", 1, ());
        t.insert("a/b/c", 2, ());
        t.insert("a/+", 1, ());
        assert_eq!(t.len(), 3);
        assert_eq!(t.insert("a/+", 1, ()), Some(()));
        assert_eq!(t.len(), 3);
        assert!(t.remove("a/b/c", &1).is_some());
        assert!(t.remove("a/b/c", &1).is_none());
        assert!(t.remove("x/y", &1).is_none());
        assert_eq!(matched(&t, "a/b/c"), vec![2]);
        t.remove("a/b/c", &2);
        t.remove("a/+", &1);
        assert!(t.is_empty());
        assert!(t.root.children.is_empty());
    }
}
