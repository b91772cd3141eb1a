//! Connection hygiene for the gRPC listener: at most `max_connections` connections at once (a
//! connection over the cap is closed at once, with a rate-limited warning), a connection that
//! sends nothing within `first_byte_timeout` is closed (a half-open or silent TCP connection
//! costs a descriptor until then, never forever), and accept errors such as `EMFILE` back off
//! instead of spinning. The cap never exceeds half of the process's open-file limit, so that
//! RocksDB and outgoing peer connections always have descriptors left. HTTP/2 keep-alive and the
//! stream and age limits are set on the tonic server in `server`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::Stream;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// Limits on the connections a node accepts.
#[derive(Clone, Debug)]
pub struct ConnectionLimits {
    /// Most connections open at once (further ones are closed as soon as they are accepted).
    pub max_connections: usize,
    /// A connection that sends no byte within this time after it was accepted is closed.
    pub first_byte_timeout: Duration,
    /// Concurrent HTTP/2 streams one connection may open.
    pub max_streams_per_connection: u32,
    /// HTTP/2 ping interval on idle connections; a peer that does not answer within
    /// `keepalive_timeout` is disconnected.
    pub keepalive_interval: Duration,
    /// How long a keep-alive ping may go unanswered.
    pub keepalive_timeout: Duration,
    /// Connections are asked to go away after this long (clients reconnect).
    pub max_connection_age: Duration,
    /// Longest unary call (its work is cancelled after it).
    pub request_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: 512,
            first_byte_timeout: Duration::from_secs(10),
            max_streams_per_connection: 64,
            keepalive_interval: Duration::from_secs(30),
            keepalive_timeout: Duration::from_secs(10),
            max_connection_age: Duration::from_secs(3600),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// The soft open-file limit of this process, from `/proc/self/limits` (Linux); `None` elsewhere
/// or when unlimited.
pub fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// The connection cap actually applied: the configured one, but at most half the open-file limit.
pub fn effective_cap(configured: usize, file_limit: Option<usize>) -> usize {
    match file_limit {
        Some(limit) => configured.min(limit / 2).max(1),
        None => configured.max(1),
    }
}

/// An accepted connection that holds one of the node's connection permits until it closes.
pub struct LimitedConn {
    stream: TcpStream,
    _permit: OwnedSemaphorePermit,
    first_byte: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Connected for LimitedConn {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for LimitedConn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.stream).poll_read(cx, buf);
        if let Some(deadline) = self.first_byte.as_mut() {
            if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
                self.first_byte = None;
            } else if polled.is_pending() && deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "no bytes from the client since the connection was accepted",
                )));
            }
        }
        polled
    }
}

impl AsyncWrite for LimitedConn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

struct Acceptor {
    listener: TcpListener,
    permits: Arc<Semaphore>,
    cap: usize,
    first_byte_timeout: Duration,
    refused: u64,
    last_warning: Option<Instant>,
    backoff: Duration,
}

const WARN_EVERY: Duration = Duration::from_secs(10);
const MIN_BACKOFF: Duration = Duration::from_millis(20);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl Acceptor {
    fn warn_due(&mut self) -> bool {
        let due = self.last_warning.is_none_or(|t| t.elapsed() >= WARN_EVERY);
        if due {
            self.last_warning = Some(Instant::now());
        }
        due
    }

    async fn next(&mut self) -> LimitedConn {
        loop {
            match self.listener.accept().await {
                Ok((stream, peer)) => {
                    self.backoff = MIN_BACKOFF;
                    match self.permits.clone().try_acquire_owned() {
                        Ok(permit) => {
                            // Without TCP_NODELAY small responses wait ~40 ms for delayed ACKs.
                            let _ = stream.set_nodelay(true);
                            return LimitedConn {
                                stream,
                                _permit: permit,
                                first_byte: Some(Box::pin(tokio::time::sleep(
                                    self.first_byte_timeout,
                                ))),
                            };
                        }
                        Err(_) => {
                            drop(stream);
                            self.refused += 1;
                            if self.warn_due() {
                                tracing::warn!(target: "rpc::connections", %peer, cap = self.cap, refused_so_far = self.refused, "connection refused: the node holds its maximum of connections");
                            }
                        }
                    }
                }
                Err(e) => {
                    if self.warn_due() {
                        tracing::warn!(target: "rpc::connections", error = %e, backoff_ms = self.backoff.as_millis() as u64, "accepting a connection failed (out of file descriptors?); backing off");
                    }
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

/// The accepted connections of `listener` under `limits`, for tonic's `serve_with_incoming`.
pub fn incoming(
    listener: TcpListener,
    limits: &ConnectionLimits,
) -> impl Stream<Item = Result<LimitedConn, io::Error>> + Send + 'static {
    let cap = effective_cap(limits.max_connections, open_file_limit());
    if cap < limits.max_connections {
        tracing::info!(target: "rpc::connections", configured = limits.max_connections, cap, "connection cap lowered to half the open-file limit");
    }
    let acceptor = Acceptor {
        listener,
        permits: Arc::new(Semaphore::new(cap)),
        cap,
        first_byte_timeout: limits.first_byte_timeout,
        refused: 0,
        last_warning: None,
        backoff: MIN_BACKOFF,
    };
    futures::stream::unfold(acceptor, |mut a| async move {
        let conn = a.next().await;
        Some((Ok(conn), a))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_half_the_descriptors() {
        assert_eq!(effective_cap(512, Some(1024)), 512);
        assert_eq!(effective_cap(512, Some(256)), 128);
        assert_eq!(effective_cap(512, None), 512);
        assert_eq!(effective_cap(512, Some(1)), 1);
        assert!(open_file_limit().is_some_and(|n| n > 0));
    }
}
