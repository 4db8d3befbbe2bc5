//! The second-order meta-gradient of MAML-RAL at and beside theta = theta_f,
//! with every term of Eq. 10 in the inner loss (matting loss, FC, CC), on
//! the real network in f64. The expected value is derived independently of
//! the double backward: v = grad L_outer(theta') computed plainly, H v by
//! central differences of the inner gradient, and (I - alpha H) v.

use hoimat::meta::constraints::{Distance, FcConfig};
use hoimat::meta::hoi_loss::{hoi_loss, HoiWeights};
use hoimat::meta::maml::{cosine, meta_gradient, norm};
use hoimat::model::{BnMode, MattingNet, ModelConfig, ParamSet};
use hoimat::loss::matting_loss;
use hoimat::train::batch::Batch;
use tch::{Device, Kind, Tensor};

const ALPHA: f64 = 0.05;

/// libtorch's generator is global and the tests run in parallel: every draw
/// happens under this lock, so each test sees the same data every run.
static RNG: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn f64_net(seed: u64) -> MattingNet {
    let mut net = MattingNet::new(&ModelConfig::quick(), Device::Cpu, seed);
    net.params = net.params.map(|_, t| t.detach().to_kind(Kind::Double).set_requires_grad(true));
    net.buffers = net.buffers.map(|_, t| t.detach().to_kind(Kind::Double));
    net
}

fn batch(seed: i64) -> Batch {
    tch::manual_seed(seed);
    let o = (Kind::Double, Device::Cpu);
    let src = Tensor::rand([1, 2, 3, 32, 48], o);
    let pha = Tensor::rand([1, 2, 1, 32, 48], o).gt(0.6).to_kind(Kind::Double);
    Batch::new(src.shallow_clone(), pha, src)
}

struct Setup {
    net: MattingNet,
    factory: MattingNet,
    train: Batch,
    test: Batch,
}

fn setup() -> Setup {
    let _g = RNG.lock().unwrap_or_else(|e| e.into_inner());
    let factory = f64_net(3);
    let net = f64_net(3);
    Setup { net, factory, train: batch(1), test: batch(2) }
}

fn weights(g3: f64, cc: Distance) -> HoiWeights {
    HoiWeights { cc_distance: cc, ..HoiWeights::new(0.7, 0.1, g3) }
}

fn inner_loss(s: &Setup, p: &ParamSet, w: &HoiWeights) -> Tensor {
    let fc = FcConfig::default();
    hoi_loss(&s.net, p, &s.factory, &s.train, w, &fc, BnMode::Batch).total
}

fn outer_loss(s: &Setup, p: &ParamSet) -> Tensor {
    let o = s.net.forward_bn(p, &s.test.src, None, BnMode::Batch);
    matting_loss(&o.pha, &o.fgr, &s.test.pha, &s.test.fgr).total
}

fn grad_at(p: &ParamSet, f: &dyn Fn(&ParamSet) -> Tensor) -> Vec<Tensor> {
    let q = p.detached(true);
    let l = f(&q);
    // The refiner and the segmentation head are idle here: zero gradients.
    q.defined_grads(Tensor::run_backward(&[&l], &q.tensors().iter().collect::<Vec<_>>(), false, false))
}

fn shifted(p: &ParamSet, d: &[Tensor], step: f64) -> ParamSet {
    ParamSet::from_pairs(p.names().iter().cloned().zip(p.tensors().iter().zip(d).map(|(t, d)| t.detach() + d * step)).collect())
}

/// (I - alpha H) v with v = grad L_outer(theta') and H v by central
/// differences of the inner gradient with step `h` / |v|; also v itself
/// (the first-order direction).
fn fd_meta_gradient_step(s: &Setup, theta: &ParamSet, w: &HoiWeights, h: f64) -> (Vec<Tensor>, Vec<Tensor>) {
    let inner = |p: &ParamSet| inner_loss(s, p, w);
    let g_in = grad_at(theta, &inner);
    let adapted = shifted(theta, &g_in, -ALPHA);
    let v = grad_at(&adapted, &|p: &ParamSet| outer_loss(s, p));
    let eps = h / norm(&v);
    let (gp, gm) = (grad_at(&shifted(theta, &v, eps), &inner), grad_at(&shifted(theta, &v, -eps), &inner));
    let meta = v.iter().zip(gp.iter().zip(&gm)).map(|(v, (a, b))| v - (a - b) / (2.0 * eps) * ALPHA).collect();
    (meta, v)
}

/// The finite-difference meta-gradient, trusted only where it is stable:
/// the network has kinks (ReLU, hardswish, RVM's alpha clamp), and a central
/// difference whose two points straddle one measures a jump, not a
/// derivative (its size then grows as 1 / step). So two steps, 1e-7 and
/// 1e-8, must agree before the value is used.
fn finite_difference_meta_gradient(s: &Setup, theta: &ParamSet, w: &HoiWeights) -> (Vec<Tensor>, Vec<Tensor>) {
    let (a, v) = fd_meta_gradient_step(s, theta, w, 1e-7);
    let (b, _) = fd_meta_gradient_step(s, theta, w, 1e-8);
    let e = rel_err(&b, &a);
    assert!(e < 1e-5, "the finite difference is not stable across steps (relative change {e:e}): a kink lies within the step");
    (a, v)
}

fn exact_meta_gradient(s: &Setup, theta: &ParamSet, w: &HoiWeights) -> (Vec<Tensor>, Vec<Tensor>) {
    exact_meta_gradient_at(s, theta, w, ALPHA)
}

