//! `Writer<P>`: gathers a group's output bytes from the requantizer and stores them in the
//! activation memory's two copies (docs/engine.md, "Where the cells went"), keeping the walk's
//! output pointer itself, a group behind the issuer: one register that only adds (`+ A` to the
//! next group, the host-computed `OutRowStep` / `OutChannelStep` at a row's / channel's last
//! group).
//!
//! A group of `A` bytes (`A` = P, or P/2 at horizontal stride 2) at the even address B takes
//! two writes of [`super::activations::ActivationMemory`], whose window is W bytes (8, or P
//! where P is 16: `lutna_core::isa::shape::window_bytes`): the even copy at B (bytes 0..A),
//! then the odd copy at B - 1. The memory takes a write's data by lane (byte b of the even copy
//! in lane b % W, of the odd copy in lane (b + W/2 - 1) % W), so the writer gathers byte j of
//! the group into lane (B + j) % W as it arrives (it counts the group's bytes itself: they come
//! in lane order): the even write is the gathered lanes as they are, the odd write the same
//! lanes moved up by W/2 - 1. The odd copy's window starting at B - 1 holds W + 1 bytes of a
//! W-byte group, so at A = W the group's last byte is *carried* to the next group's odd write
//! (its byte 0, put in that byte's lane) when that group starts at B + W, as it does along a
//! row and, in a walk whose output is one run (`MODE_CONTIGUOUS`), from row to row and channel
//! to channel; at a row's end of other walks the carried byte is written alone at B + W - 1 (a
//! third write). The last group of a walk leaves its carry pending until nothing else runs
//! (`flush`), then writes it alone. A group's odd write takes byte 0 only when a carry is
//! pending. Below W bytes the odd window holds the whole group and nothing is carried.
//!
//! The lanes are built for the widest window (`WINDOW_LANES_MAX`); a build with an 8-byte
//! window leaves the upper eight out of its writes, and synthesis removes them.
//!
//! Timing: the group's last byte arrives in cycle C; the pointer moves on to the next group
//! then, and the writes take the memory in C + 1, C + 2 (and C + 3 at a row's end), each
//! announced a cycle ahead on `port_next`, so the issuer leaves the port free. The next group's
//! first byte may not arrive before C + 2 (the drain's `GROUP_GAP`): the odd write reads the
//! gathered lanes whole in C + 2, and a byte landing in C + 2 is stored at its end.
//!
//! While idle, `fill` puts a byte in every lane of `data`: the host's bytes reach the memory
//! through it (the memory's mask picks the lane).
//!
//! Logits (`logits`): a channel's one sum is written by the engine into the logits memory at
//! `logit_address` (the pointer) in the cycle `logit_valid` is high; the pointer then takes
//! `OutChannelStep`.

use super::activations::{low_bytes_mask, odd_lane_offset, WINDOW_BITS, WINDOW_LANES_MAX};
use rust_hdl::prelude::*;

/// The write in progress.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum WritePhase {
    Idle,
    /// The even copy at B.
    Even,
    /// The odd copy at B - 1.
    Odd,
    /// The carried byte alone at B + W - 1: a W-byte group after which the pointer jumps.
    Tail,
    /// A carried byte left over when nothing else is running, alone at its place.
    Flush,
}

