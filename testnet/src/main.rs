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
        /// The repository root.
        #[arg(long, env = "LUXTENSOR_TESTNET_ROOT", default_value = ".")]
        root: PathBuf,
        /// Compose project name (default: luxtensor-<network>).
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
            root,
            project,
            seed,
            image,
            keep,
            quiet,
        } => {
            let runtime = tokio::runtime::Runtime::new()?;
            let passed =
                runtime.block_on(run(&manifest, &root, project, seed, image, keep, quiet))?;
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
    seed: Option<u64>,
    image: Option<String>,
    keep: bool,
    quiet: bool,
) -> anyhow::Result<bool> {
    let outputs = testnet::generate(Target::Compose, root, manifest)?;
    write_outputs(&outputs, root)?;
    let m = testnet::load_manifest(root, manifest)?;
    let project = project.unwrap_or_else(|| format!("luxtensor-{}", m.network.name));
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
    backend.down().map_err(anyhow::Error::msg)?;
    let opts = testkit::runner::RunOptions { seed, live: !quiet };
    let report = tokio::select! {
        r = testkit::runner::run(&m, &mut backend, &opts) => Some(r),
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
    } else if let Err(e) = backend.down() {
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
