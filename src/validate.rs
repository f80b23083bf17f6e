//! Input checks shared by the capability modules; each failure is `BAD_USER_INPUT`.

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
