//! Linearizability of client-visible histories (Herlihy & Wing, "Linearizability: A
//! Correctness Condition for Concurrent Objects", TOPLAS 1990).
//!
//! A history is linearizable if every operation can be given a single instant
//! between its call and its return such that, taken in that order, the operations
//! are a legal sequential execution of the object's [`Model`]. For Keel's metadata
//! this is the promise that a client never observes a stale or impossible topic
//! config once another client's write has completed.
//!
//! The checker follows Porcupine (Athalye), i.e. the Wing & Gong search ("Testing
//! and Verifying Concurrent Objects", JPDC 1993) with Lowe's memoisation ("Testing
//! for linearizability", 2017) of `(set of linearized ops, model state)` pairs, plus
//! the P-compositional split by key (Horn & Kroening 2015): histories of independent
//! keys are checked separately ([`check_topics`]).
//!
//! Semantics:
//! * Real-time order: `a` precedes `b` iff `a.return_ms == Some(t)` and
//!   `t < b.call_ms`; equal times are concurrent.
//! * An op with `return_ms == None` never returned: it may take effect at any time
//!   after its call, or never.
//! * An op with `ret == None` has an unknown result: it takes effect via
//!   [`Model::step_unknown`] before its return (if any), or never.
//! * The search is an explicit-stack DFS (no recursion) bounded by a step budget;
//!   exceeding it yields [`CheckOutcome::Unknown`] rather than a verdict.
//!
//! Partial-order reduction: an eligible, completed op for which
//! [`Model::is_read_only`] holds and which succeeds in the current state is
//! linearized immediately without branching. Moving such an op earlier never
//! invalidates a linearization (it does not change the state, and everything that
//! must precede it is already linearized), so this is sound and complete; it keeps
//! many concurrent reads from blowing up the search.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Debug;
use std::hash::Hash;

use super::Violation;

/// Name reported in [`Violation::invariant`].
pub const INVARIANT: &str = "linearizable";

/// Default maximum number of search transitions per checked history.
pub const DEFAULT_STEP_BUDGET: u64 = 2_000_000;

/// A sequential specification of one object (for example one topic key).
pub trait Model {
    type State: Clone + Eq + Hash + Debug;
    type Op: Clone + Debug;
    type Ret: Clone + Debug;
    fn init(&self) -> Self::State;
    /// If `op` can take effect in `state` and return `ret`, the next state; otherwise None.
    fn step(&self, state: &Self::State, op: &Self::Op, ret: &Self::Ret) -> Option<Self::State>;
    /// Every state `op` may lead to when its result is unknown (the client timed out).
    fn step_unknown(&self, state: &Self::State, op: &Self::Op) -> Vec<Self::State>;
    /// Optional hint enabling the partial-order reduction described in the module
    /// docs. Return true only if, for every state `s`, `step(s, op, ret)` is either
    /// `None` or `Some(s)`. The default (`false`) is always safe.
    fn is_read_only(&self, _op: &Self::Op, _ret: &Self::Ret) -> bool {
        false
    }
}

/// One client operation as recorded by the simulation.
#[derive(Clone, Debug)]
pub struct Operation<O, R> {
    pub client: u64,
    pub call_ms: u64,
    /// None: never returned (timed out / crashed): may have taken effect at any time
    /// after call, or never.
    pub return_ms: Option<u64>,
    pub op: O,
    /// None iff the result is unknown.
    pub ret: Option<R>,
}

impl<O, R> Operation<O, R> {
    /// True if the op may be left out of the linearization (it may never have happened).
    fn optional(&self) -> bool {
        self.return_ms.is_none() || self.ret.is_none()
    }
}

/// The verdict of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    Linearizable,
    /// No linearization exists (or the history is malformed); the detail says why.
    NotLinearizable(Violation),
    /// The search budget ran out before a verdict; the string says how far it got.
    Unknown(String),
}

impl CheckOutcome {
    /// `NotLinearizable` becomes `Err`; `Linearizable` and `Unknown` become `Ok`.
    pub fn into_result(self) -> Result<(), Violation> {
        match self {
            CheckOutcome::NotLinearizable(v) => Err(v),
            CheckOutcome::Linearizable | CheckOutcome::Unknown(_) => Ok(()),
        }
    }
}

