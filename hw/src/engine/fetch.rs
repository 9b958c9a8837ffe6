//! `Fetch`: reads the program buffer one word per cycle and executes what is not a batch
//! (docs/engine.md, "The instruction stream"): `SET` into the walk registers, `REPEAT`,
//! `CHANNEL` into the channel parameters, `RECORD`, `END`; a `BATCH` header starts the table
//! programmer, and the batch's tap words go to it as it takes them. It holds the registers
//! (`lutna_core::isa::Register`, at the widths the engine keeps).
//!
//! The buffer answers a read a cycle later, so `address` is the word wanted next cycle: the
//! next one whenever the current word is consumed. `SET`, `RECORD` and `END` wait until the
//! engine is idle (everything issued is written), a `BATCH` until its tap-memory half is free,
//! a `CHANNEL` until the drain has taken the channel parameters of the one before.
//! An unknown opcode stops the program with `fault`. `PA` is the buffer's address bits (10 on
//! the iCEBreaker, 15 where the whole program stays resident: `ProgramMemory`).

use lutna_core::isa::{
    Opcode, Register, BATCH_FINAL, BATCH_TAPS, CHANNEL_SHIFT, CHANNEL_SHORT_BIAS, OPCODE,
    RECORD_SLOT, REPEAT_COUNT, SET_REGISTER,
};
use rust_hdl::prelude::*;

/// What the fetch unit is doing with the word it reads.
#[derive(Copy, Clone, Debug, PartialEq, LogicState)]
pub enum FetchState {
    Stopped,
    /// The word is an instruction's first.
    Decode,
    SetValue,
    ChannelMult,
    ChannelBiasLow,
    ChannelBiasHigh,
    /// Tap words go to the programmer.
    Taps,
    Faulted,
}

#[derive(LogicBlock)]
pub struct Fetch<const PA: usize> {
    pub clock: Signal<In, Clock>,
    /// Start the program at word 0 (RUN); stop it where it is (RESET: what was handed on
    /// finishes).
    pub run: Signal<In, bool>,
    pub abort: Signal<In, bool>,
    /// The program buffer: the address to read, and the word read at the address of the cycle
    /// before.
    pub address: Signal<Out, Bits<PA>>,
    pub word: Signal<In, Bits<16>>,
    /// The engine has written everything issued; the next batch's tap-memory half is free.
    pub idle: Signal<In, bool>,
    pub half_free: Signal<In, bool>,
    /// The channel parameters may be overwritten (the drain has taken the last channel's).
    pub channel_free: Signal<In, bool>,
    /// To the table programmer: a batch starts (taps - 1, its channel's last), then its words.
    pub batch_start: Signal<Out, bool>,
    pub batch_taps: Signal<Out, Bits<6>>,
    pub batch_final: Signal<Out, bool>,
    pub tap_word_valid: Signal<Out, bool>,
    pub tap_word_ready: Signal<In, bool>,
    /// With `tap_word_ready`: that was the batch's last word (the programmer counts the taps).
    pub tap_words_end: Signal<In, bool>,
    /// The batch's runs minus 1 (a `REPEAT` before its channel; 0 otherwise).
    pub batch_repeat: Signal<Out, Bits<12>>,
    /// A channel's parameters, complete in the cycle `channel` is high.
    pub channel: Signal<Out, bool>,
    pub shift: Signal<Out, Bits<6>>,
    pub mult: Signal<Out, Bits<16>>,
    pub bias: Signal<Out, Bits<32>>,
    /// `RECORD`: store the counters in `slot`.
    pub record: Signal<Out, bool>,
    pub record_slot: Signal<Out, Bits<8>>,
    /// A `SET` of `MODE` (the ring restarts).
    pub mode_set: Signal<Out, bool>,
    /// The program reached `END` / stopped on an unknown opcode.
    pub done: Signal<Out, bool>,
    pub fault: Signal<Out, bool>,
    /// The registers.
    pub rows: Signal<Out, Bits<8>>,
    pub groups: Signal<Out, Bits<8>>,
    pub in_row: Signal<Out, Bits<16>>,
    pub out_row_step: Signal<Out, Bits<16>>,
    pub out_base: Signal<Out, Bits<16>>,
    pub out_channel_step: Signal<Out, Bits<16>>,
    pub in_channel: Signal<Out, Bits<16>>,
    pub y_start: Signal<Out, Bits<8>>,
    pub x_start: Signal<Out, Bits<8>>,
    pub in_height: Signal<Out, Bits<8>>,
    pub in_width: Signal<Out, Bits<8>>,
    pub mode: Signal<Out, Bits<14>>,
    /// A `SET` of `OUT_BASE` (the channel walk restarts).
    pub out_base_set: Signal<Out, bool>,
    state: DFF<FetchState>,
    pc: DFF<Bits<PA>>,
    register: DFF<Bits<4>>,
    shift_q: DFF<Bits<6>>,
    mult_q: DFF<Bits<15>>,
    bias_q: DFF<Bits<32>>,
    short_bias: DFF<bool>,
    repeat_q: DFF<Bits<12>>,
    rows_q: DFF<Bits<8>>,
    groups_q: DFF<Bits<8>>,
    in_row_q: DFF<Bits<16>>,
    out_row_step_q: DFF<Bits<16>>,
    out_base_q: DFF<Bits<16>>,
    out_channel_step_q: DFF<Bits<16>>,
    in_channel_q: DFF<Bits<16>>,
    y_start_q: DFF<Bits<8>>,
    x_start_q: DFF<Bits<8>>,
    in_height_q: DFF<Bits<8>>,
    in_width_q: DFF<Bits<8>>,
    mode_q: DFF<Bits<14>>,
    consume: Signal<Local, bool>,
    opcode: Signal<Local, Bits<4>>,
    word_shifted: Signal<Local, Bits<16>>,
    op_end: Constant<Bits<4>>,
    op_set: Constant<Bits<4>>,
    op_repeat: Constant<Bits<4>>,
    op_channel: Constant<Bits<4>>,
    op_batch: Constant<Bits<4>>,
    op_record: Constant<Bits<4>>,
    reg_rows: Constant<Bits<4>>,
    reg_groups: Constant<Bits<4>>,
    reg_in_row: Constant<Bits<4>>,
    reg_out_row_step: Constant<Bits<4>>,
    reg_out_base: Constant<Bits<4>>,
    reg_out_channel_step: Constant<Bits<4>>,
    reg_in_channel: Constant<Bits<4>>,
    reg_y_start: Constant<Bits<4>>,
    reg_x_start: Constant<Bits<4>>,
    reg_in_height: Constant<Bits<4>>,
    reg_in_width: Constant<Bits<4>>,
    reg_mode: Constant<Bits<4>>,
    final_bit: Constant<Bits<16>>,
    short_bias_bit: Constant<Bits<16>>,
    opcode_lsb: Constant<Bits<4>>,
    high_half: Constant<Bits<32>>,
    low_half: Constant<Bits<32>>,
}

