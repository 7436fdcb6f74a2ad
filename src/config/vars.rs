//! Reading variables: trimmed, empty means unset, and every parse error is one line naming
//! the variable.

use super::ConfigError;

/// A source of variables (the environment, or a map in tests).
pub(super) struct Vars<'a> {
    get: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Vars<'a> {
    pub(super) fn new(get: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Self { get }
    }

    /// The value, trimmed; `None` when unset or empty.
    pub(super) fn get(&self, name: &str) -> Option<String> {
        (self.get)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// A whole number of at least `min`, `default` when unset.
    pub(super) fn number(
        &self,
        name: &'static str,
        default: usize,
        min: usize,
    ) -> Result<usize, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => match v.parse::<usize>() {
                Ok(n) if n >= min => Ok(n),
                _ => Err(invalid(
                    name,
                    format!("expected a whole number of at least {min}, got {v:?}"),
                )),
            },
        }
    }

    /// A number of seconds (at least `min`), `default` when unset.
    pub(super) fn seconds(
        &self,
        name: &'static str,
        default: u64,
        min: u64,
    ) -> Result<std::time::Duration, ConfigError> {
        let n = self.number(name, default as usize, min as usize)?;
        Ok(std::time::Duration::from_secs(n as u64))
    }

    /// `true`/`false` (also 1/0, yes/no, on/off), `default` when unset.
    pub(super) fn flag(&self, name: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("1" | "true" | "yes" | "on") => Ok(true),
            Some("0" | "false" | "no" | "off") => Ok(false),
            Some(other) => Err(invalid(
                name,
                format!("expected true or false, got {other:?}"),
            )),
        }
    }

    /// A URL with one of `schemes`, when set. The value is never echoed: it may hold a
    /// password.
    pub(super) fn url_of(
        &self,
        name: &'static str,
        schemes: &[&str],
        expected: &str,
    ) -> Result<Option<String>, ConfigError> {
        self.get(name)
            .map(|v| {
                if schemes.iter().any(|s| v.starts_with(&format!("{s}://"))) {
                    Ok(v)
                } else {
                    Err(invalid(name, format!("expected {expected}")))
                }
            })
            .transpose()
    }
}

/// The error for `var`.
pub(super) fn invalid(var: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        var,
        message: message.into(),
    }
}

/// An http(s) URL without its trailing slash; `default` when unset.
pub(super) fn http_url(
    var: &'static str,
    value: Option<String>,
    default: &str,
) -> Result<String, ConfigError> {
    let value = value.unwrap_or_else(|| default.to_owned());
    match url::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {
            Ok(value.trim_end_matches('/').to_owned())
        }
        _ => Err(invalid(
            var,
            format!("expected an http(s) URL, got {value:?}"),
        )),
    }
}
