//! Topic names and topic filters (section 4.7 of 5.0), and shared subscriptions (4.8.2).
//!
//! A name is what a PUBLISH is sent to: levels separated by `/`, no wildcards. A filter is what
//! a subscription matches names with: `+` stands for exactly one level, `#` for its level and
//! every level below (and only as the last level). Names starting with `$` (such as `$SYS/...`)
//! are not matched by filters starting with a wildcard. A shared subscription's filter is
//! `$share/{group}/{filter}`; [`SharedFilter::parse`] splits it.

use super::primitives::FIELD_BYTES_MAX;
use super::Error;

/// Whether `name` is a valid topic name: not empty, no wildcard, at most 65,535 bytes.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= FIELD_BYTES_MAX && !name.contains(['+', '#'])
}

/// Whether `filter` is a valid topic filter: not empty, at most 65,535 bytes, `+` only as a
/// whole level, `#` only as the whole last level.
pub fn valid_filter(filter: &str) -> bool {
    if filter.is_empty() || filter.len() > FIELD_BYTES_MAX {
        return false;
    }
    let mut levels = filter.split('/').peekable();
    while let Some(level) = levels.next() {
        let whole_wildcard = level == "+" || (level == "#" && levels.peek().is_none());
        if !whole_wildcard && level.contains(['+', '#']) {
            return false;
        }
    }
    true
}

