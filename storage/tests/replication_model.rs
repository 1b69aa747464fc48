//! Seeded randomized runs of the replication state machine: three replicas of one shard, a
//! meta that elects leaders from the ISR and commits ISR changes by epoch, a network that
//! delays, reorders and drops messages, and power losses that take away whatever a replica had
//! not synced. Each run ends with every fault healed and checks:
//! - no acknowledged record is lost: it sits at its acknowledged offset in the final leader's
//!   log, below the HW;
//! - committed records never change: whenever any replica announces a HW, its log below the HW
//!   matches every record ever committed at those offsets;
//! - a replica's HW never exceeds what it holds durably;
//! - after healing, every replica converges to the leader's log below the HW.
//!
//! The runs are deterministic per seed (a small xorshift generator, no OS randomness).

use std::collections::{BTreeMap, VecDeque};

use keel_storage::replication::{Command, EpochCache, Event, NodeId, ReplicaConfig, Role, ShardReplica, Stage};

/// `TRACE=1` prints every event and command (with `SEED=<n>` to run one seed).
static TRACE: std::sync::LazyLock<bool> = std::sync::LazyLock::new(|| std::env::var_os("TRACE").is_some());

/// A tiny deterministic generator.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// A record in a replica's log: its value and the epoch that wrote it.
type Entry = (u64, u64);

struct Node {
    replica: ShardReplica,
    log: Vec<Entry>,
    durable: usize,
    epochs: Vec<(u64, u64)>,
    up: bool,
    /// Commands not yet executed, in order. The node takes no new event until they are done,
    /// as the storage node's driver runs one shard's commands before its next event.
    todo: VecDeque<Command>,
    /// Events waiting for the node, with the records a fetch answer carries.
    inbox: VecDeque<(Event, Vec<Entry>)>,
    /// Records of the last fetch response, waiting for the `Append` command.
    fetched: Vec<Entry>,
    /// Values of produce requests waiting for their `Append` command.
    producing: BTreeMap<u64, u64>,
}

enum Msg {
    Fetch { to: NodeId, event: Event },
    Reply { to: NodeId, event: Event, records: Vec<Entry> },
}

struct World {
    rng: Rng,
    nodes: BTreeMap<NodeId, Node>,
    net: Vec<Msg>,
    meta_epoch: u64,
    meta_leader: Option<NodeId>,
    meta_isr: Vec<NodeId>,
    now_ms: u64,
    next_req: u64,
    /// Acknowledged records: offset → value.
    acked: BTreeMap<u64, u64>,
    /// Every record ever committed: offset → value.
    committed: BTreeMap<u64, u64>,
    /// How many leaders meta elected and ISR changes it committed.
    elections: usize,
    isr_changes: usize,
    violations: Vec<String>,
}

const IDS: [NodeId; 3] = [1, 2, 3];

fn config() -> ReplicaConfig {
    ReplicaConfig { lag_ms_max: 5_000, min_insync: 2, fetch_bytes_max: 1 << 20, ..ReplicaConfig::default() }
}

impl World {
    fn new(seed: u64) -> Self {
        let nodes = IDS
            .iter()
            .map(|&id| {
                let replica = ShardReplica::new(id, config(), 0, EpochCache::new());
                let node = Node {
                    replica,
                    log: vec![],
                    durable: 0,
                    epochs: vec![],
                    up: true,
                    todo: VecDeque::new(),
                    inbox: VecDeque::new(),
                    fetched: vec![],
                    producing: BTreeMap::new(),
                };
                (id, node)
            })
            .collect();
        let mut w = World {
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            nodes,
            net: vec![],
            meta_epoch: 0,
            meta_leader: None,
            meta_isr: IDS.to_vec(),
            now_ms: 0,
            next_req: 1,
            acked: BTreeMap::new(),
            committed: BTreeMap::new(),
            elections: 0,
            isr_changes: 0,
            violations: vec![],
        };
        w.elect();
        w
    }

    /// Queues an event from outside (network, meta, producers, time) for node `id`.
    fn deliver(&mut self, id: NodeId, event: Event) {
        let node = self.nodes.get_mut(&id).expect("node");
        if node.up {
            node.inbox.push_back((event, vec![]));
        }
    }

