//! [`PeerClient`] over gRPC (tonic). Channels connect lazily; every call has a deadline; every
//! stream has a per-message stall timeout *and* a throughput floor (after a short grace, a stream
//! must keep delivering at least `min_throughput` bytes per second, so a peer that drips data
//! just under the stall timeout is cut off after two seconds); replies are checked against the
//! request's bounds before the engine sees them.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use futures::stream::BoxStream;
use prost::Message;
use proto::sync::v1 as wire;
use proto::sync::v1::sync_service_client::SyncServiceClient;
use tonic::transport::{Channel, Endpoint};

use super::peer::{
    Connector, MAX_BODIES_PER_REQUEST, MAX_PEER_ADDRESSES, MAX_PUSH_TRANSACTIONS, PeerClient,
    PeerError, PeerStatus,
};
use super::wire::{
    MAX_MESSAGE_BYTES, MAX_REQUEST_BYTES, NODE_ID_METADATA, header_from_wire, status_from_wire,
    status_to_wire, tx_from_wire, tx_to_wire,
};
use crate::chain::types::to_array;
use crate::chain::{Hash, Header, Transaction};

/// Most transactions accepted in one body.
pub const MAX_BODY_TXS: usize = 100_000;

/// HTTP/2 ping interval on connections to peers.
pub const PEER_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
/// A peer connection whose ping is not answered within this is closed.
pub const PEER_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Timeouts for gRPC peers.
#[derive(Clone, Debug)]
pub struct GrpcTimeouts {
    /// Connection establishment.
    pub connect: Duration,
    /// Unary calls and the first message of a stream.
    pub request: Duration,
    /// Gap allowed between two stream messages.
    pub stall: Duration,
    /// Bytes per second a stream must average once `throughput_grace` has passed.
    pub min_throughput: u64,
    /// How long a stream may run before its throughput is judged.
    pub throughput_grace: Duration,
}

impl Default for GrpcTimeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            request: Duration::from_secs(10),
            stall: Duration::from_secs(5),
            min_throughput: 16 * 1024,
            throughput_grace: Duration::from_secs(2),
        }
    }
}

/// Bytes received on one stream since it started, and when it must have delivered more.
struct Meter {
    started: Instant,
    bytes: u64,
}

impl Meter {
    fn start() -> Self {
        Self {
            started: Instant::now(),
            bytes: 0,
        }
    }

    /// When the average would fall below `min` bytes/s without another message (never before
    /// the grace period ends).
    fn deadline(&self, t: &GrpcTimeouts) -> Instant {
        let earned = Duration::from_secs_f64(self.bytes as f64 / t.min_throughput.max(1) as f64);
        self.started + earned.max(t.throughput_grace)
    }
}

/// Connects to peers over gRPC.
#[derive(Clone, Debug)]
pub struct GrpcConnector {
    /// Timeouts for every peer.
    pub timeouts: GrpcTimeouts,
    /// Our node id, sent as metadata.
    pub node_id: String,
}

impl Connector for GrpcConnector {
    fn connect(&self, address: &str) -> Result<Arc<dyn PeerClient>, PeerError> {
        Ok(Arc::new(GrpcPeer::new(
            address,
            self.timeouts.clone(),
            &self.node_id,
        )?))
    }
}