// The fields this unit reads are where lutna-core says, at the widths it uses.
const _: () = assert!(SET_REGISTER.lsb == 0 && SET_REGISTER.width == 4);
const _: () = assert!(CHANNEL_SHIFT.lsb == 0 && CHANNEL_SHIFT.width == 6);
const _: () = assert!(BATCH_TAPS.lsb == 0 && BATCH_TAPS.width == 6);
const _: () = assert!(REPEAT_COUNT.lsb == 0 && REPEAT_COUNT.width == 12);
const _: () = assert!(RECORD_SLOT.lsb == 0 && RECORD_SLOT.width == 8);
const _: () = assert!(OPCODE.width == 4);
const _: () = assert!(lutna_core::arith::MULT_BITS == 15);

fn code(v: u16) -> Constant<Bits<4>> {
    Constant::new((v as u64).into())
}

impl<const PA: usize> Default for Fetch<PA> {
    fn default() -> Self {
        Self {
            clock: Default::default(),
            run: Default::default(),
            abort: Default::default(),
            address: Default::default(),
            word: Default::default(),
            idle: Default::default(),
            half_free: Default::default(),
            channel_free: Default::default(),
            batch_start: Default::default(),
            batch_taps: Default::default(),
            batch_final: Default::default(),
            tap_word_valid: Default::default(),
            tap_word_ready: Default::default(),
            tap_words_end: Default::default(),
            channel: Default::default(),
            shift: Default::default(),
            mult: Default::default(),
            bias: Default::default(),
            batch_repeat: Default::default(),
            record: Default::default(),
            record_slot: Default::default(),
            mode_set: Default::default(),
            done: Default::default(),
            fault: Default::default(),
            rows: Default::default(),
            groups: Default::default(),
            in_row: Default::default(),
            out_row_step: Default::default(),
            out_base: Default::default(),
            out_channel_step: Default::default(),
            in_channel: Default::default(),
            y_start: Default::default(),
            x_start: Default::default(),
            in_height: Default::default(),
            in_width: Default::default(),
            mode: Default::default(),
            out_base_set: Default::default(),
            state: Default::default(),
            pc: Default::default(),
            register: Default::default(),
            shift_q: Default::default(),
            mult_q: Default::default(),
            bias_q: Default::default(),
            short_bias: Default::default(),
            repeat_q: Default::default(),
            rows_q: Default::default(),
            groups_q: Default::default(),
            in_row_q: Default::default(),
            out_row_step_q: Default::default(),
            out_base_q: Default::default(),
            out_channel_step_q: Default::default(),
            in_channel_q: Default::default(),
            y_start_q: Default::default(),
            x_start_q: Default::default(),
            in_height_q: Default::default(),
            in_width_q: Default::default(),
            mode_q: Default::default(),
            consume: Default::default(),
            opcode: Default::default(),
            word_shifted: Default::default(),
            op_end: code(Opcode::End as u16),
            op_set: code(Opcode::Set as u16),
            op_repeat: code(Opcode::Repeat as u16),
            op_channel: code(Opcode::Channel as u16),
            op_batch: code(Opcode::Batch as u16),
            op_record: code(Opcode::Record as u16),
            reg_rows: code(Register::Rows as u16),
            reg_groups: code(Register::Groups as u16),
            reg_in_row: code(Register::InRow as u16),
            reg_out_row_step: code(Register::OutRowStep as u16),
            reg_out_base: code(Register::OutBase as u16),
            reg_out_channel_step: code(Register::OutChannelStep as u16),
            reg_in_channel: code(Register::InChannel as u16),
            reg_y_start: code(Register::YStart as u16),
            reg_x_start: code(Register::XStart as u16),
            reg_in_height: code(Register::InHeight as u16),
            reg_in_width: code(Register::InWidth as u16),
            reg_mode: code(Register::Mode as u16),
            final_bit: Constant::new((1u64 << BATCH_FINAL.lsb).into()),
            short_bias_bit: Constant::new((1u64 << CHANNEL_SHORT_BIAS.lsb).into()),
            opcode_lsb: Constant::new((OPCODE.lsb as u64).into()),
            high_half: Constant::new(0xffff_0000u64.into()),
            low_half: Constant::new(0xffffu64.into()),
        }
    }
}

