use crate::stop::Stop;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn actions_are_read_with_and_without_arguments() {
    let cases = [
        ("kill-master", Action::KillMaster),
        ("kill-node", Action::KillNode(None)),
        ("kill-node=3", Action::KillNode(Some(3))),
        ("kill-node 3", Action::KillNode(Some(3))),
        ("pause", Action::Pause(None)),
        ("pause=2", Action::Pause(Some(2))),
        ("resume=0", Action::Resume(Some(0))),
        ("restart", Action::Restart(None)),
        ("restart=5", Action::Restart(Some(5))),
        ("failover", Action::Failover),
        ("reshard=100", Action::Reshard(100)),
        ("reshard 16384", Action::Reshard(16384)),
        ("debug-sleep=2", Action::DebugSleep(ms(2000))),
        ("debug-sleep 2s", Action::DebugSleep(ms(2000))),
        ("debug-sleep=500ms", Action::DebugSleep(ms(500))),
        ("  failover  ", Action::Failover),
    ];
    for (text, want) in cases {
        assert_eq!(Action::parse(text), Ok(want), "{text}");
    }
}

#[test]
fn labels_name_the_action_and_its_argument() {
    let cases = [
        (Action::KillMaster, "kill-master"),
        (Action::KillNode(Some(3)), "kill-node 3"),
        (Action::KillNode(None), "kill-node"),
        (Action::Pause(Some(2)), "pause 2"),
        (Action::Resume(None), "resume"),
        (Action::Restart(None), "restart"),
        (Action::Failover, "failover"),
        (Action::Reshard(300), "reshard 300"),
        (Action::DebugSleep(ms(1000)), "debug-sleep 1s"),
        (Action::DebugSleep(ms(500)), "debug-sleep 0.5s"),
        (Action::Bgrewriteaof, "bgrewriteaof"),
        (Action::Bgsave, "bgsave"),
    ];
    for (action, label) in cases {
        assert_eq!(action.label(), label);
        // A label reads back as the same action (`=` or a space before the argument).
        assert_eq!(Action::parse(label), Ok(action), "{label}");
    }
}

#[test]
fn bad_actions_say_why() {
    let err = Action::parse("explode").unwrap_err();
    assert_eq!(
        err,
        "unknown action `explode`: use kill-master, kill-node[=N], pause[=N], resume[=N], restart[=N], failover, reshard=N, debug-sleep=S, bgrewriteaof, bgsave"
    );
    let cases = [
        ("kill-master=1", "takes no argument"),
        ("failover now", "takes no argument"),
        ("kill-node=x", "node number"),
        ("pause=-1", "node number"),
        ("restart=", "node number"),
        ("reshard", "needs a number of slots"),
        ("reshard=0", "from 1 to 16384"),
        ("reshard=16385", "from 1 to 16384"),
        ("reshard=many", "from 1 to 16384"),
        ("debug-sleep", "needs a time"),
        ("debug-sleep=0", "above 0"),
        ("debug-sleep=soon", "above 0"),
        ("", "unknown action"),
    ];
    for (text, want) in cases {
        let err = Action::parse(text).unwrap_err();
        assert!(err.contains(want), "{text}: {err}");
        assert!(!err.contains('\n'), "{err}");
    }
}

#[test]
fn only_signalling_actions_need_a_spawned_deployment() {
    for a in [
        Action::KillMaster,
        Action::KillNode(None),
        Action::Pause(Some(1)),
        Action::Resume(None),
        Action::Restart(None),
    ] {
        assert!(a.needs_spawned(), "{a:?}");
    }
    for a in [
        Action::Failover,
        Action::Reshard(1),
        Action::DebugSleep(ms(10)),
    ] {
        assert!(!a.needs_spawned(), "{a:?}");
    }
}

