//! The one thing remediation asks of a language model: an answer to a prompt.
//!
//! Kept as a small trait so that llm-patch and the model review do not depend on how
//! models are reached (the provider layer of medic-analyze implements it), and so that
//! tests can script answers.

use async_trait::async_trait;
use medic_analyze::provider::{CompletionRequest, Provider};

/// A language model.
#[async_trait]
pub trait Model: Send + Sync {
    /// The model's answer to `user` under the instructions `system`. The error is a
    /// message for humans, free of secrets.
    async fn complete(&self, system: &str, user: &str) -> Result<String, String>;
}

/// Most tokens in an answer: a diff of a few files needs more than an explanation.
pub const MAX_ANSWER_TOKENS: u32 = 4096;

/// The configured AI provider (OpenAI-compatible, Anthropic, Gemini), with its retries
/// and budget. Its errors name the provider and the HTTP status, never the key.
#[async_trait]
impl Model for Provider {
    async fn complete(&self, system: &str, user: &str) -> Result<String, String> {
        let request = CompletionRequest {
            system: system.to_string(),
            user: user.to_string(),
            max_tokens: Some(MAX_ANSWER_TOKENS.max(self.max_output_tokens())),
            // Answers are a fenced diff or a JSON verdict inside prose; both are parsed
            // out of free text, so no provider-specific JSON mode is asked for.
            json: false,
        };
        let completion = Provider::complete(self, &request)
            .await
            .map_err(|e| e.to_string())?;
        if matches!(
            completion.stop_reason.as_deref(),
            Some("length" | "max_tokens" | "MAX_TOKENS")
        ) {
            return Err(format!(
                "the answer of {} was cut off at {} tokens",
                completion.model,
                MAX_ANSWER_TOKENS.max(self.max_output_tokens())
            ));
        }
        Ok(completion.text)
    }
}

/// A model that answers from a script, in order (for tests and `--dry-run` demos);
/// when the script runs out it answers with an error.
#[derive(Debug, Default)]
pub struct Scripted {
    answers: std::sync::Mutex<std::collections::VecDeque<String>>,
    prompts: std::sync::Mutex<Vec<(String, String)>>,
}

impl Scripted {
    /// A model that will answer `answers`, one per call.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(answers: I) -> Scripted {
        Scripted {
            answers: std::sync::Mutex::new(answers.into_iter().map(Into::into).collect()),
            prompts: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The `(system, user)` prompts received so far.
    pub fn prompts(&self) -> Vec<(String, String)> {
        self.prompts.lock().map(|p| p.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl Model for Scripted {
    async fn complete(&self, system: &str, user: &str) -> Result<String, String> {
        if let Ok(mut prompts) = self.prompts.lock() {
            prompts.push((system.to_string(), user.to_string()));
        }
        self.answers
            .lock()
            .ok()
            .and_then(|mut a| a.pop_front())
            .ok_or_else(|| "the scripted model has no more answers".to_string())
    }
}

#[cfg(test)]
mod tests {
    //! llm-patch and the model review against a local server speaking OpenAI's chat
    //! completions, answering with the API reference example of medic-analyze's fixtures
    //! (analyze/tests/fixtures/ai/openai-chat-completion.200.json) with our content.

    use super::*;
    use crate::git::testing::TestRepo;
    use crate::patch::Globs;
    use crate::strategy::llm_patch;
    use crate::{Outcome, review};
    use medic_analyze::provider::{ProviderConfig, ProviderKind};
    use medic_analyze::testing::{Received, openai_answer, scripted_server};
    use serde_json::Value;
    use std::sync::mpsc::Receiver;

    const KEY: &str = "sk-canary-remediate-0123456789abcdef";

    /// Answers each connection with the next of `contents` as an OpenAI chat
    /// completion; returns the base URL and the requests received.
    fn openai(contents: Vec<String>) -> (String, Receiver<Received>) {
        scripted_server(
            contents
                .into_iter()
                .map(|content| (200, openai_answer(&content))),
        )
    }

    fn provider(base: &str) -> Provider {
        let mut config = ProviderConfig::new(ProviderKind::OpenAi, "gpt-4o-mini");
        config.base_url = Some(base.to_string());
        config.api_key_env = Some("REMEDIATE_TEST_KEY".into());
        config.max_retries = Some(0);
        Provider::new(config, &|k: &str| {
            (k == "REMEDIATE_TEST_KEY").then(|| KEY.to_string())
        })
        .unwrap()
    }

    #[tokio::test]
    async fn llm_patch_and_review_through_an_openai_compatible_server() {
        let test = TestRepo::new(&[(
            "src/lib.rs",
            "pub fn last(v: &[u8]) -> u8 {\n    v[v.len()]\n}\n",
        )]);
        let wt = test
            .checkout()
            .create_worktree("HEAD", "medic/fix-ai", None)
            .unwrap();
        let diff = "Off by one:\n```diff\n--- a/src/lib.rs\n+++ b/src/lib.rs\n@@ -1,3 +1,3 @@\n pub fn last(v: &[u8]) -> u8 {\n-    v[v.len()]\n+    v[v.len() - 1]\n }\n```\n";
        let verdict = "{\"approve\": true, \"concerns\": [\"no test covers an empty slice\"]}";
        let (base, requests) = openai(vec![diff.to_string(), verdict.to_string()]);
        let model = provider(&base);
        let failure = crate::analysis::Failure {
            category: "test".into(),
            fingerprint: "a1".into(),
            summary: Some("index out of bounds: the len is 3 but the index is 3".into()),
            locations: vec!["src/lib.rs:2:5".into()],
            ..Default::default()
        };
        let options = llm_patch::Options {
            allowed: Globs::new(&["src/**".to_string()]).unwrap(),
            attempts: 1,
        };
        let outcome = llm_patch::run(&wt, &failure, &model, &options)
            .await
            .unwrap();
        let Outcome::Fix(fix) = outcome else {
            panic!("{outcome:?}")
        };
        assert!(fix.change.diff.contains("+    v[v.len() - 1]"));
        let sent = requests.recv().unwrap();
        assert!(
            sent.head.starts_with("POST /v1/chat/completions "),
            "{sent:?}"
        );
        assert!(
            sent.head
                .to_ascii_lowercase()
                .contains(&format!("authorization: bearer {KEY}"))
        );
        let body: Value = serde_json::from_str(&sent.body).unwrap();
        assert_eq!(body["model"], "gpt-4o-mini");
        assert_eq!(body["messages"][0]["content"], llm_patch::SYSTEM);
        assert!(
            body["messages"][1]["content"]
                .as_str()
                .unwrap()
                .contains("File src/lib.rs:")
        );

        let report = review::review(&wt, &fix.change, &review::Options::default(), Some(&model))
            .await
            .unwrap();
        assert!(report.passed, "{:?}", report.findings);
        assert!(
            report
                .findings
                .iter()
                .any(|f| f.gate == "model" && f.message == "no test covers an empty slice")
        );
        let sent = requests.recv().unwrap();
        assert!(sent.body.contains("+    v[v.len() - 1]"));
        // A server that is gone is a model error, without the key.
        drop(requests);
        let err = Model::complete(&provider("http://127.0.0.1:9/v1"), "s", "u")
            .await
            .unwrap_err();
        assert!(!err.contains(KEY), "{err}");
    }
}
