//! Rich output for notebooks. In the hoimat kernel (which sets
//! `HOIMAT_KERNEL`), each call prints one `KERNEL_DISPLAY {json}` line on
//! stdout: the kernel turns it into a Jupyter `display_data` message in the
//! order it was printed, between the cell's text. Anywhere else the
//! `text/plain` part is printed, so the same code runs in a terminal.

use anyhow::Result;
use serde_json::{json, Map, Value};

use crate::experiments::figures::Figure;
use crate::encode::{base64, markup_escape};
use crate::experiments::report::{tables, verdicts, PaperNumbers, PaperTable};
use crate::experiments::{Definition, Lab, Outcome};
use crate::plot::{self, Chart};
use crate::store::query::Summary;

/// The line prefix the kernel intercepts.
pub const MARKER: &str = "KERNEL_DISPLAY ";

/// Whether this process runs under the hoimat kernel.
pub fn in_kernel() -> bool {
    std::env::var_os("HOIMAT_KERNEL").is_some()
}

/// Emit one display: a MIME bundle (`text/plain` is always included).
pub fn bundle(mut data: Map<String, Value>, plain: &str) {
    data.insert("text/plain".into(), Value::String(plain.into()));
    if in_kernel() {
        println!("{MARKER}{}", json!({ "data": data, "metadata": {} }));
    } else {
        println!("{plain}");
    }
}

fn one(mime: &str, content: Value, plain: &str) {
    let mut m = Map::new();
    m.insert(mime.into(), content);
    bundle(m, plain);
}

pub fn png(bytes: &[u8]) {
    one("image/png", Value::String(base64(bytes)), &format!("[PNG image, {} bytes]", bytes.len()));
}

pub fn svg(text: &str) {
    one("image/svg+xml", Value::String(text.into()), "[SVG image]");
}

pub fn html(text: &str) {
    one("text/html", Value::String(text.into()), text);
}

pub fn markdown(text: &str) {
    one("text/markdown", Value::String(text.into()), text);
}

/// One display carrying both PNG and SVG (the front end picks).
fn image(png: &[u8], svg: String, plain: &str) {
    let mut m = Map::new();
    m.insert("image/png".into(), Value::String(base64(png)));
    m.insert("image/svg+xml".into(), Value::String(svg));
    bundle(m, plain);
}

/// A chart, as PNG and SVG.
pub fn chart(c: &impl Chart) -> Result<()> {
    image(&plot::to_png(c)?, plot::to_svg(c)?, "[chart]");
    Ok(())
}

/// A drawn experiment figure (PNG and SVG).
pub fn figure(f: &Figure) {
    image(&f.png, f.svg.clone(), &format!("[figure: {}]", f.title));
}

/// A paper-shaped table as HTML (Markdown as the plain text).
pub fn table(t: &PaperTable) {
    one("text/html", Value::String(t.to_html()), &t.to_markdown());
}

/// Summaries (mean ± std over seeds) as an HTML table.
pub fn summaries(rows: &[Summary]) {
    let t = PaperTable {
        caption: "mean ± std over seeds (synthetic data)".into(),
        header: vec!["dataset".into(), "metric".into(), "mean".into(), "std".into(), "seeds".into(), "clips".into()],
        rows: rows
            .iter()
            .map(|s| (s.method.clone(), vec![s.dataset.clone(), s.metric.clone(), format!("{:.4}", s.mean), format!("{:.4}", s.std), s.n_seeds.to_string(), s.n_clips.to_string()]))
            .collect(),
    };
    table(&t);
}

/// Run an experiment (computing only what the store lacks), then show its
/// tables beside the paper's numbers, the claim verdicts in words, and its
/// charts. What a table or figure notebook calls.
pub fn experiment(lab: &Lab, def: &Definition) -> Result<Outcome> {
    lab.say(&format!("{}: {} (profile {}, seeds {:?}; synthetic data)", def.id, def.title, lab.profile, def.seeds));
    let o = lab.run(def)?;
    lab.say(&format!("{} run(s) computed, {} from the store, {:.1} s", o.runs_done, o.runs_cached, o.seconds));
    for t in tables(&o, &PaperNumbers::builtin()) {
        table(&t);
    }
    let v = verdicts(&o);
    if !v.is_empty() {
        let items: String = v.iter().map(|v| format!("<li>{}</li>", markup_escape(&v.line()))).collect();
        let plain: Vec<String> = v.iter().map(|v| v.line()).collect();
        one("text/html", Value::String(format!("<p>Claims of the paper, checked on our numbers:</p><ul>{items}</ul>")), &plain.join("\n"));
    }
    for f in lab.draw_figures(&o)? {
        f.save(&lab.figures())?;
        figure(&f);
    }
    Ok(o)
}
