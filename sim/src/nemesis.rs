//! The nemesis: during the safety phase, injects the run's enabled fault classes at random
//! moments and heals each after a random duration; [`Nemesis::heal_all`] ends every fault for
//! the liveness phase.
//!
//! Faults: partitions (symmetric), one-way link loss, clogged nodes, packet loss (madsim's TCP
//! turns it into retransmission delay), latency, power loss with restart (unsynced disk data
//! lost, last write possibly torn), pauses, wall-clock offsets, jumps and drift, monotonic clocks
//! running fast or slow, disk faults on
//! a minority (failed syncs and reads, stalls, a full disk), object store faults (failed or
//! slow puts, gets, deletes and lists; puts that land while the caller sees an error) and
//! fault points.

use std::collections::BTreeSet;
use std::time::Duration;

use ::rand::seq::SliceRandom;
use ::rand::Rng;
use keel_rt::disk::DiskFaults;
use keel_rt::{fault, rand, time};
use keel_storage::object::StoreFaults;
use madsim::net::NetSim;
use madsim::runtime::Handle;
use madsim::task::NodeId as SimNodeId;

use crate::cluster::MetaCluster;
use crate::settings::{meta_flip_nodes, Settings};
use keel::meta::command::{MetaQuery, QueryResult};
use keel::meta::MemberChange;

/// How far off true a node's monotonic clock may run under the clock fault, in ppm.
const MONOTONIC_DRIFT_PPM_MAX: i64 = 20_000;

enum Fault {
    Links(Vec<(SimNodeId, SimNodeId)>),
    ClogNode(SimNodeId),
    Loss,
    Delay,
    Down(usize),
    Paused(usize),
    Disk(usize),
    Objects,
}

/// The fault injector of one run.
pub struct Nemesis {
    active: Vec<(time::Instant, Fault)>,
    /// Membership changes under way (each bounded in time), and the voter removed, if any.
    changes: Vec<madsim::task::JoinHandle<()>>,
    /// Faults injected, by kind, for the run's report.
    pub injected: std::collections::BTreeMap<&'static str, u64>,
}

#[derive(Clone, Copy)]
enum Action {
    Partition,
    OneWay,
    Clog,
    Loss,
    Delay,
    Kill,
    Pause,
    Clock,
    Disk,
    Membership,
    PowerOutage,
    LagThenKill,
    MetaTailDamage,
}

impl Nemesis {
    pub fn new() -> Self {
        Nemesis { active: Vec::new(), changes: Vec::new(), injected: Default::default() }
    }

    /// Injects faults until `until`.
    pub async fn run(&mut self, cluster: &mut MetaCluster, settings: &Settings, until: time::Instant) {
        let actions = enabled_actions(settings);
        fault::set_enabled(settings.faults.fault_points);
        while time::now() < until {
            let gap = rand::rng().gen_range(settings.fault_gap_ms.0..=settings.fault_gap_ms.1);
            time::sleep(Duration::from_millis(gap)).await;
            self.heal_expired(cluster);
            if let Some(a) = actions.choose(&mut rand::rng()).copied() {
                if matches!(a, Action::Kill) && rand::rng().gen_bool(0.5) {
                    self.kill_mid_write(cluster).await;
                } else if matches!(a, Action::LagThenKill) {
                    self.lag_then_kill(cluster).await;
                } else if matches!(a, Action::MetaTailDamage) {
                    self.meta_tail_damage(cluster).await;
                } else {
                    self.inject(a, cluster, settings);
                }
            }
        }
        fault::set_enabled(false);
    }

