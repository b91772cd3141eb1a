//! The binary's commands. `anyhow` lives here, at the edge; everything below returns typed errors.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use node::chain::genesis::{GenesisAccount, GenesisValidator};
use node::chain::types::parse_hex;
use node::chain::{Address, Genesis, crypto::Keypair};
use node::cli::{
    AccountArgs, BlockArgs, ClientArgs, GenesisArgs, OutputFormat, RunArgs, TxGetArgs, TxSendArgs,
};
use node::config::{self, NodeConfig};
use node::ledger::now_ms;
use node::state::verify_proof;
use proto::node::v1 as api;
use proto::node::v1::query_service_client::QueryServiceClient as QueryClient;
use proto::node::v1::transaction_service_client::TransactionServiceClient;
use tonic::transport::Channel;

use crate::report;

/// `run`: start a node and serve until ctrl-c or SIGTERM.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&args.log).context("--log filter")?;
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(true);
    match args.log_format {
        node::cli::LogFormat::Text => logs
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
            .init(),
        // One JSON object per line (timestamp, level, target, fields, span context).
        node::cli::LogFormat::Json => logs.json().with_ansi(false).init(),
    }
    let genesis = config::read_genesis(&args.genesis)?;
    let mut config = NodeConfig::new(args.data_dir, args.listen, genesis);
    config.advertise = args.advertise;
    config.validator_key = args
        .validator_key
        .as_deref()
        .map(config::read_key)
        .transpose()?;
    config.peers = args
        .peers
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .collect();
    config.paused = args.paused;
    config.metrics_listen = args.metrics_listen;
    config.slot_transfers = args.slot_transfers;
    config.max_block_txs = args.max_block_txs;
    config.mempool_limit = args.mempool_limit;
    config.control_token = args.control_token;
    config.limits.max_connections = args.max_connections;
    config.limits.first_byte_timeout = args.first_byte_timeout;
    config.min_free_disk_mib = args.min_free_disk_mib;
    config.max_future_drift_ms = args.max_future_drift_ms;
    config.misbehave = args.misbehave;
    config.ban_duration = args.ban_duration;
    config.timeouts.stall = args.stall_timeout;
    config.sync.peer_exchange = !args.no_peer_exchange;
    if config.control_token.is_none() {
        tracing::info!(target: "node", "no --control-token: the control API is not served");
    }
    let node = node::Node::start(config).await?;
    let stopped = node.cancellation();
    tokio::select! {
        _ = shutdown_signal() => tracing::info!(target: "node", "shutting down"),
        _ = stopped.cancelled() => tracing::error!(target: "node", "a node task failed; shutting down"),
    }
    node.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = tokio::signal::ctrl_c().await;
}

/// `keys generate`.
pub(crate) fn keys_generate(out: &Path) -> anyhow::Result<()> {
    if out.exists() {
        bail!("{} exists; refusing to overwrite a key", out.display());
    }
    let kp = Keypair::generate();
    config::write_key(out, &kp)?;
    println!(
        "public key: {}\naddress:    {}\nwritten to: {}",
        kp.public(),
        kp.public().address(),
        out.display()
    );
    Ok(())
}