/// A peer reached over gRPC.
#[derive(Debug, Clone)]
pub struct GrpcPeer {
    address: String,
    client: SyncServiceClient<Channel>,
    timeouts: GrpcTimeouts,
    node_id: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

fn from_status(s: tonic::Status) -> PeerError {
    match s.code() {
        tonic::Code::DeadlineExceeded => PeerError::Timeout("call"),
        tonic::Code::FailedPrecondition => PeerError::Refused(s.message().to_string()),
        tonic::Code::InvalidArgument => {
            PeerError::Protocol(format!("peer rejected our request: {}", s.message()))
        }
        _ => PeerError::Transport(format!("{:?}: {}", s.code(), s.message())),
    }
}

impl GrpcPeer {
    /// A lazily connecting client for `address` (host:port).
    pub fn new(address: &str, timeouts: GrpcTimeouts, node_id: &str) -> Result<Self, PeerError> {
        let endpoint = Endpoint::from_shared(format!("http://{address}"))
            .map_err(|e| PeerError::Transport(format!("bad peer address {address:?}: {e}")))?
            .connect_timeout(timeouts.connect)
            .tcp_nodelay(true)
            // A connection whose peer vanished (a cut network: no RST ever comes) is closed
            // after one unanswered ping instead of holding every later call until its timeout;
            // the channel then dials again.
            .http2_keep_alive_interval(PEER_KEEPALIVE_INTERVAL)
            .keep_alive_timeout(PEER_KEEPALIVE_TIMEOUT)
            .keep_alive_while_idle(true);
        let client = SyncServiceClient::new(endpoint.connect_lazy())
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_REQUEST_BYTES);
        let node_id = node_id
            .parse()
            .unwrap_or_else(|_| tonic::metadata::MetadataValue::from_static("unknown"));
        Ok(Self {
            address: address.to_string(),
            client,
            timeouts,
            node_id,
        })
    }

    fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = tonic::Request::new(message);
        request.set_timeout(self.timeouts.request);
        request
            .metadata_mut()
            .insert(NODE_ID_METADATA, self.node_id.clone());
        request
    }

    async fn call<F, T>(&self, what: &'static str, fut: F) -> Result<T, PeerError>
    where
        F: std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    {
        match tokio::time::timeout(self.timeouts.request, fut).await {
            Err(_) => Err(PeerError::Timeout(what)),
            Ok(Err(status)) => Err(from_status(status)),
            Ok(Ok(r)) => Ok(r.into_inner()),
        }
    }

    /// The next message of `stream`, within the stall timeout and the throughput floor.
    async fn next<T: Message>(
        &self,
        what: &'static str,
        stream: &mut tonic::Streaming<T>,
        meter: &mut Meter,
    ) -> Result<Option<T>, PeerError> {
        let now = Instant::now();
        let floor = meter.deadline(&self.timeouts);
        let stall = now + self.timeouts.stall;
        let wait = floor.min(stall).saturating_duration_since(now);
        match tokio::time::timeout(wait, stream.message()).await {
            Err(_) if floor < stall => {
                let secs = meter.started.elapsed().as_secs_f64().max(0.001);
                Err(PeerError::Slow(format!(
                    "{what}: {} bytes in {secs:.1}s, below {} bytes/s",
                    meter.bytes, self.timeouts.min_throughput
                )))
            }
            Err(_) => Err(PeerError::Timeout(what)),
            Ok(Ok(Some(m))) => {
                meter.bytes += m.encoded_len() as u64;
                Ok(Some(m))
            }
            Ok(r) => r.map_err(from_status),
        }
    }
}

#[tonic::async_trait]
impl PeerClient for GrpcPeer {
    fn address(&self) -> &str {
        &self.address
    }

    async fn handshake(&self, ours: &PeerStatus) -> Result<PeerStatus, PeerError> {
        let mut client = self.client.clone();
        let request = wire::HandshakeRequest {
            status: Some(status_to_wire(ours)),
        };
        let reply = self
            .call("handshake", client.handshake(self.request(request)))
            .await?;
        let status = reply
            .status
            .ok_or_else(|| PeerError::Protocol("handshake answer without a status".into()))?;
        status_from_wire(status).map_err(|e| PeerError::Protocol(format!("status: {e}")))
    }

