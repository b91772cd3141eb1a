//! `luxtensor-testnet`: generates a manifest's deployment files (`generate`), or checks that the
//! committed ones are what the manifest gives (`generate --check`, as CI does).

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
}

fn main() -> anyhow::Result<()> {
    let Command::Generate {
        target,
        manifest,
        root,
        check,
    } = Cli::parse().command;
    let outputs = testnet::generate(target, &root, &manifest)?;
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