#[test]
fn faults_are_read_as_at_colon_action() {
    assert_eq!(
        parse_fault("5s:kill-master"),
        Ok(Fault {
            at: ms(5000),
            action: Action::KillMaster
        })
    );
    assert_eq!(
        parse_fault("2.5:reshard=100"),
        Ok(Fault {
            at: ms(2500),
            action: Action::Reshard(100)
        })
    );
    assert_eq!(
        parse_fault("500ms:debug-sleep=1"),
        Ok(Fault {
            at: ms(500),
            action: Action::DebugSleep(ms(1000))
        })
    );
    assert!(
        parse_fault("kill-master")
            .unwrap_err()
            .contains("AT:ACTION")
    );
    assert!(
        parse_fault("soon:failover")
            .unwrap_err()
            .contains("not a time")
    );
    assert!(
        parse_fault("1s:explode")
            .unwrap_err()
            .contains("unknown action")
    );
}

#[test]
fn outcomes_count_from_the_start_of_measurement() {
    let t0 = Instant::now();
    let at = t0 + ms(2000);
    let done = Done {
        node: "127.0.0.1:1 (master)".into(),
        recovered: Some(at + ms(1500)),
        outage: None,
    };
    let o = outcome(&Action::KillMaster, t0, at, Ok(done));
    assert!((o.at_s - 2.0).abs() < 1e-9);
    assert!((o.outage_s.unwrap() - 1.5).abs() < 1e-9);
    assert!((o.recovered_at_s.unwrap() - 3.5).abs() < 1e-9);
    assert_eq!(o.action, "kill-master");
    assert_eq!(o.error, None);

    // A reshard: the outage is the probe's longest gap, recovery is its last slot.
    let done = Done {
        node: String::new(),
        recovered: Some(at + ms(400)),
        outage: Some(Some(ms(20))),
    };
    let o = outcome(&Action::Reshard(10), t0, at, Ok(done));
    assert!((o.outage_s.unwrap() - 0.02).abs() < 1e-9);
    assert!((o.recovered_at_s.unwrap() - 2.4).abs() < 1e-9);

    let failed = Failed::new("restart: no node was killed\nsecond line");
    let o = outcome(&Action::Restart(None), t0, at, Err(failed));
    assert_eq!(
        o.error.as_deref(),
        Some("restart: no node was killed second line")
    );
    assert_eq!((o.outage_s, o.recovered_at_s), (None, None));
}

fn env() -> FaultEnv<'static> {
    FaultEnv {
        deployment: None,
        route: crate::cluster::Route::Single(crate::net::Peer::Tcp(([127, 0, 0, 1], 1).into())),
        auth: Default::default(),
        dial: Default::default(),
    }
}

#[test]
fn a_run_that_ends_before_measuring_carries_out_nothing() {
    let started = OnceLock::new();
    let stop = Stop::new();
    stop.request();
    let mut ticks = 0;
    let faults = [parse_fault("1s:kill-master").unwrap()];
    let out = run_schedule(&faults, env(), &started, &stop, &mut || ticks += 1);
    assert!(out.is_empty());
}

#[test]
fn the_schedule_ticks_while_waiting_and_stops_with_the_run() {
    let started = OnceLock::new();
    let _ = started.set(Instant::now());
    let stop = Stop::new();
    let mut ticks = 0;
    let faults = [
        parse_fault("100ms:kill-master").unwrap(),
        parse_fault("10s:failover").unwrap(),
    ];
    let began = Instant::now();
    let out = run_schedule(&faults, env(), &started, &stop, &mut || {
        ticks += 1;
        if began.elapsed() > ms(400) {
            stop.request();
        }
    });
    // The first fault needs a deployment and says so; the second is never reached.
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0]
            .error
            .as_deref()
            .unwrap_or("")
            .contains("needs a deployment")
    );
    assert!(out[0].at_s >= 0.1, "{out:?}");
    assert!(began.elapsed() < ms(2000));
    assert!(ticks >= 4, "{ticks}");
}
