//! Where a field is written: the line of, say, `servers[1].listen` in the text, for the
//! messages about values that were read fine but do not make a working herd.

use toml_edit::{ImDocument, Item};

use super::error::line_at;

/// One step of a field's path: a key of a table, or an index into an array.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// The line where `field` is written. When it is not (a default), the line of the nearest
/// enclosing table that is; `None` when there is none, or the text is not TOML.
pub(crate) fn line_of(text: &str, field: &str) -> Option<usize> {
    let document = ImDocument::parse(text).ok()?;
    let mut item = document.as_item();
    let mut offset = None;
    for step in steps(field)? {
        let Some((start, next)) = find(item, step) else {
            break;
        };
        offset = start.or(offset);
        item = next;
    }
    offset.map(|o| line_at(text, o))
}

/// Takes one step into `item`: where the step is written (the key, else the value) and what
/// it leads to.
fn find<'d>(item: &'d Item, step: Step<'_>) -> Option<(Option<usize>, &'d Item)> {
    match step {
        Step::Key(key) => {
            let (key, value) = item.as_table_like()?.get_key_value(key)?;
            Some((key.span().or_else(|| value.span()).map(|s| s.start), value))
        }
        Step::Index(index) => {
            let value = item.get(index)?;
            Some((value.span().map(|s| s.start), value))
        }
    }
}

/// `servers[1].listen` as steps: `servers`, 1, `listen`. `None` when an index is not a number.
fn steps(field: &str) -> Option<Vec<Step<'_>>> {
    let mut steps = Vec::new();
    for part in field.split('.') {
        let mut pieces = part.split('[');
        if let Some(key) = pieces.next().filter(|k| !k.is_empty()) {
            steps.push(Step::Key(key));
        }
        for index in pieces {
            steps.push(Step::Index(index.trim_end_matches(']').parse().ok()?));
        }
    }
    Some(steps)
}
