//! End-to-end and interoperability tests live in `tests/tests/`; this library is empty.
