//! The procedural world: determinism, the composite equation, family splits,
//! and the geometry of connected / disconnected interaction.

use hoimat::prelude::*;
use hoimat::world::families::{by_name, Split};
use hoimat::world::{plan, render};

fn bytes(clip: &Clip) -> Vec<u8> {
    let mut v = Vec::new();
    for f in &clip.frames {
        v.extend(f.com.to_u8());
        v.extend(f.pha.to_u8());
        v.extend(f.fgr.as_ref().unwrap().to_u8());
        v.extend(f.bgr.as_ref().unwrap().to_u8());
        v.extend(&f.label.as_ref().unwrap().data);
    }
    v
}

#[test]
fn same_arguments_same_bytes() {
    for set in SetName::ALL {
        let a = world::generate(set.name(), Profile::Smoke, 3).unwrap();
        let b = world::generate(set.name(), Profile::Smoke, 3).unwrap();
        assert_eq!(a.manifest, b.manifest);
        for (x, y) in a.clips.iter().zip(&b.clips) {
            assert_eq!(bytes(x), bytes(y), "{set}/{} differs between two generations", x.meta.name);
        }
        let c = world::generate(set.name(), Profile::Smoke, 4).unwrap();
        assert_ne!(bytes(&a.clips[0]), bytes(&c.clips[0]), "{set}: another seed gives another clip");
    }
}

#[test]
fn rendering_order_does_not_matter() {
    // A clip rendered alone equals the same clip rendered within its set.
    let plans = plan(SetName::SynVbhoi, Profile::Smoke, 9);
    let alone = render(&plans[2]);
    let all = world::generate("synvbhoi", Profile::Smoke, 9).unwrap();
    assert_eq!(bytes(&alone), bytes(&all.clips[2]));
}

#[test]
fn composite_obeys_the_matting_equation() {
    for set in SetName::ALL {
        let ds = world::generate(set.name(), Profile::Smoke, 1).unwrap();
        for clip in &ds.clips {
            for f in &clip.frames {
                let (fg, bg) = (f.fgr.as_ref().unwrap(), f.bgr.as_ref().unwrap());
                let mut worst = 0.0f32;
                for i in 0..f.pha.data.len() {
                    let a = f.pha.data[i];
                    for k in 0..3 {
                        let j = i * 3 + k;
                        worst = worst.max((f.com.data[j] - (a * fg.data[j] + (1.0 - a) * bg.data[j])).abs());
                    }
                }
                assert!(worst < 1e-6, "{set}/{}: |I - (aF + (1-a)B)| = {worst}", clip.meta.name);
                assert!(f.pha.data.iter().all(|a| (0.0..=1.0).contains(a)));
            }
        }
    }
}

#[test]
fn alpha_is_soft_with_fine_structure() {
    let ds = world::generate("synvm", Profile::Quick, 0).unwrap();
    let f = &ds.clips[0].frames[0];
    let partial = f.pha.data.iter().filter(|a| **a > 0.02 && **a < 0.98).count();
    let solid = f.pha.data.iter().filter(|a| **a >= 0.98).count();
    assert!(solid > 500, "a person is present");
    // anti-aliased outlines plus sub-pixel hair strands
    assert!(partial as f32 > 0.05 * solid as f32, "{partial} soft pixels for {solid} solid ones");
    let faint = f.pha.data.iter().filter(|a| **a > 0.01 && **a < 0.3).count();
    assert!(faint > 20, "hair strands leave faint alpha ({faint})");
}

