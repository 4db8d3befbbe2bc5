//! `hoimat eval`: a prediction tree scored against the truth, printed or as JSON and Parquet.

use std::path::Path;

use anyhow::Result;

pub fn eval(pred: &Path, truth: &Path, json: bool, per_clip: Option<&Path>, miou_threshold: f32) -> Result<()> {
    use hoimat::store::{Column, Table};
    let opts = hoimat::metrics::EvalOptions { miou_threshold, ..Default::default() };
    let report = hoimat::metrics::evaluate_dirs(pred, truth, &opts)?;
    if let Some(path) = per_clip {
        let c = &report.clips;
        let f = |g: &dyn Fn(&hoimat::metrics::ClipScores) -> Option<f64>| Column::F64(c.iter().map(g).collect());
        Table::new()
            .with("dataset", Column::Str(c.iter().map(|x| x.dataset.clone()).collect()))?
            .with("clip", Column::Str(c.iter().map(|x| x.clip.clone()).collect()))?
            .with("n_frames", Column::I64(c.iter().map(|x| x.n_frames as i64).collect()))?
            .with("pha_mad_x1e3", f(&|x| Some(x.pha_mad)))?
            .with("pha_mse_x1e3", f(&|x| Some(x.pha_mse)))?
            .with("pha_grad_div1e3", f(&|x| Some(x.pha_grad)))?
            .with("pha_conn_div1e3", f(&|x| Some(x.pha_conn)))?
            .with("pha_dtssd_x1e2", f(&|x| Some(x.pha_dtssd)))?
            .with("miou_fraction", f(&|x| Some(x.miou)))?
            .with("fgr_mad_x1e3", f(&|x| x.fgr_mad))?
            .with("fgr_mse_x1e3", f(&|x| x.fgr_mse))?
            .with("miou_tolerant_fraction", f(&|x| x.hoi.as_ref().and_then(|h| h.miou_tolerant)))?
            .with("held_iou", f(&|x| x.hoi.as_ref().and_then(|h| h.held_iou)))?
            .with("held_recall", f(&|x| x.hoi.as_ref().and_then(|h| h.held_recall)))?
            .with("held_precision", f(&|x| x.hoi.as_ref().and_then(|h| h.held_precision)))?
            .with("free_recall", f(&|x| x.hoi.as_ref().and_then(|h| h.free_recall)))?
            .with("interferer_fp", f(&|x| x.hoi.as_ref().and_then(|h| h.interferer_fp)))?
            .write_parquet(path)?;
    }
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!("{} clips", report.clips.len());
        println!("MAD  (x1e3)  {:>10.4}", report.pha_mad);
        println!("MSE  (x1e3)  {:>10.4}", report.pha_mse);
        println!("Grad (/1e3)  {:>10.4}", report.pha_grad);
        println!("Conn (/1e3)  {:>10.4}", report.pha_conn);
        println!("dtSSD (x1e2) {:>10.4}", report.pha_dtssd);
        println!("mIoU (%)     {:>10.2}", 100.0 * report.miou);
        if let (Some(a), Some(b)) = (report.fgr_mad, report.fgr_mse) {
            println!("fgr MAD (x1e3) {a:.4}, fgr MSE (x1e3) {b:.4}");
        }
        if let Some(h) = &report.hoi {
            let pct = |v: Option<f64>| v.map_or("n/a".to_string(), |v| format!("{:.2}", 100.0 * v));
            println!("objects (truth has label maps; pixels pooled over the tree):");
            println!("mIoU, ±1 px boundary ignored (%) {}", pct(h.miou_tolerant));
            println!("held object IoU / recall / precision (%) {} / {} / {}", pct(h.held_iou), pct(h.held_recall), pct(h.held_precision));
            println!("free-object recall (%) {}, interferer FP rate (%) {}", pct(h.free_recall), pct(h.interferer_fp));
            println!("{:<12} {:>10} {:>8} {:>8}", "region", "MAD x1e3", "FP %", "FN %");
            for (r, e) in &h.regions {
                println!("{r:<12} {:>10.2} {:>8.2} {:>8.2}", e.mad, 100.0 * e.fp, 100.0 * e.fn_share);
            }
        }
    }
    Ok(())
}
