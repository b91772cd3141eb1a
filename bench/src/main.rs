//! `luxtensor-bench`: benchmarks that measure the `luxtensor` node binary from outside, as reth's
//! `reth-bench` does. `sync` builds source chains with the node library, serves them from an
//! in-process node, and times a separate `luxtensor` process catching up over gRPC.

mod sync;

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

/// LuxTensor benchmarks.
#[derive(Debug, Parser)]
#[command(name = "luxtensor-bench", version, about = "LuxTensor benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Sync catch-up over gRPC on loopback: prints a table and writes JSON.
    Sync(SyncArgs),
}

#[derive(Debug, Args)]
struct SyncArgs {
    /// Cases to run: empty (20,000 empty blocks), transfers (2,000 × 1,000 transfers), headers
    /// (100,000 headers, header phase alone), long (200,000 blocks, for memory).
    #[arg(
        long,
        env = "LUXTENSOR_BENCH_CASES",
        value_delimiter = ',',
        default_value = "empty,transfers,headers,long"
    )]
    cases: Vec<String>,
    /// Runs per case (the median is reported).
    #[arg(long, env = "LUXTENSOR_BENCH_RUNS", default_value_t = 3)]
    runs: usize,
    /// Multiplies every case's block count (e.g. 0.1 for a quick look).
    #[arg(long, env = "LUXTENSOR_BENCH_SCALE", default_value_t = 1.0)]
    scale: f64,
    /// Where source chains are generated and kept between runs.
    #[arg(long, env = "LUXTENSOR_BENCH_WORK", default_value = "bench-data")]
    work: PathBuf,
    /// JSON report path.
    #[arg(long, env = "LUXTENSOR_BENCH_OUT", default_value = "bench-sync.json")]
    out: PathBuf,
    /// The `luxtensor` binary whose sync is measured (default: the one next to this binary, as
    /// `cargo build --release` leaves it).
    #[arg(long, env = "LUXTENSOR_NODE_BIN")]
    node_bin: Option<PathBuf>,
    /// Run the syncing node with its Prometheus metrics on, scraped every second.
    #[arg(long, env = "LUXTENSOR_BENCH_NODE_METRICS")]
    node_metrics: bool,
}

fn node_binary(given: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = match given {
        Some(p) => p,
        None => std::env::current_exe()?
            .parent()
            .context("this binary has no directory")?
            .join("luxtensor"),
    };
    if !path.is_file() {
        bail!(
            "node binary {} not found: build it first (`cargo build --release --locked --bins`) \
             or pass --node-bin",
            path.display()
        );
    }
    Ok(path)
}

async fn bench_sync(args: SyncArgs) -> anyhow::Result<()> {
    let scaled = |n: u64| ((n as f64 * args.scale).round() as u64).max(1);
    let mut cases = Vec::new();
    for name in &args.cases {
        let (blocks, transfers, accounts, headers_only) = match name.as_str() {
            "empty" => (20_000, 0, 2, false),
            "transfers" => (2_000, 1_000, 1_000, false),
            "headers" => (100_000, 0, 2, true),
            "long" => (200_000, 0, 2, false),
            other => bail!("unknown case {other:?} (empty, transfers, headers, long)"),
        };
        cases.push(sync::Case {
            name: name.clone(),
            blocks: scaled(blocks),
            transfers,
            accounts,
            headers_only,
        });
    }
    let exe = node_binary(args.node_bin)?;
    std::fs::create_dir_all(&args.work)?;
    let report = sync::run(
        &cases,
        args.runs.max(1),
        &args.work,
        &exe,
        args.node_metrics,
    )
    .await?;
    print!("{}", sync::table(&report));
    std::fs::write(&args.out, serde_json::to_string_pretty(&report)? + "\n")?;
    println!("\nJSON written to {}", args.out.display());
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sync(args) => bench_sync(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
