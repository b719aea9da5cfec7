//! AI providers: optional enrichment of an analysis by a language model. Everything
//! in Medic works without one.
//!
//! Three wire formats cover the providers people run: OpenAI-compatible chat
//! completions ([`openai`]: OpenAI, Azure OpenAI, OpenRouter, Ollama, vLLM,
//! llama.cpp's server), Anthropic Messages ([`anthropic`]) and Gemini
//! `generateContent` ([`gemini`]). A [`Provider`] is built from a
//! [`ProviderConfig`] (a `with:` field of workflow actions and a file for
//! `medic analyze --explain-with`), sends a [`CompletionRequest`] with retries
//! ([`retry`]), a per-call timeout and the run's [`budget`], and reports tokens and
//! cost. [`prompt`] builds the requests from an analysis, and only from its
//! sanitized parts; [`explain()`] asks for and validates a structured explanation.
//!
//! The API key is read once from the environment, kept out of `Debug`, sent only in
//! its header (marked sensitive), and scrubbed from every message a provider sends
//! back before it reaches an error.

pub mod anthropic;
pub mod budget;
mod error;
pub mod explain;
pub mod gemini;
pub mod openai;
pub mod prompt;
pub mod retry;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::{HeaderName, HeaderValue};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use budget::{BudgetConfig, CallUsage, Price, RunUsage};
pub use error::ProviderError;
pub use explain::{Explanation, explain};
pub use retry::RetryPolicy;

use crate::sanitize::Sanitizer;
use budget::Budget;

/// Which wire format a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// OpenAI-compatible chat completions: OpenAI, Azure OpenAI, OpenRouter, Ollama,
    /// vLLM, llama.cpp's server.
    OpenAi,
    /// Anthropic Messages.
    Anthropic,
    /// Google Gemini `generateContent`.
    Gemini,
}

impl ProviderKind {
    /// The name used in configuration: `openai`, `anthropic` or `gemini`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "openai",
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Gemini => "gemini",
        }
    }

    /// The official endpoint, used when `base_url` is not given.
    pub fn default_base_url(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::Gemini => "https://generativelanguage.googleapis.com",
        }
    }

    /// The environment variable holding the key when `api_key_env` is not given.
    pub fn default_key_env(self) -> &'static str {
        match self {
            ProviderKind::OpenAi => "OPENAI_API_KEY",
            ProviderKind::Anthropic => "ANTHROPIC_API_KEY",
            ProviderKind::Gemini => "GEMINI_API_KEY",
        }
    }
}

impl std::str::FromStr for ProviderKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "openai" => Ok(ProviderKind::OpenAi),
            "anthropic" => Ok(ProviderKind::Anthropic),
            "gemini" => Ok(ProviderKind::Gemini),
            other => Err(format!(
                "unknown AI provider `{other}`: expected openai, anthropic or gemini"
            )),
        }
    }
}

