//! A stateful property test of the scope tree: random sequences of scope entries and exits,
//! `cancel()`, shields turned on and off and deadlines moved, on a tree of scopes that spans
//! two tasks (task B runs in a task group that task A opened), checked after every step
//! against a reference model that simply walks the tree.
//!
//! Each task interprets the steps addressed to it and runs the others' steps (cancel,
//! shield, deadline) on any scope of either task. A task hands over to the other only when
//! the next step is the other's, so many steps run inside scopes that have not waited yet:
//! the state there must be exact too. What is checked, at every `Check` and every exit:
//! what `checkpoint_if_cancelled` returns, what `current_effective_deadline` reports, and
//! which scope catches a cancellation when a body ends with it (and that no code after an
//! uncaught cancellation runs).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyio::{
    Backend, CancelScope, Cancelled, EffectiveDeadline, Runner, TaskGroup,
    cancel_shielded_checkpoint, checkpoint_if_cancelled, current_effective_deadline, current_time,
};
use proptest::prelude::*;

#[derive(Clone, Copy, Debug)]
enum Dl {
    None,
    /// An hour and this many seconds from the start: never reached during the test.
    Far(u8),
    /// Already passed.
    Past,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    Enter {
        task: usize,
        shield: bool,
        deadline: Dl,
    },
    Exit {
        task: usize,
    },
    /// The task waits once (its scopes join the tree).
    Wait {
        task: usize,
    },
    Check {
        task: usize,
    },
    Cancel(u8),
    Shield(u8, bool),
    Deadline(u8, Dl),
}

impl Op {
    fn task(self) -> Option<usize> {
        match self {
            Op::Enter { task, .. } | Op::Exit { task } | Op::Wait { task } | Op::Check { task } => {
                Some(task)
            }
            _ => None,
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    let dl = prop_oneof![Just(Dl::None), (0u8..4).prop_map(Dl::Far), Just(Dl::Past)];
    prop_oneof![
        4 => (0usize..2, any::<bool>(), dl.clone())
            .prop_map(|(task, shield, deadline)| Op::Enter { task, shield, deadline }),
        2 => (0usize..2).prop_map(|task| Op::Exit { task }),
        1 => (0usize..2).prop_map(|task| Op::Wait { task }),
        4 => (0usize..2).prop_map(|task| Op::Check { task }),
        2 => any::<u8>().prop_map(Op::Cancel),
        2 => (any::<u8>(), any::<bool>()).prop_map(|(s, on)| Op::Shield(s, on)),
        1 => (any::<u8>(), dl).prop_map(|(s, d)| Op::Deadline(s, d)),
    ]
}

/// How `CancelScope::run` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Exit {
    Completed,
    Caught,
    PassedOn,
}

#[derive(Debug)]
struct MScope {
    parent: Option<usize>,
    cancel_called: bool,
    shield: bool,
    deadline: Option<Instant>,
    active: bool,
}

/// The reference model: the tree, walked on every question.
#[derive(Debug)]
struct Model {
    scopes: Vec<MScope>,
    /// Per task, the scopes it is inside, innermost last; the bottom is where it starts.
    stacks: [Vec<usize>; 2],
    /// Per task, how each exiting scope's `run` must return, innermost first.
    exits: [Vec<Exit>; 2],
    done: [bool; 2],
    /// Per task, whether its own body ended with a cancellation.
    failed: [bool; 2],
}

const ROOT_A: usize = 0;
const GROUP: usize = 1;
const ROOT_B: usize = 2;

impl Model {
    fn new() -> Model {
        let scope = |parent| MScope {
            parent,
            cancel_called: false,
            shield: false,
            deadline: None,
            active: true,
        };
        Model {
            scopes: vec![scope(None), scope(Some(ROOT_A)), scope(Some(GROUP))],
            stacks: [vec![GROUP], vec![ROOT_B]],
            exits: [Vec::new(), Vec::new()],
            done: [false, false],
            failed: [false, false],
        }
    }

    fn effective(&self, s: usize) -> bool {
        let n = &self.scopes[s];
        n.cancel_called || (!n.shield && n.parent.is_some_and(|p| self.effective(p)))
    }

    fn effective_deadline(&self, s: usize, now: Instant) -> EffectiveDeadline {
        if self.effective(s) {
            return EffectiveDeadline::AlreadyCancelled;
        }
        let mut earliest: Option<Instant> = None;
        let mut at = Some(s);
        while let Some(i) = at {
            let n = &self.scopes[i];
            if let Some(d) = n.deadline {
                earliest = Some(earliest.map_or(d, |e| e.min(d)));
            }
            if n.shield {
                break;
            }
            at = n.parent;
        }
        match earliest {
            Some(d) if d <= now => EffectiveDeadline::AlreadyCancelled,
            Some(d) => EffectiveDeadline::At(d),
            None => EffectiveDeadline::Unbounded,
        }
    }