#[test]
fn meta_and_unseen_families_never_mix() {
    for profile in [Profile::Smoke, Profile::Quick] {
        let meta = world::generate("synmeta", profile, 0).unwrap();
        assert_eq!(meta.clips.len(), 10);
        let mut fams: Vec<String> = meta.clips.iter().flat_map(|c| c.meta.families.clone()).collect();
        assert!(fams.iter().all(|f| by_name(f).unwrap().split == Split::Meta));
        fams.sort();
        fams.dedup();
        assert_eq!(fams.len(), 10, "one meta family per clip");
        for set in ["synibhoi", "synvbhoi"] {
            let ds = world::generate(set, profile, 0).unwrap();
            for c in &ds.clips {
                for f in c.meta.families.iter().chain(&c.meta.interferer_families) {
                    assert_eq!(by_name(f).unwrap().split, Split::Unseen, "{set}/{} uses {f}", c.meta.name);
                }
            }
        }
        // The diagnostic set: the same recipe over the meta families only.
        let seen = world::generate("synvbhoi_seen", profile, 0).unwrap();
        assert_eq!(seen.clips.len(), world::generate("synvbhoi", profile, 0).unwrap().clips.len());
        for c in &seen.clips {
            assert!(!c.meta.families.is_empty());
            for f in c.meta.families.iter().chain(&c.meta.interferer_families) {
                assert_eq!(by_name(f).unwrap().split, Split::Meta, "synvbhoi_seen/{} uses {f}", c.meta.name);
            }
        }
        let vm = world::generate("synvm", profile, 0).unwrap();
        assert!(vm.clips.iter().all(|c| c.meta.families.is_empty() && c.meta.interaction == Interaction::None));
    }
    assert_eq!(world::meta_tasks(10).len(), 90);
}

/// Smallest distance (in pixels) between pixels of label `a` and label `b`.
fn min_distance(l: &LabelMap, a: u8, b: u8) -> Option<f32> {
    let pa: Vec<(i64, i64)> = (0..l.data.len()).filter(|i| l.data[*i] == a).map(|i| ((i % l.w) as i64, (i / l.w) as i64)).collect();
    let pb: Vec<(i64, i64)> = (0..l.data.len()).filter(|i| l.data[*i] == b).map(|i| ((i % l.w) as i64, (i / l.w) as i64)).collect();
    if pa.is_empty() || pb.is_empty() {
        return None;
    }
    let mut best = i64::MAX;
    for p in &pa {
        for q in &pb {
            best = best.min((p.0 - q.0).pow(2) + (p.1 - q.1).pow(2));
        }
    }
    Some((best as f32).sqrt())
}

/// Component id of every pixel in the 8-connected components of alpha > 0.
fn components(f: &Frame) -> Vec<usize> {
    let (w, h) = f.size();
    let mut comp = vec![usize::MAX; w * h];
    let mut next = 0;
    for start in 0..w * h {
        if f.pha.data[start] <= 0.0 || comp[start] != usize::MAX {
            continue;
        }
        let mut stack = vec![start];
        comp[start] = next;
        while let Some(i) = stack.pop() {
            let (x, y) = ((i % w) as i64, (i / w) as i64);
            for dy in -1..=1 {
                for dx in -1..=1 {
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if f.pha.data[j] > 0.0 && comp[j] == usize::MAX {
                        comp[j] = next;
                        stack.push(j);
                    }
                }
            }
        }
        next += 1;
    }
    comp
}

/// Whether some pixel labelled `a` lies in the same foreground component as
/// some pixel labelled `b`.
fn joined(f: &Frame, a: u8, b: u8) -> Option<bool> {
    let l = f.label.as_ref().unwrap();
    let comp = components(f);
    let ca: std::collections::HashSet<usize> = (0..l.data.len()).filter(|i| l.data[*i] == a).map(|i| comp[i]).collect();
    if ca.is_empty() {
        return None;
    }
    Some((0..l.data.len()).any(|i| l.data[i] == b && ca.contains(&comp[i])))
}

#[test]
fn held_objects_touch_the_hand_free_objects_do_not() {
    let mut connected = 0;
    let mut disconnected = 0;
    for seed in 0..2 {
        let ds = world::generate("synvbhoi", Profile::Quick, seed).unwrap();
        for c in &ds.clips {
            for f in &c.frames {
                let l = f.label.as_ref().unwrap();
                match c.meta.interaction {
                    Interaction::Connected => {
                        if let Some(j) = joined(f, label::HELD_OBJECT, label::PERSON) {
                            assert!(j, "{}: held object not joined to the person in the matte", c.meta.name);
                            connected += 1;
                        }
                    }
                    Interaction::Disconnected => {
                        assert!(!l.data.contains(&label::HELD_OBJECT));
                        if let Some(j) = joined(f, label::FREE_OBJECT, label::PERSON) {
                            assert!(!j, "{}: free object joined to the person", c.meta.name);
                            let d = min_distance(l, label::FREE_OBJECT, label::PERSON).unwrap();
                            assert!(d >= 2.0, "{}: free object only {d} px from the person", c.meta.name);
                            disconnected += 1;
                        }
                    }
                    Interaction::None => panic!("VBHOI clips all have an object"),
                }
            }
        }
    }
    assert!(connected > 100 && disconnected > 5, "both cases occur ({connected} / {disconnected} frames)");
}