/// An AI provider as configured (the `ai:` field of the `analyze` action, or the
/// file given to `medic analyze --explain-with`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    /// The wire format: `openai` (also Azure OpenAI, OpenRouter, Ollama, vLLM,
    /// llama.cpp), `anthropic` or `gemini`.
    pub kind: ProviderKind,
    /// The model, e.g. `gpt-4o-mini`, `claude-sonnet-4-5`, `gemini-2.5-flash`, or an
    /// Ollama tag; for Azure the deployment is part of `base_url`.
    pub model: String,
    /// The API's address. Defaults: `https://api.openai.com/v1`,
    /// `https://api.anthropic.com`, `https://generativelanguage.googleapis.com`. Ollama:
    /// `http://localhost:11434/v1`. Azure:
    /// `https://<resource>.openai.azure.com/openai/deployments/<deployment>?api-version=<version>`.
    #[serde(default)]
    pub base_url: Option<String>,
    /// The environment variable holding the API key (default OPENAI_API_KEY,
    /// ANTHROPIC_API_KEY or GEMINI_API_KEY). Required when named; with a custom
    /// `base_url` and no name, a missing key means no key is sent (Ollama needs none).
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// OpenAI-compatible only: send the key in this header instead of `Authorization:
    /// Bearer` (`api-key` is used on its own for *.openai.azure.com).
    #[serde(default)]
    pub api_key_header: Option<String>,
    /// How long one call may take, e.g. `30s` (default 60s).
    #[serde(default)]
    pub timeout: Option<String>,
    /// Retries after a rate limit, an overload, a 5xx or a dropped connection
    /// (default 3).
    #[serde(default)]
    pub max_retries: Option<u32>,
    /// Most tokens in an answer (default 1024).
    #[serde(default)]
    pub max_output_tokens: Option<u32>,
    /// Limits for the run: calls, tokens, dollars.
    #[serde(default)]
    pub budget: Option<BudgetConfig>,
    /// Dollars per million input and output tokens, for cost figures and `max_cost_usd`.
    #[serde(default)]
    pub price: Option<Price>,
}

impl ProviderConfig {
    /// A configuration with only the kind and the model; everything else defaults.
    pub fn new(kind: ProviderKind, model: impl Into<String>) -> ProviderConfig {
        ProviderConfig {
            kind,
            model: model.into(),
            base_url: None,
            api_key_env: None,
            api_key_header: None,
            timeout: None,
            max_retries: None,
            max_output_tokens: None,
            budget: None,
            price: None,
        }
    }
}

/// Default per-call timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// Default retries after a transient failure.
pub const DEFAULT_MAX_RETRIES: u32 = 3;
/// Default most tokens in an answer.
pub const DEFAULT_MAX_OUTPUT_TOKENS: u32 = 1024;
/// Largest answer body read; a chat answer is a few kilobytes.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// One request to a model: a system prompt, a user message, and whether the answer
/// must be a JSON object.
#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    /// Instructions.
    pub system: String,
    /// The question, with the data.
    pub user: String,
    /// Most tokens in the answer; the provider's `max_output_tokens` when `None`.
    pub max_tokens: Option<u32>,
    /// Ask for a JSON object (OpenAI `response_format`, Gemini `responseMimeType`;
    /// Anthropic has no switch and relies on the prompt).
    pub json: bool,
}

/// A model's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    /// The text of the answer.
    pub text: String,
    /// Tokens and cost of this call.
    pub usage: CallUsage,
    /// The model that answered, as the provider names it.
    pub model: String,
    /// Why the model stopped (`stop`, `end_turn`, `STOP`, or `length`, `max_tokens`,
    /// `MAX_TOKENS` when the answer was cut off), when the provider says.
    pub stop_reason: Option<String>,
}

/// What a wire format produces for one request.
#[derive(Debug)]
pub(crate) struct Wire {
    url: Url,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Value,
}

/// What a wire format reads from a successful answer.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Answer {
    text: String,
    input_tokens: u64,
    output_tokens: u64,
    model: Option<String>,
    stop_reason: Option<String>,
}

/// A client for one provider and one run. Cheap to clone (the clones share the
/// HTTP client and the run's budget); `Debug` never shows the key.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
    retry: RetryPolicy,
}

struct Inner {
    kind: ProviderKind,
    model: String,
    base: Url,
    key: Option<String>,
    key_var: String,
    /// Where the key goes: `authorization` (as `Bearer`) or a header of its own.
    key_header: HeaderName,
    timeout: Duration,
    max_retries: u32,
    max_output_tokens: u32,
    price: Option<Price>,
    budget: Budget,
    client: reqwest::Client,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let i = &self.inner;
        f.debug_struct("Provider")
            .field("kind", &i.kind)
            .field("model", &i.model)
            // Without the query: a user may have put something there that is not ours
            // to print.
            .field("base_url", &{
                let mut u = i.base.clone();
                u.set_query(None);
                u.to_string()
            })
            .field(
                "key",
                &if i.key.is_some() {
                    format!("<set from {}>", i.key_var)
                } else {
                    "<none>".to_string()
                },
            )
            .field("timeout", &i.timeout)
            .field("max_retries", &i.max_retries)
            .finish()
    }
}