    /// Hands an event to the node's state machine now (the result of its own command).
    fn handle_now(&mut self, id: NodeId, event: Event) {
        let node = self.nodes.get_mut(&id).expect("node");
        if !node.up {
            return;
        }
        if *TRACE && !matches!(event, Event::Tick { .. }) {
            eprintln!("n{id} <- {event:?}  [log {} durable {} hw {}]", node.log.len(), node.durable, node.replica.hw);
        }
        let cmds = node.replica.handle(event);
        node.todo.extend(cmds);
    }

    /// Meta: a new leader from the live ISR members, with a new epoch.
    fn elect(&mut self) {
        let candidates: Vec<NodeId> = self.meta_isr.iter().copied().filter(|id| self.nodes[id].up).collect();
        if candidates.is_empty() {
            return;
        }
        let leader = candidates[self.rng.below(candidates.len() as u64) as usize];
        self.meta_epoch += 1;
        self.meta_leader = Some(leader);
        self.elections += 1;
        if *TRACE {
            eprintln!("ELECT n{leader} epoch {} isr {:?}", self.meta_epoch, self.meta_isr);
        }
        self.assign();
    }

    /// Meta tells every live replica its role in the current epoch.
    fn assign(&mut self) {
        let (epoch, Some(leader)) = (self.meta_epoch, self.meta_leader) else { return };
        let isr = self.meta_isr.clone();
        for id in IDS {
            let e = if id == leader {
                Event::BecomeLeader { epoch, isr: isr.clone(), now_ms: self.now_ms }
            } else {
                Event::BecomeFollower { epoch, leader }
            };
            self.deliver(id, e);
        }
    }

    fn produce(&mut self) {
        let Some(leader) = self.meta_leader else { return };
        let req = self.next_req;
        self.next_req += 1;
        let node = self.nodes.get_mut(&leader).expect("node");
        if node.up {
            node.producing.insert(req, 1_000_000 + req);
            self.deliver(leader, Event::Produce { req, producer: None });
        }
    }

    /// Runs the next command of node `id`.
    fn step_node(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node");
        if !node.up {
            return;
        }
        let Some(cmd) = node.todo.pop_front() else {
            if let Some((event, records)) = node.inbox.pop_front() {
                if let Event::FetchedRecords { .. } = event {
                    node.fetched = records;
                }
                self.handle_now(id, event);
            }
            return;
        };
        if *TRACE {
            eprintln!("n{id} -> {cmd:?}");
        }
        let event = match cmd {
            Command::Append { req: Some(req), epoch } => {
                let value = node.producing.remove(&req).expect("produce value");
                let base = node.log.len() as u64;
                node.log.push((value, epoch));
                Some(Event::Appended { req: Some(req), base, last: base })
            }
            Command::Append { req: None, .. } => {
                let records = std::mem::take(&mut node.fetched);
                let base = node.log.len() as u64;
                if *TRACE {
                    eprintln!("  n{id} appends fetched {records:?} at {base}");
                }
                node.log.extend(records.iter().copied());
                Some(Event::Appended { req: None, base, last: base + records.len() as u64 - 1 })
            }
            Command::Sync => {
                node.durable = node.log.len();
                Some(Event::Synced { durable_end: node.durable as u64 })
            }
            Command::Truncate { end } => {
                node.log.truncate(end as usize);
                node.durable = node.durable.min(end as usize);
                Some(Event::Truncated { end })
            }
            Command::SaveEpochs { entries } => {
                node.epochs = entries;
                None
            }
            Command::Reset { .. } => panic!("the model has no retention, so no leader refuses a fetch as out of range"),
            Command::Ack { base, last, .. } => {
                for o in base..=last {
                    let value = self.nodes[&id].log[o as usize].0;
                    self.acked.insert(o, value);
                }
                None
            }
            Command::Reject { .. } => None,
            Command::Fetch { leader, epoch, fetch_offset, last_fetched_epoch } => {
                let event =
                    Event::FetchRequest { from: id, epoch, fetch_offset, last_fetched_epoch, now_ms: self.now_ms };
                self.net.push(Msg::Fetch { to: leader, event });
                None
            }
            Command::ServeFetch { to, from_offset, hw, epoch } => {
                let records: Vec<Entry> = node.log.iter().skip(from_offset as usize).take(5).copied().collect();
                let mut epoch_starts = vec![];
                for (i, (_, e)) in records.iter().enumerate() {
                    let offset = from_offset + i as u64;
                    if epoch_starts.last().map(|(le, _)| le) != Some(e) {
                        epoch_starts.push((*e, offset));
                    }
                }
                let count = records.len() as u64;
                let producers = vec![];
                let event = Event::FetchedRecords { epoch, from_offset, count, epoch_starts, producers, leader_hw: hw };
                self.net.push(Msg::Reply { to, event, records });
                None
            }
            Command::RefuseFetch { to, epoch, fetch_offset, reply } => {
                let event = Event::FetchRefused { epoch, fetch_offset, reply };
                self.net.push(Msg::Reply { to, event, records: vec![] });
                None
            }
            Command::ProposeIsr { epoch, from, isr } => {
                if epoch != self.meta_epoch || self.meta_leader != Some(id) {
                    None
                } else if from == self.meta_isr {
                    self.meta_isr = isr.clone();
                    self.isr_changes += 1;
                    Some(Event::IsrCommitted { epoch, isr })
                } else {
                    Some(Event::IsrCommitted { epoch, isr: self.meta_isr.clone() })
                }
            }
            Command::HighWatermark { hw } => {
                self.check_hw(id, hw);
                if *TRACE {
                    let n = &self.nodes[&id];
                    eprintln!("  n{id} log {:?} epochs {:?}", n.log, n.epochs);
                }
                None
            }
        };
        if let Some(e) = event {
            self.handle_now(id, e);
        }
    }

