//! The UART against a bit-level software model of the line: the transmitter's waveform must be
//! exactly start, 8 data bits LSB first, stop, each `clocks_per_bit` long; the receiver must
//! recover bytes sent by the software line with random idle gaps and a few clocks of phase
//! error, ignore short glitches, and flag a missing stop bit.

use lutna_hw::link::uart::{UartRx, UartTx};
use lutna_hw::sim::{tick, validate_with_yosys, XorShift};
use rust_hdl::prelude::*;

fn tx_top(cpb: u16) -> UartTx {
    let mut uut = UartTx::new(cpb);
    uut.clock.connect();
    uut.data.connect();
    uut.send.connect();
    uut.connect_all();
    uut
}

fn rx_top(cpb: u16) -> UartRx {
    let mut uut = UartRx::new(cpb);
    uut.clock.connect();
    uut.rx.connect();
    uut.connect_all();
    uut
}

/// The line levels of one 8N1 byte, one entry per clock.
fn waveform(byte: u8, cpb: usize, stop: bool) -> Vec<bool> {
    let mut bits = vec![false];
    bits.extend((0..8).map(|i| (byte >> i) & 1 == 1));
    bits.push(stop);
    bits.into_iter()
        .flat_map(|b| std::iter::repeat_n(b, cpb))
        .collect()
}

#[test]
fn transmitter_waveform_is_8n1() {
    for cpb in [2u16, 4, 7] {
        let mut uut = tx_top(cpb);
        let mut rng = XorShift(0x5EED ^ cpb as u64);
        for _ in 0..64 {
            let byte = rng.next_u64() as u8;
            // Idle: line high, ready.
            tick(&mut uut, |u| &mut u.clock);
            assert!(uut.tx.val() && uut.ready.val());
            uut.data.next = (byte as u64).into();
            uut.send.next = true;
            tick(&mut uut, |u| &mut u.clock);
            uut.send.next = false;
            let mut line = vec![];
            while !uut.ready.val() {
                line.push(uut.tx.val());
                tick(&mut uut, |u| &mut u.clock);
                assert!(
                    line.len() <= 10 * cpb as usize,
                    "transmitter never finished"
                );
            }
            assert_eq!(
                line,
                waveform(byte, cpb as usize, true),
                "byte {byte:#04x} cpb {cpb}"
            );
        }
    }
}

#[test]
fn receiver_recovers_bytes_with_gaps_phase_error_and_glitches() {
    for cpb in [4usize, 5, 8, 13] {
        let mut uut = rx_top(cpb as u16);
        let mut rng = XorShift(0xBADC0DE ^ cpb as u64);
        let mut line: Vec<bool> = vec![true; 20];
        let mut sent = vec![];
        for k in 0..200 {
            let byte = rng.next_u64() as u8;
            // Idle gap, sometimes with a glitch shorter than half a bit.
            let gap = (rng.next_u64() % (3 * cpb as u64)) as usize + 1;
            line.extend(std::iter::repeat_n(true, gap));
            if k % 7 == 3 {
                let g = (cpb / 2 - 1).max(1);
                line.extend(std::iter::repeat_n(false, g));
                line.extend(std::iter::repeat_n(true, cpb));
            }
            // A sender whose bit time is off by one clock now and then (clock mismatch).
            let mut w = waveform(byte, cpb, true);
            if k % 5 == 0 && cpb >= 8 {
                w.truncate(w.len() - 1);
            }
            line.extend(w);
            sent.push(byte);
        }
        line.extend(std::iter::repeat_n(true, 4 * cpb));
        let mut got = vec![];
        for &level in &line {
            uut.rx.next = level;
            tick(&mut uut, |u| &mut u.clock);
            assert!(
                !uut.framing_error.val(),
                "cpb {cpb}: spurious framing error"
            );
            if uut.valid.val() {
                got.push(uut.data.val().index() as u8);
            }
        }
        assert_eq!(got, sent, "cpb {cpb}");
    }
}

#[test]
fn receiver_flags_a_missing_stop_bit_and_recovers() {
    let cpb = 6;
    let mut uut = rx_top(cpb as u16);
    let mut line = vec![true; 10];
    line.extend(waveform(0x3C, cpb, false));
    line.extend(std::iter::repeat_n(true, 3 * cpb));
    line.extend(waveform(0xA7, cpb, true));
    line.extend(std::iter::repeat_n(true, 3 * cpb));
    let (mut errors, mut got) = (0, vec![]);
    for &level in &line {
        uut.rx.next = level;
        tick(&mut uut, |u| &mut u.clock);
        errors += uut.framing_error.val() as u32;
        if uut.valid.val() {
            got.push(uut.data.val().index() as u8);
        }
    }
    assert_eq!((errors, got), (1, vec![0xA7]));
}

#[test]
fn transmitter_to_receiver_loopback() {
    let cpb = 4;
    let (mut tx, mut rx) = (tx_top(cpb), rx_top(cpb));
    let mut rng = XorShift(77);
    let bytes: Vec<u8> = (0..300).map(|_| rng.next_u64() as u8).collect();
    let (mut next, mut got) = (0, vec![]);
    // One idle clock between bytes: ready rises, then the next send is taken.
    for _ in 0..bytes.len() * (10 * cpb as usize + 1) + 100 {
        tx.send.next = next < bytes.len() && tx.ready.val();
        if tx.send.next {
            tx.data.next = (bytes[next] as u64).into();
            next += 1;
        }
        rx.rx.next = tx.tx.val();
        tick(&mut tx, |u| &mut u.clock);
        tick(&mut rx, |u| &mut u.clock);
        if rx.valid.val() {
            got.push(rx.data.val().index() as u8);
        }
    }
    assert_eq!(got, bytes);
    validate_with_yosys("lutna_uart_tx", &generate_verilog(&tx_top(4)));
    validate_with_yosys("lutna_uart_rx", &generate_verilog(&rx_top(4)));
}