impl Provider {
    /// Checks `config` and reads the key through `env` (the process environment, or
    /// a step's). A missing key is an error naming the variable to set.
    pub fn new(
        config: ProviderConfig,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Provider, ProviderError> {
        let kind = config.kind;
        let model = config.model.trim().to_string();
        if model.is_empty() || model.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err(ProviderError::Config {
                field: "model",
                message: format!(
                    "expected a model name such as {}; got {:?}",
                    match kind {
                        ProviderKind::OpenAi => "`gpt-4o-mini` or `llama3.2`",
                        ProviderKind::Anthropic => "`claude-sonnet-4-5`",
                        ProviderKind::Gemini => "`gemini-2.5-flash`",
                    },
                    config.model
                ),
            });
        }
        let base_text = config
            .base_url
            .as_deref()
            .map(str::trim)
            .unwrap_or(kind.default_base_url());
        let base = Url::parse(base_text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| ProviderError::Config {
                field: "base_url",
                message: format!(
                    "expected an http:// or https:// URL such as {}; got {base_text:?}",
                    kind.default_base_url()
                ),
            })?;
        if !base.username().is_empty() || base.password().is_some() {
            // A key in the URL would end up in logs and error messages.
            return Err(ProviderError::Config {
                field: "base_url",
                message: "must not hold credentials; put the key in the variable named by \
                          `api_key_env`"
                    .into(),
            });
        }

        let (key_var, required) = match config.api_key_env.as_deref().map(str::trim) {
            Some("") => {
                return Err(ProviderError::Config {
                    field: "api_key_env",
                    message: "expected the name of an environment variable, e.g. OPENAI_API_KEY"
                        .into(),
                });
            }
            Some(var) => (var.to_string(), true),
            // The official endpoints always need a key; a local server may need none.
            None => (
                kind.default_key_env().to_string(),
                config.base_url.is_none(),
            ),
        };
        let key = env(&key_var)
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        if key.is_none() && required {
            return Err(ProviderError::MissingKey {
                var: key_var,
                provider: kind.as_str(),
            });
        }
        if let Some(k) = &key
            && HeaderValue::from_str(k).is_err()
        {
            return Err(ProviderError::Config {
                field: "api_key_env",
                message: format!(
                    "the value of {key_var} is not a valid header value (control characters?)"
                ),
            });
        }

        let key_header = match (kind, config.api_key_header.as_deref()) {
            (ProviderKind::OpenAi, Some(name)) => HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| ProviderError::Config {
                    field: "api_key_header",
                    message: format!(
                        "expected an HTTP header name such as `api-key`; got {name:?}"
                    ),
                })?,
            (_, Some(_)) => {
                return Err(ProviderError::Config {
                    field: "api_key_header",
                    message: format!(
                        "only OpenAI-compatible providers take it; {} has its own header",
                        kind.as_str()
                    ),
                });
            }
            (ProviderKind::OpenAi, None) if openai::is_azure(&base) => {
                HeaderName::from_static("api-key")
            }
            (ProviderKind::OpenAi, None) => reqwest::header::AUTHORIZATION,
            (ProviderKind::Anthropic, None) => HeaderName::from_static("x-api-key"),
            (ProviderKind::Gemini, None) => HeaderName::from_static("x-goog-api-key"),
        };

