//! Two labs on one results folder (two processes sharing a cluster's
//! storage, or two notebooks) never train the same model key at once: the
//! second waits on the key's lock, then finds the model done.

use std::sync::{mpsc, Arc, Mutex};

use hoimat::experiments::lab::Lab;
use hoimat::experiments::models::ModelSpec;
use hoimat::profile::Profile;
use tch::Device;

#[test]
fn a_model_key_is_trained_once_while_a_second_lab_waits() {
    let dir = std::env::temp_dir().join(format!("hoimat-keylock-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let said: Arc<Mutex<Vec<(u8, String)>>> = Arc::default();
    let (started, on_start) = mpsc::channel::<()>();
    let sink = |who: u8, started: Option<mpsc::Sender<()>>| {
        let said = said.clone();
        let started = Mutex::new(started);
        Arc::new(move |line: &str| {
            said.lock().unwrap().push((who, line.to_string()));
            if line.starts_with("training ") {
                if let Some(s) = started.lock().unwrap().take() {
                    let _ = s.send(());
                }
            }
        }) as hoimat::experiments::lab::Sink
    };
    let first = Lab::new(&dir, Profile::Smoke, Device::Cpu).with_sink(sink(1, Some(started)));
    let a = std::thread::spawn(move || first.model(&ModelSpec::Factory, 0).unwrap());
    // The second lab starts only once the first holds the key and trains.
    on_start.recv().unwrap();
    let second = Lab::new(&dir, Profile::Smoke, Device::Cpu).with_sink(sink(2, None));
    let b = second.model(&ModelSpec::Factory, 0).unwrap();
    let a = a.join().unwrap();
    assert_eq!(a, b);
    assert!(hoimat::experiments::models::is_complete(&a));
    let said = said.lock().unwrap();
    let training: Vec<_> = said.iter().filter(|(_, l)| l.starts_with("training ")).collect();
    assert_eq!(training.len(), 1, "{said:?}");
    assert!(said.iter().any(|(w, l)| *w == 2 && l.starts_with("waiting for another process training factory-s0-")), "{said:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
