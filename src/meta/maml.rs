//! The MAML meta-gradient (paper Alg. 1, lines 7-10), for any model given
//! as two loss closures over a parameter set.
//!
//! Inner: theta'_i = theta - alpha * grad L_inner(theta) (N steps).
//! Outer: L_outer(theta'_i); the meta-gradient is d L_outer(theta') / d theta,
//! which through the inner step is (I - alpha * H) grad L_outer(theta') with
//! H the Hessian of L_inner: the paper computes it ("a Hessian needs to be
//! computed"). Second order keeps the inner gradient's graph
//! (`create_graph`) and differentiates through it, exactly; first order
//! (FOMAML) treats the inner gradient as a constant, giving
//! grad L_outer(theta') alone.

use tch::Tensor;

use crate::model::ParamSet;

pub struct MetaStep {
    /// d L_outer(theta') / d theta, one tensor per parameter.
    pub grads: Vec<Tensor>,
    /// d L_outer(theta') / d theta': the first-order (FOMAML) direction,
    /// from the same backward pass; equal to `grads` in first order.
    pub first_order_grads: Vec<Tensor>,
    pub inner_loss: f64,
    pub outer_loss: f64,
}

/// One task's meta-gradient at `theta` (whose tensors require grad).
pub fn meta_gradient(
    theta: &ParamSet,
    inner: &dyn Fn(&ParamSet) -> Tensor,
    outer: &dyn Fn(&ParamSet) -> Tensor,
    alpha: f64,
    inner_steps: usize,
    first_order: bool,
) -> MetaStep {
    let mut adapted = theta.map(|_, t| t.shallow_clone());
    let mut inner_loss = f64::NAN;
    for _ in 0..inner_steps.max(1) {
        let l = inner(&adapted);
        inner_loss = l.double_value(&[]);
        let xs: Vec<&Tensor> = adapted.tensors().iter().collect();
        let g = adapted.defined_grads(Tensor::run_backward(&[&l], &xs, true, !first_order));
        adapted = adapted.zip_map(&ParamSet::from_pairs(theta.names().iter().cloned().zip(g).collect()), |p, g| {
            let g = if first_order { g.detach() } else { g.shallow_clone() };
            p - g * alpha
        });
    }
    let lo = outer(&adapted);
    let outer_loss = lo.double_value(&[]);
    if first_order {
        let xs: Vec<&Tensor> = adapted.tensors().iter().collect();
        let grads = adapted.defined_grads(Tensor::run_backward(&[&lo], &xs, false, false));
        let first_order_grads = grads.iter().map(Tensor::shallow_clone).collect();
        return MetaStep { grads, first_order_grads, inner_loss, outer_loss };
    }
    // One backward gives both d/dtheta (through the inner step) and d/dtheta'.
    let n = theta.tensors().len();
    let xs: Vec<&Tensor> = theta.tensors().iter().chain(adapted.tensors().iter()).collect();
    let mut grads = Tensor::run_backward(&[&lo], &xs, false, false);
    let first_order_grads = adapted.defined_grads(grads.split_off(n));
    let grads = theta.defined_grads(grads);
    MetaStep { grads, first_order_grads, inner_loss, outer_loss }
}

/// Cosine between two gradients given as tensor lists (0 when either is 0).
pub fn cosine(a: &[Tensor], b: &[Tensor]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| (x * y).sum(tch::Kind::Double).double_value(&[])).sum();
    let (na, nb) = (norm(a), norm(b));
    if na == 0.0 || nb == 0.0 { 0.0 } else { dot / (na * nb) }
}