        let timeout = match config.timeout.as_deref() {
            None => DEFAULT_TIMEOUT,
            Some(text) => humantime::parse_duration(text.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| ProviderError::Config {
                    field: "timeout",
                    message: format!("expected a duration such as `30s` or `2m`; got {text:?}"),
                })?,
        };
        let max_output_tokens = config
            .max_output_tokens
            .unwrap_or(DEFAULT_MAX_OUTPUT_TOKENS);
        if max_output_tokens == 0 {
            return Err(ProviderError::Config {
                field: "max_output_tokens",
                message: "expected at least 1".into(),
            });
        }
        if let Some(p) = &config.price
            && !(p.input_usd_per_million.is_finite()
                && p.output_usd_per_million.is_finite()
                && p.input_usd_per_million >= 0.0
                && p.output_usd_per_million >= 0.0)
        {
            return Err(ProviderError::Config {
                field: "price",
                message: "expected dollars per million tokens, 0 or more".into(),
            });
        }
        let budget = Budget::new(config.budget.unwrap_or_default(), config.price.is_some())?;

        // reqwest is built without a crypto provider and panics without one (a no-op
        // when the program installed its own, as `medic` does).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .user_agent(concat!("medic/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            // An API answers in place; a redirect could carry the key elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ProviderError::Network(format!("cannot build the HTTP client: {e}")))?;

        Ok(Provider {
            inner: Arc::new(Inner {
                kind,
                model,
                base,
                key,
                key_var,
                key_header,
                timeout,
                max_retries: config.max_retries.unwrap_or(DEFAULT_MAX_RETRIES),
                max_output_tokens,
                price: config.price,
                budget,
                client,
            }),
            retry: RetryPolicy::default(),
        })
    }

    /// The same provider (same budget) with other backoff settings.
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Provider {
        self.retry = retry;
        self
    }

    /// The wire format.
    pub fn kind(&self) -> ProviderKind {
        self.inner.kind
    }

    /// The configured model.
    pub fn model(&self) -> &str {
        &self.inner.model
    }

    /// The answer limit used when a request does not set one.
    pub fn max_output_tokens(&self) -> u32 {
        self.inner.max_output_tokens
    }

    /// Calls, tokens and cost of the run so far.
    pub fn usage(&self) -> RunUsage {
        self.inner.budget.usage()
    }

    /// Sends one request, retrying transient failures, within the run's budget.
    pub async fn complete(&self, request: &CompletionRequest) -> Result<Completion, ProviderError> {
        let inner = &*self.inner;
        inner.budget.start_call()?;
        let max_tokens = request.max_tokens.unwrap_or(inner.max_output_tokens).max(1);
        let wire = match inner.kind {
            ProviderKind::OpenAi => openai::wire(inner, request, max_tokens),
            ProviderKind::Anthropic => anthropic::wire(inner, request, max_tokens),
            ProviderKind::Gemini => gemini::wire(inner, request, max_tokens),
        };
        let body = serde_json::to_vec(&wire.body)
            .map_err(|e| ProviderError::BadAnswer(format!("cannot encode the request: {e}")))?;
        let mut attempt: u32 = 0;
        loop {
            let wait = match self.send(&wire, &body).await {
                Ok(answer) => {
                    let usage = CallUsage {
                        input_tokens: answer.input_tokens,
                        output_tokens: answer.output_tokens,
                        cost_usd: inner
                            .price
                            .map(|p| p.cost(answer.input_tokens, answer.output_tokens)),
                    };
                    inner.budget.record(&usage);
                    if answer.text.trim().is_empty() {
                        return Err(ProviderError::BadAnswer(format!(
                            "the answer has no text (stop reason: {})",
                            answer.stop_reason.as_deref().unwrap_or("none given")
                        )));
                    }
                    return Ok(Completion {
                        text: answer.text,
                        usage,
                        model: answer.model.unwrap_or_else(|| inner.model.clone()),
                        stop_reason: answer.stop_reason,
                    });
                }
                Err(Failure::Final(e)) => return Err(e),
                Err(failure) if attempt >= inner.max_retries => {
                    return Err(failure.into_error(inner, attempt + 1));
                }
                Err(failure) => match failure.asked_wait() {
                    Some(asked) if asked > self.retry.max_wait => {
                        return Err(failure.into_error(inner, attempt + 1));
                    }
                    Some(asked) => asked,
                    None => self.retry.backoff(attempt),
                },
            };
            tracing::debug!(
                provider = inner.kind.as_str(),
                attempt = attempt + 1,
                wait_ms = wait.as_millis() as u64,
                "retrying the AI call"
            );
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    /// One attempt.
    async fn send(&self, wire: &Wire, body: &[u8]) -> Result<Answer, Failure> {
        let inner = &*self.inner;
        let mut builder = inner
            .client
            .post(wire.url.clone())
            .timeout(inner.timeout)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json");
        for (name, value) in &wire.headers {
            builder = builder.header(name.clone(), value.clone());
        }
        if let Some(key) = &inner.key {
            let text = if inner.key_header == reqwest::header::AUTHORIZATION {
                format!("Bearer {key}")
            } else {
                key.clone()
            };
            let mut value = HeaderValue::from_str(&text).map_err(|_| {
                Failure::Final(ProviderError::Config {
                    field: "api_key_env",
                    message: format!("the value of {} is not a valid header value", inner.key_var),
                })
            })?;
            value.set_sensitive(true);
            builder = builder.header(inner.key_header.clone(), value);
        }
        let response = builder
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| Failure::from_reqwest(&e))?;
        let status = response.status().as_u16();
        let asked = retry::retry_after(response.headers(), chrono::Utc::now());
        let bytes = read_body(response).await?;
        if (200..300).contains(&status) {
            let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
                Failure::Final(ProviderError::BadAnswer(format!(
                    "the answer is not JSON ({e}); is `base_url` the API's address?"
                )))
            })?;
            let parsed = match inner.kind {
                ProviderKind::OpenAi => openai::answer(&value),
                ProviderKind::Anthropic => anthropic::answer(&value),
                ProviderKind::Gemini => gemini::answer(&value),
            };
            return parsed.map_err(|reason| {
                Failure::Final(ProviderError::BadAnswer(scrub(
                    &reason,
                    inner.key.as_deref(),
                )))
            });
        }
        let message = scrub(&provider_message(&bytes), inner.key.as_deref());
        Err(if retry::retryable_status(status) {
            Failure::Status {
                status,
                message,
                asked,
            }
        } else {
            Failure::Final(status_error(inner, status, message))
        })
    }
}

