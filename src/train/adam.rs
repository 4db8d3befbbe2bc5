//! Adam (Kingma & Ba) over a [`ParamSet`], with its state as named tensors so
//! it checkpoints with the model and a resumed run continues exactly.

use tch::{Kind, Tensor};

use crate::model::ParamSet;

pub struct Adam {
    pub lr: f64,
    pub beta1: f64,
    pub beta2: f64,
    pub eps: f64,
    pub step: i64,
    m: ParamSet,
    v: ParamSet,
}

impl Adam {
    pub fn new(params: &ParamSet, lr: f64) -> Adam {
        let zeros = params.map(|_, t| t.zeros_like().detach());
        let zeros2 = params.map(|_, t| t.zeros_like().detach());
        Adam { lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 0, m: zeros, v: zeros2 }
    }

    /// theta <- theta - lr * m_hat / (sqrt(v_hat) + eps), in place. A
    /// parameter whose gradient is undefined (it did not reach the loss, as
    /// the refiner in a full-resolution pass) is skipped, moments and all,
    /// as PyTorch's Adam skips a `None` grad.
    pub fn update(&mut self, params: &ParamSet, grads: &[Tensor]) {
        self.step += 1;
        let (b1, b2) = (self.beta1, self.beta2);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| {
            for (i, g) in grads.iter().enumerate().filter(|(_, g)| g.defined()) {
                let (m, v) = (&self.m.tensors()[i], &self.v.tensors()[i]);
                let mut mm = m.shallow_clone();
                let mut vv = v.shallow_clone();
                let _ = mm.g_mul_scalar_(b1).g_add_(&(g * (1.0 - b1)));
                let _ = vv.g_mul_scalar_(b2).g_add_(&(g.square() * (1.0 - b2)));
                let upd = (&mm / c1) / ((&vv / c2).sqrt() + self.eps) * self.lr;
                let mut p = params.tensors()[i].shallow_clone();
                let _ = p.g_sub_(&upd);
            }
        });
    }

    /// Named state tensors for checkpoints.
    pub fn state(&self) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = self.m.iter().map(|(n, t)| (format!("adam_m/{n}"), t.shallow_clone())).collect();
        v.extend(self.v.iter().map(|(n, t)| (format!("adam_v/{n}"), t.shallow_clone())));
        v.push(("adam_step".into(), Tensor::from(self.step)));
        v
    }

    pub fn load_state(&mut self, named: &[(String, Tensor)]) -> Result<(), String> {
        let find = |k: &str| named.iter().find(|(n, _)| n == k).map(|(_, t)| t.shallow_clone()).ok_or_else(|| format!("missing {k}"));
        for (prefix, set) in [("adam_m", &self.m), ("adam_v", &self.v)] {
            for (n, t) in set.iter() {
                let src = find(&format!("{prefix}/{n}"))?.to_device(t.device());
                if src.size() != t.size() {
                    return Err(format!("{prefix}/{n} has shape {:?}, expected {:?}", src.size(), t.size()));
                }
                tch::no_grad(|| {
                    let mut d = t.shallow_clone();
                    d.copy_(&src);
                });
            }
        }
        self.step = find("adam_step")?.to_kind(Kind::Int64).int64_value(&[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_by_lr_in_the_gradient_sign() {
        let p = ParamSet::from_pairs(vec![("w".into(), Tensor::from_slice(&[1.0f32, -2.0]).set_requires_grad(true))]);
        let mut opt = Adam::new(&p, 0.1);
        opt.update(&p, &[Tensor::from_slice(&[3.0f32, -0.5])]);
        // m_hat = g, v_hat = g^2: the step is lr * sign(g) (up to eps)
        let w = Vec::<f32>::try_from(p.get("w").detach()).unwrap();
        assert!((w[0] - 0.9).abs() < 1e-6 && (w[1] + 1.9).abs() < 1e-6, "{w:?}");
    }

    #[test]
    fn minimises_a_quadratic() {
        let p = ParamSet::from_pairs(vec![("x".into(), Tensor::from_slice(&[5.0f32, -3.0]).set_requires_grad(true))]);
        let mut opt = Adam::new(&p, 0.1);
        for _ in 0..300 {
            let loss = (p.get("x") - Tensor::from_slice(&[1.0f32, 2.0])).square().sum(Kind::Float);
            let g = Tensor::run_backward(&[&loss], &[p.get("x")], false, false);
            opt.update(&p, &g);
        }
        let x = Vec::<f32>::try_from(p.get("x").detach()).unwrap();
        assert!((x[0] - 1.0).abs() < 0.05 && (x[1] - 2.0).abs() < 0.05, "{x:?}");
    }
}