    fn inject(&mut self, action: Action, cluster: &mut MetaCluster, settings: &Settings) {
        let mut r = rand::rng();
        // Every node (meta and data) can be cut off, killed, paused or skewed; disks are meta
        // nodes' (the data nodes' roles keep nothing on theirs, or are not faulted here).
        let n = cluster.all_len();
        let meta_n = cluster.nodes.len();
        let heal_at = time::now() + Duration::from_millis(r.gen_range(500..=6_000));
        let net = NetSim::current();
        let (kind, fault) = match action {
            Action::Partition => {
                let mut ids: Vec<SimNodeId> = (0..n).map(|i| cluster.node(i).sim_id()).collect();
                ids.shuffle(&mut r);
                let cut = r.gen_range(1..n);
                let mut links = Vec::new();
                cluster.disturbed(&(0..n).map(|i| cluster.node(i).id).collect::<Vec<_>>());
                for a in &ids[..cut] {
                    for b in &ids[cut..] {
                        net.clog_link(*a, *b);
                        net.clog_link(*b, *a);
                        links.extend([(*a, *b), (*b, *a)]);
                    }
                }
                ("partition", Fault::Links(links))
            }
            Action::OneWay => {
                let (a, b) = two(&mut r, n);
                cluster.disturbed(&[cluster.node(a).id, cluster.node(b).id]);
                let (a, b) = (cluster.node(a).sim_id(), cluster.node(b).sim_id());
                net.clog_link(a, b);
                ("one-way", Fault::Links(vec![(a, b)]))
            }
            Action::Clog => {
                let i = r.gen_range(0..n);
                cluster.disturbed(&[cluster.node(i).id]);
                let id = cluster.node(i).sim_id();
                net.clog_node(id);
                ("clog", Fault::ClogNode(id))
            }
            Action::Loss => {
                cluster.disturbed(&[crate::cluster::ALL_NODES]);
                let rate = r.gen_range(0.02..0.3);
                net.update_config(|c| c.packet_loss_rate = rate);
                ("loss", Fault::Loss)
            }
            Action::Delay => {
                cluster.disturbed(&[crate::cluster::ALL_NODES]);
                let max = r.gen_range(20..500);
                net.update_config(|c| c.send_latency = Duration::from_millis(1)..Duration::from_millis(max));
                ("delay", Fault::Delay)
            }
            Action::Kill => {
                let i = r.gen_range(0..n);
                if !cluster.node(i).alive {
                    return;
                }
                cluster.kill(i);
                ("kill", Fault::Down(i))
            }
            Action::Pause => {
                let i = r.gen_range(0..n);
                if !cluster.node(i).alive || cluster.node(i).paused {
                    return;
                }
                cluster.disturbed(&[cluster.node(i).id]);
                Handle::current().pause(cluster.node(i).sim_id());
                cluster.node_mut(i).paused = true;
                ("pause", Fault::Paused(i))
            }
            Action::Clock => {
                let node = cluster.node(r.gen_range(0..n));
                let offset = r.gen_range(-60_000..=60_000);
                let drift = r.gen_range(-500..=500);
                time::set_clock_skew(node.sim_id(), offset, drift);
                // The monotonic clock's rate: up to 2% off, forty times what NTP may slew, so
                // timing margins (leases, timeouts against heartbeats) are tested, not assumed.
                time::set_clock_rate(node.sim_id(), r.gen_range(-MONOTONIC_DRIFT_PPM_MAX..=MONOTONIC_DRIFT_PPM_MAX));
                self.count("clock");
                return;
            }
            Action::Membership => {
                self.change_membership(cluster, settings);
                return;
            }
            Action::LagThenKill | Action::MetaTailDamage => return, // sequenced: see their methods
            Action::PowerOutage => {
                for i in 0..n {
                    if cluster.node(i).alive {
                        cluster.kill(i);
                        self.active.push((heal_at, Fault::Down(i)));
                    }
                }
                self.count("power-outage");
                return;
            }
            Action::Disk => {
                let faulty = self.active.iter().filter(|(_, f)| matches!(f, Fault::Disk(_))).count();
                if faulty >= (meta_n - 1) / 2 {
                    return;
                }
                if r.gen_bool(0.3) {
                    // The object store misbehaves instead (it is shared by every node).
                    cluster.objects.set_faults(random_store_faults(&mut r));
                    ("objects", Fault::Objects)
                } else {
                    let flippable = meta_flip_nodes(meta_n);
                    let meta_flips = settings.faults.meta_flips_possible() && r.gen_bool(0.5);
                    let i = if meta_flips { r.gen_range(flippable.clone()) } else { r.gen_range(0..meta_n) };
                    let mut faults = random_disk_faults(&mut r);
                    if meta_flips {
                        faults.bit_flip_prefix = None;
                        faults.bit_flip_rate = faults.bit_flip_rate.max(0.3);
                    }
                    if settings.faults.no_bit_flips {
                        faults.bit_flip_rate = 0.0;
                    }
                    cluster.nodes[i].disk.set_faults(faults);
                    ("disk", Fault::Disk(i))
                }
            }
        };
        self.count(kind);
        self.active.push((heal_at, fault));
    }

    /// Power loss timed to land just after a write and before its sync.
    async fn kill_mid_write(&mut self, cluster: &mut MetaCluster) {
        let i = rand::rng().gen_range(0..cluster.nodes.len());
        if !cluster.nodes[i].alive || cluster.nodes[i].paused {
            return;
        }
        let disk = cluster.nodes[i].disk.clone();
        if time::timeout(Duration::from_secs(3), disk.next_write()).await.is_err() {
            return;
        }
        cluster.kill(i);
        self.count("kill-mid-write");
        let heal_at = time::now() + Duration::from_millis(rand::rng().gen_range(500..=6_000));
        self.active.push((heal_at, Fault::Down(i)));
    }

