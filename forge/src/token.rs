//! A token, kept out of `Debug`, `Display` and error messages.

use std::fmt;

/// An API token and where it came from (the environment variable named in a 401's
/// message). Its value is only handed to the HTTP layer; `Debug` shows the source only.
#[derive(Clone)]
pub struct Token {
    value: String,
    source: Option<String>,
}

impl Token {
    /// A token with no known source.
    pub fn new(value: impl Into<String>) -> Token {
        Token {
            value: value.into(),
            source: None,
        }
    }

    /// The same token, noting the environment variable it was read from.
    pub fn with_source(mut self, env_var: impl Into<String>) -> Token {
        self.source = Some(env_var.into());
        self
    }

    /// Reads `env_var` through `lookup` (the process environment, a step's env); `None`
    /// when it is unset or empty.
    pub fn from_env(env_var: &str, lookup: impl Fn(&str) -> Option<String>) -> Option<Token> {
        lookup(env_var)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .map(|v| Token::new(v).with_source(env_var))
    }

    /// Where the token came from, when known.
    pub fn source(&self) -> Option<&str> {
        self.source.as_deref()
    }

    /// The secret itself, for the HTTP layer only.
    pub(crate) fn expose(&self) -> &str {
        &self.value
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "Token(<redacted> from {source})"),
            None => f.write_str("Token(<redacted>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let token = Token::from_env("GITHUB_TOKEN", |_| Some(" ghp_canary123 ".into())).unwrap();
        assert_eq!(format!("{token:?}"), "Token(<redacted> from GITHUB_TOKEN)");
        assert_eq!(token.expose(), "ghp_canary123");
        assert!(Token::from_env("X", |_| Some("  ".into())).is_none());
    }
}
