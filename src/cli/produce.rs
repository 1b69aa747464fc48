//! `keel produce`: appends records to a partition through the admin API (acknowledged once
//! synced on every in-sync replica).

use keel::admin::view::Produced;
use serde_json::json;

use super::admin::{segment, Admin};
use super::output::{CliError, Format, Out};

/// `keel produce`'s options.
#[derive(clap::Args)]
pub struct ProduceArgs {
    /// The topic to append to.
    topic: String,
    /// The records' values.
    #[arg(required = true)]
    values: Vec<String>,
    /// The partition to append to.
    #[arg(long, default_value_t = 0)]
    partition: u32,
}

pub async fn run(args: ProduceArgs, admin: &Admin, format: Format, out: &mut Out) -> Result<(), CliError> {
    let path = format!("/api/topics/{}/partitions/{}/records", segment(&args.topic), args.partition);
    let p: Produced = admin.call("POST", &path, Some(json!({ "records": args.values }))).await?;
    out.show(format, &p, |p| confirmation(&args.topic, args.partition, p))
}

/// `produced 3 records to orders/0 (offsets 0..=2)`.
pub fn confirmation(topic: &str, partition: u32, p: &Produced) -> String {
    let n = p.last_offset.saturating_sub(p.base_offset).saturating_add(1);
    let s = if n == 1 { "" } else { "s" };
    format!("produced {n} record{s} to {topic}/{partition} (offsets {}..={})", p.base_offset, p.last_offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confirmation_counts_the_records() {
        let p = Produced { base_offset: 4, last_offset: 6 };
        assert_eq!(confirmation("orders", 0, &p), "produced 3 records to orders/0 (offsets 4..=6)");
        let one = Produced { base_offset: 0, last_offset: 0 };
        assert_eq!(confirmation("t", 2, &one), "produced 1 record to t/2 (offsets 0..=0)");
    }
}
