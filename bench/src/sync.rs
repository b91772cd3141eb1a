//! `luxtensor-bench sync`: measures catch-up over real gRPC on loopback. For each case it builds a
//! chain on a source node (N blocks of M signed transfers across K dev accounts), starts a fresh
//! node as a separate process that syncs from it, and times until the new node's head and state
//! root equal the source's. It also measures the header phase alone (download and full validation
//! of headers over gRPC), the syncing process's peak RSS (`VmHWM`), loopback bytes, and this
//! machine's raw ed25519 verification rates, so that every figure can be read as a ratio of what
//! the hardware allows.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use node::chain::crypto::{self, Keypair, VerifyItem};
use node::chain::genesis::{GenesisAccount, GenesisValidator, dev_keypair};
use node::chain::{Genesis, Header, PublicKey, Signature};
use node::config::NodeConfig;
use node::ledger::Ledger;
use node::mempool::Mempool;
use node::producer::Producer;
use node::sync::grpc::{GrpcPeer, GrpcTimeouts};
use node::sync::headers::validate_headers;
use node::sync::peer::PeerClient;

/// Why a benchmark failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BenchError {
    /// Setting up or running a node failed.
    #[error("{0}")]
    Setup(String),
}

fn setup(e: impl std::fmt::Display) -> BenchError {
    BenchError::Setup(e.to_string())
}

/// One benchmark case.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Case {
    /// Name.
    pub(crate) name: String,
    /// Blocks in the source chain.
    pub(crate) blocks: u64,
    /// Transfers per block.
    pub(crate) transfers: u32,
    /// Funded accounts the transfers move between.
    pub(crate) accounts: u32,
    /// Header phase only (no bodies, no node process).
    pub(crate) headers_only: bool,
}

/// Raw ed25519 verification rates of this machine (signatures per second).
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct VerifyRates {
    /// One signature at a time, one core.
    pub(crate) single_one_core: f64,
    /// Batches of 1024, one core.
    pub(crate) batch_one_core: f64,
    /// Batches split over all cores.
    pub(crate) batch_all_cores: f64,
    /// Cores used.
    pub(crate) cores: usize,
}

/// Measured figures of one case (medians over the runs).
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct CaseResult {
    /// The case.
    pub(crate) case: Case,
    /// Wall times of each run (s).
    pub(crate) runs_secs: Vec<f64>,
    /// Median wall time (s).
    pub(crate) median_secs: f64,
    /// Blocks per second.
    pub(crate) blocks_per_sec: f64,
    /// Transactions per second.
    pub(crate) txs_per_sec: f64,
    /// Signatures verified per second (transactions + headers).
    pub(crate) sigs_per_sec: f64,
    /// sigs_per_sec / all-core batch verification rate.
    pub(crate) ratio_to_verify_limit: f64,
    /// Peak RSS of the syncing process (MiB), max over runs.
    pub(crate) peak_rss_mib: f64,
    /// Loopback bytes received during the median run (MiB).
    pub(crate) loopback_mib: f64,
    /// Time to generate the source chain (s).
    pub(crate) generate_secs: f64,
}

/// The whole report.
#[derive(Clone, Debug, serde::Serialize)]
pub(crate) struct Report {
    /// CPU model.
    pub(crate) cpu: String,
    /// Verification rates.
    pub(crate) verify: VerifyRates,
    /// Cases.
    pub(crate) cases: Vec<CaseResult>,
}

