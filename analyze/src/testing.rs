//! Test support for the crates that call AI providers (feature `testing`): a local
//! HTTP/1.1 server that answers like an OpenAI-compatible API with scripted answers
//! and records what it was sent, and the provider's reference answer with the model's
//! text replaced. The provider clients speak real HTTP to it, so the tests exercise the
//! same code that talks to the real APIs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{Receiver, channel};

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The request line and the headers, as sent (lines end with CRLF).
    pub head: String,
    /// The body.
    pub body: String,
}

/// Serves one connection per answer, in order, each answered with its status and
/// JSON body; the server stops after the last. Returns the base URL
/// (`http://127.0.0.1:PORT/v1`, as OpenAI-compatible clients expect) and the
/// requests received. `std::iter::repeat` answers every request the same way.
pub fn scripted_server<I>(answers: I) -> (String, Receiver<Received>)
where
    I: IntoIterator<Item = (u16, String)>,
    I::IntoIter: Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").expect("a local port");
    let base = format!(
        "http://{}/v1",
        listener.local_addr().expect("a bound address")
    );
    let (tx, rx) = channel();
    let mut answers = answers.into_iter();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Some((status, answer)) = answers.next() else {
                return;
            };
            let Ok(mut stream) = stream else { return };
            let Ok(read) = stream.try_clone() else { return };
            let mut reader = BufReader::new(read);
            let mut head = String::new();
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = tx.send(Received {
                head,
                body: String::from_utf8_lossy(&body).into_owned(),
            });
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{answer}",
                answer.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
    (base, rx)
}

/// OpenAI's reference chat completion (tests/fixtures/ai/openai-chat-completion.200.json,
/// from the API reference) with the model's text replaced by `content`.
pub fn openai_answer(content: &str) -> String {
    let reference: serde_json::Value = serde_json::from_str(include_str!(
        "../tests/fixtures/ai/openai-chat-completion.200.json"
    ))
    .expect("the fixture is JSON");
    let mut answer = reference;
    answer["choices"][0]["message"]["content"] = serde_json::Value::String(content.into());
    answer.to_string()
}
