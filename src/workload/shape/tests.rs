use super::*;

fn shape(spec: &str) -> Shape {
    match parse(spec, None).unwrap() {
        Rate::Shaped(s) => (*s).clone(),
        Rate::Fixed(r) => panic!("{spec} parsed as the fixed rate {r}"),
    }
}

/// Every request's due time, by walking the area as the schedule does.
fn due_times(s: &Shape, n: u64) -> Vec<f64> {
    let mut cursor = 0;
    (0..n).map(|i| s.time_of(i as f64, &mut cursor)).collect()
}

#[test]
fn a_number_is_a_fixed_rate() {
    assert_eq!(parse("5000", None).unwrap(), Rate::Fixed(5000.0));
    assert_eq!(parse(" 0.5 ", None).unwrap(), Rate::Fixed(0.5));
    for bad in ["0", "-3", "nan", "inf", "2e8", "fast", ""] {
        assert!(parse(bad, None).is_err(), "{bad}");
    }
}

#[test]
fn a_ramp_is_linear_and_its_area_exact() {
    let s = shape("ramp:1000..50000/30s");
    assert_eq!(s.length(), 30.0);
    assert_eq!(s.rate_at(0.0), 1000.0);
    assert!((s.rate_at(15.0) - 25500.0).abs() < 1e-6);
    assert_eq!(s.rate_at(30.0), 50000.0);
    assert_eq!(
        s.rate_at(99.0),
        50000.0,
        "the last rate holds after the shape"
    );
    // Area over 30 s: the mean (25500) × 30.
    assert!((s.area(30.0) - 765_000.0).abs() < 1e-6);
    assert!((s.area(31.0) - 815_000.0).abs() < 1e-6);
    assert_eq!(s.peak(), 50000.0);
}

#[test]
fn request_i_is_due_when_the_area_reaches_i() {
    for spec in [
        "ramp:1000..50000/30s",
        "ramp:50000..1000/30s",
        "steps:1000,5000,2000/2s",
        "spike:1000,8000@3s/1s",
        "sine:5000±4000/4s",
    ] {
        let s = shape(spec);
        let secs = (s.length() * 2.5) as usize;
        let n = s.area(secs as f64).ceil() as u64 + 1;
        let times = due_times(&s, n);
        for (i, t) in times.iter().enumerate() {
            assert!(
                (s.area(*t) - i as f64).abs() < 1e-6 * (i as f64).max(1.0),
                "{spec}: request {i} at {t} s, area there {}",
                s.area(*t)
            );
        }
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{spec}: in order");
        // Each whole second holds the shape's area over it, to one request.
        for k in 0..secs {
            let in_sec = times
                .iter()
                .filter(|&&t| t >= k as f64 && t < (k + 1) as f64);
            let want = s.area((k + 1) as f64) - s.area(k as f64);
            assert!(
                (in_sec.count() as f64 - want).abs() <= 1.0,
                "{spec}: second {k}"
            );
        }
    }
}

#[test]
fn no_drift_over_a_long_ramp() {
    // 10 million requests of a slow ramp: the last is due where the closed form says.
    let s = shape("ramp:100000..200000/1h");
    let mut cursor = 0;
    let i = 10_000_000.0;
    let t = s.time_of(i, &mut cursor);
    // Solve 100000 t + (100000/3600)/2 t² = 1e7 directly.
    let (a, b) = (100000.0 / 3600.0 / 2.0, 100000.0);
    let want = (-b + (b * b + 4.0 * a * i).sqrt()) / (2.0 * a);
    assert!((t - want).abs() < 1e-6, "{t} vs {want}");
}

#[test]
fn steps_and_spikes_hold_their_rates() {
    let s = shape("steps:1000,2000,4000/10s");
    assert_eq!(s.length(), 30.0);
    assert_eq!(
        [s.rate_at(5.0), s.rate_at(15.0), s.rate_at(25.0)],
        [1000.0, 2000.0, 4000.0]
    );
    assert_eq!(s.area(30.0), 70_000.0);
    let p = shape("spike:2000,20000@10s/5s");
    assert_eq!(p.length(), 25.0);
    assert_eq!(
        [p.rate_at(9.9), p.rate_at(12.0), p.rate_at(16.0)],
        [2000.0, 20000.0, 2000.0]
    );
    assert_eq!(p.area(25.0), 2000.0 * 20.0 + 20000.0 * 5.0);
}