/// Measures this machine's ed25519 verification rates.
pub(crate) fn verify_rates() -> VerifyRates {
    // Distinct keys, as in blocks of transfers from distinct senders (the batch verifier would
    // coalesce repeated keys and overstate the rate).
    let n = 8192usize;
    let keys: Vec<Keypair> = (0..n as u64)
        .map(|i| {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&i.to_be_bytes());
            Keypair::from_seed(seed)
        })
        .collect();
    let items: Vec<(PublicKey, Vec<u8>, Signature)> = (0..n)
        .map(|i| {
            let k = &keys[i % keys.len()];
            let m = (i as u64).to_be_bytes().repeat(13);
            (k.public(), m.clone(), k.sign(&m))
        })
        .collect();
    let refs: Vec<VerifyItem<'_>> = items.iter().map(|(k, m, s)| (k, m.as_slice(), s)).collect();
    let t = Instant::now();
    for (k, m, s) in &refs {
        crypto::verify(k, m, s).expect("valid");
    }
    let single = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for chunk in refs.chunks(1024) {
        crypto::verify_batch(chunk).expect("valid");
    }
    let batch = n as f64 / t.elapsed().as_secs_f64();
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let t = Instant::now();
    for _ in 0..3 {
        crypto::verify_parallel(&refs, 0).expect("valid");
    }
    let parallel = (3 * n) as f64 / t.elapsed().as_secs_f64();
    VerifyRates {
        single_one_core: single,
        batch_one_core: batch,
        batch_all_cores: parallel,
        cores,
    }
}

fn genesis(accounts: u32) -> Genesis {
    let v = Keypair::from_seed([0xbe; 32]);
    Genesis {
        chain_id: 4242,
        genesis_time_ms: 1_700_000_000_000,
        // One validator, 1 ms slots: block n sits in slot n, as fast as blocks can be built.
        slot_ms: 1,
        validators: vec![GenesisValidator::Key(v.public().to_string())],
        accounts: (0..accounts)
            .map(|i| GenesisAccount {
                address: dev_keypair(4242, i).public().address().to_string(),
                balance: u64::MAX / 1024,
            })
            .collect(),
        dev_accounts: accounts,
    }
}

/// Builds (or reuses) the source chain of `case` in `dir`.
fn generate(dir: &Path, case: &Case) -> Result<(Genesis, f64), BenchError> {
    let g = genesis(case.accounts);
    let ledger = Arc::new(Ledger::open(dir, &g, 60_000).map_err(setup)?);
    let start = Instant::now();
    let have = ledger.head().header.height;
    if have < case.blocks {
        let producer = Producer::new(
            ledger.clone(),
            Arc::new(Mempool::new(1)),
            Some(Keypair::from_seed([0xbe; 32])),
            case.transfers.max(1) as usize,
        )
        .with_sequential_timestamps();
        for h in have..case.blocks {
            producer.produce(case.transfers as usize).map_err(setup)?;
            if (h + 1) % 10_000 == 0 {
                eprintln!(
                    "bench: {}: generated {} of {} blocks",
                    case.name,
                    h + 1,
                    case.blocks
                );
            }
        }
    }
    ledger.store().flush().map_err(setup)?;
    Ok((g, start.elapsed().as_secs_f64()))
}

fn loopback_rx_bytes() -> u64 {
    std::fs::read_to_string("/proc/net/dev")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.trim_start().starts_with("lo:"))
                .and_then(|l| l.split(':').nth(1)?.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).expect("finite"));
    v[v.len() / 2]
}

