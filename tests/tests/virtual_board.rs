//! The virtual board through a real pseudo-terminal and the host's serial client: the same code
//! path a physical iCEBreaker would take.

use lutna_core::protocol::Command;
use lutna_link::Link;
use lutna_sim::{identity, Faults, Simulator, VirtualBoard};
use std::time::{Duration, Instant};

#[test]
fn host_identifies_the_virtual_board_over_a_pty() {
    for sim in [Simulator::RustHdl, Simulator::best_available()] {
        identify_over_a_pty(sim);
    }
}

fn identify_over_a_pty(sim: Simulator) {
    let board = VirtualBoard::spawn_with(8, None, sim, None).unwrap();
    assert_eq!(board.simulator, sim);
    assert!(board.path.starts_with("/dev/"), "{}", board.path);
    let mut link = Link::open(&board.path, 3_000_000).unwrap();
    assert_eq!(link.identify().unwrap(), identity(8));
    assert_eq!(
        link.request(Command::Status, &[]).unwrap(),
        vec![0, 0, 0, 0]
    );
    // No retransmission count is asserted: the first request may time out once while the client
    // learns how slow the simulated board is (it then waits longer); the replies must be right.
    // A malformed request is refused with an error that names the reason, not retried forever.
    let err = link.request(Command::Read, &[1]).unwrap_err().to_string();
    assert!(
        err.contains("NAK 4 (BadPayload: the payload does not fit"),
        "{err}"
    );
    let s = board.stats();
    assert!(s.cycles > 0 && s.bytes_in > 0 && s.bytes_out > 0);
    eprintln!(
        "virtual board on {sim}: {:.0} simulated cycles/s",
        s.cycles_per_second()
    );
}

#[test]
fn faults_on_the_line_cost_retransmissions_not_results() {
    let board = VirtualBoard::spawn(
        8,
        Some(Faults {
            rate: 0.01,
            seed: 42,
        }),
    )
    .unwrap();
    let mut link = Link::open(&board.path, 3_000_000).unwrap();
    link.timeout = Duration::from_millis(300);
    link.tries = 20;
    for _ in 0..40 {
        assert_eq!(link.identify().unwrap(), identity(8));
    }
    assert!(board.stats().faults_injected > 0, "no fault was injected");
    assert!(
        link.stats.retransmissions > 0,
        "faults but no retransmission"
    );
}

#[test]
fn a_missing_port_and_a_silent_port_fail_clearly_and_quickly() {
    let err = Link::open("/dev/lutna-no-such-port", 115200)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not exist"), "{err}");
    // A pseudo-terminal with nobody behind it: the request must give up in bounded time.
    let (_master, slave) = serialport::TTYPort::pair().unwrap();
    let path = serialport::SerialPort::name(&slave).unwrap();
    let mut link = Link::open(&path, 115200).unwrap();
    link.timeout = Duration::from_millis(100);
    link.tries = 3;
    let t0 = Instant::now();
    let err = link.identify().unwrap_err().to_string();
    assert!(err.contains("no valid reply"), "{err}");
    assert!(t0.elapsed() < Duration::from_secs(3));
}
