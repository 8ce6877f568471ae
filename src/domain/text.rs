//! Free text typed by users (titles, notes, reasons), bounded and cleaned.
//!
//! Text is stored as typed (mentions included); making it safe to show is the
//! renderer's job. Here we only refuse what cannot be stored sensibly.

/// Why a piece of text was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    #[error("{field} is empty")]
    Empty { field: &'static str },
    #[error("{field} is {len} characters; the limit is {max}")]
    TooLong {
        field: &'static str,
        len: usize,
        max: usize,
    },
}

/// Trims the text, turns control characters (other than newlines in notes)
/// into spaces, and checks it is non-empty and within `max` characters.
pub fn bounded(field: &'static str, raw: &str, max: usize, multiline: bool) -> Result<String, TextError> {
    let cleaned: String = raw
        .trim()
        .chars()
        .map(|c| {
            if c.is_control() && !(multiline && c == '\n') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let len = cleaned.chars().count();
    if len == 0 {
        return Err(TextError::Empty { field });
    }
    if len > max {
        return Err(TextError::TooLong { field, len, max });
    }
    Ok(cleaned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_within_the_limit_is_kept_as_typed() {
        assert_eq!(
            bounded("title", "  mail @everyone down ", 50, false).unwrap(),
            "mail @everyone down"
        );
    }

    #[test]
    fn empty_and_over_long_text_is_refused_with_the_limit() {
        assert_eq!(
            bounded("title", "   ", 5, false),
            Err(TextError::Empty { field: "title" })
        );
        let err = bounded("note", "ééééééé", 5, true).unwrap_err();
        assert_eq!(err.to_string(), "note is 7 characters; the limit is 5");
    }

    #[test]
    fn control_characters_become_spaces_except_newlines_in_notes() {
        assert_eq!(bounded("note", "a\u{0}b\nc", 10, true).unwrap(), "a b\nc");
        assert_eq!(bounded("title", "a\nb", 10, false).unwrap(), "a b");
    }
}

/// The candidate closest to `word` by edit distance, if it is close enough to
/// be a plausible typo (at most a third of the word's length, at least 2).
pub fn nearest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let word = word.to_lowercase();
    let budget = (word.chars().count() / 3).max(2);
    candidates
        .into_iter()
        .map(|c| (edit_distance(&word, &c.to_lowercase()), c))
        .filter(|(d, _)| *d <= budget)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.chars().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod nearest_tests {
    use super::*;

    #[test]
    fn a_typo_finds_the_nearest_word_and_nonsense_finds_none() {
        let words = ["incident", "incidents", "show", "status"];
        assert_eq!(nearest("incdent", words), Some("incident"));
        assert_eq!(nearest("stats", words), Some("status"));
        assert_eq!(nearest("zzzzzzzz", words), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
