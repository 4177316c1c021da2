# ims — two commands: `make run` (set up + start on the embedded default, in development mode:
# webhook receivers on this machine allowed) and `make test`.
VENV   ?= .venv
PYTHON ?= python3
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test install paramdoc bench-ondemand bench-jobs clean

run: $(STAMP)
	$(BIN)/ims serve --dev

test: $(STAMP)
	scripts/ensure-postgres
	$(BIN)/pytest -q

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(STAMP)

paramdoc: $(STAMP)
	$(BIN)/python -m ims.paramdoc --write

bench-ondemand: $(STAMP)
	$(BIN)/python bench/ondemand.py

bench-jobs: $(STAMP)
	$(BIN)/python bench/jobs.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
