//! The `luxtensor` binary: parse the command line, then run a node or a client command.

mod commands;
mod report;

use clap::Parser;
use node::cli::{Cli, Command, GenesisCommand, KeysCommand, TestnetCommand, TxCommand};

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => commands::run(*args).await,
        Command::Keys(KeysCommand::Generate { out }) => commands::keys_generate(&out),
        Command::Genesis(GenesisCommand::New(args)) => commands::genesis_new(&args),
        Command::Status(args) => commands::status(&args).await,
        Command::Block(args) => commands::block(&args).await,
        Command::Account(args) => commands::account(&args).await,
        Command::Health(args) => commands::health(&args).await,
        Command::Testnet(TestnetCommand::Run(args)) => commands::testnet_run(&args).await,
        Command::Testnet(TestnetCommand::Verify(args)) => commands::testnet_verify(&args).await,
        Command::Tx(TxCommand::Send(args)) => commands::tx_send(&args).await,
        Command::Tx(TxCommand::Get(args)) => commands::tx_get(&args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
