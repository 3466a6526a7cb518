# The two commands a new user needs: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
DEMO_FROM ?= 2022-01-03
DEMO_TO ?= 2022-01-09
SCALE ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: setup demo test dev sql dashboard bench clean

$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]' 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import ubm_platform.definitions" > /dev/null
	touch $(INSTALLED)

## setup: the virtual environment with everything installed, and a Java Spark can use
setup: $(INSTALLED)
	@$(BIN)/python -m ubm_platform.resources.spark --check-java

## demo: seed the embedded sources, run a week of daily partitions through Dagster, print the result,
## what was built and what to do next
demo: setup
	$(BIN)/ubm seed
	$(BIN)/ubm run --from $(DEMO_FROM) --to $(DEMO_TO)
	$(BIN)/ubm show --from $(DEMO_FROM) --to $(DEMO_TO) --limit 25
	@echo
	@$(BIN)/ubm summary

## test: the whole test suite
test: setup
	$(BIN)/pytest

## dev: the Dagster UI on the same definitions (http://127.0.0.1:3000)
dev: setup
	$(BIN)/ubm dev

## sql: an SQL prompt on the warehouse as analysts see it
sql: setup
	$(BIN)/ubm sql

## dashboard: serve the analysts' dashboard that each run rebuilds (http://127.0.0.1:8050)
dashboard: setup
	$(BIN)/ubm dashboard

## bench: the benchmarks (SCALE=1|10|100)
bench: setup
	$(BIN)/python -m benchmarks.run --scale $(SCALE)

clean:
	rm -rf $(VENV) .ubm
