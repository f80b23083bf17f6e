//! Input checks shared by the capability modules (each failure is `BAD_USER_INPUT`),
//! and the default every JSON field starts from.

use crate::error::{AppError, AppResult};

/// At most `max` characters.
pub fn text_len(what: &str, value: &str, max: usize) -> AppResult<()> {
    if value.chars().count() > max {
        return Err(AppError::bad_input(format!(
            "{what} is longer than {max} characters"
        )));
    }
    Ok(())
}

/// Not empty after trimming, and at most `max` characters; returns the trimmed text.
pub fn required_text(what: &str, value: &str, max: usize) -> AppResult<String> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(AppError::bad_input(format!("{what} must not be empty")));
    }
    text_len(what, trimmed, max)?;
    Ok(trimmed.to_owned())
}

/// At most `max` characters when present.
pub fn optional_text(what: &str, value: Option<&String>, max: usize) -> AppResult<()> {
    if let Some(v) = value {
        text_len(what, v, max)?;
    }
    Ok(())
}

/// A percentage: 0 to 100.
pub fn percentage(what: &str, value: i32) -> AppResult<()> {
    if !(0..=100).contains(&value) {
        return Err(AppError::bad_input(format!(
            "{what} must be between 0 and 100"
        )));
    }
    Ok(())
}

/// `{}`: the default of every JSON field.
pub fn empty_object() -> serde_json::Value {
    serde_json::Value::Object(Default::default())
}

const EMAIL_MAX: usize = 254;

/// A plausible address: `local@domain.tld`, no spaces, at most 254 characters.
pub fn valid_email(text: &str) -> AppResult<String> {
    let bad = || AppError::bad_input("email is not a valid address");
    let email = text.trim();
    if email.is_empty() || email.chars().count() > EMAIL_MAX {
        return Err(bad());
    }
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = email.rsplit_once('@').ok_or_else(bad)?;
    if local.is_empty() || local.len() > 64 || local.contains('@') {
        return Err(bad());
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let label_ok = |l: &&str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if labels.len() < 2 || !labels.iter().all(label_ok) {
        return Err(bad());
    }
    Ok(email.to_owned())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // tests: a failed unwrap is a failed test
mod tests {
    use super::valid_email;

    #[test]
    fn emails_are_checked() {
        for good in [
            "a@b.co",
            " Mixed.Case+tag@Example.ORG ",
            "x@sub.domain-name.io",
        ] {
            assert!(valid_email(good).is_ok(), "{good}");
        }
        for bad in [
            "", "plain", "@b.co", "a@", "a@b", "a b@c.de", "a@b..co", "a@-b.co", "a@b.co.",
            "a@@b.co",
        ] {
            assert_eq!(
                valid_email(bad).expect_err(bad).code(),
                crate::error::ErrorCode::BadUserInput,
                "{bad}"
            );
        }
    }
}