    async fn headers(&self, locator: Vec<Hash>, max: u32) -> Result<Vec<Header>, PeerError> {
        let mut client = self.client.clone();
        let request = wire::GetHeadersRequest {
            locator: locator.iter().map(|h| h.to_vec()).collect(),
            max_count: max,
        };
        let mut stream = self
            .call("headers", client.get_headers(self.request(request)))
            .await?;
        let mut headers = Vec::new();
        let mut meter = Meter::start();
        while let Some(chunk) = self.next("headers stream", &mut stream, &mut meter).await? {
            if headers.len() + chunk.headers.len() > max as usize {
                return Err(PeerError::Protocol(format!(
                    "sent more than the {max} headers asked for"
                )));
            }
            for h in &chunk.headers {
                headers.push(
                    header_from_wire(h).map_err(|e| PeerError::Protocol(format!("header: {e}")))?,
                );
            }
        }
        Ok(headers)
    }

    async fn bodies(&self, hashes: Vec<Hash>) -> Result<Vec<(Hash, Vec<Transaction>)>, PeerError> {
        if hashes.len() > MAX_BODIES_PER_REQUEST {
            return Err(PeerError::Protocol(format!(
                "asked for {} bodies (max {MAX_BODIES_PER_REQUEST})",
                hashes.len()
            )));
        }
        let mut client = self.client.clone();
        let asked = hashes.len();
        let request = wire::GetBodiesRequest {
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        };
        let mut stream = self
            .call("bodies", client.get_bodies(self.request(request)))
            .await?;
        let mut bodies = Vec::with_capacity(asked);
        let mut meter = Meter::start();
        while let Some(body) = self.next("bodies stream", &mut stream, &mut meter).await? {
            if bodies.len() >= asked {
                return Err(PeerError::Protocol(format!(
                    "sent more than the {asked} bodies asked for"
                )));
            }
            if body.transactions.len() > MAX_BODY_TXS {
                return Err(PeerError::Protocol(format!(
                    "body with {} transactions",
                    body.transactions.len()
                )));
            }
            let hash = to_array("block_hash", &body.block_hash)
                .map_err(|e| PeerError::Protocol(e.to_string()))?;
            let txs = body
                .transactions
                .iter()
                .map(tx_from_wire)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| PeerError::Protocol(format!("transaction: {e}")))?;
            bodies.push((hash, txs));
        }
        Ok(bodies)
    }

    async fn peers(&self) -> Result<Vec<String>, PeerError> {
        let mut client = self.client.clone();
        let reply = self
            .call(
                "peers",
                client.get_peers(self.request(wire::GetPeersRequest {})),
            )
            .await?;
        if reply.addresses.len() > MAX_PEER_ADDRESSES {
            return Err(PeerError::Protocol(format!(
                "sent {} peer addresses",
                reply.addresses.len()
            )));
        }
        Ok(reply.addresses)
    }

    async fn push_transactions(&self, txs: Vec<Transaction>) -> Result<u32, PeerError> {
        if txs.len() > MAX_PUSH_TRANSACTIONS {
            return Err(PeerError::Protocol(format!(
                "pushing {} transactions (max {MAX_PUSH_TRANSACTIONS})",
                txs.len()
            )));
        }
        let mut client = self.client.clone();
        let request = wire::PushTransactionsRequest {
            transactions: txs.iter().map(tx_to_wire).collect(),
        };
        let reply = self
            .call(
                "push transactions",
                client.push_transactions(self.request(request)),
            )
            .await?;
        Ok(reply.accepted)
    }

    async fn subscribe_heads(
        &self,
    ) -> Result<BoxStream<'static, Result<Header, PeerError>>, PeerError> {
        let mut client = self.client.clone();
        let mut request = tonic::Request::new(wire::SubscribeHeadsRequest {});
        request
            .metadata_mut()
            .insert(NODE_ID_METADATA, self.node_id.clone());
        let stream = self
            .call("subscribe", client.subscribe_heads(request))
            .await?;
        Ok(stream
            .map(|item| {
                item.map_err(from_status).and_then(|m| {
                    let header = m.header.ok_or_else(|| {
                        PeerError::Protocol("head announcement without a header".into())
                    })?;
                    header_from_wire(&header).map_err(|e| PeerError::Protocol(format!("head: {e}")))
                })
            })
            .boxed())
    }
}