#[derive(LogicBlock)]
pub struct Writer<const P: usize> {
    pub clock: Signal<In, Clock>,
    /// Registers: output rows - 1, groups per row - 1, the pointer's steps to the next row and
    /// channel, the first group's address; horizontal stride 2; the output kind.
    pub rows: Signal<In, Bits<8>>,
    pub groups: Signal<In, Bits<8>>,
    pub out_row_step: Signal<In, Bits<16>>,
    pub out_channel_step: Signal<In, Bits<16>>,
    pub out_base: Signal<In, Bits<16>>,
    pub stride2: Signal<In, bool>,
    pub signed_out: Signal<In, bool>,
    pub logits: Signal<In, bool>,
    /// The walk's output is one run (`MODE_CONTIGUOUS`): the pointer never jumps.
    pub contiguous: Signal<In, bool>,
    /// `OutBase` was written: the walk starts again at its first channel.
    pub restart: Signal<In, bool>,
    /// From the requantizer: the group's next byte (u8, or i8 in two's complement). A group's
    /// A bytes come in lane order; the writer counts them.
    pub byte_valid: Signal<In, bool>,
    pub byte: Signal<In, Bits<8>>,
    /// While idle: `fill_byte` into every lane, so that `data` holds it in the next cycles (the
    /// host's bytes reach the activation memory this way, its mask picking the lane).
    pub fill: Signal<In, bool>,
    pub fill_byte: Signal<In, Bits<8>>,
    /// Nothing else in the engine is running: a carried byte still owed is written alone.
    pub flush: Signal<In, bool>,
    /// Logits: a channel's sum is written this cycle.
    pub logit_valid: Signal<In, bool>,
    pub logit_address: Signal<Out, Bits<4>>,
    /// The activation memory is the writer's next cycle.
    pub port_next: Signal<Out, bool>,
    /// A window write this cycle: its address, bytes and byte mask.
    pub write: Signal<Out, bool>,
    pub address: Signal<Out, Bits<16>>,
    pub data: Signal<Out, Bits<WINDOW_BITS>>,
    pub mask: Signal<Out, Bits<WINDOW_LANES_MAX>>,
    /// A group is being gathered or written.
    pub busy: Signal<Out, bool>,
    phase: DFF<WritePhase>,
    /// The group's bytes by lane: byte b in lane b % W (`activations::position`).
    gather: [DFF<Bits<8>>; WINDOW_LANES_MAX],
    /// The group's last byte as it arrived, and the byte carried into the next group's odd write.
    last_byte: DFF<Bits<8>>,
    carry: DFF<Bits<8>>,
    gathering: DFF<bool>,
    /// The arriving byte's index in its group.
    count: DFF<Bits<4>>,
    byte_last: Signal<Local, bool>,
    last_index: Signal<Local, Bits<16>>,
    /// The group being written ended its walk's row or channel with a jump of the pointer.
    jump_q: DFF<bool>,
    carry_pending: DFF<bool>,
    group: DFF<Bits<8>>,
    row: DFF<Bits<8>>,
    /// The address of the group being gathered (it moves on at the group's last byte).
    pointer: DFF<Bits<16>>,
    /// The write's address (the group's B, then B - 1, then B + W - 1).
    address_q: DFF<Bits<16>>,
    stored: Signal<Local, Bits<8>>,
    /// The lane of the arriving byte.
    byte_lane: Signal<Local, Bits<4>>,
    /// The group ends a row, a channel; the pointer's step after it.
    row_end: Signal<Local, bool>,
    channel_end: Signal<Local, bool>,
    step: Signal<Local, Bits<16>>,
    jump: Signal<Local, bool>,
    offset: Signal<Local, Bits<16>>,
    group_bytes: Signal<Local, Bits<16>>,
    full_mask: Signal<Local, Bits<WINDOW_LANES_MAX>>,
    /// The group fills the window: its last byte is carried.
    full: Signal<Local, bool>,
    /// An odd-copy write (odd, tail, flush): its lanes are the gathered bytes moved up by
    /// `odd_lane_offset(W)`, the carried byte in the lane of the window's byte 0.
    odd_write: Signal<Local, bool>,
    carry_lane: Signal<Local, Bits<4>>,
    /// The gathered lanes side by side (lane p at bits 8p), and moved up for an odd write.
    even_data: Signal<Local, Bits<WINDOW_BITS>>,
    odd_data: Signal<Local, Bits<WINDOW_BITS>>,
    odd_lane: [Signal<Local, Bits<8>>; WINDOW_LANES_MAX],
    lane_value: Signal<Local, Bits<8>>,
    lane_at: [Constant<Bits<8>>; WINDOW_LANES_MAX],
    lane_byte: [Signal<Local, Bits<8>>; WINDOW_LANES_MAX],
    sign_bit: Constant<Bits<8>>,
    lanes: Constant<Bits<16>>,
    half_lanes: Constant<Bits<16>>,
    all_lanes: Constant<Bits<WINDOW_LANES_MAX>>,
    half_mask: Constant<Bits<WINDOW_LANES_MAX>>,
    minus_one: Constant<Bits<16>>,
    /// W: the window's bytes, and the tail's step from B - 1.
    window_bytes: Constant<Bits<16>>,
    lane_mask: Constant<Bits<4>>,
    /// The window's lanes' mask bits.
    window_lanes: Constant<Bits<WINDOW_LANES_MAX>>,
    odd_lane_offset: Constant<Bits<4>>,
    lane_code: [Constant<Bits<4>>; WINDOW_LANES_MAX],
    window_data_mask: Constant<Bits<WINDOW_BITS>>,
    /// The odd write's rotation (8-bit amounts: RustHDL's shifts take at most 64).
    odd_up: Constant<Bits<8>>,
    odd_down: Constant<Bits<8>>,
}

