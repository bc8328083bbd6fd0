//! Synergy scoring speed: the full method panel (single-agent fits + every method, no
//! bootstrap) on an 8x8 plate, and ZIP on a 16x16 plate with 3 replicates.
//! Targets: panel <= 2 ms, ZIP 16x16x3 <= 5 ms (MuSyC multi-start fit included).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use resloop::plate::{DrugInfo, Plate, Well};
use resloop::synergy::{score_plate, Method, MusycParams, ScoreSettings};

/// A synergistic MuSyC surface with a small deterministic wobble per replicate.
fn plate(n: usize, reps: usize) -> Plate {
    let truth = MusycParams {
        e0: 1.0,
        e1: 0.3,
        e2: 0.2,
        e3: 0.05,
        h1: 1.3,
        h2: 0.9,
        c1: 1.0,
        c2: 2.0,
        alpha12: 2.0,
        alpha21: 1.5,
        gamma12: 1.0,
        gamma21: 1.0,
    };
    let dose = |k: usize, c: f64| {
        if k == 0 {
            0.0
        } else {
            c * 2f64.powf(k as f64 - n as f64 / 2.0)
        }
    };
    let mut wells = Vec::new();
    for r in 0..reps {
        for i in 0..n {
            for j in 0..n {
                let (a, b) = (dose(i, 1.0), dose(j, 2.0));
                let wobble = 0.01 * (((i * 7 + j * 3 + r * 5) % 5) as f64 - 2.0);
                wells.push(Well {
                    dose_a: a,
                    dose_b: b,
                    response: (truth.eval(a, b) + wobble).max(0.0),
                    replicate: (reps > 1).then(|| r.to_string()),
                });
            }
        }
    }
    Plate::new(DrugInfo::new("A", "uM"), DrugInfo::new("B", "uM"), wells).expect("valid plate")
}

fn bench(c: &mut Criterion) {
    let p8 = plate(8, 1);
    c.bench_function("panel_8x8_all_methods", |b| {
        b.iter(|| {
            score_plate(black_box(&p8), &Method::ALL, ScoreSettings::default()).expect("scores")
        })
    });
    let p16 = plate(16, 3);
    c.bench_function("zip_16x16x3", |b| {
        b.iter(|| {
            score_plate(black_box(&p16), &[Method::Zip], ScoreSettings::default()).expect("scores")
        })
    });
    for m in Method::ALL {
        c.bench_function(&format!("method_8x8_{m}"), |b| {
            b.iter(|| score_plate(black_box(&p8), &[m], ScoreSettings::default()).expect("scores"))
        });
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
