//! The dashboard's web server (axum): `/` the page, `/app.js` and `/style.css` its assets (all
//! three compiled into the binary, so it works offline: no CDN, no files beside it),
//! `/api/state` the board as JSON, and `/events` the same JSON as server-sent events, one each
//! time the board changes (at most one per [`MIN_GAP`]), with keep-alives.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::http::header;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;

use super::board::Board;

/// The fewest seconds between two events on one stream.
pub const MIN_GAP: Duration = Duration::from_millis(250);

const INDEX: &str = include_str!("assets/index.html");
const APP: &str = include_str!("assets/app.js");
const STYLE: &str = include_str!("assets/style.css");

/// The routes, reading `board`.
pub fn router(board: Arc<Board>) -> axum::Router {
    let state = board.clone();
    let events = board;
    axum::Router::new()
        .route("/", get(|| async { Html(INDEX) }))
        .route(
            "/app.js",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
                    APP,
                )
            }),
        )
        .route(
            "/style.css",
            get(|| async { ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], STYLE) }),
        )
        .route(
            "/api/state",
            get(move || {
                let board = state.clone();
                async move {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        board.snapshot().to_string(),
                    )
                        .into_response()
                }
            }),
        )
        .route(
            "/events",
            get(move || {
                let board = events.clone();
                async move {
                    let changes = WatchStream::new(board.subscribe()).throttle(MIN_GAP);
                    let stream = changes.map(move |_| {
                        Ok::<_, Infallible>(
                            Event::default()
                                .event("state")
                                .data(board.snapshot().to_string()),
                        )
                    });
                    Sse::new(stream).keep_alive(KeepAlive::default())
                }
            }),
        )
}

/// Why the dashboard could not start.
#[derive(Debug, thiserror::Error)]
#[error("binding the dashboard on {addr}: {error}")]
pub struct BindError {
    /// The address asked for.
    pub addr: SocketAddr,
    /// Why.
    pub error: std::io::Error,
}

/// Binds `addr` and serves the dashboard until the returned task is aborted.
pub async fn serve(
    board: Arc<Board>,
    addr: SocketAddr,
) -> Result<(SocketAddr, tokio::task::JoinHandle<()>), BindError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| BindError { addr, error })?;
    let bound = listener
        .local_addr()
        .map_err(|error| BindError { addr, error })?;
    let app = router(board);
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((bound, task))
}