/// Checks one object's history; an exhausted budget (`Unknown`) counts as `Ok`.
pub fn check_history<M: Model>(model: &M, history: &[Operation<M::Op, M::Ret>]) -> Result<(), Violation> {
    check_history_outcome(model, history).into_result()
}

/// Checks one object's history with [`DEFAULT_STEP_BUDGET`].
pub fn check_history_outcome<M: Model>(model: &M, history: &[Operation<M::Op, M::Ret>]) -> CheckOutcome {
    check_history_outcome_with_budget(model, history, DEFAULT_STEP_BUDGET)
}

/// Checks one object's history, giving up with `Unknown` after `budget` transitions.
pub fn check_history_outcome_with_budget<M: Model>(
    model: &M,
    history: &[Operation<M::Op, M::Ret>],
    budget: u64,
) -> CheckOutcome {
    match validate(history) {
        Ok(()) => Search::new(model, history, budget).run(),
        Err(v) => CheckOutcome::NotLinearizable(v),
    }
}

fn validate<O: Debug, R: Debug>(history: &[Operation<O, R>]) -> Result<(), Violation> {
    for (i, op) in history.iter().enumerate() {
        if op.return_ms.is_some_and(|r| r < op.call_ms) {
            let detail = format!("malformed history: op#{i} returns before it is called: {}", describe_op(i, op));
            return Err(Violation::new(INVARIANT, detail));
        }
    }
    Ok(())
}

fn describe_op<O: Debug, R: Debug>(i: usize, op: &Operation<O, R>) -> String {
    let returned = op.return_ms.map_or("never returned".to_string(), |r| format!("{r}ms"));
    let ret = op.ret.as_ref().map_or("?".to_string(), |r| format!("{r:?}"));
    format!("op#{i} (client {}, {}ms..{returned}) {:?} -> {ret}", op.client, op.call_ms, op.op)
}

// ---------------------------------------------------------------------------
// Search

fn bit(bits: &[u64], i: usize) -> bool {
    bits.get(i / 64).is_some_and(|w| (w >> (i % 64)) & 1 == 1)
}

fn with_bit(bits: &[u64], i: usize) -> Vec<u64> {
    let mut out = bits.to_vec();
    if let Some(w) = out.get_mut(i / 64) {
        *w |= 1u64 << (i % 64);
    }
    out
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Placement {
    /// A completed op took effect with its recorded result.
    Returned,
    /// An op with unknown result took effect.
    TookEffect,
    /// An optional op is left out: it never happened.
    Omitted,
}

#[derive(Clone, Debug)]
struct Move<S> {
    op: usize,
    placement: Placement,
    state: S,
}

struct Frame<S> {
    done: Vec<u64>,
    state: S,
    required_done: usize,
    via: Option<Move<S>>,
    /// Untried successors; the next one to try is at the end.
    pending: Vec<Move<S>>,
}

struct Search<'a, M: Model> {
    model: &'a M,
    ops: &'a [Operation<M::Op, M::Ret>],
    /// Op indices sorted by call time (ties in input order).
    by_call: Vec<usize>,
    required_total: usize,
    budget: u64,
    steps: u64,
    visited: HashSet<(Vec<u64>, M::State)>,
    /// Longest linearizable prefix seen, and the configuration it ends in.
    best: Vec<Move<M::State>>,
    best_end: (Vec<u64>, M::State),
}

impl<'a, M: Model> Search<'a, M> {
    fn new(model: &'a M, ops: &'a [Operation<M::Op, M::Ret>], budget: u64) -> Self {
        let mut by_call: Vec<usize> = (0..ops.len()).collect();
        by_call.sort_by_key(|&i| ops.get(i).map_or(0, |o| o.call_ms));
        let empty = vec![0u64; ops.len().div_ceil(64)];
        Search {
            model,
            ops,
            by_call,
            required_total: ops.iter().filter(|o| !o.optional()).count(),
            budget,
            steps: 0,
            visited: HashSet::new(),
            best: Vec::new(),
            best_end: (empty, model.init()),
        }
    }