    /// A shard follower falls behind (isolated long enough to leave the ISR), comes back, and
    /// its leader dies at that moment: only an in-sync replica may take over, or the records
    /// acknowledged meanwhile are lost.
    async fn lag_then_kill(&mut self, cluster: &mut MetaCluster) {
        let Some((leader, follower)) = pick_shard(cluster).await else { return };
        let index = |id: u64| cluster.nodes.iter().position(|n| n.id == id);
        let (Some(li), Some(fi)) = (index(leader), index(follower)) else { return };
        if !cluster.nodes[li].alive || !cluster.nodes[fi].alive {
            return;
        }
        let net = NetSim::current();
        let f = cluster.nodes[fi].sim_id();
        let others: Vec<SimNodeId> = cluster.nodes.iter().map(|n| n.sim_id()).filter(|o| *o != f).collect();
        for o in &others {
            net.clog_link(f, *o);
            net.clog_link(*o, f);
        }
        self.count("lag-then-kill");
        time::sleep(Duration::from_millis(rand::rng().gen_range(1_500..=3_000))).await;
        for o in &others {
            net.unclog_link(f, *o);
            net.unclog_link(*o, f);
        }
        if cluster.nodes[li].alive {
            cluster.kill(li);
            let heal_at = time::now() + Duration::from_millis(rand::rng().gen_range(4_000..=8_000));
            self.active.push((heal_at, Fault::Down(li)));
        }
    }

    /// The entries a damaged node alone holds besides the leader: one meta node that may be
    /// damaged ([`meta_flip_nodes`]) and the leader go on while a third is cut off, so what
    /// they commit meanwhile is on those two only; then the damaged one loses power with a
    /// bit flipped in the newest bytes of its Raft log, the leader dies too, and the third
    /// comes back. A store that cuts the damaged record as if it were a torn append forgets
    /// committed entries, and the two survivors elect a leader without them; the store as
    /// shipped refuses to start until the operator repairs the node.
    async fn meta_tail_damage(&mut self, cluster: &mut MetaCluster) {
        let meta_n = cluster.nodes.len();
        let mut r = rand::rng();
        let d = r.gen_range(meta_flip_nodes(meta_n));
        let Some(leader) = cluster.leader().map(|l| l.id) else { return };
        // The node cut off is neither the damaged one nor the leader; the one left (the leader,
        // or the damaged node's partner when the damaged node leads) dies with it.
        let cuttable: Vec<usize> = (0..meta_n).filter(|i| *i != d && cluster.nodes[*i].id != leader).collect();
        let Some(&cut) = cuttable.choose(&mut r) else { return };
        let partners: Vec<usize> = (0..meta_n).filter(|i| *i != d && *i != cut).collect();
        let Some(&li) = partners.choose(&mut r) else { return };
        if [d, li, cut].iter().any(|i| !cluster.nodes[*i].alive || cluster.nodes[*i].paused) {
            return;
        }
        let net = NetSim::current();
        let c = cluster.nodes[cut].sim_id();
        cluster.disturbed(&[cluster.nodes[cut].id]);
        net.clog_node(c);
        self.count("meta-tail-damage");
        time::sleep(Duration::from_millis(r.gen_range(1_000..=3_000))).await;
        let faults = DiskFaults {
            bit_flip_rate: 1.0,
            bit_flip_prefix: Some("meta/raft/log".into()),
            bit_flip_tail_bytes: Some(r.gen_range(16..=256)),
            ..DiskFaults::ssd()
        };
        cluster.nodes[d].disk.set_faults(faults);
        cluster.kill(d);
        cluster.nodes[d].disk.set_faults(DiskFaults::ssd());
        if cluster.nodes[li].alive {
            cluster.kill(li);
            self.active.push((time::now() + Duration::from_millis(r.gen_range(4_000..=8_000)), Fault::Down(li)));
        }
        net.unclog_node(c);
        self.active.push((time::now() + Duration::from_millis(r.gen_range(200..=1_000)), Fault::Down(d)));
    }

