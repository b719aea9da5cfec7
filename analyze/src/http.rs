//! The HTTP [`Transport`] behind [`crate::fetch`], built on reqwest (feature `http`).
//!
//! It lives in this crate, behind a feature, because two callers need the same
//! client: the `medic analyze <url>` command and the `analyze` workflow action.
//! The default build stays free of a TLS stack and an async runtime; the binary
//! and medic-actions turn the feature on. The process's rustls crypto provider is used;
//! ring is installed when there is none, since reqwest would panic without one.
//!
//! [`Transport`] is synchronous (the fetch logic is plain code that tests drive with
//! recorded payloads), so [`fetch_url`] runs it on a blocking thread and each
//! request is sent from the async runtime. Redirects are followed (GitHub answers
//! job logs with a 302 to a signed blob URL) and reqwest drops `Authorization` when
//! a redirect leaves the host, so a token never reaches the blob store. Errors
//! carry no URL from reqwest (a signed URL is a credential) and no header value.

use std::collections::HashMap;
use std::time::Duration;

use tokio::runtime::Handle;

use crate::fetch::{self, FetchError, FetchedLog, Request, Response, Transport};

/// Largest answer read (a job log); larger ones fail instead of filling memory.
pub const MAX_BODY_BYTES: usize = 256 << 20;

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpOptions {
    /// Most time one request may take, body included.
    pub timeout: Duration,
    /// Most time to establish a connection.
    pub connect_timeout: Duration,
}

impl Default for HttpOptions {
    fn default() -> Self {
        HttpOptions {
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// A [`Transport`] over reqwest, sending its requests on a tokio runtime.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    client: reqwest::Client,
    handle: Handle,
    timeout: Duration,
}

impl HttpTransport {
    /// A transport sending on the runtime of `handle`.
    pub fn new(handle: Handle, options: &HttpOptions) -> Result<HttpTransport, String> {
        // reqwest is built without a crypto provider and panics without one: make sure
        // there is one (a no-op when the program installed its own, as `medic` does).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("medic/", env!("CARGO_PKG_VERSION")))
            .timeout(options.timeout)
            .connect_timeout(options.connect_timeout)
            .redirect(reqwest::redirect::Policy::limited(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {}", describe(&e)))?;
        Ok(HttpTransport {
            client,
            handle,
            timeout: options.timeout,
        })
    }
}

impl Transport for HttpTransport {
    /// Must not be called on a thread that drives the runtime (use [`fetch_url`],
    /// or `spawn_blocking`); if it is, the request times out instead of hanging.
    fn get(&self, request: &Request) -> Result<Response, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let client = self.client.clone();
        let request = request.clone();
        self.handle.spawn(async move {
            let _ = tx.send(send(&client, &request).await);
        });
        rx.recv_timeout(self.timeout + Duration::from_secs(5))
            .unwrap_or_else(|_| Err(format!("no answer within {:?}", self.timeout)))
    }
}

async fn send(client: &reqwest::Client, request: &Request) -> Result<Response, String> {
    let mut builder = client.get(&request.url);
    for (name, value) in &request.headers {
        builder = builder.header(name.as_str(), value.as_str());
    }
    let mut answer = builder.send().await.map_err(|e| describe(&e))?;
    let status = answer.status().as_u16();
    let mut body = Vec::new();
    while let Some(chunk) = answer.chunk().await.map_err(|e| describe(&e))? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(format!(
                "the answer is larger than {} MiB",
                MAX_BODY_BYTES >> 20
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Response { status, body })
}

/// What went wrong, without the URL (a redirect target may be a signed URL).
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else if e.is_body() || e.is_decode() {
        "the answer was cut off"
    } else {
        "request failed"
    };
    let mut message = kind.to_string();
    let mut source = std::error::Error::source(e);
    // The innermost causes say why (connection refused, certificate, DNS).
    while let Some(cause) = source {
        let text = cause.to_string();
        if !text.contains("://") {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = cause.source();
    }
    message
}

/// Parses `url`, then fetches its logs over HTTP on a blocking thread. `env` is
/// asked for the variables in [`fetch::ENV_VARS`] only.
pub async fn fetch_url(
    url: &str,
    env: &(dyn Fn(&str) -> Option<String> + Sync),
    options: &HttpOptions,
) -> Result<Vec<FetchedLog>, FetchError> {
    let target = fetch::parse_url(url)?;
    let vars: HashMap<String, String> = fetch::ENV_VARS
        .iter()
        .filter_map(|k| env(k).filter(|v| !v.is_empty()).map(|v| (k.to_string(), v)))
        .collect();
    let transport = HttpTransport::new(Handle::current(), options).map_err(|message| {
        FetchError::Transport {
            url: url.to_string(),
            message,
        }
    })?;
    tokio::task::spawn_blocking(move || {
        fetch::fetch_logs(&target, &|k| vars.get(k).cloned(), &transport)
    })
    .await
    .unwrap_or_else(|e| {
        Err(FetchError::Transport {
            url: url.to_string(),
            message: format!("the fetch task ended: {e}"),
        })
    })
}