impl<const P: usize> Default for Writer<P> {
    fn default() -> Self {
        assert!(P.is_power_of_two() && (2..=WINDOW_LANES_MAX).contains(&P));
        let window = lutna_core::isa::shape::window_bytes(P);
        let offset = odd_lane_offset(window);
        let amount = |v: usize| Constant::new((v as u64).into());
        Self {
            clock: Default::default(),
            rows: Default::default(),
            groups: Default::default(),
            out_row_step: Default::default(),
            out_channel_step: Default::default(),
            out_base: Default::default(),
            stride2: Default::default(),
            signed_out: Default::default(),
            logits: Default::default(),
            contiguous: Default::default(),
            restart: Default::default(),
            byte_valid: Default::default(),
            byte: Default::default(),
            logit_valid: Default::default(),
            flush: Default::default(),
            fill: Default::default(),
            fill_byte: Default::default(),
            logit_address: Default::default(),
            port_next: Default::default(),
            write: Default::default(),
            address: Default::default(),
            data: Default::default(),
            mask: Default::default(),
            busy: Default::default(),
            phase: Default::default(),
            gather: Default::default(),
            last_byte: Default::default(),
            carry: Default::default(),
            gathering: Default::default(),
            count: Default::default(),
            byte_last: Default::default(),
            last_index: Default::default(),
            jump_q: Default::default(),
            carry_pending: Default::default(),
            group: Default::default(),
            row: Default::default(),
            pointer: Default::default(),
            address_q: Default::default(),
            stored: Default::default(),
            byte_lane: Default::default(),
            row_end: Default::default(),
            channel_end: Default::default(),
            step: Default::default(),
            jump: Default::default(),
            offset: Default::default(),
            group_bytes: Default::default(),
            full_mask: Default::default(),
            full: Default::default(),
            odd_write: Default::default(),
            carry_lane: Default::default(),
            even_data: Default::default(),
            odd_data: Default::default(),
            odd_lane: Default::default(),
            lane_value: Default::default(),
            lane_at: std::array::from_fn(|p| amount(8 * p)),
            lane_byte: Default::default(),
            sign_bit: Constant::new(0x80u64.into()),
            lanes: Constant::new((P as u64).into()),
            half_lanes: Constant::new((P as u64 / 2).into()),
            all_lanes: Constant::new(((1u64 << P) - 1).into()),
            half_mask: Constant::new(((1u64 << (P / 2)) - 1).into()),
            minus_one: Constant::new(0xffffu64.into()),
            window_bytes: Constant::new((window as u64).into()),
            lane_mask: Constant::new(((window - 1) as u64).into()),
            window_lanes: Constant::new(((1u64 << window) - 1).into()),
            odd_lane_offset: Constant::new((offset as u64).into()),
            lane_code: std::array::from_fn(|i| Constant::new((i as u64).into())),
            window_data_mask: Constant::new(low_bytes_mask(window)),
            odd_up: amount(8 * offset),
            odd_down: amount(8 * (window - offset)),
        }
    }
}

impl<const P: usize> Writer<P> {
    pub fn top() -> Self {
        let mut w = Self::default();
        w.connect_all();
        w
    }
}

