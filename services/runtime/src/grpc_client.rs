//! Calling another Caseflow service: one lazily connected channel per peer, every call carrying
//! the service key and the current W3C trace context.

use caseflow_proto::v1::event_stream_client::EventStreamClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};

use crate::config::Secret;
use crate::telemetry;

/// Adds `authorization` and `traceparent` to every outgoing call.
#[derive(Clone, Debug)]
pub struct ClientAuth {
    bearer: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl tonic::service::Interceptor for ClientAuth {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert("authorization", self.bearer.clone());
        let mut headers = http::HeaderMap::new();
        telemetry::inject_current(&mut headers);
        for (name, value) in &headers {
            if let Ok(value) = value.to_str()
                && let (Ok(key), Ok(value)) =
                    (tonic::metadata::MetadataKey::from_bytes(name.as_str().as_bytes()), value.parse())
            {
                request.metadata_mut().insert(key, value);
            }
        }
        Ok(request)
    }
}

pub type AuthedChannel = InterceptedService<Channel, ClientAuth>;

/// A peer service's address and the key to call it with.
#[derive(Clone, Debug)]
pub struct ServiceChannel {
    channel: Channel,
    auth: ClientAuth,
}

#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("peer url {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("service key is not a valid header value")]
    Key,
}

impl ServiceChannel {
    /// Connects lazily: the peer need not be up yet.
    pub fn new(url: &str, key: &Secret) -> Result<Self, ChannelError> {
        let endpoint = Endpoint::from_shared(url.to_owned())
            .map_err(|e| ChannelError::Url { url: url.to_owned(), message: e.to_string() })?
            .connect_timeout(std::time::Duration::from_secs(3))
            .tcp_nodelay(true);
        let bearer = format!("Bearer {}", key.expose()).parse().map_err(|_| ChannelError::Key)?;
        Ok(Self { channel: endpoint.connect_lazy(), auth: ClientAuth { bearer } })
    }

    pub fn intercepted(&self) -> AuthedChannel {
        InterceptedService::new(self.channel.clone(), self.auth.clone())
    }

    pub fn event_stream(&self) -> EventStreamClient<AuthedChannel> {
        EventStreamClient::new(self.intercepted())
    }
}
