//! The one thing remediation asks of a language model: an answer to a prompt.
//!
//! Kept as a small trait so that llm-patch and the model review do not depend on how
//! models are reached (the provider layer of medic-analyze implements it), and so that
//! tests can script answers.

use async_trait::async_trait;

/// A language model.
#[async_trait]
pub trait Model: Send + Sync {
    /// The model's answer to `user` under the instructions `system`. The error is a
    /// message for humans, free of secrets.
    async fn complete(&self, system: &str, user: &str) -> Result<String, String>;
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
