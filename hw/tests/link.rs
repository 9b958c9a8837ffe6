//! The board's frame receiver against lutna-core's protocol definition: the hardware CRC step
//! equals `crc16_update` for every byte; frames encoded by `Frame::encode`, sent with garbage
//! between them, come out with the same command, sequence number and payload; damaged, oversize
//! and abandoned frames are rejected or dropped, and the next good frame is still received.

use lutna_core::protocol::{crc16_update, Frame, NakReason, MAX_PAYLOAD};
use lutna_hw::link::{Crc16Byte, FrameRx};
use lutna_hw::sim::{tick, validate_with_yosys, XorShift};
use rust_hdl::prelude::*;

#[test]
fn crc_step_matches_core_for_every_byte() {
    let mut uut = Crc16Byte::default();
    uut.crc.connect();
    uut.byte.connect();
    uut.connect_all();
    let mut rng = XorShift(0xC4C);
    for _ in 0..40 {
        let crc = rng.next_u64() as u16;
        for b in 0..=255u8 {
            uut.crc.next = (crc as u64).into();
            uut.byte.next = (b as u64).into();
            assert!(simulate(&mut uut, 50));
            assert_eq!(uut.crc_out.val().index() as u16, crc16_update(crc, b));
        }
    }
}

#[derive(Debug, PartialEq)]
enum Seen {
    Ok(Frame),
    Bad(u8),
}

const TIMEOUT: u32 = 200;

/// Feeds `bytes` one every 3 clocks (None = one byte time of silence) and reads each accepted
/// frame's payload back through the read port.
fn receive(uut: &mut FrameRx, bytes: &[Option<u8>]) -> Vec<Seen> {
    let mut seen = vec![];
    for b in bytes {
        uut.byte_valid.next = b.is_some();
        uut.byte.next = (b.unwrap_or(0) as u64).into();
        for k in 0..3 {
            tick(uut, |u| &mut u.clock);
            uut.byte_valid.next = false;
            if uut.frame_bad.val() {
                seen.push(Seen::Bad(uut.bad_reason.val().index() as u8));
            }
            if uut.frame_ok.val() {
                assert_eq!(
                    k, 0,
                    "frame_ok comes with the clock that takes the last byte"
                );
                let (cmd, seq, len) = (
                    uut.cmd.val().index() as u8,
                    uut.seq.val().index() as u8,
                    uut.len.val().index(),
                );
                let mut payload = vec![];
                for i in 0..len {
                    uut.read_addr.next = (i as u64).into();
                    tick(uut, |u| &mut u.clock);
                    payload.push(uut.read_data.val().index() as u8);
                }
                seen.push(Seen::Ok(Frame::new(cmd, seq, payload)));
            }
        }
    }
    seen
}

fn line(bytes: &[u8]) -> Vec<Option<u8>> {
    bytes.iter().map(|&b| Some(b)).collect()
}

#[test]
fn frames_are_received_through_garbage_damage_and_silence() {
    let mut rng = XorShift(0xF4A3E);
    let mut uut = FrameRx::top(TIMEOUT);
    let mut stream: Vec<Option<u8>> = line(&[0x13, 0xA5, 0xA5, 0x00]);
    let mut want = vec![];
    for i in 0..40u8 {
        let len = match i % 5 {
            0 => 0,
            1 => MAX_PAYLOAD,
            _ => (rng.next_u64() % 300) as usize,
        };
        let f = Frame::new(
            rng.next_u64() as u8,
            i,
            (0..len).map(|_| rng.next_u64() as u8).collect(),
        );
        let mut bytes = f.encode().unwrap();
        match i % 4 {
            // A flipped bit anywhere after the marker: rejected, nothing delivered.
            1 => {
                let at = 2 + (rng.next_u64() as usize % (bytes.len() - 2));
                bytes[at] ^= 1 << (rng.next_u64() % 8);
                stream.extend(line(&bytes));
                // The damage may hit the length; silence lets the receiver give up if it waits.
                stream.extend(vec![None; TIMEOUT as usize / 3 + 2]);
                if bytes[2..4] == f.encode().unwrap()[2..4] {
                    want.push(Seen::Bad(NakReason::BadCrc as u8));
                }
            }
            // A frame cut short, then silence: abandoned, and reported when its header (six
            // bytes up to `seq`) was in.
            2 => {
                stream.extend(line(&bytes[..bytes.len() / 2]));
                stream.extend(vec![None; TIMEOUT as usize / 3 + 2]);
                if bytes.len() / 2 >= 6 {
                    want.push(Seen::Bad(NakReason::Timeout as u8));
                }
            }
            _ => {
                stream.extend(line(&bytes));
                want.push(Seen::Ok(f));
            }
        }
        stream.extend(line(&[0xA5, 0x00, 0x5A]));
    }
    // An oversize length is refused as soon as the header is in.
    stream.extend(line(&[0xA5, 0x5A, 0x01, 0x04, 0x03, 0x07]));
    want.push(Seen::Bad(NakReason::TooLong as u8));
    let last = Frame::new(0x02, 0xEE, vec![1, 2, 3]);
    stream.extend(line(&last.encode().unwrap()));
    want.push(Seen::Ok(last));
    let got = receive(&mut uut, &stream);
    let got_ok: Vec<_> = got.iter().filter(|s| matches!(s, Seen::Ok(_))).collect();
    let want_ok: Vec<_> = want.iter().filter(|s| matches!(s, Seen::Ok(_))).collect();
    // Compare headers and payload sizes first: a failure then prints something readable.
    let brief = |v: &[&Seen]| -> Vec<(u8, u8, usize)> {
        v.iter()
            .map(|s| match s {
                Seen::Ok(f) => (f.cmd, f.seq, f.payload.len()),
                Seen::Bad(r) => (0, *r, 0),
            })
            .collect()
    };
    assert_eq!(
        brief(&got_ok),
        brief(&want_ok),
        "accepted frames (cmd, seq, len)"
    );
    assert!(got_ok == want_ok, "a payload differs");
    // Every damaged frame with an intact length is reported (others are abandoned or reported).
    for w in want.iter().filter(|s| matches!(s, Seen::Bad(_))) {
        assert!(got.contains(w), "missing report {w:?}");
    }
    validate_with_yosys("lutna_frame_rx", &generate_verilog(&FrameRx::top(TIMEOUT)));
}