/// An attempt that failed, and whether trying again may help.
enum Failure {
    /// Retrying cannot help.
    Final(ProviderError),
    /// A transient status (429, 5xx, 529).
    Status {
        status: u16,
        message: String,
        asked: Option<Duration>,
    },
    /// No answer in time.
    Timeout,
    /// The connection failed.
    Network(String),
}

impl Failure {
    fn from_reqwest(e: &reqwest::Error) -> Failure {
        if e.is_timeout() {
            return Failure::Timeout;
        }
        let mut message = if e.is_connect() {
            "cannot connect".to_string()
        } else {
            "the connection failed".to_string()
        };
        // The causes say why (refused, DNS, certificate); reqwest's own text holds the
        // URL, which may carry an Azure query but never the key.
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
        Failure::Network(message)
    }

    fn asked_wait(&self) -> Option<Duration> {
        match self {
            Failure::Status { asked, .. } => *asked,
            _ => None,
        }
    }

    fn into_error(self, inner: &Inner, attempts: u32) -> ProviderError {
        match self {
            Failure::Final(e) => e,
            Failure::Status {
                status: 429,
                message,
                asked,
            } => ProviderError::RateLimited {
                retry_after: asked,
                message: format!(
                    "{message} (after {attempts} attempts; check the account's rate limits and quota, or try later)"
                ),
            },
            Failure::Status {
                status, message, ..
            } => ProviderError::Http {
                status,
                message: format!(
                    "{message} (after {attempts} attempts; the provider is failing or overloaded, try later)"
                ),
            },
            Failure::Timeout => ProviderError::Timeout {
                after: inner.timeout,
                attempts,
            },
            Failure::Network(m) => ProviderError::Network(format!(
                "{m} ({attempts} attempts to {}; check `base_url`)",
                inner.base.host_str().unwrap_or("the host")
            )),
        }
    }
}

