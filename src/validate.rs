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