/// Euclidean norm of a gradient given as a tensor list.
pub fn norm(a: &[Tensor]) -> f64 {
    a.iter().map(|x| x.square().sum(tch::Kind::Double).double_value(&[])).sum::<f64>().sqrt()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Kind, Tensor};

    /// A tiny nonlinear model in f64: y = tanh(x W1) W2, squared error.
    fn loss_on(p: &ParamSet, x: &Tensor, y: &Tensor) -> Tensor {
        let h = x.matmul(p.get("w1")).tanh();
        (h.matmul(p.get("w2")) - y).square().mean(Kind::Double)
    }

    fn data(seed: i64) -> (Tensor, Tensor) {
        tch::manual_seed(seed);
        let x = Tensor::randn([6, 3], (Kind::Double, tch::Device::Cpu));
        let y = Tensor::randn([6, 2], (Kind::Double, tch::Device::Cpu));
        (x, y)
    }

    fn flat(v: &[Tensor]) -> Vec<f64> {
        v.iter().flat_map(|t| Vec::<f64>::try_from(t.reshape([-1])).unwrap()).collect()
    }

    #[test]
    fn second_order_meta_gradient_matches_finite_difference_hessian() {
        tch::manual_seed(1);
        let theta = ParamSet::from_pairs(vec![
            ("w1".into(), Tensor::randn([3, 4], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true)),
            ("w2".into(), Tensor::randn([4, 2], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true)),
        ]);
        let (xa, ya) = data(2);
        let (xb, yb) = data(3);
        let alpha = 0.3;
        let inner = |p: &ParamSet| loss_on(p, &xa, &ya);
        let outer = |p: &ParamSet| loss_on(p, &xb, &yb);
        let exact = meta_gradient(&theta, &inner, &outer, alpha, 1, false);
        let fo = meta_gradient(&theta, &inner, &outer, alpha, 1, true);

        // Independent check: v = grad L_outer at theta' (computed plainly),
        // H v by central differences of grad L_inner around theta.
        let grad_at = |p: &ParamSet, f: &dyn Fn(&ParamSet) -> Tensor| -> Vec<Tensor> {
            let q = p.detached(true);
            let l = f(&q);
            Tensor::run_backward(&[&l], &q.tensors().iter().collect::<Vec<_>>(), false, false)
        };
        let g_in = grad_at(&theta, &inner);
        let theta_p = ParamSet::from_pairs(theta.names().iter().cloned().zip(theta.tensors().iter().zip(&g_in).map(|(t, g)| t.detach() - g * alpha)).collect());
        let v = grad_at(&theta_p, &outer);
        let eps = 1e-5;
        let shifted = |sign: f64| ParamSet::from_pairs(theta.names().iter().cloned().zip(theta.tensors().iter().zip(&v).map(|(t, d)| t.detach() + d * (sign * eps))).collect());
        let (gp, gm) = (grad_at(&shifted(1.0), &inner), grad_at(&shifted(-1.0), &inner));
        let hv: Vec<Tensor> = gp.iter().zip(&gm).map(|(a, b)| (a - b) / (2.0 * eps)).collect();
        let want: Vec<Tensor> = v.iter().zip(&hv).map(|(v, h)| v - h * alpha).collect();

        let (e, w, f) = (flat(&exact.grads), flat(&want), flat(&fo.grads));
        for (a, b) in e.iter().zip(&w) {
            assert!((a - b).abs() < 1e-7 * (1.0 + b.abs()), "exact {a} vs (I - aH)v {b}");
        }
        // first order is v alone, and differs from the exact meta-gradient
        for (a, b) in f.iter().zip(&flat(&v)) {
            assert!((a - b).abs() < 1e-12);
        }
        let diff: f64 = e.iter().zip(&f).map(|(a, b)| (a - b).abs()).sum();
        assert!(diff > 1e-3, "second order must differ from first order ({diff})");
    }

    #[test]
    fn inner_step_lowers_the_inner_loss() {
        tch::manual_seed(4);
        let theta = ParamSet::from_pairs(vec![
            ("w1".into(), Tensor::randn([3, 4], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true)),
            ("w2".into(), Tensor::randn([4, 2], (Kind::Double, tch::Device::Cpu)).set_requires_grad(true)),
        ]);
        let (xa, ya) = data(5);
        let inner = |p: &ParamSet| loss_on(p, &xa, &ya);
        // outer == inner: the adapted parameters must do better
        let m = meta_gradient(&theta, &inner, &inner, 0.05, 3, false);
        assert!(m.outer_loss < m.inner_loss, "{} -> {}", m.inner_loss, m.outer_loss);
    }
}