fn exact_meta_gradient_at(s: &Setup, theta: &ParamSet, w: &HoiWeights, alpha: f64) -> (Vec<Tensor>, Vec<Tensor>) {
    let theta = theta.detached(true);
    let step = meta_gradient(&theta, &|p: &ParamSet| inner_loss(s, p, w), &|p: &ParamSet| outer_loss(s, p), alpha, 1, false);
    (step.grads, step.first_order_grads)
}

fn rel_err(a: &[Tensor], b: &[Tensor]) -> f64 {
    let d: Vec<Tensor> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    norm(&d) / norm(b)
}

#[test]
fn constraints_vanish_at_theta_f() {
    let s = setup();
    let w = HoiWeights::default();
    let fc = FcConfig::default();
    let l = hoi_loss(&s.net, &s.factory.params, &s.factory, &s.train, &w, &fc, BnMode::Batch);
    assert_eq!(l.cc.double_value(&[]), 0.0);
    // The factory's features use the same batch statistics: FC is exactly 0.
    assert_eq!(l.fc.double_value(&[]), 0.0);
    assert!(l.matting.double_value(&[]) > 0.0);
}

/// Exact vs finite-difference meta-gradient at `theta`, both distances.
fn check_against_finite_differences(s: &Setup, where_: &str, theta: &ParamSet) {
    for cc in [Distance::Squared, Distance::Smoothed { radius: 1.0 }] {
        let w = weights(0.2, cc);
        let (exact, first_order) = exact_meta_gradient(s, theta, &w);
        let (want, v) = finite_difference_meta_gradient(s, theta, &w);
        assert!(rel_err(&first_order, &v) < 1e-9, "{where_}: the first-order direction is grad L_outer(theta')");
        let e = rel_err(&exact, &want);
        eprintln!("{where_}, {cc:?}: relative error {e:.2e}");
        assert!(e < 1e-5, "{where_}, {cc:?}: |exact - (I - aH)v| / |(I - aH)v| = {e:e}");
    }
}

#[test]
fn the_meta_gradient_equals_its_finite_difference_at_theta_f() {
    let s = setup();
    check_against_finite_differences(&s, "at theta_f", &s.factory.params.detached(false));
}

#[test]
fn the_meta_gradient_equals_its_finite_difference_beside_theta_f() {
    let s = setup();
    let dir: Vec<Tensor> = {
        let _g = RNG.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(8);
        s.factory.params.tensors().iter().map(|t| t.randn_like() * 1e-3).collect()
    };
    check_against_finite_differences(&s, "beside theta_f", &shifted(&s.factory.params, &dir, 1.0));
}

#[test]
fn at_theta_f_the_constraints_keep_the_meta_gradient_well_directed() {
    let s = setup();
    let theta = s.factory.params.detached(false);
    let (free, fo) = exact_meta_gradient(&s, &theta, &weights(0.0, Distance::Squared));
    let (with, _) = exact_meta_gradient(&s, &theta, &weights(0.2, Distance::Squared));
    let (c, ratio) = (cosine(&with, &free), norm(&with) / norm(&free));
    eprintln!("squared CC at theta_f: cosine with CC-free {c:.4}, norm ratio {ratio:.4}, cosine with first order {:.4}", cosine(&with, &fo));
    assert!(c > 0.9, "cosine with the CC-free meta-gradient {c}");
    assert!((0.5..2.0).contains(&ratio), "norm ratio {ratio}");
    // On this untrained RVM network (random weights, noise data) the inner
    // loss's curvature at theta_f (FC's above all: `hoimat diagnose alpha
    // --no-fc`) turns the second-order meta-gradient away from the
    // first-order direction at alpha = 0.05 (CC plays no part: see the
    // CC-free cosine above; on the trained quick factory the cosine is
    // 0.98); as alpha shrinks, (I - alpha H) v must return to v.
    for alpha in [0.05, 0.01, 0.002, 0.0004] {
        let (m, fo) = exact_meta_gradient_at(&s, &theta, &weights(0.2, Distance::Squared), alpha);
        eprintln!("alpha {alpha}: cosine with first order {:.4}, norm ratio {:.3}", cosine(&m, &fo), norm(&m) / norm(&fo));
    }
    let (small, fo_small) = exact_meta_gradient_at(&s, &theta, &weights(0.2, Distance::Squared), 0.0004);
    assert!(cosine(&small, &fo_small) > 0.9, "at alpha 4e-4 the meta-gradient follows the first order: cosine {}", cosine(&small, &fo_small));
    // The old treatment, sqrt(|d|^2 + 1e-12): curvature 1e6 at theta_f turns
    // the inner step's Jacobian to about 1 - 0.05 * 0.2 * 1e6 = -1e4.
    // It reverses the first-order direction v (about -1e4 v dominates).
    let (old, _) = exact_meta_gradient(&s, &theta, &weights(0.2, Distance::Smoothed { radius: 1e-6 }));
    eprintln!("old smoothed norm (r = 1e-6): cosine with first order {:.4}, norm ratio {:.1}", cosine(&old, &fo), norm(&old) / norm(&free));
    assert!(cosine(&old, &fo) < -0.9, "the smoothed norm reverses the meta-gradient: cosine {}", cosine(&old, &fo));
    assert!(norm(&old) > 100.0 * norm(&free));
}

