//! lutna-onnx turns a trained float network into a lutna model: it reads the ONNX file into a
//! float graph with batch-norm and the input scaling folded in ([`graph`]), calibrates activation
//! ranges on training images and quantizes ([`quant`]), and runs the original ONNX with tract as
//! the float reference the integer model is held to ([`reference`]). Only the host and the import
//! tests use it; the arithmetic, the model format and the golden engine are `lutna-core`'s.

pub mod graph;
pub mod quant;
pub mod reference;
