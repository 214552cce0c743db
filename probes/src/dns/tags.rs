//! Tag=value lists (RFC 6376 3.2), the syntax of DKIM key records, DMARC, MTA-STS and
//! TLS-RPT TXT records, parsed with the position of every tag so faults can be placed.

/// A fault in a tag-value record (DMARC, DKIM key) at a byte range, with its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub state: crate::State,
    pub start: usize,
    pub end: usize,
    pub message: String,
}

/// One `name=value` pair and where it stands in the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tag {
    pub name: String,
    pub value: String,
    /// Byte range of the whole `name=value`.
    pub start: usize,
    pub end: usize,
}

/// A syntax fault at a byte range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub start: usize,
    pub end: usize,
    pub message: String,
}

/// Splits `text` at `;` into tags; whitespace around names and values is ignored, an empty
/// trailing element is allowed. Returns the tags and the faults (a piece without `=`, an
/// empty name, a name given twice).
pub fn parse(text: &str) -> (Vec<Tag>, Vec<SyntaxError>) {
    let mut tags: Vec<Tag> = Vec::new();
    let mut errors = Vec::new();
    let mut pos = 0;
    for piece in text.split(';') {
        let start = pos;
        pos += piece.len() + 1;
        if piece.trim().is_empty() {
            continue;
        }
        let lead = piece.len() - piece.trim_start().len();
        let (s, e) = (start + lead, start + piece.trim_end().len());
        let Some(eq) = piece.find('=') else {
            errors.push(SyntaxError {
                start: s,
                end: e,
                message: format!("`{}` is not a tag=value pair", piece.trim()),
            });
            continue;
        };
        let name = piece[..eq].trim();
        let value = piece[eq + 1..].trim();
        let name_ok = !name.is_empty()
            && name.as_bytes()[0].is_ascii_alphabetic()
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !name_ok {
            errors.push(SyntaxError {
                start: s,
                end: e,
                message: format!("`{name}` is not a valid tag name"),
            });
            continue;
        }
        if tags.iter().any(|t| t.name.eq_ignore_ascii_case(name)) {
            errors.push(SyntaxError {
                start: s,
                end: e,
                message: format!("tag `{name}` appears twice"),
            });
            continue;
        }
        tags.push(Tag {
            name: name.to_string(),
            value: value.to_string(),
            start: s,
            end: e,
        });
    }
    (tags, errors)
}

/// The tag named `name` (case-insensitively).
pub fn get<'a>(tags: &'a [Tag], name: &str) -> Option<&'a Tag> {
    tags.iter().find(|t| t.name.eq_ignore_ascii_case(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_and_faults() {
        let text = "v=DMARC1; p=reject ;rua=mailto:a@b.example;; junk; p=none";
        let (tags, errs) = parse(text);
        assert_eq!(tags.len(), 3);
        assert_eq!(&text[tags[1].start..tags[1].end], "p=reject");
        assert_eq!(tags[1].value, "reject");
        assert_eq!(errs.len(), 2);
        assert_eq!(&text[errs[0].start..errs[0].end], "junk");
        assert!(errs[1].message.contains("twice"));
        assert_eq!(get(&tags, "RUA").unwrap().value, "mailto:a@b.example");
    }
}
