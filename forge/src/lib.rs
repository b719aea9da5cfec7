//! medic-forge: the code hosts and CI services Medic acts on.
//!
//! Medic's remedies end in another system: a pull request or a comment on GitHub, a
//! rerun of failed jobs on GitHub Actions, GitLab or Buildkite. This crate holds those
//! clients ([`github::GitHub`] on octocrab, [`ci`] on reqwest), one error type that
//! tells a user what to fix ([`ForgeError`]), one retry policy ([`RetryPolicy`]), and
//! [`standin`], a local stand-in of GitHub's REST API that the tests and `medic demo`
//! run against. It is separate from the engine so that the engine builds without an
//! HTTP stack, and from medic-actions so that the lead's `github.open-pr` and the
//! demo can share the client.

pub mod ci;
mod error;
pub mod github;
mod retry;
pub mod standin;
pub mod token;

pub use error::ForgeError;
pub use retry::RetryPolicy;
pub use token::Token;

/// Percent-encodes one URL path segment or query value: everything but RFC 3986's
/// unreserved characters, so `/`, `:`, `#`, `&` and spaces in a branch cannot change
/// the request.
pub(crate) fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Refuses owner and repository names GitHub would never have, before a request is
/// built from them.
pub(crate) fn check_name(service: &'static str, field: &str, name: &str) -> Result<(), ForgeError> {
    let ok = !name.is_empty()
        && name != "."
        && name != ".."
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ForgeError::Config {
            service,
            message: format!(
                "`{name}` is not a valid {field} name (letters, digits, `-`, `_` and `.`)"
            ),
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_everything_but_unreserved_characters() {
        assert_eq!(super::encode("o:fix/a b#1&x"), "o%3Afix%2Fa%20b%231%26x");
        assert_eq!(super::encode("group/sub/proj"), "group%2Fsub%2Fproj");
    }
}
