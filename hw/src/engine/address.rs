//! `AddressGenerator<P>`: the issue side of a batch's walk (docs/engine.md, "What the engine
//! computes"): output rows, groups of a row, and the batch's taps, innermost, as three nested
//! counters whose pointers only add host-computed strides.
//!
//! For tap `t` of group `g` of row `r` it forms
//! - the window address `in_channel + offset_t + r * IN_ROW + g * P` (16 bits, wrapping), kept
//!   as a row pointer (`+ IN_ROW` per row) and a group pointer (`+ P` per group), so each tap
//!   costs one add;
//! - the in-map test of the lanes: the row `y = Y_START + r * row_step + ky_t` against
//!   `0..IN_HEIGHT` (`row_ok`), and for the column of lane 0 `x = X_START + g * P + kx_t` the
//!   columns left of the map `skip = min(max(-x, 0), 16)` and the columns to its right edge
//!   `room = min(max(IN_WIDTH - x, 0), 16)`, which [`super::column_mask::ColumnMask`] turns
//!   into the lanes' bits (lane offset `o` reads when `skip <= o < room`, that is when
//!   `0 <= x + o < IN_WIDTH`);
//! - the group's index `r * GROUPS + g` (its partial sums are in bank word `255 - index`),
//!   and whether the tap is the group's first or last and the walk's last.
//!
//! Timing: `start` begins a walk of `taps` taps over the registers' rows and groups. In every
//! cycle the issuer says whether the current tap issues (`advance`). `tap_index` is the tap
//! memory's read address for the *next* cycle's tap (the memory answers a cycle later), so the
//! tap's words (`offset`, `ky`, `kx`) arrive in the cycle the pointers describe it; the results
//! are registered (`address`, `row_ok`, `skip`, `room`: S1).

use rust_hdl::prelude::*;

/// Bits of the signed row and column arithmetic: the walk never goes more than a kernel and a
/// group beyond a map of at most 255 rows and columns, nor before a start of -128.
const COORD: usize = 10;

#[derive(LogicBlock)]
pub struct AddressGenerator<const P: usize> {
    pub clock: Signal<In, Clock>,
    /// Registers (docs/engine.md): rows - 1, groups - 1, input bytes per output row, the starts
    /// (8-bit two's complement), the map's size, the vertical stride.
    pub rows: Signal<In, Bits<8>>,
    pub groups: Signal<In, Bits<8>>,
    pub in_row: Signal<In, Bits<16>>,
    pub y_start: Signal<In, Bits<8>>,
    pub x_start: Signal<In, Bits<8>>,
    pub in_height: Signal<In, Bits<8>>,
    pub in_width: Signal<In, Bits<8>>,
    pub row_step: Signal<In, Bits<3>>,
    /// The channel's input pointer (depthwise walks advance it per channel).
    pub in_channel: Signal<In, Bits<16>>,
    /// Start a walk of `taps` + 1 taps (`BATCH_TAPS` is n - 1).
    pub start: Signal<In, bool>,
    pub taps: Signal<In, Bits<6>>,
    /// The current tap issues this cycle.
    pub advance: Signal<In, bool>,
    /// The tap memory's read address for the next cycle, and the tap's words as it answers.
    pub tap_index: Signal<Out, Bits<6>>,
    pub offset: Signal<In, Bits<16>>,
    pub ky: Signal<In, Bits<3>>,
    pub kx: Signal<In, Bits<3>>,
    /// The current tap (S0).
    pub busy: Signal<Out, bool>,
    pub first_tap: Signal<Out, bool>,
    pub last_tap: Signal<Out, bool>,
    pub last_group: Signal<Out, bool>,
    pub group_index: Signal<Out, Bits<8>>,
    /// S1: the tap's window address and in-map test, registered.
    pub address: Signal<Out, Bits<16>>,
    pub row_ok: Signal<Out, bool>,
    pub skip: Signal<Out, Bits<5>>,
    pub room: Signal<Out, Bits<5>>,
    walking: DFF<bool>,
    /// The walk's taps - 1, taken at its start.
    last_tap_index: DFF<Bits<6>>,
    tap: DFF<Bits<6>>,
    group: DFF<Bits<8>>,
    row: DFF<Bits<8>>,
    index: DFF<Bits<8>>,
    row_pointer: DFF<Bits<16>>,
    group_pointer: DFF<Bits<16>>,
    row_y: DFF<Bits<COORD>>,
    group_x: DFF<Bits<COORD>>,
    address_q: DFF<Bits<16>>,
    row_ok_q: DFF<bool>,
    skip_q: DFF<Bits<5>>,
    room_q: DFF<Bits<5>>,
    at_last_tap: Signal<Local, bool>,
    at_last_group: Signal<Local, bool>,
    at_last_row: Signal<Local, bool>,
    y: Signal<Local, Bits<COORD>>,
    x: Signal<Local, Bits<COORD>>,
    minus_x: Signal<Local, Bits<COORD>>,
    right: Signal<Local, Bits<COORD>>,
    y_start_wide: Signal<Local, Bits<COORD>>,
    x_start_wide: Signal<Local, Bits<COORD>>,
    sign_fill: Constant<Bits<COORD>>,
    sign_bit: Constant<Bits<COORD>>,
    /// The bits above the low four: x in -16..0, or a room below 16, has them all set / clear.
    upper: Constant<Bits<COORD>>,
    lanes: Constant<Bits<16>>,
    lanes_wide: Constant<Bits<COORD>>,
    saturated: Constant<Bits<COORD>>,
}

