//! The manifest runner: phases start → load → perturb → wait → verify over any [`Backend`] (the
//! compose and Swarm backends of `luxtensor-testnet run`, the testcontainers one of
//! `e2e::Cluster::from_manifest`). Start launches every node with `start_at = 0`; then one loop
//! polls every node's status, starts late joiners and applies the schedule's perturbations when
//! the highest node reaches their heights, heals them after their slots, checks the height
//! assertions' deadlines and the finality watch, and prints the live table, while the load runs
//! beside it; when every event has happened, every fault is healed and the load is done, verify
//! proves every node equal and every load transfer included, each within its deadline. Every wait
//! polls with a deadline, every loop is bounded by the run's timeout.

use std::fmt::Write as _;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::checks::{Converged, FinalityWatch, converge_final, tally_transactions, wait_for};
use crate::client::{KitError, NodeClient};
use crate::load::{self, LoadPlan, LoadReport};
use crate::manifest::{Check, Fault, Manifest, Role};
use crate::schedule::{self, Action};

/// A backend operation that failed.
#[derive(Debug, thiserror::Error)]
#[error("{node}: {op}: {detail}")]
pub struct BackendError {
    /// The node.
    pub node: String,
    /// The operation.
    pub op: &'static str,
    /// What the orchestrator said.
    pub detail: String,
}

impl BackendError {
    /// A network-wide operation the backend does not offer.
    pub fn not_offered(op: &'static str) -> Self {
        Self {
            node: "*".into(),
            op,
            detail: "not offered by this backend".into(),
        }
    }
}

/// Where the nodes run: starts them and applies faults. Every method waits until the operation is
/// done (a started node answers gRPC health, a healed one is running again).
pub trait Backend: Send {
    /// The orchestrator's name, for the report.
    fn name(&self) -> String;

    /// Starts `node` for the first time; returns a client for it.
    fn start(
        &mut self,
        node: &str,
    ) -> impl Future<Output = Result<NodeClient, BackendError>> + Send;

    /// Starts several nodes for the first time (the run's first phase); by default one after
    /// another, a backend that can start them together overrides it.
    fn start_all(
        &mut self,
        nodes: &[String],
    ) -> impl Future<Output = Vec<Result<NodeClient, BackendError>>> + Send {
        async move {
            let mut out = Vec::new();
            for n in nodes {
                out.push(self.start(n).await);
            }
            out
        }
    }

    /// Applies `fault` to `node` (kill, stop, pause, disconnect, or stop and remove for an
    /// upgrade).
    fn fault(
        &mut self,
        node: &str,
        fault: Fault,
    ) -> impl Future<Output = Result<(), BackendError>> + Send;

    /// Ends `fault` on `node` (start again, unpause, reconnect, or create it anew on its volume
    /// from `image`); returns a fresh client (its address may have changed).
    fn heal(
        &mut self,
        node: &str,
        fault: Fault,
        image: Option<&str>,
    ) -> impl Future<Output = Result<NodeClient, BackendError>> + Send;

    /// Whether the backend can split the network into groups.
    fn supports_partitions(&self) -> bool {
        false
    }

    /// Splits the network: the nodes of each group reach only each other, the nodes in no group
    /// stay together; returns fresh clients of the nodes whose address changed.
    fn partition(
        &mut self,
        _groups: &[Vec<String>],
    ) -> impl Future<Output = Result<Vec<(String, NodeClient)>, BackendError>> + Send {
        async { Err(BackendError::not_offered("partition")) }
    }

    /// Ends the partition: every node on one network again; returns fresh clients of the nodes
    /// whose address changed.
    fn heal_partition(
        &mut self,
        _groups: &[Vec<String>],
    ) -> impl Future<Output = Result<Vec<(String, NodeClient)>, BackendError>> + Send {
        async { Err(BackendError::not_offered("heal partition")) }
    }

    /// Whether the backend can apply `fault` (a perturbation it cannot is skipped, and the report
    /// says so).
    fn supports(&self, _fault: Fault) -> bool {
        true
    }

