//! `hoimat-kernel run`: execute a notebook headlessly, without Python, the
//! way papermill does: a cell tagged `parameters` is followed by an
//! injected cell tagged `injected-parameters` that sets the given values;
//! every code cell runs in order in one session, outputs are stored in
//! nbformat 4 shape, and the first failing cell stops the run.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::session::{Event, Session};

/// A `-p name=value` pair as a Rust `let`: numbers, booleans and values that
/// look like Rust expressions (`"..."`, `vec![...]`, `[...]`, `(...)`,
/// `&...`) are used as written; anything else becomes a string literal.
pub fn parameter_line(name: &str, value: &str) -> Result<String> {
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || name.starts_with(|c: char| c.is_ascii_digit()) {
        bail!("parameter name '{name}' is not a Rust identifier");
    }
    let v = value.trim();
    let verbatim = v.parse::<f64>().is_ok() || v == "true" || v == "false" || ["\"", "vec!", "[", "(", "&", "Some(", "None"].iter().any(|p| v.starts_with(p));
    Ok(if verbatim { format!("let {name} = {v};") } else { format!("let {name} = {v:?};") })
}

fn tags(cell: &Value) -> Vec<String> {
    cell["metadata"]["tags"].as_array().map(|a| a.iter().filter_map(|t| t.as_str().map(String::from)).collect()).unwrap_or_default()
}