impl<const P: usize> Default for AddressGenerator<P> {
    fn default() -> Self {
        assert!(P.is_power_of_two() && (2..=16).contains(&P));
        Self {
            clock: Default::default(),
            rows: Default::default(),
            groups: Default::default(),
            in_row: Default::default(),
            y_start: Default::default(),
            x_start: Default::default(),
            in_height: Default::default(),
            in_width: Default::default(),
            row_step: Default::default(),
            in_channel: Default::default(),
            start: Default::default(),
            taps: Default::default(),
            advance: Default::default(),
            tap_index: Default::default(),
            offset: Default::default(),
            ky: Default::default(),
            kx: Default::default(),
            busy: Default::default(),
            first_tap: Default::default(),
            last_tap: Default::default(),
            last_group: Default::default(),
            group_index: Default::default(),
            address: Default::default(),
            row_ok: Default::default(),
            skip: Default::default(),
            room: Default::default(),
            walking: Default::default(),
            last_tap_index: Default::default(),
            tap: Default::default(),
            group: Default::default(),
            row: Default::default(),
            index: Default::default(),
            row_pointer: Default::default(),
            group_pointer: Default::default(),
            row_y: Default::default(),
            group_x: Default::default(),
            address_q: Default::default(),
            row_ok_q: Default::default(),
            skip_q: Default::default(),
            room_q: Default::default(),
            at_last_tap: Default::default(),
            at_last_group: Default::default(),
            at_last_row: Default::default(),
            y: Default::default(),
            x: Default::default(),
            minus_x: Default::default(),
            right: Default::default(),
            y_start_wide: Default::default(),
            x_start_wide: Default::default(),
            sign_fill: Constant::new((((1u64 << COORD) - 1) & !0xffu64).into()),
            sign_bit: Constant::new((1u64 << (COORD - 1)).into()),
            upper: Constant::new((((1u64 << COORD) - 1) & !15u64).into()),
            lanes: Constant::new((P as u64).into()),
            lanes_wide: Constant::new((P as u64).into()),
            saturated: Constant::new(16u64.into()),
        }
    }
}

impl<const P: usize> AddressGenerator<P> {
    pub fn top() -> Self {
        let mut a = Self::default();
        a.connect_all();
        a
    }
}