    fn run(mut self) -> CheckOutcome {
        if self.required_total == 0 {
            return CheckOutcome::Linearizable;
        }
        let (done, state) = self.best_end.clone();
        self.visited.insert((done.clone(), state.clone()));
        let mut stack = vec![self.frame(done, state, 0, None)];
        while let Some(top) = stack.last_mut() {
            let Some(mv) = top.pending.pop() else {
                stack.pop();
                continue;
            };
            self.steps += 1;
            if self.steps > self.budget {
                return CheckOutcome::Unknown(self.budget_note());
            }
            let done = with_bit(&top.done, mv.op);
            let required_done = top.required_done + usize::from(!self.is_optional(mv.op));
            if !self.visited.insert((done.clone(), mv.state.clone())) {
                continue;
            }
            if required_done == self.required_total {
                return CheckOutcome::Linearizable;
            }
            stack.push(self.frame(done, mv.state.clone(), required_done, Some(mv)));
            self.note_progress(&stack);
        }
        CheckOutcome::NotLinearizable(self.failure())
    }

    fn is_optional(&self, i: usize) -> bool {
        self.ops.get(i).is_none_or(Operation::optional)
    }

    fn frame(
        &self,
        done: Vec<u64>,
        state: M::State,
        required_done: usize,
        via: Option<Move<M::State>>,
    ) -> Frame<M::State> {
        let mut pending = self.moves_from(&done, &state);
        pending.reverse();
        Frame { done, state, required_done, via, pending }
    }

    /// Undone ops that nothing undone must precede, in call order.
    fn eligible(&self, done: &[u64]) -> Vec<usize> {
        let undone = |i: &usize| !bit(done, *i);
        let horizon =
            (0..self.ops.len()).filter(undone).filter_map(|i| self.ops.get(i).and_then(|o| o.return_ms)).min();
        let callable = |i: &usize| self.ops.get(*i).is_some_and(|o| horizon.is_none_or(|h| o.call_ms <= h));
        self.by_call.iter().copied().filter(undone).take_while(callable).collect()
    }

    fn moves_from(&self, done: &[u64], state: &M::State) -> Vec<Move<M::State>> {
        let mut out = Vec::new();
        for i in self.eligible(done) {
            if let Some(mv) = self.forced_read(i, state) {
                return vec![mv];
            }
            self.push_moves(i, state, &mut out);
        }
        out
    }

    /// A completed read-only op that succeeds now: linearize it without branching.
    fn forced_read(&self, i: usize, state: &M::State) -> Option<Move<M::State>> {
        let op = self.ops.get(i)?;
        let ret = op.ret.as_ref()?;
        if op.optional() || !self.model.is_read_only(&op.op, ret) {
            return None;
        }
        let next = self.model.step(state, &op.op, ret)?;
        Some(Move { op: i, placement: Placement::Returned, state: next })
    }

    fn push_moves(&self, i: usize, state: &M::State, out: &mut Vec<Move<M::State>>) {
        let Some(op) = self.ops.get(i) else { return };
        let mut add = |placement: Placement, next: M::State| {
            if !out.iter().any(|m| m.op == i && m.state == next) {
                out.push(Move { op: i, placement, state: next });
            }
        };
        match &op.ret {
            Some(ret) => {
                if let Some(next) = self.model.step(state, &op.op, ret) {
                    add(Placement::Returned, next);
                }
            }
            None => {
                for next in self.model.step_unknown(state, &op.op) {
                    add(Placement::TookEffect, next);
                }
            }
        }
        if op.optional() {
            add(Placement::Omitted, state.clone());
        }
    }

    fn note_progress(&mut self, stack: &[Frame<M::State>]) {
        let Some(top) = stack.last() else { return };
        if stack.len() > self.best.len() + 1 {
            self.best = stack.iter().filter_map(|f| f.via.clone()).collect();
            self.best_end = (top.done.clone(), top.state.clone());
        }
    }

    fn budget_note(&self) -> String {
        format!(
            "search budget of {} steps exceeded after {} distinct configurations of {} ops (longest linearizable prefix: {} ops); linearizability undetermined",
            self.budget,
            self.visited.len(),
            self.ops.len(),
            self.best.len()
        )
    }

