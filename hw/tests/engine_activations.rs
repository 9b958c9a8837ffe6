//! `ActivationMemory`: eight bytes at any alignment per cycle from the four SPRAMs, written by
//! lane into one copy at a time. On one random stream of host byte writes (two writes each, as
//! the engine makes them), group writes (the writer's even copy, odd copy and carried byte) and
//! window reads, the RustHDL model against two plain byte arrays (one per copy); and the unit's
//! packed cells against its budget line.

use lutna_hw::engine::activations::{position, ActivationMemory, BYTES};
use lutna_hw::sim::{tick, tool_available, validate_with_yosys, XorShift};
use rust_hdl::prelude::*;

/// The bytes the stream touches mostly: a region written first, plus the top of the memory.
const REGION: usize = 300;

/// A write at `address` into its parity's copy: `bytes[i]` is the window's byte i, written
/// where bit i of `mask` is set.
struct Write {
    address: usize,
    bytes: [u8; 8],
    mask: u8,
}

impl Write {
    /// The write as the memory takes it: the data by lane.
    fn lanes(&self) -> u64 {
        let odd = self.address % 2 == 1;
        (0..8).fold(0u64, |d, i| {
            let lane = position(odd, self.address + i);
            d | (self.bytes[i] as u64) << (8 * lane)
        })
    }
}

/// The two writes that store one byte in both copies (the host's).
fn host_byte(address: usize, byte: u8) -> [Write; 2] {
    [
        Write {
            address,
            bytes: [byte; 8],
            mask: 1,
        },
        Write {
            address: (address + BYTES - 1) % BYTES,
            bytes: [byte; 8],
            mask: 2,
        },
    ]
}

/// The writes of an eight-byte group at the even `base` whose carried byte from the group
/// before is `carry`: even copy at base, odd copy at base - 1 (the carry and bytes 0..6), the
/// last byte alone at base + 7.
fn group(base: usize, bytes: [u8; 8], mask: u8, carry: u8) -> [Write; 3] {
    let mut odd = [0u8; 8];
    odd[0] = carry;
    odd[1..].copy_from_slice(&bytes[..7]);
    [
        Write {
            address: base,
            bytes,
            mask,
        },
        Write {
            address: (base + BYTES - 1) % BYTES,
            bytes: odd,
            mask: mask << 1 | 1,
        },
        Write {
            address: (base + 7) % BYTES,
            bytes: [bytes[7]; 8],
            mask: mask >> 7,
        },
    ]
}

struct Model {
    copies: [Vec<u8>; 2],
}

impl Model {
    fn apply(&mut self, w: &Write) {
        let copy = w.address % 2;
        for i in 0..8 {
            if w.mask >> i & 1 == 1 {
                self.copies[copy][(w.address + i) % BYTES] = w.bytes[i];
            }
        }
    }

    fn window(&self, address: usize) -> u64 {
        (0..8).fold(0, |d, i| {
            d | (self.copies[address % 2][(address + i) % BYTES] as u64) << (8 * i)
        })
    }
}

fn clock(u: &mut ActivationMemory) -> &mut Signal<In, Clock> {
    &mut u.clock
}

#[test]
fn every_window_reads_the_bytes_last_written_in_its_copy() {
    let mut uut = ActivationMemory::top();
    let mut model = Model {
        copies: [vec![0; BYTES], vec![0; BYTES]],
    };
    let mut rng = XorShift(0xac7_1a7e);
    let mut writes: Vec<Write> = Vec::new();
    for a in (0..REGION).chain(BYTES - 16..BYTES) {
        writes.extend(host_byte(a, (a * 7) as u8 ^ 0x5a));
    }
    let mut reads = 0;
    let mut pending = writes.into_iter();
    let cycle =
        |uut: &mut ActivationMemory, model: &mut Model, op: Option<&Write>, read: Option<usize>| {
            match (op, read) {
                (Some(w), _) => {
                    uut.address.next = (w.address as u64).into();
                    uut.write.next = true;
                    uut.write_data.next = w.lanes().into();
                    uut.write_mask.next = (w.mask as u64).into();
                    model.apply(w);
                    tick(uut, clock);
                    None
                }
                (None, Some(a)) => {
                    uut.address.next = (a as u64).into();
                    uut.write.next = false;
                    tick(uut, clock);
                    Some(a)
                }
                _ => None,
            }
        };
    for w in pending.by_ref() {
        cycle(&mut uut, &mut model, Some(&w), None);
    }
    let mut last_read: Option<usize> = None;
    for _ in 0..6000 {
        let r = rng.next_u64();
        let far = r & 31 == 0;
        let address = if far {
            BYTES - 16 + (r >> 12) as usize % 16
        } else {
            (r >> 12) as usize % REGION
        };
        let ops: Vec<Write> = match r >> 40 & 7 {
            0 => host_byte(address, (r >> 32) as u8).into(),
            1 => group(
                address & !1,
                ((r >> 8) ^ r << 7).to_le_bytes(),
                (r >> 48) as u8 | 1,
                (r >> 56) as u8,
            )
            .into(),
            _ => Vec::new(),
        };
        if ops.is_empty() {
            // A read; the window of the read before it is checked as this one is set up.
            if let Some(a) = last_read {
                assert_eq!(uut.window.val().to_u64(), model.window(a), "window at {a}");
                reads += 1;
            }
            last_read = cycle(&mut uut, &mut model, None, Some(address));
        } else {
            if let Some(a) = last_read.take() {
                assert_eq!(uut.window.val().to_u64(), model.window(a), "window at {a}");
                reads += 1;
            }
            for w in &ops {
                cycle(&mut uut, &mut model, Some(w), None);
            }
        }
    }
    assert!(reads > 3000, "{reads} reads checked");
    // Both copies of every byte touched, as the simulation model holds them.
    for a in (0..REGION + 16).chain(BYTES - 16..BYTES) {
        assert_eq!(
            uut.copies(a),
            [model.copies[0][a], model.copies[1][a]],
            "byte {a}"
        );
    }
}

#[test]
fn the_activation_memory_fits_its_budget() {
    let verilog = generate_verilog(&ActivationMemory::top());
    validate_with_yosys("activations", &verilog);
    if !tool_available("nextpnr-ice40", "the activation memory's cell count") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("lutna-activations-{}", std::process::id()));
    let cells = lutna_hw::flow::unit::unit_cells(&dir, &verilog).unwrap();
    println!("activation memory: {cells:?}");
    assert!(
        cells.packed_logic_cells <= lutna_hw::engine::budget::ACTIVATIONS.cells as u64,
        "{cells:?}"
    );
}
