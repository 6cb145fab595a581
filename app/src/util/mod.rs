//! Small helpers any layer may use.

pub mod time;

/// The file name (without extension) of the client bundle in `/pkg`.
pub const OUTPUT_NAME: &str = "oauth_vault";

/// Up to two initials: of the first two words, else the first two letters.
pub fn monogram(name: &str) -> String {
    let words: Vec<&str> = name.split_whitespace().collect();
    let letters: String = if words.len() >= 2 {
        words
            .iter()
            .filter_map(|w| w.chars().find(|c| c.is_alphanumeric()))
            .take(2)
            .collect()
    } else {
        name.chars()
            .filter(|c| c.is_alphanumeric())
            .take(2)
            .collect()
    };
    let mut out = String::new();
    for (i, c) in letters.chars().enumerate() {
        if i == 0 || words.len() >= 2 {
            out.extend(c.to_uppercase());
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// One of eight colours, the same for an id every time.
pub fn monogram_colour(id: &str) -> u32 {
    id.bytes().fold(2166136261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16777619)
    }) % 8
}

#[cfg(test)]
mod monogram_tests {
    use super::*;

    #[test]
    fn monograms_are_initials() {
        assert_eq!(monogram("Attio"), "At");
        assert_eq!(monogram("QuickBooks Online"), "QO");
        assert_eq!(monogram("Microsoft (Entra ID)"), "ME");
        assert_eq!(monogram_colour("attio"), monogram_colour("attio"));
        assert!(monogram_colour("zendesk") < 8);
    }
}
