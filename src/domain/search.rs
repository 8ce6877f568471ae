//! What `!search` looks for: the words of a query, taken from user text.
//!
//! A query is only words of letters and digits (any script): everything else
//! a user types (quotes, `*`, `^`, `:`, parentheses, `-`, `+`) separates words
//! and is never passed on as query syntax. The store turns the words into its
//! full-text query, each word quoted; it alone knows that syntax, and gives
//! back [`SearchHit`]s with excerpts whose matched words are marked.

use super::incident::Incident;

/// Where an excerpt's matched words start and end: private-use characters
/// (FTS5 `snippet()` puts them there), which render turns into emphasis after
/// it has made the text safe to show.
pub const HIT_START: char = '\u{E000}';
pub const HIT_END: char = '\u{E001}';

/// One incident a search found, with the parts of it that matched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchHit {
    pub incident: Incident,
    /// Whether the words are in its title.
    pub in_title: bool,
    /// An excerpt of its notes around the words, when they are there.
    pub note: Option<String>,
    /// An excerpt of its resolution around the words, when they are there.
    pub resolution: Option<String>,
}

/// The most words a query keeps: more say nothing a search could use.
pub const MAX_WORDS: usize = 12;

/// The longest word a query keeps, in characters.
const MAX_WORD: usize = 40;

/// The words of a search, lowercased, in the order typed, without repeats.
/// Never empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    words: Vec<String>,
}

impl SearchQuery {
    /// Reads the words of `text`; `None` when it has none (empty, or only
    /// punctuation). Beyond [`MAX_WORDS`] words the rest are left out; a word
    /// longer than 40 characters is cut.
    pub fn parse(text: &str) -> Option<Self> {
        let mut words: Vec<String> = Vec::new();
        for word in text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            let word: String = word.to_lowercase().chars().take(MAX_WORD).collect();
            if !words.contains(&word) {
                words.push(word);
            }
            if words.len() == MAX_WORDS {
                break;
            }
        }
        (!words.is_empty()).then_some(Self { words })
    }

    /// The words, each only letters and digits.
    pub fn words(&self) -> &[String] {
        &self.words
    }
}

impl std::fmt::Display for SearchQuery {
    /// The words as the search used them: `mail relay`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.words.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_syntax_in_user_text_only_separates_words() {
        let cases = [
            ("plain words", "mail relay", vec!["mail", "relay"]),
            (
                "quotes and operators",
                "\"mail\" AND relay* NOT ^x",
                vec!["mail", "and", "relay", "not", "x"],
            ),
            (
                "column filters and groups",
                "title:(vpn OR payroll) NEAR/3",
                vec!["title", "vpn", "or", "payroll", "near", "3"],
            ),
            ("repeats kept once", "DNS dns Dns", vec!["dns"]),
            (
                "other scripts are words",
                "Köln 東京 ünïcødé",
                vec!["köln", "東京", "ünïcødé"],
            ),
            ("an address splits", "bob@example.com", vec!["bob", "example", "com"]),
        ];
        for (what, text, expected) in cases {
            let q = SearchQuery::parse(text).unwrap_or_else(|| panic!("{what}: no words"));
            assert_eq!(q.words(), expected, "{what}");
        }
    }

    #[test]
    fn a_query_without_words_is_none() {
        for text in ["", "   ", "\"\"", "*** ^^ ()", "-- + : ;", "\u{200B}"] {
            assert_eq!(SearchQuery::parse(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_query_keeps_a_bounded_number_of_bounded_words() {
        let many: String = (0..50).map(|i| format!("w{i} ")).collect();
        assert_eq!(SearchQuery::parse(&many).unwrap().words().len(), MAX_WORDS);
        let long = "x".repeat(500);
        assert_eq!(SearchQuery::parse(&long).unwrap().words()[0].chars().count(), 40);
        assert_eq!(SearchQuery::parse("Mail  RELAY").unwrap().to_string(), "mail relay");
    }
}