    /// Memory the node's container uses now (bytes), when the backend can tell.
    fn memory(&self, _node: &str) -> impl Future<Output = Option<u64>> + Send {
        async { None }
    }
}

/// Where a node is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeState {
    /// Waits for its `start_at`.
    NotStarted,
    /// Running.
    Running,
    /// Under a fault until the instant.
    Faulted(Fault, Instant),
}

impl NodeState {
    fn label(&self, now: Instant) -> String {
        match self {
            NodeState::NotStarted => "waiting".into(),
            NodeState::Running => "running".into(),
            NodeState::Faulted(f, until) => {
                format!(
                    "{} {:.0}s",
                    f.label(),
                    until.saturating_duration_since(now).as_secs_f64()
                )
            }
        }
    }
}

/// One node as the runner sees it.
#[derive(Clone, Debug)]
struct Tracked {
    name: String,
    role: Role,
    state: NodeState,
    client: Option<NodeClient>,
    height: Option<u64>,
    finalized: u64,
    started: Option<(Instant, u64)>,
    caught_up: Option<Duration>,
    peak_memory: Option<u64>,
    /// The image an upgrade under way comes back on.
    heal_image: Option<String>,
    finality_error: Option<String>,
    reorgs: u64,
}

/// An assertion's outcome.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// What was asserted.
    pub what: String,
    /// Passed.
    pub passed: bool,
    /// What was seen.
    pub detail: String,
}

/// What a run did and found.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    /// The seed of the random schedule, when there is one.
    pub seed: Option<u64>,
    /// The events applied, with the elapsed time.
    pub applied: Vec<(Duration, String)>,
    /// Assertion outcomes.
    pub outcomes: Vec<Outcome>,
    /// Wall time of the whole run.
    pub wall: Duration,
    /// How long each late joiner took from its start to the head it was started at.
    pub catch_up: Vec<(String, Duration)>,
    /// Peak memory per node (bytes), when the backend tells.
    pub peak_memory: Vec<(String, u64)>,
    /// The load's account.
    pub load: Option<LoadReport>,
    /// The final convergence proof.
    pub converged: Option<Converged>,
    /// Why the run stopped early, when it did.
    pub error: Option<String>,
    /// Perturbations the backend does not offer, skipped.
    pub skipped: Vec<String>,
    /// The most reorganizations each node reported (its `GetStatus.reorgs`; a restart may reset
    /// it).
    pub reorgs: Vec<(String, u64)>,
}

impl RunReport {
    /// Every assertion passed and nothing stopped the run.
    pub fn passed(&self) -> bool {
        self.error.is_none() && self.outcomes.iter().all(|o| o.passed)
    }

    /// The report as text (what `luxtensor-testnet run` prints at the end).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let w = &mut out;
        if let Some(seed) = self.seed {
            let _ = writeln!(w, "random schedule seed: {seed} (--seed {seed} replays it)");
        }
        for o in &self.outcomes {
            let _ = writeln!(
                w,
                "{} {}: {}",
                if o.passed { "PASS" } else { "FAIL" },
                o.what,
                o.detail
            );
        }
        for s in &self.skipped {
            let _ = writeln!(w, "SKIPPED {s}");
        }
        for (name, d) in &self.catch_up {
            let _ = writeln!(
                w,
                "late joiner {name} reached the head in {:.1}s",
                d.as_secs_f64()
            );
        }
        if self.reorgs.iter().any(|(_, r)| *r > 0) {
            let each: Vec<String> = self
                .reorgs
                .iter()
                .map(|(n, r)| format!("{n}={r}"))
                .collect();
            let _ = writeln!(w, "reorganizations seen: {}", each.join(" "));
        }
        if !self.peak_memory.is_empty() {
            let total: u64 = self.peak_memory.iter().map(|(_, m)| m).sum();
            let each: Vec<String> = self
                .peak_memory
                .iter()
                .map(|(n, m)| format!("{n} {:.0}", *m as f64 / 1048576.0))
                .collect();
            let _ = writeln!(
                w,
                "peak memory (MiB): {}; sum of peaks {:.0} MiB",
                each.join(", "),
                total as f64 / 1048576.0
            );
        }
        if let Some(e) = &self.error {
            let _ = writeln!(w, "ERROR: {e}");
        }
        let _ = writeln!(
            w,
            "RESULT: {} in {:.1}s",
            if self.passed() { "passed" } else { "FAILED" },
            self.wall.as_secs_f64()
        );
        out
    }
}

