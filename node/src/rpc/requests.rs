//! Counts every gRPC request the server answers, by method and status code
//! (`luxtensor_grpc_requests_total{method, code}`): a tower layer around all the services. The
//! code comes from the response headers when the answer is trailers-only (tonic's errors), and
//! otherwise from the trailers at the end of the response body, so a streaming call that fails
//! midway is counted with its real code; a response the client abandons before its trailers is
//! counted as `Cancelled`, as is a request whose client leaves before the handler answers; a
//! failure of the service itself (never a handler's error) as `Unavailable`. Methods outside the served descriptor sets are counted as `unknown`,
//! so a client probing random paths cannot grow the label set.

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http_body::{Body, Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prost::Message;

/// `method`, `code` label pairs.
pub type RequestLabels = Vec<(String, String)>;

/// The request counters and the methods worth a label of their own.
#[derive(Clone, Debug)]
pub struct GrpcRequests {
    family: Family<RequestLabels, Counter>,
    known: Arc<HashSet<String>>,
}

impl Default for GrpcRequests {
    fn default() -> Self {
        let mut known = HashSet::new();
        for set in [
            proto::FILE_DESCRIPTOR_SET,
            tonic_health::pb::FILE_DESCRIPTOR_SET,
        ] {
            let Ok(files) = prost_types::FileDescriptorSet::decode(set) else {
                continue;
            };
            for file in files.file {
                let package = file.package.unwrap_or_default();
                for service in file.service {
                    let service_name = service.name.unwrap_or_default();
                    for method in service.method {
                        known.insert(format!(
                            "{package}.{service_name}/{}",
                            method.name.unwrap_or_default()
                        ));
                    }
                }
            }
        }
        for version in ["v1", "v1alpha"] {
            known.insert(format!(
                "grpc.reflection.{version}.ServerReflection/ServerReflectionInfo"
            ));
        }
        Self {
            family: Family::default(),
            known: Arc::new(known),
        }
    }
}

impl GrpcRequests {
    /// The counters, for registering.
    pub fn family(&self) -> Family<RequestLabels, Counter> {
        self.family.clone()
    }

    /// The method label of a request path (`/package.Service/Method`).
    pub fn method_label(&self, path: &str) -> String {
        let method = path.strip_prefix('/').unwrap_or(path);
        if self.known.contains(method) {
            method.to_string()
        } else {
            "unknown".to_string()
        }
    }

    fn count(&self, method: &str, code: &str) {
        self.family
            .get_or_create(&vec![
                ("method".to_string(), method.to_string()),
                ("code".to_string(), code.to_string()),
            ])
            .inc();
    }
}

/// The code label of a `grpc-status` value.
fn code_label(value: Option<&http::HeaderValue>) -> String {
    let code = value
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i32>().ok())
        .map_or(tonic::Code::Unknown, tonic::Code::from_i32);
    match code {
        tonic::Code::Ok => "OK".to_string(),
        other => format!("{other:?}"),
    }
}

/// The layer; with `None` it counts nothing (the node runs without `--metrics-listen`).
#[derive(Clone, Debug, Default)]
pub struct CountRequests(pub Option<GrpcRequests>);

impl<S> tower_layer::Layer<S> for CountRequests {
    type Service = Counted<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Counted {
            inner,
            requests: self.0.clone(),
        }
    }
}

/// A service whose answers are counted.
#[derive(Clone, Debug)]
pub struct Counted<S> {
    inner: S,
    requests: Option<GrpcRequests>,
}

type BoxFuture<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, B, RB> tower_service::Service<http::Request<B>> for Counted<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<RB>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    RB: Body + Send + 'static,
{
    type Response = http::Response<CountedBody<RB>>;
    type Error = S::Error;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // Counted `Cancelled` if the client leaves before the handler answers (the future, and
        // this guard with it, is dropped), even before the future was first polled.
        let mut pending = Pending(
            self.requests
                .as_ref()
                .map(|r| (r.clone(), r.method_label(request.uri().path()))),
        );
        let future = self.inner.call(request);
        Box::pin(async move {
            let response = match future.await {
                Ok(response) => response,
                Err(e) => {
                    pending.finish("Unavailable");
                    return Err(e);
                }
            };
            if response.headers().contains_key("grpc-status") {
                pending.finish(&code_label(response.headers().get("grpc-status")));
            }
            Ok(response.map(|inner| CountedBody { inner, pending }))
        })
    }
}

/// A request not counted yet; counted `Cancelled` if dropped before its trailers.
#[derive(Debug)]
struct Pending(Option<(GrpcRequests, String)>);

impl Pending {
    fn finish(&mut self, code: &str) {
        if let Some((requests, method)) = self.0.take() {
            requests.count(&method, code);
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.finish("Cancelled");
    }
}

pin_project_lite::pin_project! {
    /// A response body that counts its request when the trailers pass.
    #[derive(Debug)]
    pub struct CountedBody<B> {
        #[pin]
        inner: B,
        pending: Pending,
    }
}

impl<B: Body> Body for CountedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(trailers) = frame.trailers_ref() {
                    this.pending
                        .finish(&code_label(trailers.get("grpc-status")));
                }
            }
            Poll::Ready(Some(Err(_))) => this.pending.finish("Internal"),
            Poll::Ready(None) => this.pending.finish("Unknown"),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_descriptor_sets_share_one_label() {
        let r = GrpcRequests::default();
        assert_eq!(
            r.method_label("/luxtensor.node.v1.QueryService/GetStatus"),
            "luxtensor.node.v1.QueryService/GetStatus"
        );
        assert_eq!(
            r.method_label("/grpc.health.v1.Health/Check"),
            "grpc.health.v1.Health/Check"
        );
        assert_eq!(
            r.method_label("/luxtensor.node.v1.QueryService/Nope"),
            "unknown"
        );
        assert_eq!(r.method_label("/x"), "unknown");
    }

    /// A service that never answers.
    #[derive(Clone)]
    struct Never;

    impl tower_service::Service<http::Request<()>> for Never {
        type Response = http::Response<String>;
        type Error = std::convert::Infallible;
        type Future = std::future::Pending<Result<Self::Response, Self::Error>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<()>) -> Self::Future {
            std::future::pending()
        }
    }

    #[test]
    fn a_request_abandoned_before_its_answer_counts_as_cancelled() {
        use tower_layer::Layer;
        use tower_service::Service;
        let requests = GrpcRequests::default();
        let mut service = CountRequests(Some(requests.clone())).layer(Never);
        let request = http::Request::builder()
            .uri("/luxtensor.node.v1.QueryService/GetStatus")
            .body(())
            .unwrap();
        // Dropped without ever being polled: the client went away.
        drop(service.call(request));
        let cancelled = requests
            .family()
            .get_or_create(&vec![
                (
                    "method".to_string(),
                    "luxtensor.node.v1.QueryService/GetStatus".to_string(),
                ),
                ("code".to_string(), "Cancelled".to_string()),
            ])
            .get();
        assert_eq!(cancelled, 1);
    }

    #[test]
    fn codes_are_named() {
        assert_eq!(code_label(Some(&http::HeaderValue::from_static("0"))), "OK");
        assert_eq!(
            code_label(Some(&http::HeaderValue::from_static("5"))),
            "NotFound"
        );
        assert_eq!(code_label(None), "Unknown");
    }
}
