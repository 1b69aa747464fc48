//! `keel consume`: the committed records of a partition, paged through the admin API.
//!
//! By default it reads from the log start (or `--offset`, or the first record at or after
//! `--from-time`) up to the high watermark the first page reports, then exits: what was
//! committed when it started, whatever the number of pages. `--follow` keeps tailing (each
//! request waits on the server for new records), `--max-records` stops early.

use std::time::Duration;

use keel::admin::view::{OffsetView, RecordPage, RecordView};

use super::admin::{segment, Admin};
use super::output::{compact, CliError, Format, Out};
use super::timespec::{self, TimeSpec};

/// How long one `--follow` request waits on the server for new records.
const FOLLOW_WAIT_MS: u32 = 5_000;
/// The pause after an empty page while following, in case the server answered at once.
const IDLE_PAUSE: Duration = Duration::from_millis(200);

/// `keel consume`'s options.
#[derive(clap::Args)]
pub struct ConsumeArgs {
    /// The topic (or binding) to read.
    topic: String,
    /// The partition to read.
    #[arg(long, default_value_t = 0)]
    partition: u32,
    /// The first offset to read (default: the log start).
    #[arg(long, conflicts_with = "from_time")]
    offset: Option<u64>,
    /// Start at the first record at or after this time: milliseconds since the epoch, an
    /// RFC 3339 UTC time (2026-11-28T03:00:00Z) or an age (90s, 15m, 2h, 7d).
    #[arg(long, value_parser = timespec::parse, value_name = "TIME")]
    from_time: Option<TimeSpec>,
    /// Stop after this many records.
    #[arg(long, value_name = "N")]
    max_records: Option<u64>,
    /// Keep waiting for new records instead of stopping at the high watermark (Ctrl-C stops).
    #[arg(long, short = 'f')]
    follow: bool,
}

pub async fn run(args: ConsumeArgs, admin: &Admin, format: Format, out: &mut Out) -> Result<(), CliError> {
    let start = start_offset(&args, admin).await?;
    let mut cursor = Cursor::new(start, args.follow, args.max_records);
    let wait_ms = if args.follow { FOLLOW_WAIT_MS } else { 0 };
    let base = format!("/api/topics/{}/partitions/{}/records", segment(&args.topic), args.partition);
    loop {
        let page: RecordPage = admin.get(&format!("{base}?offset={}&wait_ms={wait_ms}", cursor.next)).await?;
        let step = cursor.advance(&page);
        for r in step.records {
            out.line(&record_line(r, format))?;
        }
        out.flush()?;
        if step.done {
            return Ok(());
        }
        if step.records.is_empty() {
            keel_rt::time::sleep(IDLE_PAUSE).await;
        }
    }
}

/// Where reading starts: `--offset`, the offset of `--from-time`, or 0 (the server reads from
/// the log start when it is past that).
async fn start_offset(args: &ConsumeArgs, admin: &Admin) -> Result<u64, CliError> {
    match (args.offset, args.from_time) {
        (Some(offset), _) => Ok(offset),
        (None, Some(time)) => {
            let ms = time.resolve(keel_rt::time::wall_ms());
            let path =
                format!("/api/topics/{}/partitions/{}/offsets?timestamp_ms={ms}", segment(&args.topic), args.partition);
            let answer: OffsetView = admin.get(&path).await?;
            Ok(answer.offset)
        }
        (None, None) => Ok(0),
    }
}

/// One record as printed: `OFFSET<TAB>VALUE`, or a JSON object on one line (`-o json`).
pub fn record_line(r: &RecordView, format: Format) -> String {
    match format {
        Format::Table => format!("{}\t{}", r.offset, r.value),
        Format::Json => compact(r),
    }
}

/// Where the reading is and when it ends.
#[derive(Debug)]
struct Cursor {
    /// The offset the next page is asked from.
    next: u64,
    /// Stop before this offset: the high watermark of the first page (none when following).
    end: Option<u64>,
    follow: bool,
    /// Records still to print.
    left: u64,
}

