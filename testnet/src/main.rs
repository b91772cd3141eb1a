//! `luxtensor-testnet`: generates a manifest's deployment files (`generate`), or checks that the
//! committed ones are what the manifest gives (`generate --check`, as CI does), and runs a
//! manifest under Docker Compose (`run`: phases start, load, perturb, wait, verify; exit status 1
//! when an assertion fails).

use std::path::PathBuf;

use anyhow::bail;
use clap::{Parser, Subcommand};
use testnet::Target;

/// Testnets as code.
#[derive(Debug, Parser)]
#[command(name = "luxtensor-testnet", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where `run` runs a manifest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum RunTarget {
    /// Docker Compose (`docker compose` v2).
    Compose,
    /// A single-node Docker Swarm (`docker stack deploy`).
    Swarm,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Writes the deployment files of a manifest for a target.
    Generate {
        /// What to generate.
        #[arg(value_enum)]
        target: Target,
        /// The manifest, relative to --root (e.g. deploy/testnets/demo.toml).
        manifest: String,
        /// The repository root: paths in manifests and outputs are relative to it.
        #[arg(long, env = "LUXTENSOR_TESTNET_ROOT", default_value = ".")]
        root: PathBuf,
        /// Write nothing; fail when a file differs from what the manifest gives.
        #[arg(long)]
        check: bool,
    },
    /// Runs a manifest under Docker Compose: starts its nodes (late joiners when the head reaches
    /// their `start_at`), sends its load, applies its perturbations, checks its assertions, and
    /// removes the network afterwards.
    Run {
        /// The manifest, relative to --root (e.g. deploy/testnets/ci.toml).
        manifest: String,
        /// Where it runs: `compose`, or `swarm` (a single-node swarm this Docker engine manages).
        #[arg(
            long,
            value_enum,
            env = "LUXTENSOR_TESTNET_TARGET",
            default_value = "compose"
        )]
        target: RunTarget,
        /// Swarm: after the run passed, scale the `followers` service to N full nodes and check
        /// that each holds the converged chain.
        #[arg(long, env = "LUXTENSOR_TESTNET_SCALE_FOLLOWERS", default_value_t = 0)]
        scale_followers: u32,
        /// The repository root.
        #[arg(long, env = "LUXTENSOR_TESTNET_ROOT", default_value = ".")]
        root: PathBuf,
        /// Compose project or Swarm stack name (default: luxtensor-testnet-<network>).
        #[arg(long, env = "LUXTENSOR_TESTNET_PROJECT")]
        project: Option<String>,
        /// Replaces the random schedule's seed (the run prints the one it used).
        #[arg(long, env = "LUXTENSOR_TESTNET_SEED")]
        seed: Option<u64>,
        /// The node image (default: the compose file's, luxtensor-node:dev).
        #[arg(long, env = "LUXTENSOR_IMAGE")]
        image: Option<String>,
        /// Leave the network running afterwards (remove it with `docker compose -p PROJECT -f
        /// FILE down -v`).
        #[arg(long, env = "LUXTENSOR_TESTNET_KEEP")]
        keep: bool,
        /// No live table, only events and the report.
        #[arg(long, env = "LUXTENSOR_TESTNET_QUIET")]
        quiet: bool,
    },
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Generate {
            target,
            manifest,
            root,
            check,
        } => generate(target, &manifest, &root, check),
        Command::Run {
            manifest,
            target,
            scale_followers,
            root,
            project,
            seed,
            image,
            keep,
            quiet,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let opts = testkit::runner::RunOptions {
                seed,
                events: true,
                live: !quiet,
            };
            let passed = runtime.block_on(async {
                match target {
                    RunTarget::Compose => run(&manifest, &root, project, image, keep, &opts).await,
                    RunTarget::Swarm => {
                        run_swarm(
                            &manifest,
                            &root,
                            project,
                            image,
                            keep,
                            &opts,
                            scale_followers,
                        )
                        .await
                    }
                }
            })?;
            if !passed {
                std::process::exit(1);
            }
            Ok(())
        }
    }
}

fn write_outputs(outputs: &[testnet::Output], root: &std::path::Path) -> anyhow::Result<()> {
    for o in outputs {
        let path = root.join(&o.path);
        if std::fs::read(&path).is_ok_and(|b| b == o.bytes) {
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, &o.bytes)?;
        println!("wrote {}", o.path);
    }
    Ok(())
}