/// Whether the (valid) `filter` matches the (valid) topic `name`. A shared subscription's
/// filter is matched without its `$share/{group}/` prefix (see [`SharedFilter`]).
pub fn matches(filter: &str, name: &str) -> bool {
    if name.starts_with('$') && filter.starts_with(['+', '#']) {
        return false;
    }
    let mut filter_levels = filter.split('/');
    let mut name_levels = name.split('/');
    loop {
        match (filter_levels.next(), name_levels.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(filter_level), Some(name_level)) if filter_level == name_level => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// A shared subscription's filter, split: `$share/{group}/{filter}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SharedFilter<'a> {
    /// The share name: not empty, no `/`, `+` or `#`.
    pub group: &'a str,
    /// The filter the group's members match names with.
    pub filter: &'a str,
}

impl<'a> SharedFilter<'a> {
    /// `None` if `filter` is not a shared subscription (does not start with `$share/`); else
    /// the group and filter, or [`Error::TopicFilterInvalid`] if either is invalid.
    pub fn parse(filter: &'a str) -> Option<Result<SharedFilter<'a>, Error>> {
        let rest = filter.strip_prefix("$share/")?;
        Some(Self::split(rest))
    }

    fn split(rest: &'a str) -> Result<SharedFilter<'a>, Error> {
        let (group, filter) =
            rest.split_once('/').ok_or(Error::TopicFilterInvalid("shared subscription without a filter"))?;
        if group.is_empty() || group.contains(['+', '#']) {
            return Err(Error::TopicFilterInvalid("share name empty or with a wildcard"));
        }
        if !valid_filter(filter) {
            return Err(Error::TopicFilterInvalid("invalid filter in a shared subscription"));
        }
        Ok(SharedFilter { group, filter })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn names() {
        assert!(valid_name("sport/tennis/player1"));
        assert!(valid_name("/"));
        assert!(valid_name("$SYS/broker"));
        assert!(valid_name(" "));
        assert!(!valid_name(""));
        assert!(!valid_name("sport/+"));
        assert!(!valid_name("sport/#"));
        assert!(!valid_name("a+b"));
        assert!(valid_name(&"a".repeat(65_535)));
        assert!(!valid_name(&"a".repeat(65_536)));
    }

    #[test]
    fn filters_from_the_spec() {
        // 4.7.1.2: the multi-level wildcard.
        for valid in ["sport/tennis/player1/#", "sport/#", "#", "+", "+/tennis/#", "sport/+/player1", "/+", "+/+"] {
            assert!(valid_filter(valid), "{valid}");
        }
        for invalid in ["sport/tennis#", "sport/tennis/#/ranking", "sport+", "", "a/#b", "##", "+#", "a/++/b"] {
            assert!(!valid_filter(invalid), "{invalid}");
        }
        assert!(!valid_filter(&"a".repeat(65_536)));
    }

    #[test]
    fn multi_level_wildcard_matching() {
        // 4.7.1.2: "sport/tennis/player1/#" matches these, and "sport/#" matches "sport".
        for name in ["sport/tennis/player1", "sport/tennis/player1/ranking", "sport/tennis/player1/score/wimbledon"] {
            assert!(matches("sport/tennis/player1/#", name), "{name}");
        }
        assert!(matches("sport/#", "sport"));
        assert!(matches("sport/#", "sport/"));
        assert!(matches("#", "sport/tennis"));
        assert!(!matches("sport/tennis/player1/#", "sport/tennis"));
    }

    #[test]
    fn single_level_wildcard_matching() {
        // 4.7.1.3.
        assert!(matches("sport/tennis/+", "sport/tennis/player1"));
        assert!(matches("sport/tennis/+", "sport/tennis/player2"));
        assert!(!matches("sport/tennis/+", "sport/tennis/player1/ranking"));
        assert!(!matches("sport/+", "sport"));
        assert!(matches("sport/+", "sport/"));
        assert!(matches("+/+", "/finance"));
        assert!(matches("/+", "/finance"));
        assert!(!matches("+", "/finance"));
        assert!(matches("+/tennis/#", "sport/tennis/player1"));
    }

    #[test]
    fn exact_matching_is_by_level() {
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
        // 4.7.3: levels are case-sensitive, and a leading "/" makes an empty first level.
        assert!(!matches("ACCOUNTS", "Accounts"));
        assert!(!matches("a", "/a"));
    }

    #[test]
    fn dollar_topics_are_not_matched_by_leading_wildcards() {
        // 4.7.2.
        assert!(!matches("#", "$SYS/broker/uptime"));
        assert!(!matches("+/monitor/Clients", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/#", "$SYS/monitor/Clients"));
        assert!(matches("$SYS/monitor/+", "$SYS/monitor/Clients"));
        assert!(matches("a/#", "a/$b"));
    }

    #[test]
    fn shared_filters() {
        assert_eq!(SharedFilter::parse("sport/#"), None);
        assert_eq!(SharedFilter::parse("$share"), None);
        assert_eq!(SharedFilter::parse("$SYS/x"), None);
        assert_eq!(
            SharedFilter::parse("$share/consumer1/sport/tennis/+"),
            Some(Ok(SharedFilter { group: "consumer1", filter: "sport/tennis/+" }))
        );
        assert_eq!(SharedFilter::parse("$share/g/#"), Some(Ok(SharedFilter { group: "g", filter: "#" })));
        for invalid in ["$share/", "$share/g", "$share//a", "$share/+/a", "$share/g#/a", "$share/g/", "$share/g/a#"] {
            let parsed = SharedFilter::parse(invalid);
            assert!(matches!(parsed, Some(Err(Error::TopicFilterInvalid(_)))), "{invalid}: {parsed:?}");
        }
        let Some(Err(err)) = SharedFilter::parse("$share/g") else { panic!() };
        assert_eq!(err.reason().code(), 0x8F);
    }

    proptest! {
        #[test]
        fn a_valid_name_matches_itself_and_hash(name in r"[a-z/]{1,12}") {
            prop_assert!(valid_name(&name));
            prop_assert!(valid_filter(&name));
            prop_assert!(matches(&name, &name));
            prop_assert!(matches("#", &name));
        }

        #[test]
        fn replacing_levels_with_plus_still_matches(levels in proptest::collection::vec("[a-z]{0,3}", 1..5), mask in any::<u8>()) {
            let name = levels.join("/");
            prop_assume!(!name.is_empty());
            let filter: Vec<&str> =
                levels.iter().enumerate().map(|(i, level)| if mask >> (i % 8) & 1 == 1 { "+" } else { level }).collect();
            let filter = filter.join("/");
            prop_assert!(valid_filter(&filter));
            prop_assert!(matches(&filter, &name));
            let parent = format!("{}/#", levels[0]);
            prop_assert!(matches(&parent, &name));
        }

        #[test]
        fn checks_never_panic(filter in r"[a-z/+#$]{0,10}", name in r"[a-z/+#$]{0,10}") {
            let _ = (valid_filter(&filter), valid_name(&name), matches(&filter, &name), SharedFilter::parse(&filter));
        }
    }
}
