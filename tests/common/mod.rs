//! Shared by the integration tests that train models in-process.
//!
//! libtorch's generator is global: model initialisation draws from it after
//! `manual_seed`, and `MattingNet::duplicate` reseeds it, while the harness
//! runs a file's tests on parallel threads. A test that compares two
//! trainings (determinism, exact resume) or needs one particular initial
//! model holds this lock for its whole body, so no other test of the file
//! draws or reseeds in between. (An interleaving once failed the zoo's
//! resume test and the local-adaptation test in CI.)

pub mod pipeline;
pub mod reference;

#[allow(dead_code)]
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[allow(dead_code)]
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
