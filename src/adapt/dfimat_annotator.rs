//! An interactive annotator for local adaptation: the paper annotates its
//! captured frames with a click-driven tool (MatteAnything); this one is a
//! trained DFIMat-like model driven by simulated clicks (a box and
//! positive clicks first, then one correction click per round where the
//! last matte is most wrong), so its errors are those of a real
//! interactive matting model rather than a noise model.

use tch::{Device, Kind, Tensor};

use super::annotate::Annotator;
use crate::frame::{Plane, Rgb};
use crate::model::zoo::dfimat::interactive_alpha;
use crate::model::Matter;
use crate::train::batch::to_plane;
use crate::world::rng::Rand;

pub struct DfimatAnnotator {
    /// A DFIMat-like model (its `prompt_channels` maps after RGB).
    pub net: Box<dyn Matter>,
    /// Interaction rounds (the first included), at least 1.
    pub rounds: usize,
    /// Positive clicks of the first round.
    pub clicks: usize,
}

impl Annotator for DfimatAnnotator {
    fn name(&self) -> String {
        format!("dfimat({} rounds)", self.rounds)
    }

    fn annotate(&self, com: &Rgb, truth: &Plane, r: &mut Rand) -> Plane {
        let dev = self.net.params().device();
        let (w, h) = (com.w as i64, com.h as i64);
        let com = Tensor::from_slice(&com.data).view([1, h, w, 3]).permute([0, 3, 1, 2]).to_kind(Kind::Float).to_device(dev);
        let truth = Tensor::from_slice(&truth.data).view([1, 1, truth.h as i64, truth.w as i64]).to_device(dev);
        let a = interactive_alpha(self.net.as_ref(), self.net.params(), &com, &truth, self.rounds, self.clicks, r);
        to_plane(&a.to_device(Device::Cpu).squeeze_dim(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::zoo::dfimat::Dfimat;
    use crate::model::ModelConfig;

    #[test]
    fn annotates_a_plane_of_the_frame_size_reproducibly() {
        let net = Dfimat::new(&ModelConfig::quick(), Device::Cpu, 0);
        let ann = DfimatAnnotator { net: Box::new(net), rounds: 2, clicks: 1 };
        assert_eq!(ann.name(), "dfimat(2 rounds)");
        let com = Rgb::filled(40, 24, [0.3, 0.5, 0.7]);
        let mut truth = Plane::filled(40, 24, 0.0);
        for y in 6..18 {
            truth.data[y * 40 + 10..y * 40 + 30].fill(1.0);
        }
        let a = ann.annotate(&com, &truth, &mut Rand::keyed("ann", 1));
        assert_eq!(a.dims(), (40, 24));
        assert!(a.data.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(a, ann.annotate(&com, &truth, &mut Rand::keyed("ann", 1)));
    }
}
