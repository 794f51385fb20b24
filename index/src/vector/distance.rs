//! Distance kernels (placeholder: being written).
