# promptopt: the two commands a newcomer needs are `make demo` and `make test`.
# Both set everything up first (idempotent: a second run skips what is done).
DATA_DIR ?= ../shared/data
VENV := .venv
BIN := $(VENV)/bin

.PHONY: setup demo test lint bench-overhead clean-models

setup:
	scripts/setup.sh

# The main job on the embedded local model: a 10-minute optimization run on banking77, then
# its fine-tuning verdict (optimize writes the spec itself when the run reaches its plateau;
# when it stops on the time limit first, finetune-spec weighs the evidence so far).
demo: setup
	@run=runs/$$(date +%Y%m%d-%H%M%S)-banking77-demo; \
	$(BIN)/promptopt optimize banking77 --data-dir $(DATA_DIR) --dev-limit 40 --test-limit 77 --time-limit 600 \
		--run-dir $$run && \
	{ test -d $$run/finetune || $(BIN)/promptopt finetune-spec $$run --data-dir $(DATA_DIR); }

test: setup
	PROMPTOPT_DATA_DIR=$(DATA_DIR) $(BIN)/python -m pytest -q

# Every check CI runs besides the tests: ruff (lint and format), mypy (strict), import-linter.
lint: setup
	$(BIN)/ruff check promptopt tests benchmarks
	$(BIN)/ruff format --check promptopt tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench-overhead: setup
	PROMPTOPT_DATA_DIR=$(DATA_DIR) $(BIN)/python benchmarks/eval_overhead.py
