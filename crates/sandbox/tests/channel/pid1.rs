//! init as a real PID 1: in fresh PID, mount and network namespaces
//! (`unshare`), as a runtime starts it, where `lo` starts down and every
//! orphan of the sandbox lands on init.

use std::time::Duration;

use airlock_sandbox::channel::{ExitStatus, User};

use crate::fixture::{Sandbox, text};

#[tokio::test]
async fn as_pid_1_init_brings_up_lo_and_reaps_orphans() {
    let sb = Sandbox::start_as_pid1().await;
    let out = sb
        .sh(
            User::Agent,
            "echo $$ > /dev/null; cat /proc/1/comm; cat /sys/class/net/lo/flags",
        )
        .await;
    let s = text(&out.stdout);
    let mut lines = s.lines();
    assert_eq!(lines.next(), Some("airlock-init"), "{s}");
    let flags = u32::from_str_radix(lines.next().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up (IFF_UP)");
    // Orphans: the shell exits, its children become PID 1's.
    let out = sb
        .sh(User::Agent, "sleep 0.5 >/dev/null 2>&1 & echo ok")
        .await;
    assert_eq!(text(&out.stdout), "ok\n");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let ps = sb
        .sh(
            User::Root,
            "for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done | grep -c Z || true",
        )
        .await;
    assert_eq!(text(&ps.stdout).trim(), "0", "no zombies under PID 1");
    assert_eq!(ps.status, ExitStatus::Code(0));
}
