//! Hand-picked cases, then exhaustive checks over a small alphabet against brute force.

use super::*;

#[test]
fn topic_names() {
    for ok in ["a", "a/b", "/", "a//b", "$SYS/x", "with space", "ü/ß"] {
        assert!(valid_topic(ok), "{ok:?}");
    }
    for bad in ["", "a/+", "a/#", "a+", "#", "a\0b"] {
        assert!(!valid_topic(bad), "{bad:?}");
    }
    assert!(valid_topic(&"x".repeat(TOPIC_BYTES_MAX)));
    assert!(!valid_topic(&"x".repeat(TOPIC_BYTES_MAX + 1)));
}

#[test]
fn topic_filters() {
    for ok in ["a", "#", "+", "a/#", "+/+", "a/+/c", "/#", "+/", "$SYS/#", "a//+"] {
        assert!(valid_filter(ok), "{ok:?}");
    }
    for bad in ["", "a#", "#/a", "a/#/b", "a/b#", "a+", "a/+b", "++", "##", "a/\0"] {
        assert!(!valid_filter(bad), "{bad:?}");
    }
    assert!(!valid_filter(&"x".repeat(TOPIC_BYTES_MAX + 1)));
}

#[test]
fn shared_subscriptions_are_checked_by_their_filter() {
    assert_eq!(subscription_filter("$share/g/a/+"), Some("a/+"));
    assert_eq!(subscription_filter("$share/g/#"), Some("#"));
    assert_eq!(subscription_filter("a/b"), Some("a/b"));
    assert_eq!(subscription_filter("$share"), Some("$share"), "a plain $ filter");
    for bad in ["$share/g", "$share//a", "$share/g+/a", "$share/#/a", "$share/g/a#", "$share/g/", "a/#/b"] {
        assert_eq!(subscription_filter(bad), None, "{bad:?}");
    }
}

#[test]
fn matching_by_hand() {
    let yes = [
        ("a/b", "a/b"),
        ("a/+", "a/b"),
        ("a/+", "a/"),
        ("+/b", "/b"),
        ("a/#", "a"),
        ("a/#", "a/b/c"),
        ("#", "a/b"),
        ("#", "/"),
        ("+/+", "/"),
        ("$SYS/#", "$SYS/x"),
        ("$SYS/+", "$SYS/x"),
        ("a/$x", "a/$x"),
        ("+/$x", "a/$x"),
    ];
    for (f, t) in yes {
        assert!(matches(f, t), "{f} should match {t}");
    }
    let no = [
        ("a/b", "a"),
        ("a", "a/b"),
        ("a/+", "a"),
        ("a/+", "a/b/c"),
        ("a/#", "ab"),
        ("a/#", "b/a"),
        ("#", "$SYS/x"),
        ("+/x", "$SYS/x"),
        ("+", "$SYS"),
        ("A", "a"),
    ];
    for (f, t) in no {
        assert!(!matches(f, t), "{f} should not match {t}");
    }
}

#[test]
fn covering_by_hand() {
    let yes = [
        ("a/#", "a/+/c"),
        ("a/#", "a/b"),
        ("a/#", "a"),
        ("a/#", "a/#"),
        ("a/+", "a/b"),
        ("a/+", "a/+"),
        ("#", "a/#"),
        ("#", "+/x"),
        ("#", "#"),
        ("+/#", "a/b/#"),
        ("$SYS/#", "$SYS/+/x"),
        // No topic name is empty, so these need no parent level.
        ("+/#", "#"),
        ("/+/#", "/#"),
    ];
    for (rule, req) in yes {
        assert!(covers(rule, req), "{rule} should cover {req}");
    }
    let no = [
        ("a/+", "a/#"),
        ("a/+", "a"),
        ("a/b", "a/+"),
        ("a/b", "a/#"),
        ("a", "a/#"),
        ("a/#", "#"),
        ("a/#", "+/b"),
        ("#", "$SYS/#"),
        ("#", "$SYS"),
        ("+/#", "$SYS/x"),
        ("$SYS/#", "#"),
        ("+/b", "a/+"),
        ("+", "#"),
        ("a/+/#", "a/#"),
    ];
    for (rule, req) in no {
        assert!(!covers(rule, req), "{rule} should not cover {req}");
    }
}

