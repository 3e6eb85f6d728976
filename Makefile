# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
# The virtual environment uses the first Python >= 3.12 found (mesa 3.5 needs it).

VENV := .venv
STAMP := $(VENV)/.installed
PYTHON := $(shell for p in python3.13 python3.12 python3; do \
	if $$p -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' >/dev/null 2>&1; then echo $$p; break; fi; done)

.PHONY: demo test bench mutants clean

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "make: no Python >= 3.12 found (tried python3.13, python3.12, python3)" >&2; exit 1; }
	@echo "setting up $(VENV) with $$($(PYTHON) --version)"
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/channelsim run scenarios/baseline.toml

test: $(STAMP)
	$(VENV)/bin/python -m pytest

bench: $(STAMP)
	$(VENV)/bin/channelsim bench

# mutation testing of sim/market.py, sim/partners.py and sim/policies/ against the fast model tests ([tool.mutmut]
# in pyproject.toml); not in CI. It resumes where it stopped. `make mutants MUTANTS='sim.partners.*'` runs a part.
MUTANTS :=
mutants: $(STAMP)
	$(VENV)/bin/mutmut run --max-children $$(nproc) $(MUTANTS)
	$(VENV)/bin/python docs/mutants.py

clean:
	rm -rf $(VENV) out .pytest_cache .hypothesis mutants