#[test]
fn a_sine_repeats_and_stays_within_its_amplitude() {
    let s = shape("sine:20000±10000/60s");
    assert_eq!(s.length(), 60.0);
    assert!((s.rate_at(15.0) - 30000.0).abs() < 5.0);
    assert!((s.rate_at(75.0) - 30000.0).abs() < 5.0, "periodic");
    assert!(
        (s.area(60.0) - 1_200_000.0).abs() < 1.0,
        "a period's mean is the mean"
    );
    assert!((s.area(600.0) - 12_000_000.0).abs() < 10.0);
    assert!(parse("sine:20000+-5000/1m", None).is_ok());
    for bad in ["sine:1000±1000/10s", "sine:1000±-1/10s", "sine:1000/10s"] {
        assert!(parse(bad, None).is_err(), "{bad}");
    }
}

#[test]
fn a_scaled_shape_is_a_shards_share() {
    let s = shape("ramp:1000..3000/10s").scaled(0.25);
    assert_eq!(s.rate_at(0.0), 250.0);
    assert!((s.area(10.0) - 5000.0).abs() < 1e-9);
    let r = Rate::Fixed(1000.0).scaled(0.5);
    assert_eq!(r, Rate::Fixed(500.0));
}

#[test]
fn bad_shapes_say_what_is_wrong() {
    for (spec, words) in [
        ("ramp:1000/30s", "ramp:FROM..TO/DURATION"),
        ("ramp:1000..0/30s", "above 0"),
        ("ramp:1000..2000/0s", "bad duration"),
        ("ramp:1000..2000", "ramp:FROM..TO/DURATION"),
        ("steps:1000,,2000/5s", "not a rate"),
        ("spike:1000,5000/5s", "spike:BASE,PEAK@AT/LENGTH"),
        ("wave:1/2s", "unknown rate shape `wave`"),
        ("file:", "file:PATH"),
        (
            "file:/nonexistent/rates.csv",
            "cannot read /nonexistent/rates.csv",
        ),
    ] {
        let e = parse(spec, None).unwrap_err();
        assert!(e.contains(words), "{spec}: {e}");
    }
}

#[test]
fn a_rate_file_is_joined_point_to_point() {
    let dir = std::env::temp_dir().join(format!("rbench-shape-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f = dir.join("day.csv");
    std::fs::write(
        &f,
        "t_s,rps\n# a step at 5 s and a spike\n0,1000\n5,1000\n5,3000\n\n8,3000\n9,9000\n10,3000\n",
    )
    .unwrap();
    let s = shape(&format!("file:{}", f.display()));
    assert_eq!(s.length(), 10.0);
    assert_eq!(
        [s.rate_at(4.0), s.rate_at(6.0), s.rate_at(9.0)],
        [1000.0, 3000.0, 9000.0]
    );
    assert_eq!(s.area(5.0), 5000.0);
    // Relative to the folder given (a profile's).
    assert!(parse("file:day.csv", Some(&dir)).is_ok());
    let bad = [
        ("0,1000\n5,1000\n3,2000\n", ":3: time goes back"),
        ("0,1000\n5,0\n", ":2: a rate must be above 0"),
        ("0,1000\nfive,2\n", ":2: expected t_s,rps"),
        ("0,1000\n", "at least two points"),
        ("-1,5\n2,5\n", ":1: a time must be 0 or more"),
    ];
    for (text, words) in bad {
        std::fs::write(&f, text).unwrap();
        let e = parse(&format!("file:{}", f.display()), None).unwrap_err();
        assert!(e.contains(words), "{text:?}: {e}");
    }
    // A file that starts late holds its first rate before its first point.
    std::fs::write(&f, "2,500\n4,500\n").unwrap();
    let late = shape(&format!("file:{}", f.display()));
    assert_eq!(late.area(4.0), 2000.0);
    let _ = std::fs::remove_dir_all(&dir);
}