/// `genesis new`.
pub(crate) fn genesis_new(args: &GenesisArgs) -> anyhow::Result<()> {
    let mut validators = Vec::new();
    for entry in &args.validators {
        let (path, stake) = match entry.rsplit_once('=') {
            Some((path, stake)) => (
                path,
                stake
                    .parse()
                    .with_context(|| format!("--validator {entry:?}: stake is not a number"))?,
            ),
            None => (entry.as_str(), 1),
        };
        let public_key = config::read_key(Path::new(path))?.public().to_string();
        validators.push(if stake == 1 {
            GenesisValidator::Key(public_key)
        } else {
            GenesisValidator::Staked { public_key, stake }
        });
    }
    let mut accounts = Vec::new();
    for entry in &args.fund {
        let (who, balance) = entry
            .rsplit_once('=')
            .with_context(|| format!("--fund {entry:?}: expected WHO=BALANCE"))?;
        let balance: u64 = balance
            .parse()
            .with_context(|| format!("--fund {entry:?}: balance is not a number"))?;
        let address = if who.starts_with("0x") {
            Address::from_hex(who)?
        } else {
            config::read_key(Path::new(who))?.public().address()
        };
        accounts.push(GenesisAccount {
            address: address.to_string(),
            balance,
        });
    }
    for i in 0..args.dev_accounts {
        let address = node::chain::genesis::dev_keypair(args.chain_id, i)
            .public()
            .address();
        accounts.push(GenesisAccount {
            address: address.to_string(),
            balance: args.dev_balance,
        });
    }
    let genesis = Genesis {
        chain_id: args.chain_id,
        genesis_time_ms: args.genesis_time_ms.unwrap_or_else(now_ms),
        slot_ms: args.slot_ms,
        validators,
        accounts,
        dev_accounts: args.dev_accounts,
    };
    genesis.spec()?;
    std::fs::write(&args.out, genesis.to_json() + "\n")
        .with_context(|| format!("writing {}", args.out.display()))?;
    println!(
        "genesis for chain {} written to {}",
        genesis.chain_id,
        args.out.display()
    );
    Ok(())
}

async fn connect(args: &ClientArgs) -> anyhow::Result<Channel> {
    let endpoint = tonic::transport::Endpoint::from_shared(args.node.clone())
        .with_context(|| {
            format!(
                "--node {:?} is not a URL like http://127.0.0.1:50051",
                args.node
            )
        })?
        .connect_timeout(Duration::from_secs(3))
        .timeout(Duration::from_secs(30));
    endpoint
        .connect()
        .await
        .with_context(|| format!("connecting to {}", args.node))
}