    /// Removes a random follower from the voters when all nodes vote, or adds back a missing
    /// one, through the leader (as an operator would with `keel cluster remove-node` /
    /// `add-node`). With meta bit flips, only a node that may be damaged is removed: the voters
    /// then always include the undamaged majority.
    fn change_membership(&mut self, cluster: &MetaCluster, settings: &Settings) {
        let Some(leader) = cluster.leader() else { return };
        let all: BTreeSet<u64> = cluster.nodes.iter().map(|n| n.id).collect();
        let voters: BTreeSet<u64> = leader.status().voters.into_iter().collect();
        let change = match all.difference(&voters).next() {
            Some(&id) => MemberChange::Add { id, addr: cluster.nodes[id as usize - 1].addr.clone() },
            None => {
                let flippable = meta_flip_nodes(cluster.nodes.len());
                let removable =
                    |id: u64| !settings.faults.meta_flips_possible() || flippable.contains(&(id as usize - 1));
                let followers: Vec<u64> = all.iter().copied().filter(|id| *id != leader.id && removable(*id)).collect();
                if followers.is_empty() {
                    return;
                }
                MemberChange::Remove { id: followers[rand::rng().gen_range(0..followers.len())] }
            }
        };
        self.count(if matches!(change, MemberChange::Add { .. }) { "add-voter" } else { "remove-voter" });
        self.changes.push(cluster.operator.spawn(async move {
            let r = time::timeout(Duration::from_secs(20), leader.change_members(change.clone())).await;
            tracing::info!(?change, ?r, "nemesis: membership change");
        }));
    }

    /// Waits for the membership changes under way, then makes every node a voter again.
    pub async fn restore_membership(&mut self, cluster: &MetaCluster, deadline: time::Instant) -> Result<(), String> {
        for c in std::mem::take(&mut self.changes) {
            let _ = c.await;
        }
        let all: BTreeSet<u64> = cluster.nodes.iter().map(|n| n.id).collect();
        let mut last = String::from("no leader");
        while time::now() < deadline {
            if let Some(leader) = cluster.leader() {
                let voters: BTreeSet<u64> = leader.status().voters.into_iter().collect();
                let Some(&missing) = all.difference(&voters).next() else { return Ok(()) };
                last = format!("voters {voters:?} lack {missing}");
                let change = MemberChange::Add { id: missing, addr: cluster.nodes[missing as usize - 1].addr.clone() };
                let call = async move { time::timeout(Duration::from_secs(10), leader.change_members(change)).await };
                let _ = cluster.operator.spawn(call).await;
            }
            time::sleep(Duration::from_millis(200)).await;
        }
        Err(last)
    }

    fn count(&mut self, kind: &'static str) {
        *self.injected.entry(kind).or_insert(0) += 1;
        keel_rt::trace::record("nemesis", keel_rt::trace::hash(kind.as_bytes()));
    }

    fn heal_expired(&mut self, cluster: &mut MetaCluster) {
        let now = time::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.active).into_iter().partition(|(t, _)| *t <= now);
        self.active = keep;
        for (_, f) in due {
            heal(f, cluster);
        }
    }

    /// Ends every fault: the liveness phase begins.
    pub fn heal_all(&mut self, cluster: &mut MetaCluster) {
        for (_, f) in std::mem::take(&mut self.active) {
            heal(f, cluster);
        }
        fault::set_enabled(false);
        cluster.objects.set_faults(StoreFaults::default());
        let net = NetSim::current();
        net.update_config(|c| *c = madsim::net::Config::default());
        for i in 0..cluster.all_len() {
            let id = cluster.node(i).sim_id();
            net.unclog_node(id);
            for j in 0..cluster.all_len() {
                net.unclog_link(id, cluster.node(j).sim_id());
            }
            cluster.node(i).disk.set_faults(DiskFaults::ssd());
            time::set_clock_skew(id, 0, 0);
            time::set_clock_rate(id, 0);
            if cluster.node(i).paused {
                Handle::current().resume(id);
                cluster.node_mut(i).paused = false;
            }
            if !cluster.node(i).alive {
                cluster.restart(i);
            }
        }
    }
}

/// The safety phase and the start of the liveness phase, shared by every scenario: faults until
/// `safety_end` while `workers` run, then everything healed and every node a voter again.
/// Returns the nemesis (for its report), the liveness deadline, and a liveness failure if the
/// membership could not be restored.
pub async fn safety_then_heal(
    cluster: &mut MetaCluster,
    settings: &Settings,
    safety_end: time::Instant,
    workers: Vec<madsim::task::JoinHandle<()>>,
) -> (Nemesis, time::Instant, Option<String>) {
    let mut nemesis = Nemesis::new();
    nemesis.run(cluster, settings, safety_end).await;
    for w in workers {
        let _ = w.await;
    }
    nemesis.heal_all(cluster);
    let live_end = time::now() + Duration::from_millis(settings.liveness_ms);
    let failure = nemesis.restore_membership(cluster, live_end).await.err();
    (nemesis, live_end, failure.map(|e| format!("liveness: membership not restored: {e}")))
}

