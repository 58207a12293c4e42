# One task runner for developers, CI and the README.
.PHONY: help test lint test-rust demo fmt clean

help:
	@echo "make test   - lint (rustfmt, clippy -D warnings) and every test suite"
	@echo "make demo   - a SQLite store exercising every control"
	@echo "make fmt    - format the Rust sources"

test: lint test-rust demo

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

test-rust:
	cargo test --workspace

demo:
	cargo run --quiet -p omnisession --example demo

fmt:
	cargo fmt --all

clean:
	cargo clean