/// No clip's truth is ambiguous by construction: in `synvbhoi` no
/// interferer is a copy of the clip's own object family; in `syntwin` the
/// loose twin is the held object's family, lies in the background, and stays
/// clear of the person and of the held copy in every frame.
#[test]
fn interferers_never_twin_the_object_except_in_syntwin() {
    for set in ["synvbhoi", "synibhoi"] {
        let ds = world::generate(set, Profile::Quick, 0).unwrap();
        for c in &ds.clips {
            for f in &c.meta.families {
                assert!(!c.meta.interferer_families.contains(f), "{set}/{}: an interferer copies the object family {f}", c.meta.name);
            }
        }
    }
    let twins = world::generate("syntwin", Profile::Quick, 0).unwrap();
    assert_eq!(twins.clips.len(), 16);
    let smoke = world::generate("syntwin", Profile::Smoke, 0).unwrap();
    let mut held_frames = 0;
    for c in twins.clips.iter().chain(&smoke.clips) {
        assert_eq!(c.meta.interaction, Interaction::Connected, "{}", c.meta.name);
        assert_eq!(c.meta.interferer_families, c.meta.families, "{}: the loose copy is the held object's twin", c.meta.name);
        for f in &c.frames {
            let l = f.label.as_ref().unwrap();
            let inter: Vec<usize> = (0..l.data.len()).filter(|i| l.data[*i] == label::INTERFERER).collect();
            assert!(!inter.is_empty(), "{}: the twin is visible", c.meta.name);
            assert!(inter.iter().all(|i| f.pha.data[*i] < 0.5), "{}: the twin is background", c.meta.name);
            for other in [label::PERSON, label::HELD_OBJECT] {
                if let Some(d) = min_distance(l, label::INTERFERER, other) {
                    assert!(d >= 2.0, "{}: the twin is {d} px from label {other}", c.meta.name);
                }
            }
            held_frames += l.data.contains(&label::HELD_OBJECT) as usize;
        }
    }
    assert!(held_frames > 16 * 24 / 2, "held objects visible in {held_frames} frames");
}

/// The person-only alpha, checked against the full render: objects only
/// add coverage ("over" never removes any), so it never exceeds the truth;
/// it equals the truth where there is no object; and it is what a held
/// object's pixels off the body are not.
#[test]
fn person_only_alpha_is_the_scene_without_its_objects() {
    let vm = world::generate("synvm", Profile::Smoke, 0).unwrap();
    for c in &vm.clips {
        for f in &c.frames {
            assert_eq!(f.person.as_ref().unwrap(), &f.pha, "{}: no object, so the person-only alpha is the alpha", c.meta.name);
        }
    }
    let vb = world::generate("synvbhoi", Profile::Smoke, 0).unwrap();
    let (mut object_only, mut person_px) = (0, 0);
    for c in &vb.clips {
        for f in &c.frames {
            let (p, l) = (f.person.as_ref().unwrap(), f.label.as_ref().unwrap());
            for i in 0..p.data.len() {
                assert!(p.data[i] <= f.pha.data[i] + 1e-6, "{}: person-only alpha above the truth", c.meta.name);
                if l.data[i] == label::PERSON && f.pha.data[i] > 0.99 {
                    person_px += 1;
                    assert!(p.data[i] > 0.5, "{}: a solid person pixel is missing from the person-only alpha", c.meta.name);
                }
                object_only += (f.pha.data[i] >= 0.5 && p.data[i] < 0.5) as usize;
            }
        }
    }
    assert!(object_only > 0 && person_px > 100, "{object_only} object-only and {person_px} person pixels");
}

