//! `http`: call an HTTP endpoint (a webhook, an API, a health check) and expose the
//! response to later steps.

use std::collections::BTreeMap;
use std::error::Error as _;
use std::time::Duration;

use async_trait::async_trait;
use medic_engine::action::{
    Action, ErrorKind, OutputDoc, Outputs, StepContext, StepError, StepOutcome,
};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

use crate::support::{config_error, masked_error, masked_outputs, parse_duration};

/// The `http` action.
#[derive(Debug, Clone, Copy, Default)]
pub struct Http;

/// Bytes of response body kept in the `body` output.
const MAX_BODY: usize = 1024 * 1024;
/// Sent with POST and PATCH requests unless the step sets it.
const IDEMPOTENCY_KEY: &str = "idempotency-key";
/// Used when the step gives no `timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// `with:` of an `http` step.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// The HTTP method: `GET` (default), `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`…
    #[serde(default)]
    pub method: Option<String>,
    /// The `http://` or `https://` URL to call.
    pub url: String,
    /// Request headers, by name.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body. A string is sent as is; any other JSON value (an object, a
    /// list…) is sent as JSON with `content-type: application/json`.
    #[serde(default)]
    pub body: Option<Value>,
    /// The status code or list of codes that count as success; any 2xx when absent.
    #[serde(default)]
    pub expected_status: Option<StatusCodes>,
    /// How long the whole exchange may take, e.g. `10s` (default `30s`).
    #[serde(default)]
    pub timeout: Option<String>,
}

/// One status code or a list of them.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum StatusCodes {
    /// A single code, e.g. `204`.
    One(u16),
    /// Several codes, e.g. `[200, 404]`.
    Many(Vec<u16>),
}

/// A checked `HttpConfig`.
#[derive(Debug)]
struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Option<Value>,
    expected_status: Option<Vec<u16>>,
    timeout: Duration,
}

impl HttpConfig {
    /// Check every field, reporting all problems at once.
    fn request(self) -> Result<Request, StepError> {
        let mut problems = Vec::new();
        let method_text = self
            .method
            .as_deref()
            .unwrap_or("GET")
            .trim()
            .to_ascii_uppercase();
        let method = Method::from_bytes(method_text.as_bytes())
            .map_err(|_| problems.push(format!("`method`: `{method_text}` is not an HTTP method")))
            .ok();
        let url = match Url::parse(self.url.trim()) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => Some(url),
            Ok(url) => {
                problems.push(format!(
                    "`url`: the scheme must be http or https, not `{}`",
                    url.scheme()
                ));
                None
            }
            Err(e) => {
                problems.push(format!("`url`: `{}` is not a URL ({e})", self.url));
                None
            }
        };
        let mut headers = HeaderMap::new();
        for (name, value) in &self.headers {
            match (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                (Ok(name), Ok(value)) => {
                    headers.append(name, value);
                }
                (Err(_), _) => problems.push(format!("`headers`: `{name}` is not a header name")),
                (_, Err(_)) => problems.push(format!(
                    "`headers.{name}`: the value holds a forbidden character"
                )),
            }
        }
        let expected_status = self.expected_status.map(|codes| match codes {
            StatusCodes::One(code) => vec![code],
            StatusCodes::Many(codes) => codes,
        });
        for code in expected_status.iter().flatten() {
            if !(100..=599).contains(code) {
                problems.push(format!(
                    "`expected_status`: {code} is not an HTTP status (100 to 599)"
                ));
            }
        }
        if expected_status.as_ref().is_some_and(Vec::is_empty) {
            problems.push("`expected_status` is empty: leave it out to accept any 2xx".into());
        }
        let timeout = match self
            .timeout
            .as_deref()
            .map(|t| parse_duration("timeout", t))
        {
            None => DEFAULT_TIMEOUT,
            Some(Ok(timeout)) if !timeout.is_zero() => timeout,
            Some(Ok(_)) => {
                problems.push("`timeout` must be longer than zero".into());
                DEFAULT_TIMEOUT
            }
            Some(Err(e)) => {
                problems.push(e.message);
                DEFAULT_TIMEOUT
            }
        };
        match (method, url) {
            (Some(method), Some(url)) if problems.is_empty() => Ok(Request {
                method,
                url,
                headers,
                body: self.body.filter(|b| !b.is_null()),
                expected_status,
                timeout,
            }),
            _ => Err(config_error(problems.join("; "))),
        }
    }
}

