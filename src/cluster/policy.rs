//! What an error reply (or a failed connection) means for the request that got it: follow a
//! redirect, retry after a backoff, or end it. A pure function of the facts, so every case is
//! tested on its own and the event loop only carries decisions out.

use std::net::SocketAddr;
use std::time::Duration;

use crate::resp::ErrorClass;

/// A redirect chain longer than this is a loop (or a cluster in flux): count it and move on.
pub const MAX_REDIRECTS: u8 = 5;
pub const BACKOFF_BASE: Duration = Duration::from_millis(2);
pub const BACKOFF_MAX: Duration = Duration::from_millis(500);

/// The facts about one failed attempt.
#[derive(Clone, Copy, Debug)]
pub struct Attempt {
    pub class: ErrorClass,
    /// Slot and node named by a MOVED/ASK reply.
    pub redirect: Option<(u16, SocketAddr)>,
    pub cluster: bool,
    /// Retries so far (not counting redirects).
    pub attempts: u16,
    pub redirects: u8,
    /// Time since the request's intended send time.
    pub age: Duration,
    pub retry_window: Duration,
    /// The run is ending: faults are no longer retried.
    pub stopping: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send again to `to`: with ASKING first (`ask`), or after patching the slot map (MOVED).
    Redirect {
        slot: u16,
        to: SocketAddr,
        ask: bool,
    },
    /// Count the error, wait `after`, then route the request again.
    Retry { after: Duration },
    /// The request ends as `class`; `also` is one more event to count first (the redirect that
    /// was one too many).
    Fail {
        class: ErrorClass,
        also: Option<ErrorClass>,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub action: Action,
    /// Ask the topology to refresh its slot map.
    pub refresh: bool,
}

/// Faults that pass: a node failing over, loading, or a connection that dropped.
fn transient(class: ErrorClass) -> bool {
    matches!(
        class,
        ErrorClass::TryAgain
            | ErrorClass::ClusterDown
            | ErrorClass::Loading
            | ErrorClass::MasterDown
            | ErrorClass::ReadOnly
            | ErrorClass::ConnLost
            | ErrorClass::ConnRefused
            | ErrorClass::Timeout
    )
}

pub fn decide(a: &Attempt) -> Decision {
    let fail = |class, also, refresh| Decision {
        action: Action::Fail { class, also },
        refresh,
    };
    match a.class {
        ErrorClass::Moved | ErrorClass::Ask if a.cluster => {
            let Some((slot, to)) = a.redirect else {
                return fail(a.class, None, true);
            };
            if a.redirects >= MAX_REDIRECTS {
                return fail(ErrorClass::Redirects, Some(a.class), true);
            }
            Decision {
                action: Action::Redirect {
                    slot,
                    to,
                    ask: a.class == ErrorClass::Ask,
                },
                refresh: false,
            }
        }
        c if transient(c) => {
            // READONLY from a standalone server is a configuration problem, not a failover.
            let retry =
                (a.cluster || c != ErrorClass::ReadOnly) && a.age < a.retry_window && !a.stopping;
            if !retry {
                return fail(c, None, a.cluster);
            }
            Decision {
                action: Action::Retry {
                    after: backoff(a.attempts.saturating_add(1)),
                },
                refresh: a.cluster,
            }
        }
        c => fail(c, None, false),
    }
}

/// Exponential backoff for the `n`th retry of a request.
pub fn backoff(n: u16) -> Duration {
    let shift = u32::from(n.min(10));
    (BACKOFF_BASE * (1u32 << shift)).min(BACKOFF_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node() -> SocketAddr {
        "127.0.0.1:7001".parse().unwrap()
    }

    fn attempt(class: ErrorClass) -> Attempt {
        Attempt {
            class,
            redirect: None,
            cluster: true,
            attempts: 0,
            redirects: 0,
            age: Duration::from_millis(5),
            retry_window: Duration::from_secs(10),
            stopping: false,
        }
    }

    #[test]
    fn moved_and_ask_are_followed() {
        let mut a = attempt(ErrorClass::Moved);
        a.redirect = Some((42, node()));
        let d = decide(&a);
        assert_eq!(
            d.action,
            Action::Redirect {
                slot: 42,
                to: node(),
                ask: false
            }
        );
        assert!(!d.refresh, "MOVED patches one slot; no full refresh");
        a.class = ErrorClass::Ask;
        assert_eq!(
            decide(&a).action,
            Action::Redirect {
                slot: 42,
                to: node(),
                ask: true
            }
        );
        // Even a stopping run follows a redirect it already has an answer for.
        a.stopping = true;
        assert!(matches!(decide(&a).action, Action::Redirect { .. }));
    }

    #[test]
    fn a_redirect_loop_ends() {
        let mut a = attempt(ErrorClass::Moved);
        a.redirect = Some((1, node()));
        a.redirects = MAX_REDIRECTS;
        let d = decide(&a);
        assert_eq!(
            d.action,
            Action::Fail {
                class: ErrorClass::Redirects,
                also: Some(ErrorClass::Moved)
            }
        );
        assert!(d.refresh);
    }

    #[test]
    fn an_unparsable_redirect_fails_and_refreshes() {
        let d = decide(&attempt(ErrorClass::Ask));
        assert_eq!(
            d.action,
            Action::Fail {
                class: ErrorClass::Ask,
                also: None
            }
        );
        assert!(d.refresh);
    }

    #[test]
    fn redirects_outside_a_cluster_are_errors() {
        let mut a = attempt(ErrorClass::Moved);
        a.cluster = false;
        a.redirect = Some((1, node()));
        assert_eq!(
            decide(&a),
            Decision {
                action: Action::Fail {
                    class: ErrorClass::Moved,
                    also: None
                },
                refresh: false
            }
        );
    }

    #[test]
    fn transient_faults_back_off_and_refresh() {
        for class in [
            ErrorClass::TryAgain,
            ErrorClass::ClusterDown,
            ErrorClass::Loading,
            ErrorClass::MasterDown,
            ErrorClass::ReadOnly,
            ErrorClass::ConnLost,
            ErrorClass::ConnRefused,
            ErrorClass::Timeout,
        ] {
            let d = decide(&attempt(class));
            assert_eq!(
                d.action,
                Action::Retry {
                    after: Duration::from_millis(4)
                },
                "{class:?}"
            );
            assert!(d.refresh, "{class:?}");
        }
        let mut a = attempt(ErrorClass::Loading);
        a.attempts = 3;
        assert_eq!(
            decide(&a).action,
            Action::Retry {
                after: Duration::from_millis(32)
            }
        );
        a.attempts = 60;
        assert_eq!(decide(&a).action, Action::Retry { after: BACKOFF_MAX });
    }

    #[test]
    fn faults_end_past_the_retry_window_or_when_stopping() {
        let mut a = attempt(ErrorClass::ConnLost);
        a.age = Duration::from_secs(10);
        let d = decide(&a);
        assert_eq!(
            d.action,
            Action::Fail {
                class: ErrorClass::ConnLost,
                also: None
            }
        );
        let mut a = attempt(ErrorClass::ClusterDown);
        a.stopping = true;
        assert!(matches!(decide(&a).action, Action::Fail { .. }));
    }

    #[test]
    fn standalone_retries_faults_but_not_readonly_and_never_refreshes() {
        let mut a = attempt(ErrorClass::ConnLost);
        a.cluster = false;
        let d = decide(&a);
        assert!(matches!(d.action, Action::Retry { .. }));
        assert!(!d.refresh);
        a.class = ErrorClass::ReadOnly;
        assert!(matches!(decide(&a).action, Action::Fail { .. }));
    }

    #[test]
    fn other_errors_end_the_request() {
        for class in [
            ErrorClass::Err,
            ErrorClass::WrongType,
            ErrorClass::Oom,
            ErrorClass::NoPerm,
            ErrorClass::Protocol,
            ErrorClass::Busy,
        ] {
            assert_eq!(
                decide(&attempt(class)),
                Decision {
                    action: Action::Fail { class, also: None },
                    refresh: false
                },
                "{class:?}"
            );
        }
    }
}
