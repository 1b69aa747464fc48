//! No acknowledged record is lost: every record a producer was told is committed sits, at the
//! offset it was acknowledged at, in the shard's log as read back after the faults stop. The
//! log read back must also be dense (offsets `start, start + 1, …` without gaps) and never
//! reach the high watermark (consumers read committed records only).

use std::collections::BTreeMap;

use super::Violation;

pub const INVARIANT: &str = "no_acked_record_lost";

/// A record a producer saw acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckedRecord {
    pub shard: String,
    pub offset: u64,
    pub value: String,
}

/// One shard's log as read back: (offset, value) in read order, the HW it was read under, and
/// where the log started (retention drops old records: those below are not lost).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReadBack {
    pub records: Vec<(u64, String)>,
    pub high_watermark: u64,
    pub start_offset: u64,
}

pub fn check(acked: &[AckedRecord], logs: &BTreeMap<String, ReadBack>) -> Result<(), Violation> {
    for (shard, log) in logs {
        if let Some((first, _)) = log.records.first().filter(|(o, _)| *o != log.start_offset) {
            return Err(Violation::new(
                INVARIANT,
                format!("{shard}: the log starts at {} but the first record read is at {first}", log.start_offset),
            ));
        }
        if let Some(w) = log.records.windows(2).find(|w| w[1].0 != w[0].0 + 1) {
            return Err(Violation::new(INVARIANT, format!("{shard}: offsets not dense: {} then {}", w[0].0, w[1].0)));
        }
        if let Some((o, _)) = log.records.iter().find(|(o, _)| *o >= log.high_watermark) {
            return Err(Violation::new(
                INVARIANT,
                format!("{shard}: read offset {o} at or above the HW {}", log.high_watermark),
            ));
        }
    }
    for a in acked {
        if logs.get(&a.shard).is_some_and(|l| a.offset < l.start_offset) {
            continue; // dropped by retention
        }
        let found = logs.get(&a.shard).and_then(|l| l.records.iter().find(|(o, _)| *o == a.offset)).map(|(_, v)| v);
        if found != Some(&a.value) {
            return Err(Violation::new(
                INVARIANT,
                format!("{}: acknowledged {:?} at offset {} but read {:?}", a.shard, a.value, a.offset, found),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(records: &[(u64, &str)], hw: u64) -> ReadBack {
        let start_offset = records.first().map_or(0, |(o, _)| *o);
        ReadBack {
            records: records.iter().map(|(o, v)| (*o, v.to_string())).collect(),
            high_watermark: hw,
            start_offset,
        }
    }

    #[test]
    fn records_below_the_log_start_were_dropped_by_retention_not_lost() {
        let logs = [("t/0".to_string(), log(&[(5, "f"), (6, "g")], 7))].into();
        assert_eq!(check(&[acked(2, "c"), acked(6, "g")], &logs), Ok(()));
        let late = ReadBack { start_offset: 4, ..log(&[(5, "f")], 6) };
        let v = check(&[], &[("t/0".to_string(), late)].into()).unwrap_err();
        assert!(v.detail.contains("starts at 4"), "{}", v.detail);
    }

    fn acked(offset: u64, value: &str) -> AckedRecord {
        AckedRecord { shard: "t/0".into(), offset, value: value.into() }
    }

    #[test]
    fn a_log_holding_every_acknowledged_record_passes() {
        let logs = [("t/0".to_string(), log(&[(0, "a"), (1, "b"), (2, "c")], 3))].into();
        assert_eq!(check(&[acked(0, "a"), acked(2, "c")], &logs), Ok(()));
    }

    #[test]
    fn lost_changed_gapped_or_uncommitted_reads_fail() {
        let cases = [
            (log(&[(0, "a")], 1), acked(1, "b"), "read None"),
            (log(&[(0, "a"), (1, "x")], 2), acked(1, "b"), "read Some(\"x\")"),
            (log(&[(0, "a"), (2, "c")], 3), acked(0, "a"), "not dense"),
            (log(&[(0, "a"), (1, "b")], 1), acked(0, "a"), "at or above the HW"),
        ];
        for (l, a, want) in cases {
            let v = check(&[a], &[("t/0".to_string(), l)].into()).unwrap_err();
            assert_eq!(v.invariant, INVARIANT);
            assert!(v.detail.contains(want), "{}", v.detail);
        }
    }
}
