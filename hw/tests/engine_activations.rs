//! `ActivationMemory`: a window of bytes (8 from the four SPRAMs, 16 from eight banks) at any
//! alignment per cycle, written by lane into one copy at a time. On one random stream of host byte writes (two writes each, as
//! the engine makes them), group writes (the writer's even copy, odd copy and carried byte) and
//! window reads, the RustHDL model against two plain byte arrays (one per copy); and the unit's
//! packed cells against its budget line.

use lutna_hw::engine::activations::{banks, position, ActivationMemory, BYTES, SPRAM_BANKS};
use lutna_hw::sim::{tick, tool_available, validate_with_yosys, XorShift};
use rust_hdl::prelude::*;

/// The bytes the stream touches mostly: a region written first, plus the top of the memory.
const REGION: usize = 300;

/// A write at `address` into its parity's copy of a memory with a `window`-byte window:
/// `bytes[i]` is the window's byte i, written where bit i of `mask` is set.
struct Write {
    window: usize,
    address: usize,
    bytes: [u8; 16],
    mask: u16,
}

/// A 128-bit port value.
fn wide(v: u128) -> Bits<128> {
    (0..128).fold(Bits::default(), |b, i| b.replace_bit(i, v >> i & 1 == 1))
}

impl Write {
    /// The write as the memory takes it: the data by lane.
    fn lanes(&self) -> u128 {
        let odd = self.address % 2 == 1;
        (0..self.window).fold(0u128, |d, i| {
            let lane = position(self.window, odd, self.address + i);
            d | (self.bytes[i] as u128) << (8 * lane)
        })
    }
}

/// The two writes that store one byte in both copies (the host's).
fn host_byte(window: usize, address: usize, byte: u8) -> [Write; 2] {
    [
        Write {
            window,
            address,
            bytes: [byte; 16],
            mask: 1,
        },
        Write {
            window,
            address: (address + BYTES - 1) % BYTES,
            bytes: [byte; 16],
            mask: 2,
        },
    ]
}

/// The writes of a full group (`window` bytes) at the even `base` whose carried byte from the
/// group before is `carry`: even copy at base, odd copy at base - 1 (the carry and bytes
/// 0..window - 1), the last byte alone at base + window - 1.
fn group(window: usize, base: usize, bytes: [u8; 16], mask: u16, carry: u8) -> [Write; 3] {
    let mask = mask & ((1u32 << window) - 1) as u16;
    let mut odd = [0u8; 16];
    odd[0] = carry;
    odd[1..window].copy_from_slice(&bytes[..window - 1]);
    [
        Write {
            window,
            address: base,
            bytes,
            mask,
        },
        Write {
            window,
            address: (base + BYTES - 1) % BYTES,
            bytes: odd,
            mask: (mask << 1 | 1) & ((1u32 << window) - 1) as u16,
        },
        Write {
            window,
            address: (base + window - 1) % BYTES,
            bytes: [bytes[window - 1]; 16],
            mask: mask >> (window - 1),
        },
    ]
}

struct Model {
    window: usize,
    copies: [Vec<u8>; 2],
}

impl Model {
    fn apply(&mut self, w: &Write) {
        let copy = w.address % 2;
        for i in 0..self.window {
            if w.mask >> i & 1 == 1 {
                self.copies[copy][(w.address + i) % BYTES] = w.bytes[i];
            }
        }
    }

    fn window(&self, address: usize) -> u128 {
        (0..self.window).fold(0, |d, i| {
            d | (self.copies[address % 2][(address + i) % BYTES] as u128) << (8 * i)
        })
    }
}

fn clock<const N: usize>(u: &mut ActivationMemory<N>) -> &mut Signal<In, Clock> {
    &mut u.clock
}

fn one_cycle<const N: usize>(
    uut: &mut ActivationMemory<N>,
    model: &mut Model,
    op: Option<&Write>,
    read: Option<usize>,
) -> Option<usize> {
    match (op, read) {
        (Some(w), _) => {
            uut.address.next = (w.address as u64).into();
            uut.write.next = true;
            uut.write_data.next = wide(w.lanes());
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
}

/// One random stream of host bytes, full groups and reads on a memory of N banks.
fn every_window_reads_the_bytes_last_written<const N: usize>() {
    let window = 2 * N;
    let mut uut = ActivationMemory::<N>::top();
    let mut model = Model {
        window,
        copies: [vec![0; BYTES], vec![0; BYTES]],
    };
    let mut rng = XorShift(0xac7_1a7e ^ N as u64);
    let mut writes: Vec<Write> = Vec::new();
    for a in (0..REGION).chain(BYTES - 32..BYTES) {
        writes.extend(host_byte(window, a, (a * 7) as u8 ^ 0x5a));
    }
    for w in &writes {
        one_cycle(&mut uut, &mut model, Some(w), None);
    }
    let mut reads = 0;
    let mut last_read: Option<usize> = None;
    for _ in 0..6000 {
        let r = rng.next_u64();
        let far = r & 31 == 0;
        let address = if far {
            BYTES - 32 + (r >> 12) as usize % 32
        } else {
            (r >> 12) as usize % REGION
        };
        let ops: Vec<Write> = match r >> 40 & 7 {
            0 => host_byte(window, address, (r >> 32) as u8).into(),
            1 => {
                let mut bytes = [0u8; 16];
                bytes[..8].copy_from_slice(&((r >> 8) ^ r << 7).to_le_bytes());
                bytes[8..].copy_from_slice(&(r.rotate_left(29) ^ 0x5ca1ab1e).to_le_bytes());
                group(
                    window,
                    address & !1,
                    bytes,
                    (r >> 44) as u16 | 1,
                    (r >> 56) as u8,
                )
                .into()
            }
            _ => Vec::new(),
        };
        // A read's window is checked as the next access is set up.
        if let Some(a) = last_read.take() {
            assert_eq!(
                uut.window.val().to_u128(),
                model.window(a),
                "{window}-byte window at {a}"
            );
            reads += 1;
        }
        if ops.is_empty() {
            last_read = one_cycle(&mut uut, &mut model, None, Some(address));
        } else {
            for w in &ops {
                one_cycle(&mut uut, &mut model, Some(w), None);
            }
        }
    }
    assert!(reads > 3000, "{reads} reads checked");
    // Both copies of every byte touched, as the simulation model holds them.
    for a in (0..REGION + 32).chain(BYTES - 32..BYTES) {
        assert_eq!(
            uut.copies(a),
            [model.copies[0][a], model.copies[1][a]],
            "byte {a}"
        );
    }
}

#[test]
fn every_window_reads_the_bytes_last_written_in_its_copy() {
    every_window_reads_the_bytes_last_written::<SPRAM_BANKS>();
}

/// The 16-byte window of the 16-lane build: eight banks, the odd copy's lanes moved up by 7.
#[test]
fn every_16_byte_window_reads_the_bytes_last_written_in_its_copy() {
    every_window_reads_the_bytes_last_written::<{ banks(16) }>();
}

#[test]
fn the_activation_memory_fits_its_budget() {
    let verilog = generate_verilog(&ActivationMemory::<SPRAM_BANKS>::top());
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