/// A refused request, with what to check.
fn status_error(inner: &Inner, status: u16, message: String) -> ProviderError {
    let hint = match status {
        401 | 403 => format!("check the API key in {}", inner.key_var),
        // Gemini answers a bad key with 400 API_KEY_INVALID.
        400 if message.contains("API key") || message.contains("API_KEY") => {
            format!("check the API key in {}", inner.key_var)
        }
        404 => format!("check `model` ({}) and `base_url`", inner.model),
        413 => "the prompt is too large for this model".to_string(),
        _ => "the provider refused the request".to_string(),
    };
    ProviderError::Http {
        status,
        message: format!("{message} ({hint})"),
    }
}

/// Reads a body up to [`MAX_ANSWER_BYTES`].
async fn read_body(mut response: reqwest::Response) -> Result<Vec<u8>, Failure> {
    let mut body = Vec::new();
    loop {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > MAX_ANSWER_BYTES {
                    return Err(Failure::Final(ProviderError::BadAnswer(format!(
                        "the answer is larger than {} MiB",
                        MAX_ANSWER_BYTES >> 20
                    ))));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => return Err(Failure::from_reqwest(&e)),
        }
    }
}

/// The provider's own words from an error body: `error.message` with `error.type`
/// or `error.status` (OpenAI, Anthropic, Gemini), or a top-level `message`/`detail`
/// (vLLM, proxies); else the start of the body.
fn provider_message(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        let text = String::from_utf8_lossy(body);
        let text = text.trim();
        return if text.is_empty() {
            "no message".to_string()
        } else {
            text.chars().take(200).collect()
        };
    };
    let error = v.get("error").unwrap_or(&v);
    if let Some(s) = error.as_str() {
        return s.to_string();
    }
    let message = ["message", "detail"]
        .iter()
        .find_map(|k| error.get(k).and_then(Value::as_str))
        .unwrap_or("no message");
    match ["type", "status", "code"]
        .iter()
        .find_map(|k| error.get(k).and_then(Value::as_str))
    {
        Some(kind) => format!("{kind}: {message}"),
        None => message.to_string(),
    }
}

/// Makes a provider's text safe to show: the key (whole, or masked like
/// `sk-…****…abcd`, as OpenAI echoes it) removed, secrets sanitized, control
/// characters dropped, at most 300 characters.
pub(crate) fn scrub(text: &str, key: Option<&str>) -> String {
    let mut text = text.to_string();
    if let Some(key) = key.filter(|k| k.len() >= 4) {
        text = text.replace(key, "[REDACTED:api-key]");
    }
    let words: Vec<String> = text
        .split(' ')
        .map(|w| {
            let core = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '*');
            let masked = core.len() >= 6 && core.contains("***");
            let piece_of_key = key.is_some_and(|k| {
                core.len() >= 8 && core.split('*').any(|p| p.len() >= 6 && k.contains(p))
            });
            if masked || piece_of_key {
                "[REDACTED:api-key]".to_string()
            } else {
                w.to_string()
            }
        })
        .collect();
    let text = words.join(" ");
    let clean = Sanitizer::default().sanitize_text(&text);
    let mut out: String = clean
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect();
    if clean.chars().count() > 300 {
        out.push('…');
    }
    out
}

