//! Tests of the seam's per-node monotonic clock rate (`keel_rt::time::set_clock_rate`), the
//! clock fault the nemesis injects: a node's own instants, elapsed time, sleeps and Raft's
//! instants run at its rate, continuously across changes, and other nodes keep true time.

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use keel_rt::time;
    use madsim::runtime::{Handle, Runtime};
    use openraft::Instant as _;

    /// madsim's own elapsed time, which no node's rate touches.
    fn true_elapsed() -> Duration {
        madsim::time::TimeHandle::current().elapsed()
    }

    fn ms(d: Duration) -> u128 {
        d.as_millis()
    }

    #[test]
    fn a_node_clock_runs_at_its_rate_and_never_jumps_when_the_rate_changes() {
        let rt = Runtime::with_seed_and_config(1, madsim::Config::default());
        time::reset_skews();
        rt.block_on(async {
            let fast = Handle::current().create_node().name("fast").build();
            let other = Handle::current().create_node().name("other").build();
            time::set_clock_rate(fast.id(), 100_000); // 10% fast
            fast.spawn(async {
                let (t0, s0, g0) = (time::now(), time::since_start(), true_elapsed());
                time::sleep(Duration::from_millis(1_100)).await;
                // 1.1 s of this node's time is 1 s of true time; its clocks say 1.1 s.
                assert_eq!(ms(true_elapsed() - g0), 1_000);
                assert_eq!(ms(time::now() - t0), 1_100);
                assert_eq!(ms(time::since_start() - s0), 1_100);
                let raft0 = keel::meta::runtime::SeamInstant::now();
                time::sleep_until(time::now() + Duration::from_millis(550)).await;
                assert_eq!(ms(true_elapsed() - g0), 1_500);
                assert_eq!(ms(keel::meta::runtime::SeamInstant::now() - raft0), 550);
            })
            .await
            .expect("fast node");
            other
                .spawn(async {
                    let (t0, g0) = (time::now(), true_elapsed());
                    time::sleep(Duration::from_millis(700)).await;
                    assert_eq!(ms(true_elapsed() - g0), 700);
                    assert_eq!(ms(time::now() - t0), 700);
                })
                .await
                .expect("other node");
            let (before, fast_id) = (fast.spawn(async { time::now() }).await.expect("now"), fast.id());
            time::set_clock_rate(fast_id, -200_000); // now 20% slow: no jump at the change
            let (after, g0) = fast.spawn(async { (time::now(), true_elapsed()) }).await.expect("now");
            assert!(after >= before && after - before < Duration::from_millis(1));
            fast.spawn(async move {
                time::sleep(Duration::from_millis(800)).await;
                assert_eq!(ms(true_elapsed() - g0), 1_000);
                assert_eq!(ms(time::now() - after), 800);
                let timed_out = time::timeout(Duration::from_millis(400), std::future::pending::<()>()).await;
                assert!(timed_out.is_err());
                assert_eq!(ms(true_elapsed() - g0), 1_500);
            })
            .await
            .expect("slow node");
            time::set_clock_rate(fast_id, 0);
            let t = fast.spawn(async { time::now() }).await.expect("now");
            assert!(t >= after + Duration::from_millis(1_200), "the clock kept its reading when its rate was restored");
        });
    }
}
