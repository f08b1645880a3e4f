//! How the services write errors and record contents to the log: one
//! helper for each, so that both services log the same way.
//!
//! - [`error_chain`]: an error with its causes (`error sending request for
//!   url (...): client error (Connect): tcp connect error: Connection refused`),
//!   as anyhow's `{:#}` prints them, without repeating a cause that the
//!   message above it already quotes.
//! - [`show_bytes`] and [`show_text`]: a key or value as it goes into a log
//!   line: `null` for none, a quoted string otherwise (`""` when empty),
//!   cut after [`MAX_SHOWN`] bytes with its length
//!   (`"aaaa…" (60000 bytes)`).

use std::error::Error;

/// How many bytes of a key or value a log line shows.
pub const MAX_SHOWN: usize = 200;

/// `error` and its causes (walking [`Error::source`]), joined by `": "`;
/// a cause whose message the text so far already contains is left out.
pub fn error_chain(error: &(dyn Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let message = cause.to_string();
        if !message.is_empty() && !text.contains(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
        source = cause.source();
    }
    text
}

/// A key or value for a log line: `null` when absent, else its text (bytes
/// that are not UTF-8 replaced) quoted and escaped, cut after
/// [`MAX_SHOWN`] bytes with the full length.
pub fn show_bytes(bytes: Option<&[u8]>) -> String {
    match bytes {
        None => "null".to_owned(),
        Some(bytes) => show_cut(&String::from_utf8_lossy(bytes), bytes.len()),
    }
}

/// [`show_bytes`] for text.
pub fn show_text(text: Option<&str>) -> String {
    match text {
        None => "null".to_owned(),
        Some(text) => show_cut(text, text.len()),
    }
}

fn show_cut(text: &str, len: usize) -> String {
    if text.len() <= MAX_SHOWN {
        return format!("{text:?}");
    }
    let mut end = MAX_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let head = text.get(..end).unwrap_or_default();
    format!("{head:?}… ({len} bytes)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Wrapped(&'static str, Option<Box<Wrapped>>);

    impl std::fmt::Display for Wrapped {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.0)
        }
    }

    impl Error for Wrapped {
        fn source(&self) -> Option<&(dyn Error + 'static)> {
            self.1.as_deref().map(|e| e as &(dyn Error + 'static))
        }
    }

    #[test]
    fn chains_name_every_cause_once() {
        let error = Wrapped(
            "error sending request for url (http://127.0.0.1:9/orders)",
            Some(Box::new(Wrapped(
                "client error (Connect)",
                Some(Box::new(Wrapped("Connection refused (os error 111)", None))),
            ))),
        );
        assert_eq!(
            error_chain(&error),
            "error sending request for url (http://127.0.0.1:9/orders): client error (Connect): Connection refused (os error 111)"
        );
        // A message that already quotes its cause does not repeat it.
        let quoted = Wrapped(
            "producer: timed out",
            Some(Box::new(Wrapped("timed out", None))),
        );
        assert_eq!(error_chain(&quoted), "producer: timed out");
        assert_eq!(error_chain(&Wrapped("alone", None)), "alone");
    }

    #[test]
    fn null_empty_and_long_values() {
        assert_eq!(show_bytes(None), "null");
        assert_eq!(show_bytes(Some(b"")), "\"\"");
        assert_eq!(show_text(Some("")), "\"\"");
        assert_eq!(show_text(Some("null")), "\"null\"");
        assert_eq!(show_text(Some("k\"1")), "\"k\\\"1\"");
        assert_eq!(show_bytes(Some(b"\xff")), "\"\u{fffd}\"");
        let long = "a".repeat(60_000);
        let shown = show_text(Some(&long));
        assert_eq!(shown, format!("{:?}… (60000 bytes)", "a".repeat(MAX_SHOWN)));
        assert_eq!(show_bytes(Some(long.as_bytes())), shown);
        // Cut on a character boundary.
        let wide = "é".repeat(150);
        let shown = show_text(Some(&wide));
        assert!(shown.ends_with("… (300 bytes)"), "{shown}");
        assert_eq!(shown, format!("{:?}… (300 bytes)", "é".repeat(100)));
        let exact = "b".repeat(MAX_SHOWN);
        assert_eq!(show_text(Some(&exact)), format!("{exact:?}"));
    }
}
