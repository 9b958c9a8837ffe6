//! The board's end of the host link: the UART ([`uart`]), the frame receiver and transmitter
//! with the CRC ([`frame`]), the two joined as the one front end every design uses
//! ([`front_end`]), and the probe design that answers IDENTIFY and STATUS with nothing else
//! behind it ([`probe`]). The accelerator (`crate::engine::accelerator`) puts its command
//! handler behind the same front end.

pub mod frame;
pub mod front_end;
pub mod probe;
pub mod uart;

pub use frame::{Crc16Byte, FrameRx, FrameTx};
pub use front_end::{LinkFrontEnd, Replies, Requests};
pub use probe::LinkEndpoint;

/// Silence, in byte times, after which a board build abandons a partial frame, in the probe
/// design and the accelerator alike. A USB-serial bridge delivers a frame in packets with gaps
/// between them (0.5 ms is common: 150 byte times at 3 Mbaud); 256 byte times (0.85 ms at
/// 3 Mbaud) rides over them and is still far shorter than the host's retransmission timeout.
pub const BOARD_RX_TIMEOUT_BYTES: u32 = 256;
