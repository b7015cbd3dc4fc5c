//! Reading Python buffers (NumPy arrays, Arrow buffers, `array.array`) as typed columns.

use pyo3::buffer::{ElementType, PyUntypedBuffer};

/// The element type of a 1-d buffer of numbers or booleans in native byte order (any
/// stride); `None` for anything else.
pub fn element_type(buf: &PyUntypedBuffer) -> Option<ElementType> {
    let native = match buf.format().to_bytes() {
        [_] | [b'@', _] | [b'=', _] => true,
        [b'<', _] => cfg!(target_endian = "little"),
        [b'>' | b'!', _] => cfg!(target_endian = "big"),
        _ => false,
    };
    if !native || buf.dimensions() != 1 {
        return None;
    }
    let t = ElementType::from_format(buf.format());
    let width = match t {
        ElementType::SignedInteger { bytes }
        | ElementType::UnsignedInteger { bytes }
        | ElementType::Float { bytes } => bytes,
        ElementType::Bool => 1,
        ElementType::Unknown => return None,
    };
    (width == buf.item_size()).then_some(t)
}
