//! The meta-learner of MAML-RAL (paper Sec. IV-A to IV-D): the continual-
//! learning constraint (CC, Eq. 2), the feature-aware constraint (FC,
//! Eq. 3), the HOI loss (Eq. 10), the MAML meta-gradient with its exact
//! second-order term, and the training loops of MAML-RAL and RVM-F.

pub mod constraints;
pub mod diagnose;
pub mod hoi_loss;
pub mod maml;
pub mod maml_ral;

/// For `skip_serializing_if`: leave a false flag out of a configuration.
pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

/// For `skip_serializing_if`: leave a zero probability out of a configuration.
pub(crate) fn is_zero(x: &f32) -> bool {
    *x == 0.0
}