#[async_trait]
impl Action for Http {
    type Config = HttpConfig;
    const NAME: &'static str = "http";
    const DESCRIPTION: &'static str = "Sends an HTTP request and returns the response's status, \
        headers and body (parsed when it is JSON). A status outside `expected_status` (any 2xx \
        by default) fails the step with the `failed` kind, the response still in its outputs; \
        transport problems fail it with `network`, a slow exchange with `timeout`. POST and \
        PATCH requests carry an `Idempotency-Key` header, stable across retries, unless the \
        step sets one. Under \
        `--dry-run` only read-only methods (GET, HEAD, OPTIONS…) are sent; others are described.";
    const EXAMPLE: &'static str = r#"notify:
  uses: http
  with:
    method: POST
    url: https://hooks.example.com/medic
    headers:
      x-medic-run: "{{ run.id }}"
    body:
      text: "A fix is ready for review"
    expected_status: [200, 202]
    timeout: 10s
"#;
    const OUTPUTS: &'static [OutputDoc] = &[
        OutputDoc {
            name: "status",
            kind: "number",
            description: "The response's status code.",
        },
        OutputDoc {
            name: "headers",
            kind: "object",
            description: "Response headers by lower-case name; repeated headers joined by `, `.",
        },
        OutputDoc {
            name: "body",
            kind: "any JSON or string",
            description: "The body, parsed when the response is JSON, else text; at most 1 MiB.",
        },
    ];

    async fn run(&self, config: HttpConfig, ctx: &StepContext) -> Result<StepOutcome, StepError> {
        // The URL, headers and response may all hold secrets: mask whatever leaves the step.
        let result = match config.request() {
            Ok(request) if ctx.dry_run && !request.method.is_safe() => {
                Ok(describe_dry_run(&request, ctx))
            }
            Ok(request) => send(request, ctx).await,
            Err(e) => Err(e),
        };
        result
            .map(|outputs| StepOutcome::Success(masked_outputs(&ctx.masker, outputs)))
            .map_err(|e| masked_error(&ctx.masker, e))
    }
}

/// Only read-only methods (GET, HEAD, OPTIONS, TRACE, QUERY) are sent in a dry run: they change
/// nothing, and later steps usually need what they return.
fn describe_dry_run(request: &Request, ctx: &StepContext) -> Outputs {
    ctx.log(format!(
        "dry run: would send {} {}",
        request.method, request.url
    ));
    let mut outputs = Outputs::new();
    outputs.insert("dry_run".into(), Value::Bool(true));
    outputs.insert("method".into(), Value::String(request.method.to_string()));
    outputs.insert("url".into(), Value::String(request.url.to_string()));
    outputs
}

/// reqwest is built without a default TLS crypto provider; install ring's once. An
/// `Err` means the binary already installed one, which is as good.
fn install_crypto_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

async fn send(request: Request, ctx: &StepContext) -> Result<Outputs, StepError> {
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .timeout(request.timeout)
        .user_agent(concat!("medic/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| StepError::new(ErrorKind::Internal, describe(&e)))?;
    let timeout = request.timeout;
    ctx.log(format!("{} {}", request.method, request.url));
    let mut headers = request.headers;
    // Retries and re-execution after a crash send the same key, so that servers which
    // honour the header (draft-ietf-httpapi-idempotency-key-header) act only once.
    if !request.method.is_idempotent()
        && !headers.contains_key(IDEMPOTENCY_KEY)
        && let Ok(key) = HeaderValue::from_str(&ctx.idempotency_key)
    {
        headers.insert(IDEMPOTENCY_KEY, key);
    }
    let mut builder = client.request(request.method, request.url).headers(headers);
    builder = match request.body {
        Some(Value::String(text)) => builder.body(text),
        Some(json) => builder.json(&json),
        None => builder,
    };
    let mut response = builder.send().await.map_err(|e| classify(&e, timeout))?;

    let status = response.status().as_u16();
    let mut headers = serde_json::Map::new();
    for name in response.headers().keys() {
        let values: Vec<_> = response
            .headers()
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect();
        headers.insert(name.as_str().to_string(), Value::String(values.join(", ")));
    }
    let is_json = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json" || mime.ends_with("+json")
        });

    let mut bytes = Vec::new();
    let mut truncated = false;
    while let Some(chunk) = response.chunk().await.map_err(|e| classify(&e, timeout))? {
        let room = MAX_BODY - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            truncated = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = if is_json && !truncated {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    } else {
        Value::String(String::from_utf8_lossy(&bytes).into_owned())
    };
    ctx.log(format!(
        "status {status}{}",
        if truncated { ", body cut at 1 MiB" } else { "" }
    ));

    let mut outputs = Outputs::new();
    outputs.insert("status".into(), Value::from(status));
    outputs.insert("headers".into(), Value::Object(headers));
    outputs.insert("body".into(), body);

    let expected = match &request.expected_status {
        Some(codes) => codes.contains(&status),
        None => (200..300).contains(&status),
    };
    if expected {
        Ok(outputs)
    } else {
        let wanted = match &request.expected_status {
            Some(codes) => {
                let codes: Vec<_> = codes.iter().map(u16::to_string).collect();
                codes.join(" or ")
            }
            None => "2xx".to_string(),
        };
        Err(StepError::new(
            ErrorKind::Failed,
            format!("unexpected status {status}, expected {wanted}"),
        )
        .with_outputs(outputs))
    }
}

/// Map a reqwest error onto the kinds retry policies select on.
fn classify(error: &reqwest::Error, timeout: Duration) -> StepError {
    if error.is_timeout() {
        let after = humantime::format_duration(timeout);
        return StepError::new(
            ErrorKind::Timeout,
            format!("no complete response within {after}: {}", describe(error)),
        );
    }
    let kind = if error.is_builder() {
        ErrorKind::Config
    } else {
        ErrorKind::Network
    };
    StepError::new(kind, describe(error))
}

/// The error with its chain of causes: reqwest's own message rarely says what happened.
fn describe(error: &reqwest::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause = cause.to_string();
        if !message.contains(&cause) {
            message.push_str(": ");
            message.push_str(&cause);
        }
        source = source.and_then(|s| s.source());
    }
    message
}

#[cfg(test)]
mod tests;
