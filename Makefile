# Set-up and checks. `make demo` and `make test` each create the virtualenv (Python 3.12,
# chosen by .python-version through pyenv) and install the project on first use.
PYTHON ?= python3.12
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench soak lint gateway clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 12), "tui-trader needs Python 3.12+, got " + sys.version' 
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/tui-trader --demo

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m pytest tests/benchmarks -o addopts="" -p no:cacheprovider -s -q

# The soak and fault test (tests/soak), on its own: MINUTES of faults (default 10) against
# the engine and the standalone gateway at --speed 10, then its figures and checks.
MINUTES ?= 10
soak: $(STAMP)
	$(BIN)/python -m pytest tests/soak -o addopts="" -p no:cacheprovider -s -q --minutes $(MINUTES)

lint: $(STAMP)
	$(BIN)/ruff check tui_trader tests
	$(BIN)/ruff format --check tui_trader tests
	$(BIN)/mypy tui_trader

gateway: $(STAMP)
	$(BIN)/tui-trader gateway --control-port 7496

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