    fn check_hw(&mut self, id: NodeId, hw: u64) {
        let node = &self.nodes[&id];
        if hw as usize > node.durable {
            self.violations.push(format!("node {id}: HW {hw} above its durable end {}", node.durable));
        }
        for o in 0..hw.min(node.log.len() as u64) {
            let value = node.log[o as usize].0;
            match self.committed.get(&o) {
                Some(v) if *v != value => {
                    self.violations.push(format!("node {id}: committed offset {o} changed from {v} to {value}"))
                }
                None => {
                    self.committed.insert(o, value);
                }
                _ => {}
            }
        }
    }

    fn deliver_message(&mut self, i: usize) {
        let msg = self.net.remove(i);
        if self.rng.chance(5) {
            // Lost: the sender's RPC times out, for the fetch it sent in that epoch.
            let (to, epoch) = match &msg {
                Msg::Fetch { event: Event::FetchRequest { from, epoch, .. }, .. } => (*from, *epoch),
                Msg::Reply {
                    to,
                    event: Event::FetchedRecords { epoch, .. } | Event::FetchRefused { epoch, .. },
                    ..
                } => (*to, *epoch),
                _ => return,
            };
            self.deliver(to, Event::FetchFailed { epoch });
            return;
        }
        match msg {
            // A fetch to a dead node times out at the sender.
            Msg::Fetch { to, event: Event::FetchRequest { from, epoch, .. } } if !self.nodes[&to].up => {
                self.deliver(from, Event::FetchFailed { epoch })
            }
            Msg::Fetch { to, event } => self.deliver(to, event),
            Msg::Reply { to, event, records } => {
                let node = self.nodes.get_mut(&to).expect("node");
                if node.up {
                    node.inbox.push_back((event, records));
                }
            }
        }
    }

    fn crash(&mut self, id: NodeId) {
        if *TRACE {
            eprintln!("CRASH n{id}");
        }
        // Fetches this node had yet to answer time out at their senders.
        for other in IDS.iter().copied().filter(|o| *o != id) {
            let n = &self.nodes[&other];
            if let Role::Follower(f) = &n.replica.role {
                if f.leader == id && f.stage == Stage::Fetching {
                    let epoch = n.replica.epoch;
                    self.deliver(other, Event::FetchFailed { epoch });
                }
            }
        }
        let node = self.nodes.get_mut(&id).expect("node");
        node.up = false;
        node.log.truncate(node.durable);
        node.todo.clear();
        node.inbox.clear();
        node.fetched.clear();
        node.producing.clear();
    }

    fn restart(&mut self, id: NodeId) {
        let node = self.nodes.get_mut(&id).expect("node");
        let epochs = EpochCache::from_entries(node.epochs.clone()).expect("saved epochs are valid");
        node.replica = ShardReplica::new(id, config(), node.log.len() as u64, epochs);
        node.up = true;
        if self.meta_leader == Some(id) {
            self.elect(); // a restarted leader gets a new epoch (its incarnation changed)
        } else {
            self.assign();
        }
    }

