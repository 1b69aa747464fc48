//! Records of `__consumer_offsets`: their layout, and what a replay makes of them.

use keel_protocols::kafka::group::{Protocol, StoredMember};

use super::*;

#[test]
fn records_replay_to_the_last_offset_of_each_key_and_the_highest_generation_of_the_group() {
    let mut l = Loaded::default();
    let c = |offset| Committed { offset, leader_epoch: -1, metadata: "m".into() };
    apply("g", &offset_key("g", "t", 0), &offset_value(&c(5)), &mut l);
    apply("g", &offset_key("g", "t", 0), &offset_value(&c(9)), &mut l);
    apply("g", &offset_key("g", "t", 1), &offset_value(&c(3)), &mut l);
    apply("other", &offset_key("g", "t", 1), &offset_value(&c(99)), &mut l);
    apply("g", &offset_key("g2", "t", 1), &offset_value(&c(77)), &mut l);
    apply("g", &offset_key("g", "t", 1), b"", &mut l);
    let gen = Generation {
        generation: 7,
        protocol_type: "consumer".into(),
        protocol_name: "range".into(),
        leader: "m1".into(),
        members: vec![],
    };
    apply("g", &group_key("g"), &group_value(&gen), &mut l);
    let stale = Generation { generation: 5, ..gen.clone() };
    apply("g", &group_key("g"), &group_value(&stale), &mut l);
    apply("g", b"\x01", b"garbage", &mut l);
    apply("g", &offset_key("g", "t", 2), b"\x00\x01", &mut l);
    assert_eq!(l.offsets.into_iter().collect::<Vec<_>>(), [(("t".to_string(), 0), c(9))]);
    assert_eq!(l.generation, Some(gen));
}

#[test]
fn the_group_of_a_record_is_read_from_either_key_and_nothing_else() {
    assert_eq!(group_of(&offset_key("g1", "t", 3)).as_deref(), Some("g1"));
    assert_eq!(group_of(&group_key("g2")).as_deref(), Some("g2"));
    assert_eq!(group_of(b""), None);
    assert_eq!(group_of(&[0x03, 0, 1, b'g']), None, "an unknown kind");
    assert_eq!(group_of(&[0x02, 0, 5, b'g']), None, "a string past the key's end");
}

#[test]
fn the_offset_key_layout_is_kind_then_strings_then_partition() {
    assert_eq!(&offset_key("g", "t", 2)[..], &[1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2][..]);
    assert_eq!(&group_key("ab")[..], &[2, 0, 2, b'a', b'b'][..]);
    assert!(partition_of("any", 16) < 16);
}

fn member(id: &str, assignment: &str) -> StoredMember {
    StoredMember {
        member_id: id.into(),
        client_id: "c".into(),
        session_timeout_ms: 6_000,
        rebalance_timeout_ms: 10_000,
        protocols: vec![
            Protocol { name: "range".into(), metadata: Bytes::from_static(b"sub") },
            Protocol { name: "rr".into(), metadata: Bytes::new() },
        ],
        assignment: Bytes::from(assignment.to_string()),
    }
}

fn completed(generation: i32) -> Generation {
    Generation {
        generation,
        protocol_type: "consumer".into(),
        protocol_name: "range".into(),
        leader: "a".into(),
        members: vec![member("a", "p0"), member("b", "p1")],
    }
}

fn replayed(values: &[Bytes]) -> Option<Generation> {
    let mut l = Loaded::default();
    for v in values {
        apply("g", &group_key("g"), v, &mut l);
    }
    l.generation
}

#[test]
fn the_generation_value_with_members_is_version_0_then_a_version_byte_and_the_members() {
    let g = Generation {
        generation: 3,
        protocol_type: "c".into(),
        protocol_name: "r".into(),
        leader: "a".into(),
        members: vec![StoredMember {
            member_id: "a".into(),
            client_id: "k".into(),
            session_timeout_ms: 6_000,
            rebalance_timeout_ms: 10_000,
            protocols: vec![Protocol { name: "r".into(), metadata: Bytes::from_static(b"m") }],
            assignment: Bytes::from_static(b"xy"),
        }],
    };
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0, 0, 0, 3, 0, 1, b'c', 0, 1, b'r', 0, 1, b'a', // version 0
        1, 0, 0, 0, 1,                                  // version 1, one member
        0, 1, b'a', 0, 1, b'k', 0, 0, 0x17, 0x70, 0, 0, 0x27, 0x10, // id, client, timeouts
        0, 0, 0, 1, 0, 1, b'r', 0, 0, 0, 1, b'm',       // one protocol
        0, 0, 0, 2, b'x', b'y',                         // assignment
    ];
    assert_eq!(&group_value(&g)[..], expected);
    let started = Generation { members: vec![], ..g };
    assert_eq!(&group_value(&started)[..], &expected[..13], "a generation in progress is written as version 0");
}

#[test]
fn a_completed_generation_replays_with_its_members_and_a_later_start_without() {
    let done = completed(4);
    assert_eq!(replayed(&[group_value(&done)]), Some(done.clone()));
    let started = Generation { members: vec![], ..completed(4) };
    assert_eq!(replayed(&[group_value(&started), group_value(&done)]), Some(done.clone()), "completed after started");
    let next = Generation { generation: 5, members: vec![], ..completed(5) };
    assert_eq!(replayed(&[group_value(&done), group_value(&next)]), Some(next.clone()), "the next one started");
    assert_eq!(replayed(&[group_value(&next), group_value(&done)]), Some(next), "a late record of an older one");
}

#[test]
fn version_0_records_written_before_members_were_stored_still_replay() {
    let old: &[u8] = &[0, 0, 0, 9, 0, 1, b'c', 0, 1, b'r', 0, 1, b'a'];
    let g = replayed(&[group_value(&completed(4)), Bytes::from_static(old)]).expect("a generation");
    assert_eq!((g.generation, g.leader.as_str(), g.members.len()), (9, "a", 0));
}

#[test]
fn malformed_member_records_are_skipped_and_later_versions_read_for_their_generation() {
    let good = group_value(&completed(4));
    let v0 = group_value(&Generation { members: vec![], ..completed(4) }).len();
    for cut in v0 + 1..good.len() {
        let g = replayed(&[group_value(&completed(3)), good.slice(..cut)]).expect("the earlier one");
        assert_eq!(g, completed(3), "cut at {cut}");
    }
    let mut huge = BytesMut::from(&good[..v0]);
    huge.put_u8(1);
    huge.put_u32(u32::MAX);
    assert_eq!(replayed(&[huge.freeze()]), None, "a count past the bytes");
    let mut later = BytesMut::from(&good[..v0]);
    later.put_slice(&[2, 0xde, 0xad]);
    let g = replayed(&[later.freeze()]).expect("its generation");
    assert_eq!((g.generation, g.members.len()), (4, 0));
}
