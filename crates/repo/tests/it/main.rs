//! Integration tests for the repo engine (vector-driven).