/// `base` with `segments` appended to its path; its query (Azure's `api-version`)
/// is kept.
fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_with(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
    }

    fn config(value: Value) -> ProviderConfig {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn config_parses_and_refuses_unknown_fields() {
        let c = config(serde_json::json!({
            "kind": "openai", "model": "gpt-4o-mini",
            "budget": {"max_calls": 3},
            "price": {"input_usd_per_million": 0.15, "output_usd_per_million": 0.6}
        }));
        assert_eq!(c.kind, ProviderKind::OpenAi);
        assert_eq!(c.budget.unwrap().max_calls, Some(3));
        let e = serde_json::from_value::<ProviderConfig>(
            serde_json::json!({"kind": "openai", "model": "m", "api_key": "sk-x"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown field `api_key`"), "{e}");
        let e = serde_json::from_value::<ProviderConfig>(
            serde_json::json!({"kind": "mistral", "model": "m"}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("openai"), "{e}");
        assert_eq!("gemini".parse::<ProviderKind>(), Ok(ProviderKind::Gemini));
        assert!(
            "claude"
                .parse::<ProviderKind>()
                .unwrap_err()
                .contains("expected openai")
        );
    }

    #[test]
    fn missing_key_names_the_variable_and_local_servers_need_none() {
        let none = env_with(&[]);
        let e = Provider::new(
            ProviderConfig::new(ProviderKind::Anthropic, "claude-sonnet-4-5"),
            &none,
        )
        .unwrap_err();
        assert_eq!(
            e,
            ProviderError::MissingKey {
                var: "ANTHROPIC_API_KEY".into(),
                provider: "anthropic"
            }
        );
        let mut c = ProviderConfig::new(ProviderKind::OpenAi, "llama3.2");
        c.base_url = Some("http://localhost:11434/v1".into());
        let p = Provider::new(c.clone(), &none).unwrap();
        assert!(format!("{p:?}").contains("<none>"));
        c.api_key_env = Some("OLLAMA_KEY".into());
        let e = Provider::new(c, &none).unwrap_err();
        assert!(e.to_string().contains("OLLAMA_KEY"), "{e}");
    }

    #[test]
    fn debug_never_shows_the_key() {
        let key = "sk-proj-CANARY0123456789abcdef";
        let p = Provider::new(
            ProviderConfig::new(ProviderKind::OpenAi, "gpt-4o-mini"),
            &env_with(&[("OPENAI_API_KEY", key)]),
        )
        .unwrap();
        let d = format!("{p:?} {:?}", p.clone());
        assert!(!d.contains(key) && !d.contains("CANARY"), "{d}");
        assert!(d.contains("<set from OPENAI_API_KEY>"), "{d}");
        // A query is not printed either (someone may put a key there).
        let mut c = ProviderConfig::new(ProviderKind::Gemini, "gemini-2.5-flash");
        c.base_url = Some("https://gw.example/v1beta?key=QUERYCANARY".into());
        let p = Provider::new(c, &|_| None).unwrap();
        let d = format!("{p:?}");
        assert!(
            !d.contains("QUERYCANARY") && d.contains("https://gw.example/v1beta"),
            "{d}"
        );
    }

    #[test]
    fn bad_config_says_which_field_and_what_was_expected() {
        let env = env_with(&[("OPENAI_API_KEY", "k"), ("GEMINI_API_KEY", "k")]);
        let bad = |f: &dyn Fn(&mut ProviderConfig), field: &str, expect: &str| {
            let mut c = ProviderConfig::new(ProviderKind::OpenAi, "gpt-4o-mini");
            f(&mut c);
            let e = Provider::new(c, &env).unwrap_err();
            assert!(e.is_config(), "{e}");
            let text = e.to_string();
            assert!(text.contains(field) && text.contains(expect), "{text}");
        };
        bad(
            &|c| c.base_url = Some("ftp://x".into()),
            "base_url",
            "http:// or https://",
        );
        bad(
            &|c| c.base_url = Some("https://u:p@h/v1".into()),
            "base_url",
            "credentials",
        );
        bad(&|c| c.timeout = Some("soon".into()), "timeout", "`30s`");
        bad(&|c| c.timeout = Some("0s".into()), "timeout", "`30s`");
        bad(&|c| c.model = " ".into(), "model", "gpt-4o-mini");
        bad(
            &|c| c.max_output_tokens = Some(0),
            "max_output_tokens",
            "at least 1",
        );
        bad(
            &|c| c.api_key_header = Some("bad header".into()),
            "api_key_header",
            "header name",
        );
        bad(
            &|c| c.api_key_env = Some("".into()),
            "api_key_env",
            "environment variable",
        );
        bad(
            &|c| {
                c.price = Some(Price {
                    input_usd_per_million: -1.0,
                    output_usd_per_million: 1.0,
                })
            },
            "price",
            "0 or more",
        );
        bad(
            &|c| {
                c.budget = Some(BudgetConfig {
                    max_cost_usd: Some(1.0),
                    ..BudgetConfig::default()
                })
            },
            "max_cost_usd",
            "price",
        );
        let mut c = ProviderConfig::new(ProviderKind::Gemini, "gemini-2.5-flash");
        c.api_key_header = Some("api-key".into());
        let e = Provider::new(c, &env).unwrap_err();
        assert!(e.to_string().contains("only OpenAI-compatible"), "{e}");
    }

    #[test]
    fn provider_messages_are_read_from_each_error_shape() {
        // OpenAI's error object (API reference, "Error codes").
        assert_eq!(
            provider_message(br#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#),
            "insufficient_quota: You exceeded your current quota"
        );
        // Anthropic's (API reference, "Errors").
        assert_eq!(
            provider_message(br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_011CSHoEeqs5C35K2UUqR7Fy"}"#),
            "overloaded_error: Overloaded"
        );
        // Gemini's (google.rpc.Status).
        assert_eq!(
            provider_message(br#"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#),
            "RESOURCE_EXHAUSTED: Resource has been exhausted (e.g. check quota)."
        );
        assert_eq!(
            provider_message(br#"{"error":"model not found"}"#),
            "model not found"
        );
        assert_eq!(
            provider_message(b"<html>Bad Gateway</html>"),
            "<html>Bad Gateway</html>"
        );
        assert_eq!(provider_message(b""), "no message");
    }

    #[test]
    fn scrub_removes_the_key_whole_or_masked() {
        let key = "sk-proj-AbCdEfGhIjKlMnOpQrStUvWx1234";
        let s = scrub(&format!("Incorrect API key provided: {key}."), Some(key));
        assert!(
            !s.contains("AbCdEf") && s.contains("[REDACTED:api-key]"),
            "{s}"
        );
        // OpenAI echoes keys masked in the middle.
        let s = scrub(
            "Incorrect API key provided: sk-proj-********************1234. You can find your API key at https://platform.openai.com/account/api-keys.",
            Some(key),
        );
        assert!(!s.contains("1234") && !s.contains("****"), "{s}");
        assert!(
            s.starts_with("Incorrect API key provided: [REDACTED:api-key]"),
            "{s}"
        );
        let long = "x".repeat(1000);
        assert_eq!(scrub(&long, None).chars().count(), 301);
        assert_eq!(scrub("a\u{1b}[31mb\nc", None), "a [31mb c");
    }

    #[test]
    fn endpoints_keep_the_query_and_join_paths() {
        let base = Url::parse(
            "https://r.openai.azure.com/openai/deployments/gpt4o/?api-version=2024-10-21",
        )
        .unwrap();
        assert_eq!(
            endpoint(&base, &["chat", "completions"]).as_str(),
            "https://r.openai.azure.com/openai/deployments/gpt4o/chat/completions?api-version=2024-10-21"
        );
        let base = Url::parse("http://localhost:11434/v1").unwrap();
        assert_eq!(
            endpoint(&base, &["chat", "completions"]).as_str(),
            "http://localhost:11434/v1/chat/completions"
        );
    }
}