impl<const P: usize> Logic for AddressGenerator<P> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            walking,
            last_tap_index,
            tap,
            group,
            row,
            index,
            row_pointer,
            group_pointer,
            row_y,
            group_x,
            address_q,
            row_ok_q,
            skip_q,
            room_q
        );
        // The starts, sign-extended.
        self.y_start_wide.next = bit_cast::<COORD, 8>(self.y_start.val());
        if self.y_start.val().get_bit(7) {
            self.y_start_wide.next = self.y_start_wide.val() | self.sign_fill.val();
        }
        self.x_start_wide.next = bit_cast::<COORD, 8>(self.x_start.val());
        if self.x_start.val().get_bit(7) {
            self.x_start_wide.next = self.x_start_wide.val() | self.sign_fill.val();
        }
        self.at_last_tap.next = self.tap.q.val() == self.last_tap_index.q.val();
        self.at_last_group.next = self.group.q.val() == self.groups.val();
        self.at_last_row.next = self.row.q.val() == self.rows.val();
        // The walk: taps, then groups, then rows.
        self.tap_index.next = self.tap.q.val();
        if self.advance.val() & self.walking.q.val() {
            self.tap.d.next = self.tap.q.val() + 1;
            self.tap_index.next = self.tap.q.val() + 1;
            if self.at_last_tap.val() {
                self.tap.d.next = 0.into();
                self.tap_index.next = 0.into();
                self.index.d.next = self.index.q.val() + 1;
                self.group.d.next = self.group.q.val() + 1;
                self.group_pointer.d.next = self.group_pointer.q.val() + self.lanes.val();
                self.group_x.d.next = self.group_x.q.val() + self.lanes_wide.val();
                if self.at_last_group.val() {
                    self.group.d.next = 0.into();
                    self.row.d.next = self.row.q.val() + 1;
                    self.row_pointer.d.next = self.row_pointer.q.val() + self.in_row.val();
                    self.group_pointer.d.next = self.row_pointer.q.val() + self.in_row.val();
                    self.row_y.d.next =
                        self.row_y.q.val() + bit_cast::<COORD, 3>(self.row_step.val());
                    self.group_x.d.next = self.x_start_wide.val();
                    if self.at_last_row.val() {
                        self.walking.d.next = false;
                    }
                }
            }
        }
        if self.start.val() {
            self.walking.d.next = true;
            self.last_tap_index.d.next = self.taps.val();
            self.tap.d.next = 0.into();
            self.tap_index.next = 0.into();
            self.group.d.next = 0.into();
            self.row.d.next = 0.into();
            self.index.d.next = 0.into();
            self.row_pointer.d.next = self.in_channel.val();
            self.group_pointer.d.next = self.in_channel.val();
            self.row_y.d.next = self.y_start_wide.val();
            self.group_x.d.next = self.x_start_wide.val();
        }
        self.busy.next = self.walking.q.val();
        self.first_tap.next = !self.tap.q.val().any();
        self.last_tap.next = self.at_last_tap.val();
        self.last_group.next =
            self.at_last_tap.val() & self.at_last_group.val() & self.at_last_row.val();
        self.group_index.next = self.index.q.val();
        // This tap's address and in-map test (S1).
        self.address_q.d.next = self.group_pointer.q.val() + self.offset.val();
        self.y.next = self.row_y.q.val() + bit_cast::<COORD, 3>(self.ky.val());
        self.x.next = self.group_x.q.val() + bit_cast::<COORD, 3>(self.kx.val());
        self.row_ok_q.d.next = !(self.y.val() & self.sign_bit.val()).any()
            & (self.y.val() < bit_cast::<COORD, 8>(self.in_height.val()));
        // skip: 0 right of the left edge; 16 when 16 or more columns are missing; else -x,
        // which needs only x's low five bits (x in -16..0 has all its upper bits set).
        self.minus_x.next = !self.x.val() + 1;
        self.skip_q.d.next = 0.into();
        if (self.x.val() & self.sign_bit.val()).any() {
            self.skip_q.d.next = self.saturated.val().get_bits::<5>(0);
            if (self.x.val() & self.upper.val()) == self.upper.val() {
                self.skip_q.d.next = self.minus_x.val().get_bits::<5>(0);
            }
        }
        // room: the columns from x to the right edge, 0 beyond it, at most 16.
        self.right.next = bit_cast::<COORD, 8>(self.in_width.val()) - self.x.val();
        self.room_q.d.next = self.saturated.val().get_bits::<5>(0);
        if !(self.right.val() & self.upper.val()).any() {
            self.room_q.d.next = self.right.val().get_bits::<5>(0);
        }
        if (self.right.val() & self.sign_bit.val()).any() {
            self.room_q.d.next = 0.into();
        }
        self.address.next = self.address_q.q.val();
        self.row_ok.next = self.row_ok_q.q.val();
        self.skip.next = self.skip_q.q.val();
        self.room.next = self.room_q.q.val();
    }
}