/// One sync of a fresh node process from `source`; returns (seconds, peak RSS MiB, loopback MiB).
async fn sync_once(
    exe: &Path,
    genesis_path: &Path,
    source: &str,
    want: (String, String),
    metrics: bool,
) -> Result<(f64, f64, f64), BenchError> {
    let dir = tempfile::tempdir().map_err(setup)?;
    let free_port = || -> Result<u16, BenchError> {
        Ok(std::net::TcpListener::bind("127.0.0.1:0")
            .map_err(setup)?
            .local_addr()
            .map_err(setup)?
            .port())
    };
    let port = free_port()?;
    let metrics_port = free_port()?;
    let rx0 = loopback_rx_bytes();
    let start = Instant::now();
    let metrics_args = if metrics {
        vec![
            "--metrics-listen".to_string(),
            format!("127.0.0.1:{metrics_port}"),
        ]
    } else {
        Vec::new()
    };
    // With metrics on, they are scraped every second for the whole run, as the testnet's
    // Prometheus does.
    let scraper = metrics.then(|| tokio::spawn(scrape_every_second(metrics_port)));
    let mut child = Command::new(exe)
        .args([
            "run",
            "--log",
            "warn",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--peer",
            source,
        ])
        .args(&metrics_args)
        .arg("--data-dir")
        .arg(dir.path())
        .arg("--genesis")
        .arg(genesis_path)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(setup)?;
    let endpoint = format!("http://127.0.0.1:{port}");
    let mut rss: f64 = 0.0;
    let deadline = Instant::now() + Duration::from_secs(3600);
    let result = loop {
        rss = rss.max(peak_rss_mib(child.id()));
        if let Ok(channel) = tonic::transport::Endpoint::from_shared(endpoint.clone())
            .map_err(setup)?
            .connect()
            .await
        {
            let mut q = proto::node::v1::query_service_client::QueryServiceClient::new(channel);
            loop {
                match q.get_status(proto::node::v1::GetStatusRequest {}).await {
                    Ok(s) => {
                        let s = s.into_inner();
                        if s.head_hash == want.0 && s.state_root == want.1 {
                            break;
                        }
                    }
                    Err(e) => return Err(setup(format!("status: {e}"))),
                }
                rss = rss.max(peak_rss_mib(child.id()));
                if Instant::now() > deadline {
                    return Err(setup("sync did not finish within an hour"));
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            break start.elapsed().as_secs_f64();
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    rss = rss.max(peak_rss_mib(child.id()));
    let rx = loopback_rx_bytes().saturating_sub(rx0);
    if let Some(scraper) = scraper {
        scraper.abort();
    }
    let _ = child.kill();
    let _ = child.wait();
    Ok((result, rss, rx as f64 / (1024.0 * 1024.0)))
}

/// Fetches `GET /metrics` from 127.0.0.1:`port` every second until aborted (failures while the
/// node starts are ignored).
async fn scrape_every_second(port: u16) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        ticker.tick().await;
        if let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await {
            let request = "GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n";
            if s.write_all(request.as_bytes()).await.is_ok() {
                let mut sink = Vec::new();
                let _ = s.read_to_end(&mut sink).await;
            }
        }
    }
}

/// Header phase alone: download `blocks` headers over gRPC and validate them (links, schedule,
/// timestamps, batched signatures). Returns seconds.
async fn headers_once(ledger: &Ledger, source: &str, blocks: u64) -> Result<f64, BenchError> {
    let peer = GrpcPeer::new(source, GrpcTimeouts::default(), "bench").map_err(setup)?;
    let genesis = ledger
        .header_at(0)
        .map_err(setup)?
        .ok_or_else(|| setup("no genesis"))?;
    let rules = ledger.rules().clone();
    let start = Instant::now();
    let mut parent: Header = genesis;
    let mut parent_hash = parent.hash();
    let mut got = 0;
    while got < blocks {
        let headers = peer.headers(vec![parent_hash], 2048).await.map_err(setup)?;
        if headers.is_empty() {
            return Err(setup("source served no headers"));
        }
        let hashes = validate_headers(
            &rules,
            &parent,
            parent_hash,
            &headers,
            node::ledger::now_ms(),
        )
        .map_err(setup)?;
        parent_hash = *hashes.last().expect("validated runs are not empty");
        parent = headers
            .last()
            .expect("validated runs are not empty")
            .clone();
        got += headers.len() as u64;
    }
    Ok(start.elapsed().as_secs_f64())
}

/// Runs `cases` `runs` times each, with chains cached under `work`.
pub(crate) async fn run(
    cases: &[Case],
    runs: usize,
    work: &Path,
    exe: &Path,
    metrics: bool,
) -> Result<Report, BenchError> {
    let verify = verify_rates();
    eprintln!(
        "bench: ed25519 verify/s: single {:.0}, batch 1 core {:.0}, batch {} cores {:.0}",
        verify.single_one_core, verify.batch_one_core, verify.cores, verify.batch_all_cores
    );
    let mut results = Vec::new();
    for case in cases {
        let dir = work.join(format!("{}-{}x{}", case.name, case.blocks, case.transfers));
        std::fs::create_dir_all(&dir).map_err(setup)?;
        eprintln!(
            "bench: {}: generating {} blocks of {} transfers",
            case.name, case.blocks, case.transfers
        );
        let (g, generate_secs) = generate(&dir.join("source"), case)?;
        let genesis_path: PathBuf = dir.join("genesis.json");
        std::fs::write(&genesis_path, g.to_json()).map_err(setup)?;
        let mut config = NodeConfig::new(
            dir.join("source"),
            "127.0.0.1:0".parse().expect("addr"),
            g.clone(),
        );
        config.sync.peer_exchange = false;
        let source = node::Node::start(config).await.map_err(setup)?;
        let addr = source.local_addr().to_string();
        let head = source.ledger().head();
        let want = (
            node::chain::types::to_hex(&head.hash),
            node::chain::types::to_hex(&head.header.state_root),
        );
        let mut times = Vec::new();
        let mut rss: f64 = 0.0;
        let mut loopback = Vec::new();
        for run in 0..runs {
            let (secs, peak, lo) = if case.headers_only {
                (
                    headers_once(source.ledger(), &addr, case.blocks).await?,
                    0.0,
                    0.0,
                )
            } else {
                sync_once(exe, &genesis_path, &addr, want.clone(), metrics).await?
            };
            eprintln!(
                "bench: {} run {}: {secs:.2}s, peak RSS {peak:.0} MiB",
                case.name,
                run + 1
            );
            times.push(secs);
            rss = rss.max(peak);
            loopback.push(lo);
        }
        source.shutdown().await;
        let runs_secs = times.clone();
        let m = median(&mut times);
        let txs = case.blocks as f64 * f64::from(case.transfers);
        let sigs = if case.headers_only {
            case.blocks as f64
        } else {
            txs + case.blocks as f64
        };
        results.push(CaseResult {
            case: case.clone(),
            runs_secs,
            median_secs: m,
            blocks_per_sec: case.blocks as f64 / m,
            txs_per_sec: txs / m,
            sigs_per_sec: sigs / m,
            ratio_to_verify_limit: sigs / m / verify.batch_all_cores,
            peak_rss_mib: rss,
            loopback_mib: median(&mut loopback),
            generate_secs,
        });
    }
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into());
    Ok(Report {
        cpu,
        verify,
        cases: results,
    })
}

/// The report as a table.
pub(crate) fn table(r: &Report) -> String {
    let mut out = format!(
        "CPU: {} ({} cores)\ned25519 verify/s: single 1 core {:.0} | batch 1 core {:.0} | batch all cores {:.0}\n\n",
        r.cpu,
        r.verify.cores,
        r.verify.single_one_core,
        r.verify.batch_one_core,
        r.verify.batch_all_cores
    );
    out.push_str(&format!(
        "{:<10} {:>8} {:>6} {:>9} {:>10} {:>10} {:>10} {:>8} {:>9} {:>8}\n",
        "case",
        "blocks",
        "txs/b",
        "median s",
        "blocks/s",
        "txs/s",
        "sigs/s",
        "×limit",
        "RSS MiB",
        "lo MiB"
    ));
    for c in &r.cases {
        out.push_str(&format!(
            "{:<10} {:>8} {:>6} {:>9.2} {:>10.0} {:>10.0} {:>10.0} {:>8.2} {:>9.0} {:>8.1}\n",
            c.case.name,
            c.case.blocks,
            c.case.transfers,
            c.median_secs,
            c.blocks_per_sec,
            c.txs_per_sec,
            c.sigs_per_sec,
            c.ratio_to_verify_limit,
            c.peak_rss_mib,
            c.loopback_mib
        ));
    }
    out
}