impl Default for Nemesis {
    fn default() -> Self {
        Self::new()
    }
}

fn heal(f: Fault, cluster: &mut MetaCluster) {
    let net = NetSim::current();
    match f {
        Fault::Links(links) => links.into_iter().for_each(|(a, b)| net.unclog_link(a, b)),
        Fault::ClogNode(id) => net.unclog_node(id),
        Fault::Loss => net.update_config(|c| c.packet_loss_rate = 0.0),
        Fault::Delay => net.update_config(|c| c.send_latency = madsim::net::Config::default().send_latency),
        Fault::Down(i) => {
            if !cluster.node(i).alive {
                cluster.restart(i);
            }
        }
        Fault::Paused(i) => {
            if cluster.node(i).paused {
                Handle::current().resume(cluster.node(i).sim_id());
                cluster.node_mut(i).paused = false;
            }
        }
        Fault::Disk(i) => cluster.nodes[i].disk.set_faults(DiskFaults::ssd()),
        Fault::Objects => cluster.objects.set_faults(StoreFaults::default()),
    }
}

fn two(r: &mut impl Rng, n: usize) -> (usize, usize) {
    let a = r.gen_range(0..n);
    let b = (a + r.gen_range(1..n)) % n;
    (a, b)
}

fn random_store_faults(r: &mut impl Rng) -> StoreFaults {
    StoreFaults {
        put_fail_rate: r.gen_range(0.0..0.5),
        put_lost_ack_rate: r.gen_range(0.0..0.3),
        get_fail_rate: r.gen_range(0.0..0.3),
        delete_fail_rate: r.gen_range(0.0..0.5),
        list_fail_rate: r.gen_range(0.0..0.3),
        fail_puts_ending_with: None,
        latency_ms_max: r.gen_range(0..200),
    }
}

fn random_disk_faults(r: &mut impl Rng) -> DiskFaults {
    DiskFaults {
        sync_fail_rate: if r.gen_bool(0.5) { r.gen_range(0.0..0.05) } else { 0.0 },
        read_error_rate: if r.gen_bool(0.3) { r.gen_range(0.0..0.05) } else { 0.0 },
        // Shard logs only, unless the node may have its meta files damaged too
        // (`FaultMix::meta_bit_flips`): a node that finds them damaged must be repaired.
        bit_flip_rate: if r.gen_bool(0.5) { r.gen_range(0.1..0.8) } else { 0.0 },
        bit_flip_prefix: Some("shards/".into()),
        stall_rate: if r.gen_bool(0.5) { 0.1 } else { 0.0 },
        stall_ms_max: 200,
        capacity_bytes: if r.gen_bool(0.2) { r.gen_range(0..1_000_000) } else { u64::MAX },
        ..DiskFaults::ssd()
    }
}

fn enabled_actions(s: &Settings) -> Vec<Action> {
    let f = &s.faults;
    [
        (f.partitions, Action::Partition),
        (f.one_way, Action::OneWay),
        (f.clogs, Action::Clog),
        (f.packet_loss, Action::Loss),
        (f.delays, Action::Delay),
        (f.kills, Action::Kill),
        (f.pauses, Action::Pause),
        (f.clocks, Action::Clock),
        (f.disk_faults, Action::Disk),
        (f.membership, Action::Membership),
        (f.power_outages, Action::PowerOutage),
        (f.lag_then_kill, Action::LagThenKill),
        (f.meta_tail_damage && f.meta_flips_possible(), Action::MetaTailDamage),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, a)| a)
    .collect()
}

/// A led shard and one of its in-sync followers, as the meta leader sees them.
async fn pick_shard(cluster: &MetaCluster) -> Option<(u64, u64)> {
    let meta = cluster.leader()?;
    let topics = match time::timeout(Duration::from_secs(1), meta.query_local(MetaQuery::Topics)).await {
        Ok(Ok(QueryResult::Topics(t))) => t,
        _ => return None,
    };
    let mut r = rand::rng();
    let shard = topics
        .iter()
        .flat_map(|t| &t.shards)
        .filter(|s| s.leader.is_some())
        .collect::<Vec<_>>()
        .choose(&mut r)
        .copied()?;
    let leader = shard.leader?;
    let followers: Vec<u64> = shard.isr.iter().copied().filter(|n| *n != leader).collect();
    Some((leader, *followers.choose(&mut r)?))
}