    fn random_step(&mut self) {
        match self.rng.below(100) {
            0..=39 => {
                let id = IDS[self.rng.below(3) as usize];
                self.step_node(id);
            }
            40..=69 if !self.net.is_empty() => {
                let i = self.rng.below(self.net.len() as u64) as usize;
                self.deliver_message(i);
            }
            70..=79 => self.produce(),
            80..=89 => {
                self.now_ms += 100;
                for id in IDS {
                    self.deliver(id, Event::Tick { now_ms: self.now_ms });
                }
            }
            90 => {
                let id = IDS[self.rng.below(3) as usize];
                if self.nodes[&id].up && self.nodes.values().filter(|n| n.up).count() > 1 {
                    self.crash(id);
                    if self.meta_leader == Some(id) {
                        self.elect();
                    }
                }
            }
            93..=96 => {
                if let Some(&id) = IDS.iter().find(|id| !self.nodes[id].up) {
                    self.restart(id);
                    if self.meta_leader.is_none_or(|l| !self.nodes[&l].up) {
                        self.elect();
                    }
                }
            }
            _ => {}
        }
    }

    /// Heals everything and runs until nothing is left to do, bounded.
    fn settle(&mut self) {
        for id in IDS {
            if !self.nodes[&id].up {
                self.restart(id);
            }
        }
        if self.meta_leader.is_none_or(|l| !self.nodes[&l].up) {
            self.elect();
        }
        for round in 0..20_000usize {
            let busy: Vec<NodeId> = IDS
                .iter()
                .copied()
                .filter(|id| !self.nodes[id].todo.is_empty() || !self.nodes[id].inbox.is_empty())
                .collect();
            if !busy.is_empty() {
                self.step_node(busy[round % busy.len()]);
            } else if !self.net.is_empty() {
                self.deliver_message(0);
            } else {
                self.now_ms += 300;
                for id in IDS {
                    self.deliver(id, Event::Tick { now_ms: self.now_ms });
                }
            }
        }
    }

    fn final_checks(&mut self) {
        let Some(leader) = self.meta_leader else {
            self.violations.push("no leader after healing".into());
            return;
        };
        let l = &self.nodes[&leader];
        let hw = l.replica.hw;
        for (o, v) in &self.acked {
            if *o >= hw || l.log.get(*o as usize).map(|e| e.0) != Some(*v) {
                self.violations.push(format!("acknowledged record {v} at offset {o} lost (leader {leader}, HW {hw})"));
            }
        }
        for id in IDS {
            let n = &self.nodes[&id];
            let upto = (hw as usize).min(n.log.len());
            if n.log.len() < hw as usize || n.log[..upto] != l.log[..upto] {
                self.violations.push(format!(
                    "node {id} did not converge to the leader's log below HW {hw}: len {} durable {} role {:?} epoch {} (meta epoch {}, leader {leader}, isr {:?})",
                    n.log.len(),
                    n.durable,
                    n.replica.role,
                    n.replica.epoch,
                    self.meta_epoch,
                    self.meta_isr
                ));
            }
        }
    }
}

/// Runs one seed; returns its violations and (acknowledged records, elections, ISR changes).
fn run(seed: u64, steps: usize) -> (Vec<String>, [usize; 3]) {
    let mut w = World::new(seed);
    for _ in 0..steps {
        w.random_step();
    }
    w.settle();
    w.final_checks();
    (w.violations, [w.acked.len(), w.elections, w.isr_changes])
}

#[test]
fn replication_keeps_acknowledged_records_under_crashes_and_lossy_networks() {
    let mut totals = [0usize; 3];
    let only: Option<u64> = std::env::var("SEED").ok().and_then(|s| s.parse().ok());
    for seed in only.map_or(1..=300, |s| s..=s) {
        let (violations, counts) = run(seed, 3_000);
        assert!(violations.is_empty(), "seed {seed}: {violations:#?}");
        for (t, c) in totals.iter_mut().zip(counts) {
            *t += c;
        }
    }
    if only.is_none() {
        let [acked, elections, isr_changes] = totals;
        assert!(acked > 5_000 && elections > 1_000 && isr_changes > 100, "too little happened: {totals:?}");
    }
}
