# Set-up and checks. `make demo` and `make test` each create the virtualenv (Python 3.12,
# chosen by .python-version through pyenv) and install the project on first use.
PYTHON ?= python3.12
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test bench lint gateway clean

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

lint: $(STAMP)
	$(BIN)/ruff check tui_trader tests
	$(BIN)/ruff format --check tui_trader tests
	$(BIN)/mypy tui_trader

gateway: $(STAMP)
	$(BIN)/tui-trader gateway --control-port 7496

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis .benchmarks