#[test]
fn overlapping_by_hand() {
    for (a, b) in [
        ("a/secret", "a/+"),
        ("a/+", "+/b"),
        ("#", "a"),
        ("a/#", "a"),
        ("+/+", "a/#"),
        ("$SYS/#", "$SYS/+"),
        ("+", "+/#"),
    ] {
        assert!(overlaps(a, b) && overlaps(b, a), "{a} and {b} should overlap");
    }
    for (a, b) in
        [("a/b", "a/c"), ("a/+", "a"), ("a/+", "a/b/c"), ("#", "$SYS/#"), ("+/x", "$SYS/x"), ("a", "b/#"), ("+", "/#")]
    {
        assert!(!overlaps(a, b) && !overlaps(b, a), "{a} and {b} should not overlap");
    }
}

/// Every sequence of 1..=`max` levels drawn from `alphabet`, joined by `/`.
fn all_paths(alphabet: &[&str], max: usize) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last: Vec<String> = alphabet.iter().map(|l| l.to_string()).collect();
    for _ in 1..max {
        out.extend(last.iter().cloned());
        last = last.iter().flat_map(|p| alphabet.iter().map(move |l| format!("{p}/{l}"))).collect();
    }
    out.extend(last);
    out
}

/// Topic names over levels `a`, `b`, `$x` and the empty level, up to four levels: enough to
/// tell apart filters of up to three levels over the same literals.
fn witness_topics() -> Vec<String> {
    all_paths(&["a", "b", "$x", ""], 4).into_iter().filter(|t| valid_topic(t)).collect()
}

fn all_filters() -> Vec<String> {
    all_paths(&["a", "b", "$x", "", "+", "#"], 3).into_iter().filter(|f| valid_filter(f)).collect()
}

/// A reference matcher written the other way round: recursion over level slices.
fn reference_match(filter: &[&str], topic: &[&str], first: bool) -> bool {
    let dollar = first && topic.first().is_some_and(|l| l.starts_with('$'));
    match (filter.split_first(), topic.split_first()) {
        (Some((&"#", _)), _) => !dollar,
        (None, None) => true,
        (Some((&"+", fr)), Some((_, tr))) => !dollar && reference_match(fr, tr, false),
        (Some((fl, fr)), Some((tl, tr))) => fl == tl && reference_match(fr, tr, false),
        _ => false,
    }
}

/// Which of `topics` each filter matches, as a bit set.
fn match_sets(filters: &[String], topics: &[String]) -> Vec<Vec<bool>> {
    filters.iter().map(|f| topics.iter().map(|t| matches(f, t)).collect()).collect()
}

#[test]
fn matching_agrees_with_the_reference_everywhere() {
    let topics = witness_topics();
    let mut checked = 0;
    for f in all_filters() {
        let fl: Vec<&str> = f.split('/').collect();
        for t in &topics {
            let tl: Vec<&str> = t.split('/').collect();
            assert_eq!(matches(&f, t), reference_match(&fl, &tl, true), "{f:?} vs {t:?}");
            checked += 1;
        }
    }
    assert!(checked > 60_000, "{checked}");
}

#[test]
fn covering_and_overlapping_agree_with_brute_force_everywhere() {
    let (filters, topics) = (all_filters(), witness_topics());
    let sets = match_sets(&filters, &topics);
    let (mut covered, mut overlapped) = (0, 0);
    for (i, rule) in filters.iter().enumerate() {
        for (j, req) in filters.iter().enumerate() {
            let subset = sets[j].iter().zip(&sets[i]).all(|(&in_req, &in_rule)| !in_req || in_rule);
            let common = sets[j].iter().zip(&sets[i]).any(|(&x, &y)| x && y);
            assert_eq!(covers(rule, req), subset, "covers({rule:?}, {req:?})");
            assert_eq!(overlaps(rule, req), common, "overlaps({rule:?}, {req:?})");
            covered += usize::from(subset);
            overlapped += usize::from(common);
        }
    }
    // Both answers occur plenty: the check is not vacuous.
    let pairs = filters.len() * filters.len();
    assert!(covered > 1_000 && covered < pairs / 2, "{covered} of {pairs}");
    assert!(overlapped > covered && overlapped < pairs, "{overlapped} of {pairs}");
}