fn source(cell: &Value) -> String {
    match &cell["source"] {
        Value::String(s) => s.clone(),
        Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// Read a notebook, checking that it is nbformat 4 JSON.
pub fn read(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read", path.display()))?;
    let nb: Value = serde_json::from_str(&text).with_context(|| format!("{}: not a notebook (invalid JSON)", path.display()))?;
    if nb["nbformat"].as_u64() != Some(4) || !nb["cells"].is_array() {
        bail!("{}: not an nbformat 4 notebook (no 'cells' list or nbformat != 4)", path.display());
    }
    Ok(nb)
}

/// Insert the injected-parameters cell after the `parameters` cell (or at
/// the top when there is none), replacing an earlier injection.
pub fn inject(nb: &mut Value, params: &[(String, String)]) -> Result<()> {
    let cells = nb["cells"].as_array_mut().expect("checked");
    cells.retain(|c| !tags(c).iter().any(|t| t == "injected-parameters"));
    if params.is_empty() {
        return Ok(());
    }
    let lines = params.iter().map(|(k, v)| parameter_line(k, v)).collect::<Result<Vec<_>>>()?;
    let at = cells.iter().position(|c| tags(c).iter().any(|t| t == "parameters")).map_or(0, |i| i + 1);
    let cell = json!({
        "cell_type": "code",
        "execution_count": null,
        "metadata": { "tags": ["injected-parameters"] },
        "outputs": [],
        "source": format!("// Parameters injected by hoimat-kernel run\n{}", lines.join("\n")),
    });
    cells.insert(at, cell);
    Ok(())
}

/// Append an event to a cell's outputs (merging consecutive stream text).
fn push_output(outputs: &mut Vec<Value>, e: Event) {
    let (name, text) = match e {
        Event::Stdout(t) => ("stdout", t),
        Event::Stderr(t) => ("stderr", t),
        Event::Display(v) => {
            outputs.push(json!({ "output_type": "display_data", "data": v["data"], "metadata": v.get("metadata").cloned().unwrap_or(json!({})) }));
            return;
        }
    };
    if let Some(last) = outputs.last_mut() {
        if last["output_type"] == "stream" && last["name"] == name {
            let joined = format!("{}{}", last["text"].as_str().unwrap_or(""), text);
            last["text"] = Value::String(joined);
            return;
        }
    }
    outputs.push(json!({ "output_type": "stream", "name": name, "text": text }));
}

/// Execute every code cell of `nb` in `session`, echoing progress to the
/// terminal. Returns the number of the failed code cell (1-based), if one failed.
pub fn execute(nb: &mut Value, session: &mut Session) -> Option<usize> {
    let cells = nb["cells"].as_array_mut().expect("checked");
    let mut count = 0;
    let total = cells.iter().filter(|c| c["cell_type"] == "code").count();
    for cell in cells.iter_mut() {
        if cell["cell_type"] != "code" {
            continue;
        }
        count += 1;
        eprintln!("[hoimat-kernel run] cell {count}/{total}");
        let code = source(cell);
        let mut outputs = vec![];
        let result = session.execute(&code, &mut |e| {
            if let Event::Stdout(t) | Event::Stderr(t) = &e {
                eprint!("{t}");
            }
            push_output(&mut outputs, e)
        });
        cell["execution_count"] = json!(count);
        let failed = match result {
            Ok(Some(data)) => {
                outputs.push(json!({ "output_type": "execute_result", "execution_count": count, "data": data, "metadata": {} }));
                false
            }
            Ok(None) => false,
            Err(e) => {
                eprintln!("[hoimat-kernel run] cell {count} failed: {}: {}", e.ename, e.evalue);
                outputs.push(json!({ "output_type": "error", "ename": e.ename, "evalue": e.evalue, "traceback": e.traceback }));
                true
            }
        };
        cell["outputs"] = Value::Array(outputs);
        if failed {
            return Some(count);
        }
    }
    None
}

/// Write a notebook atomically.
pub fn write(nb: &Value, path: &Path) -> Result<()> {
    if let Some(d) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(d).with_context(|| format!("{}: cannot create", d.display()))?;
    }
    let tmp = path.with_extension("ipynb.tmp");
    std::fs::write(&tmp, serde_json::to_string_pretty(nb)? + "\n").with_context(|| format!("{}: cannot write", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("{}: cannot write", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_become_lets() {
        assert_eq!(parameter_line("profile", "smoke").unwrap(), "let profile = \"smoke\";");
        assert_eq!(parameter_line("g3", "0.4").unwrap(), "let g3 = 0.4;");
        assert_eq!(parameter_line("seeds", "vec![0, 1]").unwrap(), "let seeds = vec![0, 1];");
        assert_eq!(parameter_line("name", "\"a b\"").unwrap(), "let name = \"a b\";");
        assert!(parameter_line("1x", "2").is_err() && parameter_line("a-b", "2").is_err());
    }

    #[test]
    fn injection_follows_the_parameters_cell_and_replaces_an_old_one() {
        let mut nb = json!({ "nbformat": 4, "cells": [
            { "cell_type": "markdown", "metadata": {}, "source": "# t" },
            { "cell_type": "code", "metadata": { "tags": ["parameters"] }, "source": ["let profile = \"quick\";"], "outputs": [] },
            { "cell_type": "code", "metadata": {}, "source": "x", "outputs": [] },
        ]});
        inject(&mut nb, &[("profile".into(), "smoke".into())]).unwrap();
        inject(&mut nb, &[("profile".into(), "paper".into())]).unwrap();
        let cells = nb["cells"].as_array().unwrap();
        assert_eq!(cells.len(), 4);
        assert_eq!(tags(&cells[2]), vec!["injected-parameters"]);
        assert!(source(&cells[2]).ends_with("let profile = \"paper\";"));
    }

    #[test]
    fn stream_text_merges_and_displays_keep_their_place() {
        let mut out = vec![];
        push_output(&mut out, Event::Stdout("a\n".into()));
        push_output(&mut out, Event::Stdout("b\n".into()));
        push_output(&mut out, Event::Display(json!({ "data": { "text/html": "<p/>" } })));
        push_output(&mut out, Event::Stdout("c\n".into()));
        assert_eq!(out.len(), 3);
        assert_eq!(out[0]["text"], "a\nb\n");
        assert_eq!(out[1]["output_type"], "display_data");
        assert_eq!(out[2]["text"], "c\n");
    }

    #[test]
    fn bad_notebooks_are_named() {
        let p = std::env::temp_dir().join(format!("hoimat-bad-{}.ipynb", std::process::id()));
        std::fs::write(&p, "{ not json").unwrap();
        assert!(format!("{:#}", read(&p).unwrap_err()).contains("invalid JSON"));
        std::fs::write(&p, "{\"nbformat\": 3, \"cells\": []}").unwrap();
        assert!(format!("{:#}", read(&p).unwrap_err()).contains("nbformat 4"));
        std::fs::remove_file(&p).unwrap();
    }
}