/// `status`.
pub(crate) async fn status(args: &ClientArgs) -> anyhow::Result<()> {
    let mut client = QueryClient::new(connect(args).await?);
    let s = client
        .get_status(api::GetStatusRequest {})
        .await?
        .into_inner();
    if args.output == OutputFormat::Json {
        report::print(&report::status(&s));
        return Ok(());
    }
    println!("chain id:     {}", s.chain_id);
    println!("genesis:      {}", s.genesis_hash);
    println!("height:       {}", s.height);
    println!("head:         {}", s.head_hash);
    println!("state root:   {}", s.state_root);
    println!(
        "slot:         {} (head), {} (now)",
        s.head_slot, s.current_slot
    );
    println!("finalized:    {} {}", s.finalized_height, s.finalized_hash);
    println!("reorgs:       {}", s.reorgs);
    if s.evidence_count > 0 {
        println!("evidence:     {} equivocation(s)", s.evidence_count);
    }
    println!("syncing:      {} (target {})", s.syncing, s.sync_target);
    println!(
        "validator:    {}",
        if s.validator.is_empty() {
            "no"
        } else {
            &s.validator
        }
    );
    if !s.validator.is_empty() {
        println!(
            "production:   {}",
            if s.production_paused {
                "paused"
            } else {
                "in its slots"
            }
        );
    }
    println!("mempool:      {}", s.mempool_size);
    println!("peers:        {}", s.peers.len());
    for p in &s.peers {
        println!(
            "  {:<24} {:<12} height {:<8} score {:<5} {}",
            p.address,
            peer_state(p.state()),
            p.height,
            p.score,
            if p.banned_for_secs > 0 {
                format!("banned {}s", p.banned_for_secs)
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

/// A peer state as a short lower-case word.
fn peer_state(s: api::PeerState) -> String {
    s.as_str_name()
        .trim_start_matches("PEER_STATE_")
        .to_lowercase()
}

/// `block`.
pub(crate) async fn block(args: &BlockArgs) -> anyhow::Result<()> {
    let mut client = QueryClient::new(connect(&args.client).await?);
    let id = match (&args.height, &args.hash) {
        (_, Some(hash)) => api::get_block_request::Id::Hash(hash.clone()),
        (Some(h), None) => api::get_block_request::Id::Height(*h),
        (None, None) => api::get_block_request::Id::Height(
            client
                .get_status(api::GetStatusRequest {})
                .await?
                .into_inner()
                .height,
        ),
    };
    let block = client
        .get_block(api::GetBlockRequest { id: Some(id) })
        .await?
        .into_inner()
        .block
        .context("node returned no block")?;
    let h = block
        .header
        .context("node returned a block without a header")?;
    if args.client.output == OutputFormat::Json {
        report::print(&report::block(&h, &block.transactions));
        return Ok(());
    }
    println!("height:       {}", h.height);
    println!("hash:         {}", h.hash);
    println!("parent:       {}", h.parent_hash);
    println!("timestamp:    {} ms", h.timestamp_ms);
    println!("producer:     {}", h.producer);
    println!("tx root:      {}", h.tx_root);
    println!("state root:   {}", h.state_root);
    println!("transactions: {}", h.tx_count);
    for tx in &block.transactions {
        println!(
            "  {} {} -> {} amount {} fee {} nonce {}",
            tx.hash, tx.sender, tx.recipient, tx.amount, tx.fee, tx.nonce
        );
    }
    Ok(())
}

/// `account`.
pub(crate) async fn account(args: &AccountArgs) -> anyhow::Result<()> {
    let address = Address::from_hex(&args.address)?;
    let mut client = QueryClient::new(connect(&args.client).await?);
    let a = client
        .get_account(api::GetAccountRequest {
            address: args.address.clone(),
            height: args.height,
            include_proof: args.proof,
        })
        .await?
        .into_inner();
    let json = args.client.output == OutputFormat::Json;
    if !json {
        println!("address:      {}", a.address);
        println!("balance:      {}", a.balance);
        println!("nonce:        {}", a.nonce);
        println!("at height:    {} (state root {})", a.height, a.state_root);
    }
    if args.proof {
        let root = parse_hex::<32>("state root", &a.state_root)?;
        let nodes: Vec<Vec<u8>> = a
            .proof
            .iter()
            .map(|n| hex::decode(n.trim_start_matches("0x")))
            .collect::<Result<_, _>>()
            .context("proof node is not hex")?;
        let key = node::state::account::account_key(&address);
        let proven = verify_proof(&root, &key, &nodes).context("proof does not verify")?;
        let expected = a.exists.then(|| {
            node::state::Account {
                nonce: a.nonce,
                balance: a.balance,
            }
            .encode()
        });
        if proven != expected {
            bail!(
                "proof proves {:?}, not the reported account",
                proven.map(hex::encode)
            );
        }
        if !json {
            println!(
                "proof:        {} nodes, verified against the state root",
                nodes.len()
            );
        }
    }
    if json {
        report::print(&report::account(&a, args.proof.then_some(true)));
    }
    Ok(())
}

/// `health`: exit 0 only when the node reports SERVING.
pub(crate) async fn health(args: &ClientArgs) -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let mut client = tonic_health::pb::health_client::HealthClient::new(connect(args).await?);
    let status = client
        .check(tonic_health::pb::HealthCheckRequest {
            service: String::new(),
        })
        .await?
        .into_inner()
        .status();
    if status != ServingStatus::Serving {
        bail!("node is {}", status.as_str_name());
    }
    if args.output == OutputFormat::Json {
        report::print(&serde_json::json!({ "status": "SERVING" }));
        return Ok(());
    }
    println!("SERVING");
    Ok(())
}

/// `testnet run`: the demo phases (and the live table unless `--once`).
pub(crate) async fn testnet_verify(args: &node::cli::TestnetVerifyArgs) -> anyhow::Result<()> {
    let mut clients = Vec::new();
    for entry in &args.nodes {
        let (name, endpoint) = entry
            .split_once('=')
            .with_context(|| format!("--nodes entry {entry:?} is not NAME=ENDPOINT"))?;
        clients.push(testkit::NodeClient::new(name, endpoint, None, None)?);
    }
    let refs: Vec<&testkit::NodeClient> = clients.iter().collect();
    println!(
        "verify: {} nodes must finalize height {} and be equal within {:?}",
        refs.len(),
        args.min_height,
        args.timeout
    );
    let c = testkit::converge_final(&refs, args.min_height, args.timeout).await?;
    println!(
        "RESULT: equal: {} nodes, {} blocks and {} accounts compared up to finalized height {} (head {}, state root {})",
        refs.len(),
        c.blocks_compared,
        c.accounts_compared,
        c.height,
        c.head_hash,
        c.state_root
    );
    Ok(())
}

pub(crate) async fn testnet_run(args: &node::cli::TestnetArgs) -> anyhow::Result<()> {
    if args.nodes.len() != 3 {
        bail!(
            "--nodes needs exactly three NAME=ENDPOINT entries (validator, follower, late joiner)"
        );
    }
    let mut clients = Vec::new();
    for (i, entry) in args.nodes.iter().enumerate() {
        let (name, endpoint) = entry
            .split_once('=')
            .with_context(|| format!("--nodes entry {entry:?} is not NAME=ENDPOINT"))?;
        let peer = if i == 0 {
            args.peer_address.as_deref()
        } else {
            None
        };
        clients.push(testkit::NodeClient::new(
            name,
            endpoint,
            peer,
            Some(&args.control_token),
        )?);
    }
    let dashboard = match args.dashboard {
        Some(addr) => {
            let d = testkit::dashboard::Dashboard::start(addr, clients.clone()).await?;
            println!("dashboard: http://{}/", d.addr);
            Some(d)
        }
        None => None,
    };
    let [a, b, c]: [testkit::NodeClient; 3] = clients.try_into().expect("three clients");
    let demo = testkit::demo::Demo {
        board: dashboard.as_ref().map(|d| d.board.clone()),
        a,
        b,
        c,
        timeout: args.timeout,
        interval: args.interval,
        once: args.once,
    };
    demo.run().await?;
    Ok(())
}

/// `tx send`: sign a transfer, submit it, wait for a canonical block to include it.
pub(crate) async fn tx_send(args: &TxSendArgs) -> anyhow::Result<()> {
    let to = Address::from_hex(&args.to).context("--to")?;
    let channel = connect(&args.client).await?;
    let mut query = QueryClient::new(channel.clone());
    let status = query
        .get_status(api::GetStatusRequest {})
        .await
        .context("GetStatus")?
        .into_inner();
    let key = match (&args.key, args.from_dev) {
        (Some(path), _) => config::read_key(path)?,
        (None, Some(index)) => node::chain::genesis::dev_keypair(status.chain_id, index),
        (None, None) => bail!("give --key FILE or --from-dev INDEX"),
    };
    let sender = key.public().address();
    // The signature is bound to the network: its genesis hash is part of the signed message.
    let genesis_hash = parse_hex::<32>("the node's genesis hash", &status.genesis_hash)?;
    let mut transactions = TransactionServiceClient::new(channel);
    // With the nonce left to us, a block that takes the sender's next nonce between our read and
    // our submission (a validator generating transfers, another client) makes us read it again.
    let mut attempts = 0;
    let (hash, nonce) = loop {
        attempts += 1;
        let nonce = match args.nonce {
            Some(n) => n,
            None => {
                query
                    .get_account(api::GetAccountRequest {
                        address: sender.to_string(),
                        height: None,
                        include_proof: false,
                    })
                    .await
                    .map_err(describe_status)
                    .context("GetAccount of the sender")?
                    .into_inner()
                    .nonce
            }
        };
        let mut tx = node::chain::Transaction {
            chain_id: status.chain_id,
            sender: key.public(),
            nonce,
            recipient: to,
            amount: args.amount,
            fee: args.fee,
            signature: Default::default(),
        };
        tx.signature = key.sign(&tx.signing_message(&genesis_hash));
        let submitted = transactions
            .submit_transaction(api::SubmitTransactionRequest {
                transaction: Some(node::rpc::convert::tx_to_api(&tx)),
            })
            .await;
        match submitted {
            Ok(reply) => break (reply.into_inner().hash, nonce),
            Err(s) if args.nonce.is_none() && attempts < 5 && reason_of(&s) == "NONCE_TOO_LOW" => {
                continue;
            }
            Err(s) => return Err(describe_status(s)).context("SubmitTransaction"),
        }
    };
    let json = args.client.output == OutputFormat::Json;
    let mut sent = serde_json::json!({
        "hash": hash,
        "sender": sender.to_string(),
        "nonce": nonce,
        "recipient": to.to_string(),
        "amount": args.amount,
        "fee": args.fee,
        "included": null,
    });
    if !json {
        println!("submitted:    {hash}");
        println!("from:         {sender} (nonce {nonce})");
        println!("to:           {to}");
        println!("amount:       {} (fee {})", args.amount, args.fee);
    }
    if args.wait.is_zero() {
        if json {
            report::print(&sent);
        }
        return Ok(());
    }
    let deadline = std::time::Instant::now() + args.wait;
    loop {
        match query
            .get_transaction(api::GetTransactionRequest { hash: hash.clone() })
            .await
        {
            Ok(info) if !info.get_ref().pending => {
                let info = info.into_inner();
                if json {
                    sent["included"] = serde_json::json!({
                        "block_hash": info.block_hash,
                        "height": info.height,
                        "index": info.index,
                    });
                    report::print(&sent);
                } else {
                    println!(
                        "included:     block {} at height {}",
                        info.block_hash, info.height
                    );
                }
                return Ok(());
            }
            // Pending in the node's mempool (or not even that yet): keep waiting.
            Ok(_) => {}
            Err(s) if s.code() == tonic::Code::NotFound => {}
            Err(s) => return Err(describe_status(s)).context("GetTransaction"),
        }
        if std::time::Instant::now() >= deadline {
            if json {
                // The hash is the script's handle on the transaction: print it anyway.
                report::print(&sent);
            }
            bail!(
                "not included within {} (it may still be pending: a validator must produce a block)",
                humantime::format_duration(args.wait)
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `tx get`.
pub(crate) async fn tx_get(args: &TxGetArgs) -> anyhow::Result<()> {
    let mut client = QueryClient::new(connect(&args.client).await?);
    let info = client
        .get_transaction(api::GetTransactionRequest {
            hash: args.hash.clone(),
        })
        .await
        .map_err(describe_status)?
        .into_inner();
    let tx = info
        .transaction
        .clone()
        .context("node returned no transaction")?;
    if args.client.output == OutputFormat::Json {
        report::print(&report::tx_info(&info, &tx));
        return Ok(());
    }
    println!("hash:         {}", tx.hash);
    println!("from:         {} (nonce {})", tx.sender, tx.nonce);
    println!("to:           {}", tx.recipient);
    println!("amount:       {} (fee {})", tx.amount, tx.fee);
    if info.pending {
        println!("included:     not yet (pending in the node's mempool)");
    } else {
        println!(
            "included:     block {} at height {} (index {})",
            info.block_hash, info.height, info.index
        );
    }
    Ok(())
}

/// The `ErrorInfo` reason of a status, or "".
fn reason_of(s: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    s.get_details_error_info()
        .map(|i| i.reason)
        .unwrap_or_default()
}

/// A gRPC error with its `ErrorInfo` reason and values, for people.
fn describe_status(s: tonic::Status) -> anyhow::Error {
    use tonic_types::StatusExt;
    match s.get_details_error_info() {
        Some(info) => {
            let mut values: Vec<String> = info
                .metadata
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            values.sort();
            anyhow::anyhow!(
                "{} ({:?}, reason {}{}{})",
                s.message(),
                s.code(),
                info.reason,
                if values.is_empty() { "" } else { ": " },
                values.join(", ")
            )
        }
        None => anyhow::anyhow!("{} ({:?})", s.message(), s.code()),
    }
}