    fn describe_move(&self, mv: &Move<M::State>) -> String {
        let Some(op) = self.ops.get(mv.op) else {
            return String::new();
        };
        let what = match (mv.placement, &op.ret) {
            (Placement::Returned, Some(ret)) => format!("{:?} -> {ret:?}", op.op),
            (Placement::Omitted, _) => format!("{:?} omitted (never took effect)", op.op),
            _ => format!("{:?} -> ? (took effect)", op.op),
        };
        format!("op#{} {what} => {:?}", mv.op, mv.state)
    }

    fn failure(&self) -> Violation {
        let (done, state) = &self.best_end;
        let prefix: Vec<String> = self.best.iter().map(|m| self.describe_move(m)).collect();
        let stuck: Vec<String> = self
            .eligible(done)
            .into_iter()
            .filter(|&i| !self.is_optional(i))
            .filter_map(|i| self.ops.get(i).map(|o| describe_op(i, o)))
            .collect();
        let remaining = (0..self.ops.len()).filter(|&i| !bit(done, i) && !self.is_optional(i)).count();
        let detail = format!(
            "no linearization exists. Longest linearizable prefix ({} ops): [{}], reaching state {state:?}. \
             None of these could be placed next: [{}] ({remaining} completed op(s) left unplaced)",
            prefix.len(),
            prefix.join(", "),
            stuck.join("; ")
        );
        Violation::new(INVARIANT, detail)
    }
}

// ---------------------------------------------------------------------------
// Keel topic registry model

/// An operation on one topic of the metadata registry.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TopicOp {
    Create,
    Delete,
    Cas { expected: u64 },
    Read,
}

/// The result of a [`TopicOp`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TopicRet {
    /// Version becomes 1.
    Created,
    AlreadyExists,
    Deleted,
    NotFound,
    /// `expected + 1`.
    Swapped {
        new_version: u64,
    },
    VersionMismatch {
        current: u64,
    },
    Value(Option<u64>),
    /// A create refused for lack of live storage nodes: no effect, and only possible while the
    /// topic is absent (existence is checked first).
    Refused,
}

/// One topic's state: `None` = absent, `Some(v)` = present with config version `v`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TopicModel;

impl TopicModel {
    /// The deterministic effect of `op` in `state`: the next state and the result.
    pub fn apply(state: Option<u64>, op: &TopicOp) -> (Option<u64>, TopicRet) {
        match (op, state) {
            (TopicOp::Create, None) => (Some(1), TopicRet::Created),
            (TopicOp::Create, Some(_)) => (state, TopicRet::AlreadyExists),
            (TopicOp::Delete, Some(_)) => (None, TopicRet::Deleted),
            (TopicOp::Delete, None) | (TopicOp::Cas { .. }, None) => (None, TopicRet::NotFound),
            (TopicOp::Cas { expected }, Some(v)) if v == *expected => {
                // Wrapping keeps the model total; u64::MAX versions never occur in practice.
                let new_version = v.wrapping_add(1);
                (Some(new_version), TopicRet::Swapped { new_version })
            }
            (TopicOp::Cas { .. }, Some(v)) => (state, TopicRet::VersionMismatch { current: v }),
            (TopicOp::Read, _) => (state, TopicRet::Value(state)),
        }
    }
}

impl Model for TopicModel {
    type State = Option<u64>;
    type Op = TopicOp;
    type Ret = TopicRet;

    fn init(&self) -> Option<u64> {
        None
    }

    fn step(&self, state: &Option<u64>, op: &TopicOp, ret: &TopicRet) -> Option<Option<u64>> {
        if *ret == TopicRet::Refused {
            return (*op == TopicOp::Create && state.is_none()).then_some(None);
        }
        let (next, actual) = Self::apply(*state, op);
        (actual == *ret).then_some(next)
    }

    fn step_unknown(&self, state: &Option<u64>, op: &TopicOp) -> Vec<Option<u64>> {
        vec![Self::apply(*state, op).0]
    }

    fn is_read_only(&self, _op: &TopicOp, ret: &TopicRet) -> bool {
        matches!(
            ret,
            TopicRet::AlreadyExists
                | TopicRet::NotFound
                | TopicRet::VersionMismatch { .. }
                | TopicRet::Value(_)
                | TopicRet::Refused
        )
    }
}

