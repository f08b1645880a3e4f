//! A small command-line option parser shared by the subcommands.
//!
//! Options are `--name value` or `--name=value`, in any order; a subcommand
//! takes the ones it knows and calls [`Args::finish`], which rejects the
//! rest, so a typo is an error rather than a silently ignored setting.

use std::str::FromStr;

use crate::Result;

/// The arguments after the subcommand name, consumed option by option.
#[derive(Debug)]
pub(crate) struct Args {
    rest: Vec<String>,
}

impl Args {
    /// Wraps the arguments after the subcommand name.
    pub(crate) fn new(rest: Vec<String>) -> Self {
        Self { rest }
    }

    /// Takes a flag without a value; true if it was given.
    pub(crate) fn flag(&mut self, name: &str) -> bool {
        let before = self.rest.len();
        self.rest.retain(|arg| arg != name);
        self.rest.len() != before
    }

    /// Takes `--name value` or `--name=value` and parses the value; `None`
    /// if the option was not given. The last occurrence wins.
    pub(crate) fn value<T>(&mut self, name: &str) -> Result<Option<T>>
    where
        T: FromStr,
        T::Err: std::fmt::Display,
    {
        let mut found = None;
        let prefix = format!("{name}=");
        while let Some(position) = self
            .rest
            .iter()
            .position(|arg| arg == name || arg.starts_with(&prefix))
        {
            let arg = self.rest.remove(position);
            let text = match arg.strip_prefix(&prefix) {
                Some(text) => text.to_owned(),
                None if position < self.rest.len() => self.rest.remove(position),
                None => return Err(format!("{name} needs a value").into()),
            };
            let value = text
                .parse::<T>()
                .map_err(|error| format!("{name} {text}: {error}"))?;
            found = Some(value);
        }
        Ok(found)
    }

    /// Fails if any argument was not taken.
    pub(crate) fn finish(self) -> Result<()> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(format!("unexpected arguments: {}", self.rest.join(" ")).into())
        }
    }
}