impl<const PA: usize> Fetch<PA> {
    pub fn top() -> Self {
        let mut f = Self::default();
        f.connect_all();
        f
    }
}

impl<const PA: usize> Logic for Fetch<PA> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            state,
            pc,
            register,
            shift_q,
            mult_q,
            bias_q,
            short_bias,
            repeat_q,
            rows_q,
            groups_q,
            in_row_q,
            out_row_step_q,
            out_base_q,
            out_channel_step_q,
            in_channel_q,
            y_start_q,
            x_start_q,
            in_height_q,
            in_width_q,
            mode_q
        );
        self.word_shifted.next = self.word.val() >> self.opcode_lsb.val();
        self.opcode.next = self.word_shifted.val().get_bits::<4>(0);
        self.consume.next = false;
        self.batch_start.next = false;
        self.batch_taps.next = self.word.val().get_bits::<6>(0);
        self.batch_final.next = (self.word.val() & self.final_bit.val()).any();
        self.batch_repeat.next = self.repeat_q.q.val();
        self.tap_word_valid.next = false;
        self.channel.next = false;
        self.record.next = false;
        self.record_slot.next = self.word.val().get_bits::<8>(0);
        self.mode_set.next = false;
        self.out_base_set.next = false;
        match self.state.q.val() {
            FetchState::Stopped => {}
            FetchState::Decode => {
                if self.opcode.val() == self.op_end.val() {
                    if self.idle.val() {
                        self.state.d.next = FetchState::Stopped;
                    }
                } else if self.opcode.val() == self.op_set.val() {
                    if self.idle.val() {
                        self.consume.next = true;
                        self.register.d.next = self.word.val().get_bits::<4>(0);
                        self.state.d.next = FetchState::SetValue;
                    }
                } else if self.opcode.val() == self.op_repeat.val() {
                    self.consume.next = true;
                    self.repeat_q.d.next = self.word.val().get_bits::<12>(0);
                } else if self.opcode.val() == self.op_channel.val() {
                    if self.channel_free.val() {
                        self.consume.next = true;
                        self.shift_q.d.next = self.word.val().get_bits::<6>(0);
                        self.short_bias.d.next =
                            (self.word.val() & self.short_bias_bit.val()).any();
                        self.state.d.next = FetchState::ChannelMult;
                    }
                } else if self.opcode.val() == self.op_batch.val() {
                    if self.half_free.val() {
                        self.consume.next = true;
                        self.batch_start.next = true;
                        // A REPEAT counts for the channel's (one) batch only.
                        self.repeat_q.d.next = 0.into();
                        self.state.d.next = FetchState::Taps;
                    }
                } else if self.opcode.val() == self.op_record.val() {
                    if self.idle.val() {
                        self.consume.next = true;
                        self.record.next = true;
                    }
                } else {
                    self.state.d.next = FetchState::Faulted;
                }
            }
            FetchState::SetValue => {
                self.consume.next = true;
                self.state.d.next = FetchState::Decode;
                if self.register.q.val() == self.reg_rows.val() {
                    self.rows_q.d.next = self.word.val().get_bits::<8>(0);
                }
                if self.register.q.val() == self.reg_groups.val() {
                    self.groups_q.d.next = self.word.val().get_bits::<8>(0);
                }
                if self.register.q.val() == self.reg_in_row.val() {
                    self.in_row_q.d.next = self.word.val();
                }
                if self.register.q.val() == self.reg_out_row_step.val() {
                    self.out_row_step_q.d.next = self.word.val();
                }
                if self.register.q.val() == self.reg_out_base.val() {
                    self.out_base_q.d.next = self.word.val();
                    self.out_base_set.next = true;
                }
                if self.register.q.val() == self.reg_out_channel_step.val() {
                    self.out_channel_step_q.d.next = self.word.val();
                }
                if self.register.q.val() == self.reg_in_channel.val() {
                    self.in_channel_q.d.next = self.word.val();
                }
                if self.register.q.val() == self.reg_y_start.val() {
                    self.y_start_q.d.next = self.word.val().get_bits::<8>(0);
                }
                if self.register.q.val() == self.reg_x_start.val() {
                    self.x_start_q.d.next = self.word.val().get_bits::<8>(0);
                }
                if self.register.q.val() == self.reg_in_height.val() {
                    self.in_height_q.d.next = self.word.val().get_bits::<8>(0);
                }
                if self.register.q.val() == self.reg_in_width.val() {
                    self.in_width_q.d.next = self.word.val().get_bits::<8>(0);
                }
                if self.register.q.val() == self.reg_mode.val() {
                    self.mode_q.d.next = self.word.val().get_bits::<14>(0);
                    self.mode_set.next = true;
                }
            }
            FetchState::ChannelMult => {
                self.consume.next = true;
                self.mult_q.d.next = self.word.val().get_bits::<15>(0);
                self.state.d.next = FetchState::ChannelBiasLow;
            }
            FetchState::ChannelBiasLow => {
                self.consume.next = true;
                self.bias_q.d.next = bit_cast::<32, 16>(self.word.val());
                if self.short_bias.q.val() {
                    if self.word.val().get_bit(15) {
                        self.bias_q.d.next =
                            bit_cast::<32, 16>(self.word.val()) | self.high_half.val();
                    }
                    self.state.d.next = FetchState::Decode;
                    self.channel.next = true;
                } else {
                    self.state.d.next = FetchState::ChannelBiasHigh;
                }
            }
            FetchState::ChannelBiasHigh => {
                self.consume.next = true;
                self.bias_q.d.next = (bit_cast::<32, 16>(self.word.val()) << 16)
                    | (self.bias_q.q.val() & self.low_half.val());
                self.state.d.next = FetchState::Decode;
                self.channel.next = true;
            }
            FetchState::Taps => {
                self.tap_word_valid.next = true;
                if self.tap_word_ready.val() {
                    self.consume.next = true;
                    if self.tap_words_end.val() {
                        self.state.d.next = FetchState::Decode;
                    }
                }
            }
            _ => {}
        }
        self.address.next = self.pc.q.val();
        if self.consume.val() {
            self.pc.d.next = self.pc.q.val() + 1;
            self.address.next = self.pc.q.val() + 1;
        }
        if self.abort.val() {
            self.state.d.next = FetchState::Stopped;
        }
        if self.run.val() {
            self.pc.d.next = 0.into();
            self.address.next = 0.into();
            self.state.d.next = FetchState::Decode;
        }
        self.done.next = self.state.q.val() == FetchState::Stopped;
        self.fault.next = self.state.q.val() == FetchState::Faulted;
        self.shift.next = self.shift_q.q.val();
        self.mult.next = bit_cast::<16, 15>(self.mult_q.q.val());
        self.bias.next = self.bias_q.d.val();
        self.rows.next = self.rows_q.q.val();
        self.groups.next = self.groups_q.q.val();
        self.in_row.next = self.in_row_q.q.val();
        self.out_row_step.next = self.out_row_step_q.q.val();
        self.out_base.next = self.out_base_q.q.val();
        self.out_channel_step.next = self.out_channel_step_q.q.val();
        self.in_channel.next = self.in_channel_q.q.val();
        self.y_start.next = self.y_start_q.q.val();
        self.x_start.next = self.x_start_q.q.val();
        self.in_height.next = self.in_height_q.q.val();
        self.in_width.next = self.in_width_q.q.val();
        self.mode.next = self.mode_q.q.val();
    }
}