/// What one page gives: the records to print and whether that is the last of them.
#[derive(Debug)]
struct Step<'p> {
    records: &'p [RecordView],
    done: bool,
}

impl Cursor {
    fn new(start: u64, follow: bool, max_records: Option<u64>) -> Cursor {
        Cursor { next: start, end: None, follow, left: max_records.unwrap_or(u64::MAX) }
    }

    /// Takes the records of `page` within the bounds and moves past them.
    fn advance<'p>(&mut self, page: &'p RecordPage) -> Step<'p> {
        if !self.follow && self.end.is_none() {
            self.end = Some(page.high_watermark);
        }
        let end = self.end.unwrap_or(u64::MAX);
        let within = page.records.iter().take_while(|r| r.offset < end).count();
        let take = usize::try_from(self.left).unwrap_or(usize::MAX).min(within);
        self.left -= take as u64;
        let stalled = page.next_offset <= self.next;
        self.next = self.next.max(page.next_offset);
        let past_end = take < page.records.len() || self.next >= end;
        let done = self.left == 0 || (!self.follow && (past_end || stalled));
        Step { records: &page.records[..take], done }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(offsets: std::ops::Range<u64>, high_watermark: u64) -> RecordPage {
        let records: Vec<RecordView> = offsets
            .clone()
            .map(|o| RecordView { offset: o, timestamp_ms: 0, key: None, value: format!("v{o}") })
            .collect();
        RecordPage { records, high_watermark, start_offset: 0, next_offset: offsets.end }
    }

    /// (offsets printed, done) for one page.
    fn step(c: &mut Cursor, p: RecordPage) -> (Vec<u64>, bool) {
        let s = c.advance(&p);
        (s.records.iter().map(|r| r.offset).collect(), s.done)
    }

    #[test]
    fn reads_every_page_up_to_the_first_high_watermark() {
        let mut c = Cursor::new(0, false, None);
        assert_eq!(step(&mut c, page(0..3, 7)), (vec![0, 1, 2], false));
        assert_eq!(step(&mut c, page(3..6, 9)), (vec![3, 4, 5], false));
        // Records committed after the start are not waited for, nor printed.
        assert_eq!(step(&mut c, page(6..9, 9)), (vec![6], true));
    }

    #[test]
    fn an_empty_partition_ends_at_once() {
        let mut c = Cursor::new(0, false, None);
        assert_eq!(step(&mut c, page(0..0, 0)), (vec![], true));
    }

    #[test]
    fn a_page_without_progress_ends_a_bounded_read() {
        let mut c = Cursor::new(5, false, None);
        let mut p = page(5..5, 10);
        p.next_offset = 5;
        assert_eq!(step(&mut c, p), (vec![], true), "no endless loop when the server returns nothing below its HW");
    }

    #[test]
    fn max_records_cuts_a_page() {
        let mut c = Cursor::new(0, false, Some(4));
        assert_eq!(step(&mut c, page(0..3, 100)), (vec![0, 1, 2], false));
        assert_eq!(step(&mut c, page(3..6, 100)), (vec![3], true));
    }

    #[test]
    fn following_goes_past_the_high_watermark_and_waits_on_empty_pages() {
        let mut c = Cursor::new(0, true, None);
        assert_eq!(step(&mut c, page(0..3, 3)), (vec![0, 1, 2], false));
        let mut idle = page(3..3, 3);
        idle.next_offset = 3;
        assert_eq!(step(&mut c, idle), (vec![], false));
        assert_eq!(step(&mut c, page(3..5, 5)), (vec![3, 4], false));
        assert_eq!(c.next, 5);
    }

    #[test]
    fn record_lines() {
        let r = RecordView { offset: 7, timestamp_ms: 9, key: Some("k".into()), value: "a\tb".into() };
        assert_eq!(record_line(&r, Format::Table), "7\ta\tb");
        assert_eq!(record_line(&r, Format::Json), r#"{"offset":7,"timestamp_ms":9,"key":"k","value":"a\tb"}"#);
    }
}