/// The human-only set shows the test sets' poses (an arm out, a hand in
/// front of the torso) without objects, so a pose is not confounded with HOI.
#[test]
fn human_only_clips_show_the_test_poses_without_objects() {
    use hoimat::world::person::ArmRole;
    let plans = plan(SetName::SynVm, Profile::Quick, 0);
    let has = |role: ArmRole| plans.iter().filter(|p| p.person.roles.contains(&role)).count();
    assert!(plans.iter().all(|p| p.objects.is_empty()));
    let (out, front) = (has(ArmRole::Holding), has(ArmRole::HoldingFront));
    assert!(out >= 3 && front >= 3, "{out} clips with an arm out, {front} with a hand in front, of {}", plans.len());
    let vb = plan(SetName::SynVbhoi, Profile::Quick, 0);
    assert!(vb.iter().any(|p| p.person.roles.contains(&ArmRole::HoldingFront)), "the test set has the pose too");
}

#[test]
fn vbhoi_has_the_four_types_and_interferers_are_background() {
    let ds = world::generate("synvbhoi", Profile::Quick, 0).unwrap();
    let types: std::collections::BTreeSet<_> = ds.clips.iter().map(|c| c.meta.clip_type.clone()).collect();
    assert_eq!(types.len(), 4);
    let c = ds.clips.iter().find(|c| c.meta.clip_type == "solid_interferers").unwrap();
    let f = &c.frames[0];
    let l = f.label.as_ref().unwrap();
    let interferer: Vec<usize> = (0..l.data.len()).filter(|i| l.data[*i] == label::INTERFERER).collect();
    assert!(!interferer.is_empty(), "interferers are visible");
    // Interferer pixels are background: alpha (almost) zero there.
    let mean_a: f32 = interferer.iter().map(|i| f.pha.data[*i]).sum::<f32>() / interferer.len() as f32;
    assert!(mean_a < 0.5, "interferers belong to B, mean alpha {mean_a}");
    // The camera moves in room clips: backgrounds differ between frames.
    let room = ds.clips.iter().find(|c| c.meta.clip_type == "room_camera_motion").unwrap();
    let (b0, b1) = (room.frames[0].bgr.as_ref().unwrap(), room.frames[8].bgr.as_ref().unwrap());
    assert_ne!(b0.to_u8(), b1.to_u8());
    let solid = ds.clips.iter().find(|c| c.meta.clip_type == "solid").unwrap();
    assert_eq!(solid.frames[0].bgr.as_ref().unwrap().to_u8(), solid.frames[5].bgr.as_ref().unwrap().to_u8());
}

#[test]
fn profiles_scale_sizes_and_counts() {
    assert_eq!(Profile::Paper.frame_size(), (512, 288));
    let p = world::set_size(SetName::SynVm, Profile::Paper);
    assert_eq!((p.train_clips, p.test_clips), (479, 5));
    assert_eq!(world::set_size(SetName::SynVbhoi, Profile::Paper).test_clips, 112);
    assert_eq!(world::set_size(SetName::SynIbhoi, Profile::Paper).test_clips, 200);
    let plans = plan(SetName::SynIbhoi, Profile::Paper, 0);
    assert_eq!(plans.len(), 200);
    assert_eq!((plans[0].meta.width, plans[0].meta.height), (512, 288));
}

#[test]
fn negative_plates_hold_meta_interferers_and_no_foreground() {
    let plates = hoimat::world::sets::negative_plates(Profile::Smoke, 0, 4);
    assert_eq!(plates.len(), 4);
    for p in &plates {
        assert!(!p.meta.interferer_families.is_empty());
        assert!(p.meta.interferer_families.iter().all(|f| by_name(f).unwrap().split == Split::Meta), "only meta families: {:?}", p.meta.interferer_families);
        for f in &p.frames {
            assert!(f.pha.data.iter().all(|a| *a == 0.0), "a plate has no foreground");
            assert_eq!(f.bgr.as_ref().unwrap(), &f.com);
        }
        // Interferer pixels are labelled as such somewhere in the clip.
        let n: usize = p.frames.iter().map(|f| f.label.as_ref().unwrap().data.iter().filter(|l| **l == hoimat::frame::label::INTERFERER).count()).sum();
        assert!(n > 0, "{}: no interferer pixel", p.meta.name);
    }
    let again = hoimat::world::sets::negative_plates(Profile::Smoke, 0, 4);
    assert_eq!(plates[2].frames[0].com, again[2].frames[0].com, "deterministic");
}
