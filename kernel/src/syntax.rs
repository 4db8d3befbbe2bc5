//! Is a cell complete? Console frontends (jupyter console, qtconsole) ask
//! before sending a line: an open brace, bracket, parenthesis, string or
//! block comment means "incomplete" (keep reading lines), a closer with no
//! opener means "invalid". A Rust lexer just deep enough for that: line and
//! nested block comments, strings with escapes, raw strings (`r#"..."#`),
//! byte strings, and char literals told apart from lifetimes (`'a'` vs `'a`).

#[derive(Debug, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// Still open; the indent the next line should get.
    Incomplete(String),
    Invalid,
}

pub fn check(code: &str) -> Completeness {
    let c: Vec<char> = code.chars().collect();
    let mut open: Vec<char> = vec![];
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '/' if c.get(i + 1) == Some(&'/') => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            '/' if c.get(i + 1) == Some(&'*') => {
                let mut depth = 1;
                i += 2;
                while depth > 0 {
                    match (c.get(i), c.get(i + 1)) {
                        (None, _) => return incomplete(open.len() + 1),
                        (Some('/'), Some('*')) => (depth, i) = (depth + 1, i + 2),
                        (Some('*'), Some('/')) => (depth, i) = (depth - 1, i + 2),
                        _ => i += 1,
                    }
                }
                continue;
            }
            'r' | 'b' if raw_start(&c, i).is_some() && !ident_before(&c, i) => {
                let (hashes, body) = raw_start(&c, i).expect("checked");
                match find_raw_end(&c, body, hashes) {
                    Some(end) => i = end,
                    None => return incomplete(open.len() + 1),
                }
                continue;
            }
            '"' => match string_end(&c, i + 1, '"') {
                Some(end) => i = end,
                None => return incomplete(open.len() + 1),
            },
            '\'' => {
                // A char literal closes within a few characters ('x', '\n',
                // '\u{1F600}'); otherwise it is a lifetime or a label.
                if let Some(end) = string_end(&c, i + 1, '\'').filter(|&e| e - i <= 12 && !c[i + 1..e].contains(&'\n')) {
                    if c.get(i + 1) == Some(&'\\') || end == i + 2 {
                        i = end;
                    }
                }
            }
            '(' | '[' | '{' => open.push(c[i]),
            ')' | ']' | '}' => {
                let want = match c[i] {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                if open.pop() != Some(want) {
                    return Completeness::Invalid;
                }
            }
            _ => {}
        }
        i += 1;
    }
    if open.is_empty() {
        Completeness::Complete
    } else {
        incomplete(open.len())
    }
}

fn incomplete(depth: usize) -> Completeness {
    Completeness::Incomplete("    ".repeat(depth))
}

/// The index of the closing `quote` of a literal whose body starts at `from`
/// (escapes skipped), or None when the input ends first.
fn string_end(c: &[char], from: usize, quote: char) -> Option<usize> {
    let mut i = from;
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            x if x == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

/// `r"`, `r#"`, `br"`, `br##"`: the number of hashes and where the body starts.
fn raw_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let mut j = i;
    if c[j] == 'b' {
        j += 1;
    }
    if c.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = c[j..].iter().take_while(|&&x| x == '#').count();
    (c.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes + 1))
}

fn find_raw_end(c: &[char], from: usize, hashes: usize) -> Option<usize> {
    (from..c.len()).find(|&k| c[k] == '"' && c[k + 1..].iter().take(hashes).filter(|&&x| x == '#').count() == hashes && k + hashes < c.len()).map(|k| k + hashes + 1)
}

/// The `r`/`b` is part of an identifier (`bar"` is not a raw string start).
fn ident_before(c: &[char], i: usize) -> bool {
    i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use Completeness::*;

    #[test]
    fn open_delimiters_strings_and_comments_are_incomplete() {
        assert_eq!(check("let x = 1;"), Complete);
        assert_eq!(check(""), Complete);
        assert_eq!(check("fn f() {"), Incomplete("    ".into()));
        assert_eq!(check("for i in 0..3 {\n    if i > 1 {"), Incomplete("        ".into()));
        assert_eq!(check("let v = vec![1,\n2"), Incomplete("    ".into()));
        assert!(matches!(check("let s = \"abc"), Incomplete(_)));
        assert!(matches!(check("/* a /* nested */ comment"), Incomplete(_)));
        assert!(matches!(check("let s = r#\"a \" quote"), Incomplete(_)));
    }

    #[test]
    fn closed_literals_hide_their_delimiters() {
        assert_eq!(check("let s = \"{ (\";"), Complete);
        assert_eq!(check("let s = \"a \\\" {\";"), Complete);
        assert_eq!(check("let c = '{';"), Complete);
        assert_eq!(check("let c = '\\'';"), Complete);
        assert_eq!(check("let s = r#\"a \" { \"#;"), Complete);
        assert_eq!(check("let b = br\"{\";"), Complete);
        assert_eq!(check("// {\nlet x = 1;"), Complete);
        assert_eq!(check("/* { /* } */ */ let x = 1;"), Complete);
        // Lifetimes and labels are not char literals.
        assert_eq!(check("fn f<'a>(x: &'a str) -> &'a str { x }"), Complete);
        assert_eq!(check("'outer: loop { break 'outer; }"), Complete);
        // An identifier ending in r or b before a string.
        assert_eq!(check("let bar = 1; let s = \"}\";"), Complete);
    }

    #[test]
    fn a_closer_without_an_opener_is_invalid() {
        assert_eq!(check("let x = 1; }"), Invalid);
        assert_eq!(check("let v = (1, 2];"), Invalid);
    }
}
