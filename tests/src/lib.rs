//! engram-tests: black-box tests live in `it/`; this library is empty.