/// Checks a multi-topic history key by key; `Unknown` (budget exhausted) counts as `Ok`.
pub fn check_topics(history: &[(String, Operation<TopicOp, TopicRet>)]) -> Result<(), Violation> {
    check_topics_outcome(history).into_result()
}

/// Checks each key separately (P-compositionality), in sorted key order. Reports the
/// first non-linearizable key; otherwise `Unknown` if any key's search ran out.
/// Op numbers (`op#i`) in the detail are positions within that key's history.
pub fn check_topics_outcome(history: &[(String, Operation<TopicOp, TopicRet>)]) -> CheckOutcome {
    let mut by_key: BTreeMap<&str, Vec<Operation<TopicOp, TopicRet>>> = BTreeMap::new();
    for (key, op) in history {
        by_key.entry(key.as_str()).or_default().push(op.clone());
    }
    let mut unknown = Vec::new();
    for (key, ops) in &by_key {
        match check_history_outcome(&TopicModel, ops) {
            CheckOutcome::Linearizable => {}
            CheckOutcome::NotLinearizable(v) => {
                let detail = format!("topic {key:?}: {}", v.detail);
                return CheckOutcome::NotLinearizable(Violation::new(INVARIANT, detail));
            }
            CheckOutcome::Unknown(note) => unknown.push(format!("topic {key:?}: {note}")),
        }
    }
    if unknown.is_empty() {
        CheckOutcome::Linearizable
    } else {
        CheckOutcome::Unknown(unknown.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use TopicOp::*;
    use TopicRet::*;

    type Op = Operation<TopicOp, TopicRet>;

    /// A completed op with a known result.
    fn done(client: u64, call_ms: u64, return_ms: u64, op: TopicOp, ret: TopicRet) -> Op {
        Operation { client, call_ms, return_ms: Some(return_ms), op, ret: Some(ret) }
    }

    /// An op that never returned.
    fn lost(client: u64, call_ms: u64, op: TopicOp) -> Op {
        Operation { client, call_ms, return_ms: None, op, ret: None }
    }

    /// An op that returned at `return_ms` without a result (client-side timeout).
    fn timed_out(client: u64, call_ms: u64, return_ms: u64, op: TopicOp) -> Op {
        Operation { client, call_ms, return_ms: Some(return_ms), op, ret: None }
    }

    fn outcome(history: &[Op]) -> CheckOutcome {
        check_history_outcome(&TopicModel, history)
    }

    fn violation(history: &[Op]) -> Violation {
        match outcome(history) {
            CheckOutcome::NotLinearizable(v) => v,
            other => panic!("expected NotLinearizable, got {other:?}"),
        }
    }

    #[test]
    fn model_follows_the_registry_rules() {
        let m = TopicModel;
        assert_eq!(m.step(&None, &Create, &Created), Some(Some(1)));
        assert_eq!(m.step(&Some(3), &Create, &AlreadyExists), Some(Some(3)));
        assert_eq!(m.step(&None, &Create, &AlreadyExists), None);
        assert_eq!(m.step(&None, &Create, &Refused), Some(None), "a refused create changes nothing");
        assert_eq!(m.step(&Some(2), &Create, &Refused), None, "an existing topic is reported as such first");
        assert_eq!(m.step(&None, &Delete, &Refused), None);
        assert_eq!(m.step(&Some(2), &Delete, &Deleted), Some(None));
        assert_eq!(m.step(&None, &Delete, &NotFound), Some(None));
        assert_eq!(m.step(&Some(2), &Cas { expected: 2 }, &Swapped { new_version: 3 }), Some(Some(3)));
        assert_eq!(m.step(&Some(2), &Cas { expected: 2 }, &Swapped { new_version: 4 }), None);
        assert_eq!(m.step(&Some(5), &Cas { expected: 2 }, &VersionMismatch { current: 5 }), Some(Some(5)));
        assert_eq!(m.step(&None, &Cas { expected: 1 }, &NotFound), Some(None));
        assert_eq!(m.step(&Some(4), &Read, &Value(Some(4))), Some(Some(4)));
        assert_eq!(m.step(&Some(4), &Read, &Value(None)), None);
        assert_eq!(m.step_unknown(&None, &Create), vec![Some(1)]);
        assert_eq!(m.step_unknown(&Some(7), &Read), vec![Some(7)]);
        assert!(m.is_read_only(&Read, &Value(None)));
        assert!(!m.is_read_only(&Cas { expected: 1 }, &Swapped { new_version: 2 }));
    }

    #[test]
    fn empty_history_is_linearizable() {
        assert_eq!(outcome(&[]), CheckOutcome::Linearizable);
    }

    #[test]
    fn sequential_valid_history_passes() {
        let h = [
            done(1, 0, 1, Read, Value(None)),
            done(1, 2, 3, Create, Created),
            done(2, 4, 5, Read, Value(Some(1))),
            done(2, 6, 7, Cas { expected: 1 }, Swapped { new_version: 2 }),
            done(3, 8, 9, Cas { expected: 1 }, VersionMismatch { current: 2 }),
            done(1, 10, 11, Create, AlreadyExists),
            done(3, 12, 13, Delete, Deleted),
            done(2, 14, 15, Cas { expected: 2 }, NotFound),
            done(1, 16, 17, Read, Value(None)),
        ];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
        assert_eq!(check_history(&TopicModel, &h), Ok(()));
    }

    #[test]
    fn concurrent_valid_history_needs_reordering() {
        // Called first, but must be linearized last.
        let h = [
            done(1, 0, 10, Read, Value(Some(2))),
            done(2, 1, 3, Create, Created),
            done(3, 2, 8, Cas { expected: 1 }, Swapped { new_version: 2 }),
            done(4, 4, 5, Read, Value(Some(1))),
        ];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
    }

    #[test]
    fn equal_return_and_call_times_are_concurrent() {
        let h = [done(1, 0, 5, Create, Created), done(2, 5, 6, Read, Value(None))];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
        let h = [done(1, 0, 5, Create, Created), done(2, 6, 7, Read, Value(None))];
        assert!(matches!(outcome(&h), CheckOutcome::NotLinearizable(_)));
    }

    #[test]
    fn stale_read_after_completed_write_fails() {
        let h = [
            done(1, 0, 1, Create, Created),
            done(1, 2, 3, Cas { expected: 1 }, Swapped { new_version: 2 }),
            done(2, 4, 5, Read, Value(Some(1))),
        ];
        let v = violation(&h);
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("Longest linearizable prefix (2 ops)"), "{v}");
        assert!(v.detail.contains("reaching state Some(2)"), "{v}");
        assert!(v.detail.contains("could be placed next: [op#2 (client 2, 4ms..5ms) Read -> Value(Some(1))]"), "{v}");
        assert_eq!(check_history(&TopicModel, &h), Err(v));
    }

    #[test]
    fn two_creates_both_created_without_delete_fails() {
        let h =
            [done(1, 0, 10, Create, Created), done(2, 1, 11, Create, Created), done(3, 2, 12, Read, Value(Some(1)))];
        let v = violation(&h);
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("(1 completed op(s) left unplaced)"), "{v}");
        assert!(v.detail.contains("Create -> Created"), "{v}");
    }

    #[test]
    fn two_creates_with_concurrent_delete_pass() {
        let h = [done(1, 0, 10, Create, Created), done(2, 1, 11, Create, Created), done(3, 2, 12, Delete, Deleted)];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
    }

    #[test]
    fn unknown_create_observed_by_later_read_passes() {
        let h = [lost(1, 0, Create), done(2, 5, 6, Read, Value(Some(1)))];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
        let h = [timed_out(1, 0, 3, Create), done(2, 5, 6, Read, Value(Some(1)))];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
    }

    #[test]
    fn unknown_create_never_observed_passes() {
        let h = [lost(1, 0, Create), done(2, 5, 6, Read, Value(None)), done(2, 7, 8, Read, Value(None))];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
        let h = [timed_out(1, 0, 3, Create), done(2, 5, 6, Read, Value(None))];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
    }

    #[test]
    fn unknown_create_cannot_be_undone_after_being_observed() {
        let h = [lost(1, 0, Create), done(2, 5, 6, Read, Value(Some(1))), done(2, 7, 8, Read, Value(None))];
        let v = violation(&h);
        assert!(v.detail.contains("op#0 Create -> ? (took effect) => Some(1)"), "{v}");
        assert!(v.detail.contains("Read -> Value(None)"), "{v}");
    }

    #[test]
    fn timed_out_create_must_take_effect_before_its_return() {
        // Returned (without a result) at 3ms, so it cannot first appear after a read at 5..6.
        let h = [timed_out(1, 0, 3, Create), done(2, 5, 6, Read, Value(None)), done(2, 7, 8, Read, Value(Some(1)))];
        assert!(matches!(outcome(&h), CheckOutcome::NotLinearizable(_)));
        // A create that never returned may take effect between the two reads.
        let h = [lost(1, 0, Create), done(2, 5, 6, Read, Value(None)), done(2, 7, 8, Read, Value(Some(1)))];
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
    }

    #[test]
    fn read_of_version_no_write_produced_fails() {
        let h = [
            done(1, 0, 1, Create, Created),
            done(2, 0, 10, Cas { expected: 1 }, Swapped { new_version: 2 }),
            done(3, 2, 12, Read, Value(Some(7))),
        ];
        let v = violation(&h);
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.contains("Read -> Value(Some(7))"), "{v}");
    }

    #[test]
    fn many_concurrent_reads_stay_tractable() {
        let mut h = vec![done(0, 0, 1, Create, Created)];
        for c in 1..=150 {
            h.push(done(c, 2 + c % 3, 500, Read, Value(Some(1))));
        }
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
        h.push(done(999, 600, 601, Read, Value(None)));
        let v = violation(&h);
        assert!(v.detail.contains("Longest linearizable prefix (151 ops)"), "{v}");
    }

    #[test]
    fn long_concurrent_cas_chain_passes() {
        // 60 overlapping CAS ops listed in reverse version order; only one order works.
        let mut h = vec![done(0, 0, 1, Create, Created)];
        for v in (1..=60u64).rev() {
            h.push(done(v, 2, 1000, Cas { expected: v }, Swapped { new_version: v + 1 }));
        }
        h.push(done(99, 1001, 1002, Read, Value(Some(61))));
        assert_eq!(outcome(&h), CheckOutcome::Linearizable);
    }

    #[test]
    fn exhausted_budget_is_unknown_and_maps_to_ok() {
        let h = [
            done(1, 0, 10, Create, Created),
            done(2, 1, 11, Cas { expected: 1 }, Swapped { new_version: 2 }),
            done(3, 2, 12, Read, Value(Some(2))),
        ];
        let out = check_history_outcome_with_budget(&TopicModel, &h, 1);
        let CheckOutcome::Unknown(note) = out.clone() else {
            panic!("expected Unknown, got {out:?}");
        };
        assert!(note.contains("search budget of 1 steps exceeded"), "{note}");
        assert_eq!(out.into_result(), Ok(()));
        assert_eq!(check_history_outcome_with_budget(&TopicModel, &h, 100), CheckOutcome::Linearizable);
    }

    #[test]
    fn malformed_history_is_rejected() {
        let h = [done(1, 10, 5, Read, Value(None))];
        let v = violation(&h);
        assert!(v.detail.starts_with("malformed history: op#0 returns before it is called"), "{v}");
    }

    #[test]
    fn check_topics_splits_by_key() {
        let h = vec![
            ("orders".to_string(), done(1, 0, 10, Create, Created)),
            ("payments".to_string(), done(2, 1, 11, Create, Created)),
            ("orders".to_string(), done(3, 20, 21, Read, Value(Some(1)))),
            ("payments".to_string(), done(3, 22, 23, Read, Value(Some(1)))),
        ];
        assert_eq!(check_topics(&h), Ok(()));
        assert_eq!(check_topics_outcome(&h), CheckOutcome::Linearizable);
    }

    #[test]
    fn check_topics_reports_first_failing_key_in_sorted_order() {
        let h = vec![
            ("zeta".to_string(), done(1, 0, 1, Create, Created)),
            ("zeta".to_string(), done(1, 2, 3, Create, Created)),
            ("alpha".to_string(), done(2, 0, 1, Create, Created)),
            ("beta".to_string(), done(3, 0, 1, Read, Value(Some(3)))),
        ];
        let v = check_topics(&h).unwrap_err();
        assert_eq!(v.invariant, INVARIANT);
        assert!(v.detail.starts_with("topic \"beta\": no linearization exists"), "{v}");
    }
}
