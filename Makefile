# CovetPy developer targets. Everything installs into ./.venv; nothing global is needed
# besides python3 (3.11+), cargo and a C compiler.

VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000

.PHONY: help run test dev venv services rust-test py-test lint layers autobahn autobahn-perf fuzz leak-rust bench bench-quick bench-hostile bench-h2-tls bench-auth bench-tasks bench-tfb bench-memory bench-micro bench-rust bench-peers docs check-base-install clean

help:            ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

venv: $(PY)      ## create .venv with maturin
$(PY):
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip "maturin>=1.5,<2"

dev: venv        ## build the extension (release) into .venv with the test dependencies
	VIRTUAL_ENV=$(abspath $(VENV)) PATH=$(abspath $(VENV))/bin:$$PATH maturin develop --release --extras test -q

run: dev         ## set up and serve examples/hello.py on $(PORT) with 2 workers
	$(VENV)/bin/covetpy run examples.hello:app --port $(PORT) --workers 2

rust-test:       ## Rust unit and property tests (no Python needed)
	cargo test --quiet

py-test: dev services ## Python unit and end-to-end tests, once per IO driver (uring fails where the kernel refuses io_uring)
	COVETPY_IO=epoll $(PY) -m pytest -q
	COVETPY_IO=uring $(PY) -m pytest -q

# Debian bookworm packages all of them (nats-server 2.9, with JetStream; h2load is in
# nghttp2-client); apt-get runs only for what is missing. The tests start their own servers on
# free loopback ports, never these services.
services:        ## install redis-server and nats-server (the event bus tests run them), curl and h2load (the HTTP/2 tests), chromium (the Swagger UI browser test), postgresql 15 (the TechEmpower verifier)
	@missing=""; \
	command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing="$$missing redis-server"; \
	command -v nats-server >/dev/null || [ -x /usr/sbin/nats-server ] || missing="$$missing nats-server"; \
	command -v curl >/dev/null || missing="$$missing curl"; \
	command -v h2load >/dev/null || missing="$$missing nghttp2-client"; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	[ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null || missing="$$missing postgresql"; \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi

lint: dev layers ## rustfmt, clippy, ruff, mypy --strict, the Rust layering
	cargo fmt --check
	cargo clippy --all-targets --quiet -- -D warnings
	cargo clippy --features python --quiet -- -D warnings
	$(VENV)/bin/ruff check python tests examples benches
	$(VENV)/bin/ruff format --check python tests examples benches
	$(VENV)/bin/mypy python/covetpy examples tests/typing
	$(PY) -m mypy.stubtest covetpy._core

autobahn: dev    ## Autobahn's cases 1-7, 10, 12 and 13 (compression off and on) against the server, through kosoku
	AUTOBAHN=full $(PY) -m pytest -q tests/websocket/test_autobahn.py

autobahn-perf: dev ## the same plus the long performance cases 9.x
	AUTOBAHN=perf $(PY) -m pytest -q tests/websocket/test_autobahn.py

layers:          ## fail on an import cycle in rust/ or an import against the layer order of .ci/rust-layers.py
	python3 .ci/rust-layers.py

test: rust-test py-test  ## set up and run every test (the README's test command)

check-base-install: venv ## build the wheel, install it alone (no extras) in a fresh venv, import everything, serve examples/hello.py
	bash .ci/base-install

FUZZ_SECONDS ?= 60
fuzz:            ## fuzz the HTTP/1 head parser, body decoder and router, FUZZ_SECONDS (60) each, on stable Rust
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash rust/fuzz/run.sh

# Under io_uring the kernel fills read buffers through rings memcheck cannot see, so every
# received byte looks uninitialised: that run checks leaks and invalid accesses only.
leak-rust:       ## the server's Rust end-to-end tests under valgrind, both IO drivers; fails on a definite leak
	@command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
	@set -e; \
	bin=$$(cargo test --lib --no-run --message-format=json \
		| grep '"reason":"compiler-artifact"' | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -n 1); \
	test -x "$$bin" || { echo "leak-rust: cargo named no test binary"; exit 1; }; \
	vg="valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite --error-exitcode=1"; \
	echo "== epoll: $$bin server::tests"; \
	RUST_BACKTRACE=0 $$vg "$$bin" server::tests --skip ::uring --test-threads=1; \
	echo "== io_uring: $$bin server::tests"; \
	RUST_BACKTRACE=0 $$vg --undef-value-errors=no "$$bin" server::tests --skip ::epoll --test-threads=1

bench-peers:     ## create benches/.venv with the peers (benches/peers/requirements.txt); install wrk, nginx (the floor) and libuv (socketify.py) if missing
	@command -v wrk >/dev/null && command -v nginx >/dev/null && ldconfig -p | grep -q libuv.so.1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk nginx-light libuv1; }
	python3 -m benches.suite.venv

bench: dev bench-peers  ## CovetPy vs 10 peers (peregrine and h2corn included), the native scenarios, 3 x 10 s per cell (~55 min; needs wrk)
	$(PY) -m benches.suite

bench-quick: dev bench-peers  ## the same suite, 1 x 3 s per cell (~8 min)
	$(PY) -m benches.suite --quick

bench-hostile: dev bench-peers ## hostile connection patterns (4k/16k connections, Connection: close, split heads, 20 MiB upload, gzip, slow clients) vs the same peers and nginx (~50 min; up to ~85 with the default ephemeral port range, see benches/suite/ports.py)
	$(PY) -m benches.suite --scenarios hostile

bench-h2-tls: dev bench-peers ## HTTP/2 (h2c, h2 over TLS) and TLS (HTTP/1.1, handshakes): CovetPy vs Granian, h2corn, nginx (~10 min; needs h2load)
	@command -v h2load >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nghttp2-client; }
	$(PY) -m benches.h2_tls

bench-auth: dev bench-peers ## JWT auth: CPU per request of HS256/RS256/ES256 vs no auth, /protected vs FastAPI + PyJWT and Litestar's JWTAuth (~8 min)
	cargo bench --bench jwt_verify
	$(PY) -m benches.auth

bench-tasks: dev bench-peers ## task queues: CovetPy (Redis, JetStream) vs Celery, arq, dramatiq, SAQ: tasks/s, enqueue-to-start p50/p99 (~15 min; needs redis-server, nats-server)
	$(PY) -m benches.tasks

bench-tfb: dev bench-peers ## TechEmpower test types on PostgreSQL 15: CovetPy vs Granian (RSGI), socketify.py, FastAPI, BlackSheep, Starlette, 3 x 10 s per cell (~45 min; needs wrk, postgresql)
	$(PY) -m benches.techempower.bench

bench-memory: dev bench-peers ## idle memory of the process tree (PSS, RSS, USS): covetpy run with 1, 2, 4 workers vs nginx, socketify.py, peregrine, Granian, h2corn (~2 min)
	$(PY) -m benches.memory --tree

bench-rust:      ## criterion benches of the HTTP/1 parser, body decoder and router, and of WebSocket reading
	cargo bench --bench h1_parse
	cargo bench --bench ws_read

bench-micro: dev ## pytest-benchmark: parameter plans and JSON encoding in Python
	$(PY) -m pytest benches/micro -q -p no:cacheprovider

# Only the docs extra is installed (read from pyproject.toml): the guide needs no extension
# build, so this target does not depend on `dev`.
docs: venv       ## build the user guide into site/ with MkDocs
	$(PY) -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['docs']))" \
		| xargs $(PY) -m pip install -q
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict

clean:           ## remove build outputs, the built guide and the venv
	rm -rf $(VENV) target site