async fn run(
    manifest: &str,
    root: &std::path::Path,
    project: Option<String>,
    image: Option<String>,
    keep: bool,
    opts: &testkit::runner::RunOptions,
) -> anyhow::Result<bool> {
    let outputs = testnet::generate(Target::Compose, root, manifest)?;
    write_outputs(&outputs, root)?;
    let m = testnet::load_manifest(root, manifest)?;
    let project = project.unwrap_or_else(|| format!("luxtensor-testnet-{}", m.network.name));
    let file = root.join(m.compose_path());
    let mut backend = testnet::compose_backend::ComposeBackend::new(
        &project,
        file.clone(),
        &m.network.control_token,
        image,
    )?;
    println!(
        "running {manifest}: {} nodes under docker compose, project {project}, file {}",
        m.nodes.len(),
        m.compose_path()
    );
    // A killed earlier run may have left the project behind.
    backend.down().await.map_err(anyhow::Error::msg)?;
    let report = tokio::select! {
        r = testkit::runner::run(&m, &mut backend, opts) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let passed = match &report {
        Some(r) => {
            print!("{}", r.render());
            r.passed()
        }
        None => {
            println!("interrupted");
            false
        }
    };
    if keep {
        println!(
            "kept: docker compose -p {project} -f {} down -v removes it",
            m.compose_path()
        );
    } else if let Err(e) = backend.down().await {
        eprintln!("{e}");
    }
    Ok(passed)
}

async fn run_swarm(
    manifest: &str,
    root: &std::path::Path,
    stack: Option<String>,
    image: Option<String>,
    keep: bool,
    opts: &testkit::runner::RunOptions,
    followers: u32,
) -> anyhow::Result<bool> {
    let state = std::process::Command::new("docker")
        .args(["info", "--format", "{{.Swarm.LocalNodeState}}"])
        .output()?;
    let state = String::from_utf8_lossy(&state.stdout).trim().to_string();
    if state != "active" {
        bail!(
            "this Docker engine is not in a swarm (state {state:?}): `docker swarm init --advertise-addr 127.0.0.1` makes it a single-node one"
        );
    }
    let outputs = testnet::generate(Target::Swarm, root, manifest)?;
    write_outputs(&outputs, root)?;
    let m = testnet::load_manifest(root, manifest)?;
    let stack = stack.unwrap_or_else(|| format!("luxtensor-testnet-{}", m.network.name));
    let path = testnet::swarm::stack_path(&m.network.name);
    let mut backend =
        testnet::swarm_backend::SwarmBackend::new(&stack, root.join(&path), m.clone(), image)?;
    println!(
        "running {manifest}: {} nodes on Docker Swarm, stack {stack}, file {path}",
        m.nodes.len()
    );
    backend.remove().await.map_err(anyhow::Error::msg)?;
    let report = tokio::select! {
        r = testkit::runner::run(&m, &mut backend, opts) => Some(r),
        _ = tokio::signal::ctrl_c() => None,
    };
    let Some(report) = report else {
        println!("interrupted");
        let _ = backend.remove().await;
        return Ok(false);
    };
    print!("{}", report.render());
    let mut passed = report.passed();
    if let (true, Some(c)) = (passed && followers > 0, &report.converged) {
        println!(
            "scale: docker service scale {stack}_{}={followers}; each must hold block {} ({})",
            testnet::swarm::FOLLOWERS,
            c.height,
            c.head_hash
        );
        let within = std::time::Duration::from_secs(180);
        match backend
            .scale_followers(followers, c.height, &c.head_hash, within)
            .await
        {
            Ok(times) => println!(
                "PASS {followers} scaled followers hold the converged chain (after {})",
                times
                    .iter()
                    .map(|t| format!("{:.1}s", t.as_secs_f64()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Err(e) => {
                println!("FAIL scaled followers: {e}");
                passed = false;
            }
        }
    }
    if keep {
        println!("kept: docker stack rm {stack} removes it");
    } else if let Err(e) = backend.remove().await {
        eprintln!("{e}");
    }
    Ok(passed)
}

fn generate(
    target: Target,
    manifest: &str,
    root: &std::path::Path,
    check: bool,
) -> anyhow::Result<()> {
    let outputs = testnet::generate(target, root, manifest)?;
    let mut differ = Vec::new();
    for o in &outputs {
        let path = root.join(&o.path);
        let same = std::fs::read(&path).is_ok_and(|b| b == o.bytes);
        if check {
            if !same {
                differ.push(o.path.clone());
            }
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, &o.bytes)?;
        println!("{} {}", if same { "unchanged" } else { "wrote" }, o.path);
    }
    if !differ.is_empty() {
        bail!(
            "{} differ from what {manifest} gives: {} (run without --check to regenerate)",
            differ.len(),
            differ.join(", ")
        );
    }
    if check {
        println!("{} files match {manifest}", outputs.len());
    }
    Ok(())
}
