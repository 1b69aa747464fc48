//! Swarm settings: everything about a run that is not the code is derived from its seed.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Which fault classes the nemesis may use in this run.
#[derive(Clone, Debug, Default)]
pub struct FaultMix {
    pub partitions: bool,
    pub one_way: bool,
    pub clogs: bool,
    pub packet_loss: bool,
    pub delays: bool,
    pub kills: bool,
    pub pauses: bool,
    pub clocks: bool,
    pub disk_faults: bool,
    pub fault_points: bool,
    /// Remove a meta voter and add it back, while the other faults go on.
    pub membership: bool,
    /// Power loss of every node at once (a site-wide outage).
    pub power_outages: bool,
    /// A shard follower isolated until it leaves the ISR, then its leader killed as it
    /// returns (storage scenario only).
    pub lag_then_kill: bool,
    /// Disk faults may flip bits in shard files (off where a scenario tests a layer above
    /// storage: a flip on the last in-sync replica leaves its shard unavailable, by design).
    pub no_bit_flips: bool,
    /// Disk faults on a fixed minority of the meta nodes ([`meta_flip_nodes`]) may flip bits in
    /// any file, meta files included: such a node refuses to start and the operator repairs
    /// it; the membership nemesis then removes only nodes of that minority, so that the voters
    /// left always include a majority of undamaged nodes.
    pub meta_bit_flips: bool,
    /// The newest records of a meta node's Raft log damaged as it loses power, while the
    /// other nodes are placed so that only it and the leader held them (meta damage hunt only;
    /// needs `meta_bit_flips`).
    pub meta_tail_damage: bool,
}

impl FaultMix {
    /// Whether meta files may flip bits in this run (`no_bit_flips` turns every flip off).
    pub fn meta_flips_possible(&self) -> bool {
        self.meta_bit_flips && !self.no_bit_flips
    }
}

/// The indexes of the meta nodes whose meta files may flip bits: the last `(n - 1) / 2`.
pub fn meta_flip_nodes(meta_nodes: usize) -> std::ops::Range<usize> {
    meta_nodes - (meta_nodes - 1) / 2..meta_nodes
}

/// One run's settings.
#[derive(Clone, Debug)]
pub struct Settings {
    pub seed: u64,
    pub meta_nodes: usize,
    /// Nodes without the meta role (storage, and brokers where the scenario has them).
    pub data_nodes: usize,
    /// The roles of the data nodes.
    pub data_roles: Vec<keel::meta::records::Role>,
    pub clients: usize,
    pub keys: usize,
    pub ops_per_client: usize,
    pub safety_ms: u64,
    pub liveness_ms: u64,
    pub fault_gap_ms: (u64, u64),
    pub snapshot_every_entries: u64,
    pub faults: FaultMix,
}

impl Settings {
    /// The settings of `seed`.
    pub fn from_seed(seed: u64) -> Self {
        let mut r = StdRng::seed_from_u64(seed ^ 0x6b65_656c_5f73_696d);
        let mut coin = |p: f64| r.gen_bool(p);
        let faults = FaultMix {
            partitions: coin(0.6),
            one_way: coin(0.4),
            clogs: coin(0.4),
            packet_loss: coin(0.4),
            delays: coin(0.4),
            kills: coin(0.7),
            pauses: coin(0.3),
            clocks: coin(0.5),
            disk_faults: coin(0.4),
            fault_points: coin(0.5),
            membership: coin(0.4),
            power_outages: coin(0.2),
            lag_then_kill: false,
            no_bit_flips: false,
            meta_bit_flips: false,
            meta_tail_damage: false,
        };
        let mut s = Settings {
            seed,
            meta_nodes: if r.gen_bool(0.6) { 3 } else { 5 },
            data_nodes: 0,
            data_roles: vec![keel::meta::records::Role::Storage],
            clients: r.gen_range(2..=4),
            keys: r.gen_range(2..=4),
            ops_per_client: r.gen_range(20..=50),
            safety_ms: r.gen_range(15_000..=30_000),
            liveness_ms: 30_000,
            fault_gap_ms: (r.gen_range(200..=800), r.gen_range(1_000..=3_000)),
            snapshot_every_entries: r.gen_range(20..=200),
            faults,
        };
        // Drawn last, so that the draws above (and every seed's settings before this switch
        // existed) stay as they were.
        s.faults.meta_bit_flips = s.faults.disk_faults && r.gen_bool(0.6);
        s
    }

    /// Settings for a run that must expose an unsafe shard replica or scheduler: steady
    /// produce traffic, partitions, power loss of single nodes and of the whole site, lagging
    /// followers whose leader dies.
    pub fn storage_bug_hunt(seed: u64, power_outages: bool) -> Self {
        let mut s = Settings::from_seed(seed);
        s.faults = FaultMix {
            kills: true,
            partitions: true,
            one_way: true,
            power_outages,
            lag_then_kill: true,
            ..FaultMix::default()
        };
        s.fault_gap_ms = if power_outages { (300, 1_500) } else { (800, 2_500) };
        s.safety_ms = 30_000;
        s
    }

    /// Settings for a run that must expose a meta store that cuts damaged synced records:
    /// 3 meta nodes, kills and partitions often, and disk faults that may flip bits in the
    /// meta files of one node.
    pub fn meta_damage_hunt(seed: u64) -> Self {
        let mut s = Settings::from_seed(seed);
        s.meta_nodes = 3;
        s.faults = FaultMix {
            kills: true,
            partitions: true,
            disk_faults: true,
            meta_bit_flips: true,
            meta_tail_damage: true,
            ..FaultMix::default()
        };
        s.fault_gap_ms = (100, 600);
        s
    }

    /// Settings for a run that must expose an unsafe store: kills often, little else.
    pub fn crash_heavy(seed: u64) -> Self {
        let mut s = Settings::from_seed(seed);
        s.faults = FaultMix { kills: true, partitions: true, ..FaultMix::default() };
        s.fault_gap_ms = (100, 600);
        s
    }
}

impl std::fmt::Display for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let fm = &self.faults;
        let on: Vec<&str> = [
            (fm.partitions, "partitions"),
            (fm.one_way, "one-way"),
            (fm.clogs, "clogs"),
            (fm.packet_loss, "loss"),
            (fm.delays, "delays"),
            (fm.kills, "kills"),
            (fm.pauses, "pauses"),
            (fm.clocks, "clocks"),
            (fm.disk_faults, "disk"),
            (fm.fault_points, "fault-points"),
            (fm.membership, "membership"),
            (fm.power_outages, "power-outages"),
            (fm.lag_then_kill, "lag-then-kill"),
            (fm.meta_bit_flips, "meta-flips"),
            (fm.meta_tail_damage, "meta-tail-damage"),
        ]
        .iter()
        .filter(|(b, _)| *b)
        .map(|(_, n)| *n)
        .collect();
        write!(
            f,
            "meta_nodes={} clients={} keys={} ops/client={} safety={}ms liveness={}ms gap={}..{}ms snapshot_every={} faults=[{}]",
            self.meta_nodes,
            self.clients,
            self.keys,
            self.ops_per_client,
            self.safety_ms,
            self.liveness_ms,
            self.fault_gap_ms.0,
            self.fault_gap_ms.1,
            self.snapshot_every_entries,
            on.join(",")
        )
    }
}
