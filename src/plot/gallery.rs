//! A matte gallery: rows of clips, columns of images (input, truth, each
//! method's alpha), with titles. Raster by nature, so the SVG wraps the
//! PNG (base64) rather than drawing pixels as shapes.

use std::path::{Path, PathBuf};

use anyhow::{ensure, Result};
use image::RgbImage;
use plotters::prelude::*;

use super::style::{label_font, register_fonts};
use super::{encode_png, err};
use crate::atomic;
use crate::encode::{base64, markup_escape};

#[derive(Clone, Debug)]
pub struct Gallery {
    pub title: String,
    pub columns: Vec<String>,
    /// (row label, one image per column, all the same size).
    pub rows: Vec<(String, Vec<RgbImage>)>,
    /// Integer magnification (small frames are hard to see at 1x).
    pub scale: u32,
}

const HEAD: u32 = 56;
const GAP: u32 = 6;

impl Gallery {
    /// Width of the row-label column, from the longest label (~8 px a character).
    fn side(&self) -> u32 {
        self.rows.iter().map(|r| r.0.chars().count() as u32 * 8 + 16).max().unwrap_or(0).max(60)
    }

    fn cell(&self) -> Result<(u32, u32)> {
        let first = self.rows.first().and_then(|r| r.1.first()).ok_or_else(|| anyhow::anyhow!("gallery: no images"))?;
        let (w, h) = first.dimensions();
        for (label, imgs) in &self.rows {
            ensure!(imgs.len() == self.columns.len(), "gallery row '{label}': {} images for {} columns", imgs.len(), self.columns.len());
            ensure!(imgs.iter().all(|i| i.dimensions() == (w, h)), "gallery row '{label}': images differ in size");
        }
        Ok((w * self.scale.max(1), h * self.scale.max(1)))
    }

    pub fn size(&self) -> Result<(u32, u32)> {
        let (cw, ch) = self.cell()?;
        let n = self.columns.len() as u32;
        Ok((self.side() + n * (cw + GAP) + GAP, HEAD + self.rows.len() as u32 * (ch + GAP) + GAP))
    }

    /// The gallery as RGB pixels (width, height, bytes).
    pub fn to_rgb(&self) -> Result<(u32, u32, Vec<u8>)> {
        register_fonts();
        let (cw, ch) = self.cell()?;
        let (w, h) = self.size()?;
        let mut canvas = RgbImage::from_pixel(w, h, image::Rgb([255, 255, 255]));
        for (r, (_, imgs)) in self.rows.iter().enumerate() {
            for (c, img) in imgs.iter().enumerate() {
                let big = image::imageops::resize(img, cw, ch, image::imageops::FilterType::Nearest);
                let (x, y) = (self.side() + c as u32 * (cw + GAP) + GAP, HEAD + r as u32 * (ch + GAP) + GAP);
                image::imageops::replace(&mut canvas, &big, x as i64, y as i64);
            }
        }
        let mut buf = canvas.into_raw();
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.draw(&Text::new(self.title.clone(), (GAP as i32, 6), super::style::title_font())).map_err(err)?;
            for (c, name) in self.columns.iter().enumerate() {
                let x = (self.side() + c as u32 * (cw + GAP) + GAP) as i32;
                root.draw(&Text::new(name.clone(), (x, HEAD as i32 - 20), label_font())).map_err(err)?;
            }
            for (r, (label, _)) in self.rows.iter().enumerate() {
                let y = (HEAD + r as u32 * (ch + GAP) + GAP + ch / 2) as i32 - 8;
                root.draw(&Text::new(label.clone(), (GAP as i32, y), label_font())).map_err(err)?;
            }
            root.present().map_err(err)?;
        }
        Ok((w, h, buf))
    }

    pub fn to_png(&self) -> Result<Vec<u8>> {
        let (w, h, buf) = self.to_rgb()?;
        encode_png(w, h, &buf)
    }

    /// The gallery as (SVG, PNG), drawn once: the SVG shows the PNG, with
    /// the titles also as SVG text (searchable).
    pub fn render(&self) -> Result<(String, Vec<u8>)> {
        let (w, h) = self.size()?;
        let png = self.to_png()?;
        let svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\">\n\
             <title>{}</title>\n<desc>{}</desc>\n<image width=\"{w}\" height=\"{h}\" href=\"data:image/png;base64,{}\"/>\n</svg>\n",
            markup_escape(&self.title),
            markup_escape(&self.columns.join(", ")),
            base64(&png)
        );
        Ok((svg, png))
    }

    pub fn to_svg(&self) -> Result<String> {
        Ok(self.render()?.0)
    }

    pub fn save(&self, stem: &Path) -> Result<[PathBuf; 2]> {
        let (svg, png) = (stem.with_extension("svg"), stem.with_extension("png"));
        let (svg_text, png_bytes) = self.render()?;
        atomic::write(&svg, svg_text.as_bytes())?;
        atomic::write(&png, &png_bytes)?;
        Ok([svg, png])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_land_in_their_cells_magnified() {
        let red = RgbImage::from_pixel(4, 3, image::Rgb([255, 0, 0]));
        let blue = RgbImage::from_pixel(4, 3, image::Rgb([0, 0, 255]));
        let g = Gallery { title: "g".into(), columns: vec!["a".into(), "b".into()], rows: vec![("clip".into(), vec![red, blue])], scale: 2 };
        let (w, h, buf) = g.to_rgb().unwrap();
        assert_eq!((w, h), (g.side() + 2 * (8 + GAP) + GAP, HEAD + 6 + 2 * GAP));
        let px = |x: u32, y: u32| &buf[((y * w + x) * 3) as usize..((y * w + x) * 3 + 3) as usize];
        let (x0, y0) = (g.side() + GAP, HEAD + GAP);
        assert_eq!(px(x0 + 7, y0 + 5), &[255, 0, 0]);
        assert_eq!(px(x0 + 8 + GAP, y0), &[0, 0, 255]);
        assert!(g.to_svg().unwrap().contains("data:image/png;base64,iVBORw0KGgo"));
        let bad = Gallery { rows: vec![("x".into(), vec![RgbImage::new(2, 2)])], ..g };
        assert!(bad.to_rgb().is_err());
    }
}