    /// Scopes that `Cancel`, `Shield` and `Deadline` can address: the group's and every
    /// scope entered so far (exited ones included).
    fn target(&self, pick: u8) -> usize {
        let targets = self.scopes.len() - 2;
        match pick as usize % targets {
            0 => GROUP,
            i => i + 2,
        }
    }

    /// The task's innermost scope leaves with its body ending in `checkpoint_if_cancelled`;
    /// a cancellation it does not catch ends the enclosing bodies too.
    fn exit(&mut self, task: usize) {
        let mut failing = None;
        loop {
            let s = self.stacks[task]
                .pop()
                .expect("exit of a task that has ended");
            let body_failed = failing.unwrap_or_else(|| self.effective(s));
            let n = &self.scopes[s];
            let caught = body_failed
                && n.cancel_called
                && (n.shield || !n.parent.is_some_and(|p| self.effective(p)));
            let exit = match (body_failed, caught) {
                (false, _) => Exit::Completed,
                (true, true) => Exit::Caught,
                (true, false) => Exit::PassedOn,
            };
            if self.stacks[task].is_empty() {
                // The task's own body (A: the group's body) ended.
                self.done[task] = true;
                self.failed[task] = body_failed;
                return;
            }
            self.scopes[s].active = false;
            self.exits[task].push(exit);
            if exit != Exit::PassedOn {
                return;
            }
            failing = Some(true);
        }
    }
}

struct Shared {
    ops: Vec<Op>,
    pc: usize,
    /// The task that may take steps. It hands over only when the next step is the other
    /// task's, or when its body has returned: so nothing changes while a task is in the
    /// middle of a step.
    turn: usize,
    /// A task panicked (a failed assertion): the other stops too.
    poisoned: bool,
    /// Per task, whether its body has returned (the model marks it done before that, when
    /// its last exit starts).
    finished: [bool; 2],
    model: Model,
    /// The handle of every scope, indexed as in the model (none for the two roots).
    scopes: Vec<Option<CancelScope>>,
    start: Instant,
}

type Interp = Pin<Box<dyn Future<Output = Result<(), Cancelled>> + Send>>;

/// What a task does next.
enum Next {
    /// Not its turn: let the other task run.
    Yield,
    Enter(CancelScope),
    Exit,
    Wait,
    /// What the model says, then what the code being polled sees.
    Check {
        expected: (bool, EffectiveDeadline),
        got: (bool, EffectiveDeadline),
    },
    /// The other task panicked.
    Stop,
}

fn deadline_of(dl: Dl, start: Instant) -> Option<Instant> {
    match dl {
        Dl::None => None,
        Dl::Far(k) => Some(start + Duration::from_secs(3600 + u64::from(k))),
        Dl::Past => Some(start),
    }
}

/// Takes the task's next step from the script, running on the spot the steps that are not
/// bound to a task.
fn next(shared: &Mutex<Shared>, task: usize) -> Next {
    let mut sh = shared.lock().unwrap();
    if sh.poisoned {
        return Next::Stop;
    }
    if sh.turn != task && !sh.finished[sh.turn] {
        return Next::Yield;
    }
    sh.turn = task;
    loop {
        let Some(&op) = sh.ops.get(sh.pc) else {
            // The script is over: B unwinds first, then A (whose group waits for B).
            if task == 0 && !sh.finished[1] {
                sh.turn = 1;
                return Next::Yield;
            }
            return Next::Exit;
        };
        match op.task() {
            Some(t) if sh.model.done[t] => {
                sh.pc += 1;
                continue;
            }
            Some(t) if t != task => {
                sh.turn = t;
                return Next::Yield;
            }
            _ => {}
        }
        sh.pc += 1;
        let start = sh.start;
        match op {
            Op::Enter {
                shield, deadline, ..
            } => {
                let deadline = deadline_of(deadline, start);
                let scope = match deadline {
                    Some(d) => CancelScope::with_deadline(d),
                    None => CancelScope::new(),
                }
                .shielded(shield);
                let parent = *sh.model.stacks[task].last().unwrap();
                sh.model.scopes.push(MScope {
                    parent: Some(parent),
                    // A deadline already past cancels the scope on entry.
                    cancel_called: deadline.is_some_and(|d| d <= start),
                    shield,
                    deadline,
                    active: true,
                });
                let id = sh.model.scopes.len() - 1;
                sh.model.stacks[task].push(id);
                sh.scopes.push(Some(scope.clone()));
                return Next::Enter(scope);
            }
            Op::Exit { .. } => return Next::Exit,
            Op::Wait { .. } => return Next::Wait,
            Op::Check { .. } => {
                let cur = *sh.model.stacks[task].last().unwrap();
                let expected = (
                    sh.model.effective(cur),
                    sh.model.effective_deadline(cur, current_time()),
                );
                // Neither blocks: polled on the spot, inside this task's poll.
                let cancelled = futures_lite::future::block_on(checkpoint_if_cancelled());
                let got = (cancelled.is_err(), current_effective_deadline());
                return Next::Check { expected, got };
            }
            Op::Cancel(pick) => {
                let s = sh.model.target(pick);
                sh.model.scopes[s].cancel_called = true;
                sh.scopes[s].as_ref().unwrap().cancel();
            }
            Op::Shield(pick, on) => {
                let s = sh.model.target(pick);
                sh.model.scopes[s].shield = on;
                sh.scopes[s].as_ref().unwrap().set_shield(on);
            }
            Op::Deadline(pick, dl) => {
                let s = sh.model.target(pick);
                let d = deadline_of(dl, start);
                let m = &mut sh.model.scopes[s];
                m.deadline = d;
                // A deadline already past cancels a running scope, and nothing else.
                if m.active && d.is_some_and(|d| d <= current_time()) {
                    m.cancel_called = true;
                }
                sh.scopes[s].as_ref().unwrap().set_deadline(d);
            }
        }
    }
}

/// Tells the other task to stop when this one panics.
struct PoisonOnPanic(Arc<Mutex<Shared>>);

impl Drop for PoisonOnPanic {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Ok(mut sh) = self.0.lock() {
                sh.poisoned = true;
            }
        }
    }
}