impl<const P: usize> Logic for Writer<P> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            phase,
            last_byte,
            carry,
            gathering,
            count,
            jump_q,
            carry_pending,
            group,
            row,
            pointer,
            address_q
        );
        // The group's bytes: A of them, a W-byte group carries its last to the next.
        self.group_bytes.next = self.lanes.val();
        self.full_mask.next = self.all_lanes.val();
        if self.stride2.val() {
            self.group_bytes.next = self.half_lanes.val();
            self.full_mask.next = self.half_mask.val();
        }
        self.full.next = self.group_bytes.val() == self.window_bytes.val();
        // An i8 is stored offset by 128.
        self.stored.next = self.byte.val();
        if self.signed_out.val() {
            self.stored.next = self.byte.val() ^ self.sign_bit.val();
        }
        // Byte j of the group at B goes to lane (B + j) % W; byte A - 1 is the group's last.
        self.byte_lane.next =
            (self.pointer.q.val().get_bits::<4>(0) + self.count.q.val()) & self.lane_mask.val();
        self.last_index.next = self.group_bytes.val() - 1;
        self.byte_last.next = self.count.q.val() == self.last_index.val().get_bits::<4>(0);
        if self.byte_valid.val() {
            // (Masked to the window's lanes, so a narrower build keeps no unused count bit.)
            self.count.d.next = (self.count.q.val() + 1) & self.lane_mask.val();
            if self.byte_last.val() {
                self.count.d.next = 0.into();
            }
        }
        for i in 0..WINDOW_LANES_MAX {
            self.gather[i].clock.next = self.clock.val();
            self.gather[i].d.next = self.gather[i].q.val();
            if self.byte_valid.val() & (self.byte_lane.val() == self.lane_code[i].val()) {
                self.gather[i].d.next = self.stored.val();
            }
            if self.fill.val() {
                self.gather[i].d.next = self.fill_byte.val();
            }
        }
        if self.byte_valid.val() {
            self.gathering.d.next = !self.byte_last.val();
        }
        // At a group's last byte: its row and channel end, the pointer's step to the next
        // group (whose bytes may follow from the cycle after next), the group's address kept for
        // its writes.
        self.row_end.next = self.group.q.val() == self.groups.val();
        self.channel_end.next = self.row_end.val() & (self.row.q.val() == self.rows.val());
        self.step.next = self.group_bytes.val();
        if self.row_end.val() {
            self.step.next = self.out_row_step.val();
        }
        if self.channel_end.val() | self.logits.val() {
            self.step.next = self.out_channel_step.val();
        }
        self.jump.next = self.row_end.val() & !self.contiguous.val();
        if self.byte_valid.val() & self.byte_last.val() {
            self.last_byte.d.next = self.stored.val();
            self.jump_q.d.next = self.jump.val();
            self.pointer.d.next = self.pointer.q.val() + self.step.val();
            self.group.d.next = self.group.q.val() + 1;
            if self.row_end.val() {
                self.group.d.next = 0.into();
                self.row.d.next = self.row.q.val() + 1;
            }
            if self.channel_end.val() {
                self.row.d.next = 0.into();
            }
        }
        if self.logits.val() & self.logit_valid.val() {
            self.pointer.d.next = self.pointer.q.val() + self.step.val();
        }
        // The data by lane: the even copy's lanes are the gathered bytes' own; an odd-copy write
        // moves them up by odd_lane_offset(W) (a rotation within the window's lanes) and puts
        // the carried byte in the lane of its window's byte 0 (the write's address + the offset).
        self.carry_lane.next = (self.address_q.q.val().get_bits::<4>(0)
            + self.odd_lane_offset.val())
            & self.lane_mask.val();
        self.odd_write.next =
            (self.phase.q.val() != WritePhase::Even) & (self.phase.q.val() != WritePhase::Idle);
        // (Through a scalar: RustHDL's Verilog cannot widen an indexed signal in a loop.)
        self.even_data.next = 0.into();
        for p in 0..WINDOW_LANES_MAX {
            self.lane_value.next = self.gather[p].q.val();
            self.even_data.next = self.even_data.val()
                | (bit_cast::<WINDOW_BITS, 8>(self.lane_value.val()) << self.lane_at[p].val());
        }
        self.even_data.next = self.even_data.val() & self.window_data_mask.val();
        self.odd_data.next = ((self.even_data.val() << self.odd_up.val())
            | (self.even_data.val() >> self.odd_down.val()))
            & self.window_data_mask.val();
        self.data.next = 0.into();
        for p in 0..WINDOW_LANES_MAX {
            self.odd_lane[p].next = self.odd_data.val().get_bits::<8>(8 * p);
            if self.carry_lane.val() == self.lane_code[p].val() {
                self.odd_lane[p].next = self.carry.q.val();
            }
            self.lane_byte[p].next = self.gather[p].q.val();
            if self.odd_write.val() {
                self.lane_byte[p].next = self.odd_lane[p].val();
            }
            self.lane_value.next = self.lane_byte[p].val();
            self.data.next = self.data.val()
                | (bit_cast::<WINDOW_BITS, 8>(self.lane_value.val()) << self.lane_at[p].val());
        }
        self.data.next = self.data.val() & self.window_data_mask.val();
        self.write.next = false;
        self.mask.next = self.full_mask.val();
        match self.phase.q.val() {
            WritePhase::Idle => {}
            WritePhase::Even => {
                self.write.next = true;
                self.phase.d.next = WritePhase::Odd;
            }
            WritePhase::Odd => {
                self.write.next = true;
                // Bytes B..B+A-1 are the window's bytes 1..; byte 0 is the carry, if one is owed
                // (it is at B - 1 then: the group before ended there).
                self.mask.next = (self.full_mask.val() << 1) & self.window_lanes.val();
                if self.carry_pending.q.val() {
                    self.mask.next = (self.full_mask.val() << 1) & self.window_lanes.val() | 1;
                }
                self.carry.d.next = self.last_byte.q.val();
                self.carry_pending.d.next = self.full.val() & !self.jump_q.q.val();
                if self.full.val() & self.jump_q.q.val() {
                    self.phase.d.next = WritePhase::Tail;
                } else {
                    self.phase.d.next = WritePhase::Idle;
                }
            }
            WritePhase::Tail => {
                self.write.next = true;
                self.mask.next = 1.into();
                self.phase.d.next = WritePhase::Idle;
            }
            WritePhase::Flush => {
                self.write.next = true;
                self.mask.next = 1.into();
                self.carry_pending.d.next = false;
                self.phase.d.next = WritePhase::Idle;
            }
            _ => {}
        }
        // A complete group: its writes start next cycle.
        if self.byte_valid.val() & self.byte_last.val() {
            self.phase.d.next = WritePhase::Even;
        } else if self.flush.val()
            & self.carry_pending.q.val()
            & (self.phase.q.val() == WritePhase::Idle)
        {
            self.phase.d.next = WritePhase::Flush;
        }
        self.port_next.next = self.phase.d.val() != WritePhase::Idle;
        self.logit_address.next = self.pointer.q.val().get_bits::<4>(0);
        if self.restart.val() {
            self.phase.d.next = WritePhase::Idle;
            self.gathering.d.next = false;
            self.count.d.next = 0.into();
            self.carry_pending.d.next = false;
            self.group.d.next = 0.into();
            self.row.d.next = 0.into();
            self.pointer.d.next = self.out_base.val();
        }
        // The write's address, formed a cycle ahead and registered (with the activation
        // memory's own address arithmetic behind it, one cycle would not hold both): the group's
        // B (the pointer before it moves on), then B - 1, then B + W - 1 (the tail's; the
        // flush's is the same, after the group's odd write).
        self.offset.next = 0.into();
        if self.phase.d.val() == WritePhase::Odd {
            self.offset.next = self.minus_one.val();
        }
        if (self.phase.d.val() == WritePhase::Tail) | (self.phase.d.val() == WritePhase::Flush) {
            self.offset.next = self.window_bytes.val();
        }
        self.address_q.d.next = self.address_q.q.val() + self.offset.val();
        if self.byte_valid.val() & self.byte_last.val() {
            self.address_q.d.next = self.pointer.q.val();
        }
        self.address.next = self.address_q.q.val();
        self.busy.next = self.gathering.q.val()
            | self.carry_pending.q.val()
            | (self.phase.q.val() != WritePhase::Idle);
    }
}
