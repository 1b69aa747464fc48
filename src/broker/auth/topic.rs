//! MQTT topic names and filters as the ACL needs them: validity, matching a name, and how two
//! filters relate ([`covers`]: every topic of one is a topic of the other; [`overlaps`]: some
//! topic is in both).
//!
//! The rules (MQTT 5 §4.7): levels are separated by `/`; `+` stands for exactly one whole
//! level (possibly empty); `#` stands for any number of levels, only as the whole last level,
//! and matches the parent level too (`a/#` matches `a`); a topic name whose first level starts
//! with `$` is matched by no filter starting with a wildcard. Small and local on purpose: the
//! broker's subscription tree may keep its own, faster structure.

/// The longest topic name or filter, in bytes (an MQTT UTF-8 string).
pub const TOPIC_BYTES_MAX: usize = 65_535;

/// The prefix of a shared subscription, `$share/<group>/<filter>`.
const SHARE_PREFIX: &str = "$share/";

/// Whether `topic` is a valid topic name: non-empty, no wildcards, no NUL.
pub fn valid_topic(topic: &str) -> bool {
    !topic.is_empty() && topic.len() <= TOPIC_BYTES_MAX && !topic.contains(['+', '#', '\0'])
}

/// Whether `filter` is a valid topic filter: `+` only as a whole level, `#` only as the whole
/// last level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > TOPIC_BYTES_MAX || filter.contains('\0') {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let last = levels.peek().is_none();
        let ok = match level {
            "+" => true,
            "#" => last,
            _ => !level.contains(['+', '#']),
        };
        if !ok {
            return false;
        }
    }
    true
}

/// The filter a SUBSCRIBE asks for: `f` of a shared `$share/<group>/f`, else the filter itself;
/// `None` when it is not valid.
pub fn subscription_filter(requested: &str) -> Option<&str> {
    let filter = match requested.strip_prefix(SHARE_PREFIX) {
        Some(rest) => {
            let (group, filter) = rest.split_once('/')?;
            if group.is_empty() || group.contains(['+', '#']) {
                return None;
            }
            filter
        }
        None => requested,
    };
    valid_filter(filter).then_some(filter)
}

/// Whether the valid `filter` matches the valid topic name `topic`.
pub fn matches(filter: &str, topic: &str) -> bool {
    if topic.starts_with('$') && starts_with_wildcard(filter) {
        return false;
    }
    let (mut f, mut t) = (filter.split('/'), topic.split('/'));
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) | (None, None) => return true,
            (Some("+"), Some(_)) => {}
            (Some(fl), Some(tl)) if fl == tl => {}
            _ => return false,
        }
    }
}

/// Whether every topic name the valid filter `requested` matches is matched by the valid
/// filter `rule`: `a/#` covers `a/+/c` and `a`; `a/+` covers `a/b` but not `a/#`; `#` covers
/// everything but `$` topics.
pub fn covers(rule: &str, requested: &str) -> bool {
    if requested.starts_with('$') && starts_with_wildcard(rule) {
        return false;
    }
    let (mut r, mut q) = (rule.split('/'), requested.split('/'));
    let mut prefix = Prefix::default();
    loop {
        match (r.next(), q.next()) {
            (Some("#"), _) | (None, None) => return true,
            // `#` here matches the prefix itself, which `+/#` does not, unless it is no topic.
            (Some("+"), Some("#")) if !prefix.is_a_topic() => return r.next() == Some("#"),
            (Some(_), Some("#")) => return false,
            (Some(rl), Some(ql)) if rl == "+" || rl == ql => prefix.push(ql),
            _ => return false,
        }
    }
}

/// Whether some topic name is matched by both valid filters.
pub fn overlaps(a: &str, b: &str) -> bool {
    let dollar_mismatch = |x: &str, y: &str| x.starts_with('$') && starts_with_wildcard(y);
    if dollar_mismatch(a, b) || dollar_mismatch(b, a) {
        return false;
    }
    let (mut a, mut b) = (a.split('/'), b.split('/'));
    let mut prefix = Prefix::default();
    loop {
        match (a.next(), b.next()) {
            // Only the prefix itself, matched by `#` as a parent, is common.
            (Some("#"), None) | (None, Some("#")) => return prefix.is_a_topic(),
            (Some("#"), _) | (_, Some("#")) | (None, None) => return true,
            (Some(x), Some(y)) if x == "+" || y == "+" || x == y => prefix.push(if x == "+" { y } else { x }),
            _ => return false,
        }
    }
}

/// The levels two filters have matched so far, as far as whether they could spell a topic
/// name: not when there are none, nor when they are one empty level (the empty string).
#[derive(Default)]
struct Prefix {
    levels: usize,
    /// The first level is surely empty (a literal empty level, not `+`).
    first_empty: bool,
}

impl Prefix {
    fn push(&mut self, level: &str) {
        if self.levels == 0 {
            self.first_empty = level.is_empty();
        }
        self.levels += 1;
    }

    /// Whether some topic name has exactly these levels.
    fn is_a_topic(&self) -> bool {
        self.levels > 1 || (self.levels == 1 && !self.first_empty)
    }
}

/// Whether the first level of a valid filter is a wildcard.
fn starts_with_wildcard(filter: &str) -> bool {
    filter.starts_with(['+', '#'])
}

#[cfg(test)]
mod tests;