/// Run options beside the manifest.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Replaces the random schedule's seed.
    pub seed: Option<u64>,
    /// Prints every event (plan, starts, perturbations, heals, verify) to standard output.
    pub events: bool,
    /// Prints the live table too.
    pub live: bool,
}

const STATUS_TIMEOUT: Duration = Duration::from_millis(1500);
const POLL: Duration = Duration::from_millis(250);

/// Runs the manifest on `backend`. The report says what passed; an `Err` is never returned for a
/// failed assertion, only recorded in the report.
pub async fn run<B: Backend>(m: &Manifest, backend: &mut B, opts: &RunOptions) -> RunReport {
    let began = Instant::now();
    let mut report = RunReport {
        seed: m.random.as_ref().map(|r| opts.seed.unwrap_or(r.seed)),
        ..RunReport::default()
    };
    let say = |line: String| {
        if opts.events {
            println!("[{:7.1}s] {line}", began.elapsed().as_secs_f64());
        }
    };
    if let Some(seed) = report.seed {
        say(format!("random schedule seed {seed}"));
    }
    let mut events = schedule::events(m, opts.seed);
    for e in &events {
        say(format!("plan: {e}"));
    }
    let mut nodes: Vec<Tracked> = m
        .nodes
        .iter()
        .map(|n| Tracked {
            name: n.name.clone(),
            role: n.role,
            state: NodeState::NotStarted,
            client: None,
            height: None,
            finalized: 0,
            started: None,
            caught_up: None,
            peak_memory: None,
            heal_image: None,
            finality_error: None,
            reorgs: 0,
        })
        .collect();
    let asserts = m.assertions();
    let run_deadline = began + Manifest::duration(&m.run.timeout);
    let start_timeout = Manifest::duration(&m.run.start_timeout);

    // Phase start.
    say(format!(
        "start: {} nodes on {}",
        m.nodes.iter().filter(|n| n.start_at == 0).count(),
        backend.name()
    ));
    let first: Vec<String> = m
        .nodes
        .iter()
        .filter(|n| n.start_at == 0)
        .map(|n| n.name.clone())
        .collect();
    let started = backend.start_all(&first).await;
    for (name, r) in first.iter().zip(started) {
        let t = nodes
            .iter_mut()
            .find(|t| &t.name == name)
            .expect("a node of the manifest");
        let ready = match r {
            Ok(client) => ready(t, client, 0, start_timeout).await,
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = ready {
            report.error = Some(e);
            report.wall = began.elapsed();
            return report;
        }
        say(format!("{} started", t.name));
    }

    // Phase load (beside the loop).
    let head = Arc::new(AtomicU64::new(0));
    let stop_load = Arc::new(AtomicBool::new(false));
    let load_task = m.load.as_ref().map(|l| {
        let targets: Vec<NodeClient> = m
            .load_targets()
            .iter()
            .filter_map(|name| nodes.iter().find(|t| &t.name == name)?.client.clone())
            .collect();
        say(format!(
            "load: {} transfers/s from {} dev accounts to {} until height {}",
            l.rate,
            m.network.dev_accounts,
            targets
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            l.until_height
        ));
        tokio::spawn(load::run(
            LoadPlan {
                chain_id: m.network.chain_id,
                accounts: m.network.dev_accounts,
                rate: l.rate,
                until_height: l.until_height,
                amount: l.amount,
                fee: l.fee,
            },
            targets,
            head.clone(),
            stop_load.clone(),
        ))
    });

    // Phases perturb and wait: one loop.
    let watch_finality = asserts.iter().any(|a| a.check == Check::Finality);
    let mut finality_broken: Option<String> = None;
    let mut height_checks: Vec<(usize, Option<Duration>)> = asserts
        .iter()
        .enumerate()
        .filter(|(_, a)| a.check == Check::Height)
        .map(|(i, _)| (i, None))
        .collect();
    let table_every = Manifest::duration(&m.run.table_interval);
    let mut last_table = Instant::now() - table_every;
    let mut last_event = began;
    let load_until = m.load.as_ref().map(|l| l.until_height);
    let mut partitioned: Option<(Vec<Vec<String>>, Instant)> = None;
    let finality = FinalityWatch::default();
    loop {
        let now = Instant::now();
        if now >= run_deadline {
            report.error = Some(format!("the run did not finish within {}", m.run.timeout));
            break;
        }
        poll(&mut nodes, &finality).await;
        let top = nodes.iter().filter_map(|t| t.height).max().unwrap_or(0);
        head.store(top, Ordering::Relaxed);
        for t in &mut nodes {
            if let (Some((at, h0)), None, Some(h)) = (t.started, t.caught_up, t.height)
                && h >= h0
                && h0 > 0
            {
                t.caught_up = Some(at.elapsed());
                say(format!(
                    "{} reached height {h0} (the head when it started) in {:.1}s",
                    t.name,
                    at.elapsed().as_secs_f64()
                ));
            }
        }
        if watch_finality && finality_broken.is_none() {
            finality_broken = nodes.iter().find_map(|t| t.finality_error.clone());
        }
        // Heal what is due.
        for t in &mut nodes {
            if let NodeState::Faulted(fault, until) = t.state.clone()
                && Instant::now() >= until
            {
                let image = t.heal_image.take();
                let name = t.name.clone();
                match backend.heal(&name, fault, image.as_deref()).await {
                    Ok(client) => {
                        t.client = Some(client);
                        t.state = NodeState::Running;
                        last_event = Instant::now();
                        say(format!("healed {}: {name}", fault.label()));
                        report
                            .applied
                            .push((began.elapsed(), format!("heal {} {name}", fault.label())));
                    }
                    Err(e) => {
                        report.error = Some(e.to_string());
                        break;
                    }
                }
            }
        }
        if report.error.is_some() {
            break;
        }
        // Heal a partition that is due.
        if let Some((groups, until)) = partitioned.clone()
            && Instant::now() >= until
        {
            match backend.heal_partition(&groups).await {
                Ok(clients) => {
                    for (name, client) in clients {
                        if let Some(t) = nodes.iter_mut().find(|t| t.name == name) {
                            t.client = Some(client);
                        }
                    }
                    partitioned = None;
                    last_event = Instant::now();
                    say("healed the partition".into());
                    report
                        .applied
                        .push((began.elapsed(), "heal the partition".into()));
                }
                Err(e) => {
                    report.error = Some(e.to_string());
                    break;
                }
            }
        }
        // Apply what is due (a perturbation of a node that is not running waits for it; a
        // partition waits until every started node runs, and perturbations wait for its end).
        let mut k = 0;
        while k < events.len() {
            if events[k].at > top {
                break;
            }
            let e = events[k].clone();
            if let Action::Partition { groups, slots } = &e.action {
                if !backend.supports_partitions() {
                    let note = format!("{e}: skipped, not offered by {}", backend.name());
                    say(note.clone());
                    report.skipped.push(note);
                    events.remove(k);
                    continue;
                }
                let busy = partitioned.is_some()
                    || nodes
                        .iter()
                        .any(|t| !matches!(t.state, NodeState::Running | NodeState::NotStarted));
                if busy {
                    // Later events wait too: the schedule stays in order past a partition.
                    break;
                }
                say(format!("{e}"));
                match backend.partition(groups).await {
                    Ok(clients) => {
                        for (name, client) in clients {
                            if let Some(t) = nodes.iter_mut().find(|t| t.name == name) {
                                t.client = Some(client);
                            }
                        }
                        partitioned = Some((groups.clone(), Instant::now() + m.slot() * *slots));
                        report.applied.push((began.elapsed(), e.to_string()));
                        last_event = Instant::now();
                        events.remove(k);
                        continue;
                    }
                    Err(err) => {
                        report.error = Some(err.to_string());
                        break;
                    }
                }
            }
            if partitioned.is_some() && matches!(e.action, Action::Perturb { .. }) {
                k += 1;
                continue;
            }
            let Some(i) = nodes.iter().position(|t| t.name == e.node) else {
                events.remove(k);
                continue;
            };
            match (&e.action, &nodes[i].state) {
                (Action::Start, NodeState::NotStarted) => {
                    say(format!("{e}"));
                    if let Err(err) = start(backend, &mut nodes[i], top, start_timeout).await {
                        report.error = Some(err);
                        break;
                    }
                    report.applied.push((began.elapsed(), e.to_string()));
                    last_event = Instant::now();
                    events.remove(k);
                }
                (Action::Perturb { fault, .. }, _) if !backend.supports(*fault) => {
                    let note = format!("{e}: skipped, not offered by {}", backend.name());
                    say(note.clone());
                    report.skipped.push(note);
                    events.remove(k);
                }
                (
                    Action::Perturb {
                        fault,
                        slots,
                        image,
                    },
                    NodeState::Running,
                ) => {
                    say(format!("{e}"));
                    if let Err(err) = backend.fault(&e.node, *fault).await {
                        report.error = Some(err.to_string());
                        break;
                    }
                    let until = Instant::now() + m.slot() * *slots;
                    nodes[i].state = NodeState::Faulted(*fault, until);
                    nodes[i].heal_image = image.clone();
                    nodes[i].height = None;
                    report.applied.push((began.elapsed(), e.to_string()));
                    last_event = Instant::now();
                    events.remove(k);
                }
                (Action::Start, _) => {
                    events.remove(k);
                }
                _ => k += 1,
            }
        }
        if report.error.is_some() {
            break;
        }
        // Height assertions.
        let mut height_failed = false;
        for (i, done) in &mut height_checks {
            if done.is_some() {
                continue;
            }
            let a = &asserts[*i];
            let want = a.at_least.unwrap_or(0);
            let all = nodes
                .iter()
                .filter(|t| a.nodes.is_empty() || a.nodes.contains(&t.name))
                .all(|t| t.height.is_some_and(|h| h >= want));
            if all {
                *done = Some(began.elapsed());
            } else if began.elapsed() > a.deadline() {
                height_failed = true;
            }
        }
        if last_table.elapsed() >= table_every {
            last_table = Instant::now();
            sample_memory(&mut nodes, backend).await;
            if opts.live {
                print!("{}", table(&nodes, top, began.elapsed()));
            }
        }
        let load_done = load_until.is_none_or(|h| top >= h);
        let settled = events.is_empty()
            && partitioned.is_none()
            && nodes.iter().all(|t| t.state == NodeState::Running)
            && load_done;
        let heights_done = height_checks.iter().all(|(_, d)| d.is_some());
        if height_failed || (settled && heights_done) {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    stop_load.store(true, Ordering::Relaxed);
    let load_ended = Instant::now();
    let load_report = match load_task {
        Some(task) => match task.await {
            Ok(Ok(r)) => Some(r),
            Ok(Err(e)) => {
                report.error.get_or_insert(format!("load: {e}"));
                None
            }
            Err(e) => {
                report.error.get_or_insert(format!("load task: {e}"));
                None
            }
        },
        None => None,
    };
    if let Some(l) = &load_report {
        say(format!(
            "load done: {} accepted, refusals {:?}",
            l.accepted.len(),
            l.refused
        ));
    }

    // Height outcomes.
    for (i, done) in &height_checks {
        let a = &asserts[*i];
        let who = if a.nodes.is_empty() {
            "all nodes".to_string()
        } else {
            a.nodes.join(", ")
        };
        let want = a.at_least.unwrap_or(0);
        report.outcomes.push(Outcome {
            what: format!(
                "{who}: height >= {want} within {}",
                a.within.as_deref().unwrap_or("?")
            ),
            passed: done.is_some(),
            detail: match done {
                Some(d) => format!("after {:.1}s", d.as_secs_f64()),
                None => format!(
                    "not reached; heights {}",
                    nodes
                        .iter()
                        .map(|t| format!(
                            "{}={}",
                            t.name,
                            t.height.map_or("-".into(), |h| h.to_string())
                        ))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
            },
        });
    }

    // Phase verify.
    if report.error.is_none() {
        let clients: Vec<NodeClient> = nodes.iter().filter_map(|t| t.client.clone()).collect();
        let refs: Vec<&NodeClient> = clients.iter().collect();
        let top = head.load(Ordering::Relaxed);
        for a in asserts.iter().filter(|a| a.check == Check::Equal) {
            let within = a.deadline();
            say(format!(
                "verify: every node finalizes height {top} and all are equal (within {})",
                a.within.as_deref().unwrap_or("?")
            ));
            let since = last_event.elapsed();
            let r = converge_final(&refs, top, within.saturating_sub(since)).await;
            report.outcomes.push(Outcome {
                what: format!(
                    "all {} nodes equal within {} after the last event",
                    refs.len(),
                    a.within.as_deref().unwrap_or("?")
                ),
                passed: r.is_ok() && clients.len() == nodes.len(),
                detail: match &r {
                    Ok(c) => format!(
                        "{} blocks, {} accounts compared up to finalized height {}, state root {}, {:.1}s after the last event",
                        c.blocks_compared,
                        c.accounts_compared,
                        c.height,
                        crate::demo::short(&c.state_root),
                        last_event.elapsed().as_secs_f64()
                    ),
                    Err(e) => e.to_string(),
                },
            });
            report.converged = r.ok();
        }
        for a in asserts.iter().filter(|a| a.check == Check::LoadIncluded) {
            let Some(l) = &load_report else { continue };
            let r = included(
                &refs,
                &l.accepted,
                a.deadline().saturating_sub(load_ended.elapsed()),
            )
            .await;
            report.outcomes.push(Outcome {
                what: format!(
                    "every load transfer included once within {} after the load",
                    a.within.as_deref().unwrap_or("?")
                ),
                passed: r.is_ok(),
                detail: match r {
                    Ok(h) => format!(
                        "{} of {} included by finalized height {h}",
                        l.accepted.len(),
                        l.accepted.len()
                    ),
                    Err(e) => e.to_string(),
                },
            });
        }
    }
    if watch_finality {
        report.outcomes.push(Outcome {
            what: "finality never reverts".into(),
            passed: finality_broken.is_none(),
            detail: finality_broken.unwrap_or_else(|| {
                format!(
                    "finalized heights only rose; last {}",
                    nodes
                        .iter()
                        .map(|t| format!("{}={}", t.name, t.finalized))
                        .collect::<Vec<_>>()
                        .join(" ")
                )
            }),
        });
    }
    report.catch_up = nodes
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.caught_up?)))
        .collect();
    report.reorgs = nodes.iter().map(|t| (t.name.clone(), t.reorgs)).collect();
    report.peak_memory = nodes
        .iter()
        .filter_map(|t| Some((t.name.clone(), t.peak_memory?)))
        .collect();
    report.load = load_report;
    report.wall = began.elapsed();
    report
}

/// Waits until every hash is in exactly one block at or below the lowest finalized height of
/// `nodes` (which agree there); returns that height.
async fn included(
    nodes: &[&NodeClient],
    hashes: &[String],
    within: Duration,
) -> Result<u64, KitError> {
    let last = std::sync::Mutex::new(String::new());
    let r = wait_for("every load transfer to be final", within, || async {
        let mut low = u64::MAX;
        for n in nodes {
            low = low.min(n.status().await.ok()?.finalized_height);
        }
        match tally_transactions(nodes, low, hashes).await {
            Ok(t) if t.pending == 0 => Some(Ok(low)),
            Ok(t) => {
                *last.lock().expect("lock") = format!("{} pending", t.pending);
                None
            }
            // In two final blocks cannot heal; "nowhere" can (a block above the lowest final
            // height, or a transaction a reorg put back that is on its way), so it is retried
            // until the deadline and reported then.
            Err(KitError::Diverged(e)) if e.contains("included") && e.contains(" times") => {
                Some(Err(KitError::Diverged(e)))
            }
            Err(e) => {
                *last.lock().expect("lock") = e.to_string();
                None
            }
        }
    })
    .await;
    match r {
        Ok(inner) => inner,
        Err(e) => Err(KitError::Diverged(format!(
            "{e}; last: {}",
            last.lock().expect("lock")
        ))),
    }
}

async fn start<B: Backend>(
    backend: &mut B,
    t: &mut Tracked,
    head: u64,
    timeout: Duration,
) -> Result<(), String> {
    let client = backend.start(&t.name).await.map_err(|e| e.to_string())?;
    ready(t, client, head, timeout).await
}

/// Waits until a started node answers; it counts as started at `head`.
async fn ready(
    t: &mut Tracked,
    client: NodeClient,
    head: u64,
    timeout: Duration,
) -> Result<(), String> {
    wait_for(&format!("{} to answer", t.name), timeout, || async {
        tokio::time::timeout(STATUS_TIMEOUT, client.status())
            .await
            .ok()?
            .ok()
    })
    .await
    .map_err(|e| e.to_string())?;
    t.client = Some(client);
    t.state = NodeState::Running;
    t.started = Some((Instant::now(), head));
    Ok(())
}

async fn poll(nodes: &mut [Tracked], finality: &FinalityWatch) {
    let asks = nodes.iter().map(|t| {
        let client = t.client.clone().filter(|_| t.state == NodeState::Running);
        async move {
            let c = client?;
            tokio::time::timeout(STATUS_TIMEOUT, c.status())
                .await
                .ok()?
                .ok()
        }
    });
    let statuses = futures::future::join_all(asks).await;
    for (t, s) in nodes.iter_mut().zip(statuses) {
        match s {
            Some(s) => {
                t.height = Some(s.height);
                if let Err(e) = finality.record(&t.name, s.finalized_height) {
                    t.finality_error.get_or_insert(e.to_string());
                }
                t.finalized = s.finalized_height;
                t.reorgs = t.reorgs.max(s.reorgs);
            }
            None if t.state != NodeState::Running => t.height = None,
            None => {}
        }
    }
}

async fn sample_memory<B: Backend>(nodes: &mut [Tracked], backend: &B) {
    let asks = nodes.iter().map(|t| async move {
        if t.state == NodeState::NotStarted {
            return None;
        }
        tokio::time::timeout(STATUS_TIMEOUT, backend.memory(&t.name))
            .await
            .ok()
            .flatten()
    });
    let sampled = futures::future::join_all(asks).await;
    for (t, m) in nodes.iter_mut().zip(sampled) {
        if let Some(m) = m {
            t.peak_memory = Some(t.peak_memory.unwrap_or(0).max(m));
        }
    }
}

fn table(nodes: &[Tracked], head: u64, elapsed: Duration) -> String {
    let mut out = format!(
        "── {:6.1}s ── head {head} ─────────────────────────────\n  {:<12} {:<9} {:>7} {:>7}  {}\n",
        elapsed.as_secs_f64(),
        "node",
        "role",
        "height",
        "final",
        "state"
    );
    let now = Instant::now();
    for t in nodes {
        let _ = writeln!(
            out,
            "  {:<12} {:<9} {:>7} {:>7}  {}",
            t.name,
            match t.role {
                Role::Validator => "validator",
                Role::Full => "full",
            },
            t.height.map_or("-".into(), |h| h.to_string()),
            t.finalized,
            t.state.label(now)
        );
    }
    out
}
