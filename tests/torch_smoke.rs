//! libtorch is linked and works on this machine: a conv, a backward pass,
//! and a second-order gradient (which MAML needs), checked by numbers.

use tch::{Kind, Tensor};

#[test]
fn conv_and_backward_run() {
    tch::manual_seed(0);
    let x = Tensor::ones([1, 1, 4, 4], (Kind::Float, tch::Device::Cpu));
    let w = Tensor::full([1, 1, 3, 3], 0.5, (Kind::Float, tch::Device::Cpu)).set_requires_grad(true);
    let y = x.conv2d(&w, None::<Tensor>, 1, 0, 1, 1);
    assert_eq!(y.size(), vec![1, 1, 2, 2]);
    // each output sums nine 0.5s
    assert!((y.double_value(&[0, 0, 0, 0]) - 4.5).abs() < 1e-6);
    y.sum(Kind::Float).backward();
    // d(sum)/dw = number of outputs each weight touches (4), times input 1
    assert!((w.grad().double_value(&[0, 0, 1, 1]) - 4.0).abs() < 1e-6);
}

#[test]
fn second_order_gradient_is_exact() {
    // f(x) = x^3: f'(x) = 3x^2, f''(x) = 6x
    let x = Tensor::from(2.0f64).set_requires_grad(true);
    let y = x.pow_tensor_scalar(3);
    let g = Tensor::run_backward(&[&y], &[&x], true, true);
    assert!((g[0].double_value(&[]) - 12.0).abs() < 1e-9);
    let h = Tensor::run_backward(&[&g[0]], &[&x], false, false);
    assert!((h[0].double_value(&[]) - 12.0).abs() < 1e-9);
}