/// Runs the task's steps at one level of nesting, until that level exits.
fn interp(shared: Arc<Mutex<Shared>>, task: usize) -> Interp {
    Box::pin(async move {
        let _poison = PoisonOnPanic(shared.clone());
        loop {
            let step = next(&shared, task);
            match step {
                Next::Yield | Next::Wait => cancel_shielded_checkpoint().await,
                Next::Check { expected, got } => {
                    let pc = shared.lock().unwrap().pc;
                    assert_eq!(
                        got, expected,
                        "(checkpoint_if_cancelled failed, effective deadline) in task {task} \
                         at step {pc}"
                    );
                }
                Next::Stop => return Err(Cancelled::new()),
                Next::Exit => {
                    {
                        let mut sh = shared.lock().unwrap();
                        sh.model.exit(task);
                    }
                    return checkpoint_if_cancelled().await;
                }
                Next::Enter(scope) => {
                    let out = scope.run(interp(shared.clone(), task)).await;
                    let expected = shared.lock().unwrap().model.exits[task].remove(0);
                    let got = match out {
                        Ok(Some(())) => Exit::Completed,
                        Ok(None) => Exit::Caught,
                        Err(_) => Exit::PassedOn,
                    };
                    assert_eq!(got, expected, "how a scope of task {task} exited");
                    assert_eq!(scope.cancelled_caught(), got == Exit::Caught);
                    // An uncaught cancellation ends this level too: nothing after it runs.
                    out?;
                }
            }
        }
    })
}

/// A task's body: its steps, then it tells the other one it is finished.
async fn run_task(shared: Arc<Mutex<Shared>>, task: usize) -> Result<(), Cancelled> {
    let out = interp(shared.clone(), task).await;
    shared.lock().unwrap().finished[task] = true;
    out
}

async fn run_script(ops: Vec<Op>) {
    let start = current_time();
    let shared = Arc::new(Mutex::new(Shared {
        ops,
        pc: 0,
        turn: 0,
        poisoned: false,
        finished: [false, false],
        model: Model::new(),
        scopes: vec![None, None, None],
        start,
    }));
    let sh = shared.clone();
    let out = TaskGroup::<Cancelled>::run(|tg| async move {
        sh.lock().unwrap().scopes[GROUP] = Some(tg.cancel_scope());
        tg.start_soon(run_task(sh.clone(), 1))
            .expect("the group is open");
        run_task(sh, 0).await
    })
    .await;
    let sh = shared.lock().unwrap();
    assert!(sh.model.done[0] && sh.model.done[1], "both tasks ended");
    // Nothing outside the group is ever cancelled, so it never passes a cancellation on;
    // it returns its body's value unless the body ended with the group's cancellation.
    assert!(out.is_ok(), "the group returned {out:?}");
    assert_eq!(out.unwrap().is_none(), sh.model.failed[0]);
}

fn runners() -> Vec<Runner> {
    Backend::available()
        .into_iter()
        .flat_map(|b| {
            [
                Runner::new(b).current_thread(),
                Runner::new(b).worker_threads(2),
            ]
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 160, ..ProptestConfig::default() })]

    #[test]
    fn scope_state_matches_a_walk_of_the_tree(ops in proptest::collection::vec(op(), 1..48)) {
        for runner in runners() {
            let run = std::panic::catch_unwind(|| {
                runner.run(run_script(ops.clone())).expect("the runtime starts")
            });
            prop_assert!(run.is_ok(), "failed on {runner:?}");
        }
    }
}
