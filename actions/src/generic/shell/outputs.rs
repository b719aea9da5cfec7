//! Outputs a shell step declares itself: the `$MEDIC_OUTPUT` file (GitHub's
//! `$GITHUB_OUTPUT` format, or a JSON object) and a JSON object on the last line of stdout.

use medic_engine::action::Outputs;

/// The largest `$MEDIC_OUTPUT` file read; outputs are stored with the run.
pub(super) const MAX_OUTPUT_FILE: u64 = 1024 * 1024;

/// Parse the `$MEDIC_OUTPUT` file: a JSON object, or lines of `key=value` and
/// `key<<DELIMITER` heredocs. Errors name the line, never its content.
pub(super) fn parse_output_file(text: &str) -> Result<Outputs, String> {
    let trimmed = text.trim();
    if trimmed.starts_with('{') {
        return serde_json::from_str::<Outputs>(trimmed)
            .map_err(|e| format!("$MEDIC_OUTPUT is not a valid JSON object: {e}"));
    }
    let mut outputs = Outputs::new();
    let mut lines = text
        .lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .enumerate();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let equals = line.find('=');
        let heredoc = line.find("<<");
        let (key, value) = match (equals, heredoc) {
            (Some(eq), h) if h.is_none_or(|h| eq < h) => (&line[..eq], line[eq + 1..].to_string()),
            (_, Some(h)) => {
                let key = &line[..h];
                let delimiter = &line[h + 2..];
                if delimiter.trim().is_empty() {
                    return Err(format!(
                        "$MEDIC_OUTPUT line {number}: `<<` must be followed by a delimiter"
                    ));
                }
                let mut body = Vec::new();
                let mut closed = false;
                for (_, line) in lines.by_ref() {
                    if line == delimiter {
                        closed = true;
                        break;
                    }
                    body.push(line);
                }
                if !closed {
                    return Err(format!(
                        "$MEDIC_OUTPUT line {number}: the heredoc is never closed by a line \
                         holding only its delimiter"
                    ));
                }
                (key, body.join("\n"))
            }
            _ => {
                return Err(format!(
                    "$MEDIC_OUTPUT line {number}: expected `name=value` or `name<<DELIMITER`"
                ));
            }
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "$MEDIC_OUTPUT line {number}: the output name is empty"
            ));
        }
        outputs.insert(key.to_string(), serde_json::Value::String(value));
    }
    Ok(outputs)
}

/// The keys of a JSON object printed as the last non-empty line of stdout, if any.
pub(super) fn last_line_object(stdout: &str) -> Option<Outputs> {
    let last = stdout
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())?;
    if !last.starts_with('{') {
        return None;
    }
    serde_json::from_str::<Outputs>(last).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn key_value_lines_and_heredocs() {
        let text =
            "version=1.2.3\r\n\nempty=\nnotes<<EOF\nline one\nline=two\nEOF\nurl=https://x?a=b\n";
        let outputs = parse_output_file(text).unwrap();
        assert_eq!(
            serde_json::Value::Object(outputs),
            json!({
                "version": "1.2.3",
                "empty": "",
                "notes": "line one\nline=two",
                "url": "https://x?a=b",
            })
        );
    }

    #[test]
    fn later_lines_win() {
        let outputs = parse_output_file("a=1\na=2\n").unwrap();
        assert_eq!(outputs["a"], "2");
    }

    #[test]
    fn a_json_object_keeps_its_types() {
        let outputs = parse_output_file(" {\"count\": 3, \"ok\": true}\n").unwrap();
        assert_eq!(outputs["count"], 3);
        assert_eq!(outputs["ok"], true);
    }

    #[test]
    fn malformed_files_name_the_line() {
        let err = parse_output_file("a=1\njust text\n").unwrap_err();
        assert_eq!(
            err,
            "$MEDIC_OUTPUT line 2: expected `name=value` or `name<<DELIMITER`"
        );
        let err = parse_output_file("notes<<EOF\nnever closed\n").unwrap_err();
        assert!(
            err.starts_with("$MEDIC_OUTPUT line 1: the heredoc is never closed"),
            "{err}"
        );
        let err = parse_output_file("=value\n").unwrap_err();
        assert!(err.contains("name is empty"), "{err}");
        let err = parse_output_file("x<<\n").unwrap_err();
        assert!(err.contains("delimiter"), "{err}");
        let err = parse_output_file("{\"a\": ").unwrap_err();
        assert!(
            err.starts_with("$MEDIC_OUTPUT is not a valid JSON object"),
            "{err}"
        );
    }

    #[test]
    fn only_a_json_object_on_the_last_non_empty_line_counts() {
        let outputs = last_line_object("building\n{\"artifact\": \"a.tar\"}\n\n").unwrap();
        assert_eq!(outputs["artifact"], "a.tar");
        assert!(last_line_object("{\"a\": 1}\ndone\n").is_none());
        assert!(last_line_object("[1, 2]\n").is_none());
        assert!(last_line_object("{not json}\n").is_none());
        assert!(last_line_object("").is_none());
    }
}
