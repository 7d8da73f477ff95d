# The two-command promise: `make demo` and `make test` set up everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean chromium

install: $(STAMP)

# torch is installed first and pinned: 2.13.0 is the CPU build on this kind of machine, and a
# bare `torch` would pull a multi-GB CUDA build. GPU users install their own torch first.
# lxt (AttnLRP) goes in without its dependencies: they pull torchvision, which does not import
# beside this torch build; synfaith imports only lxt's rules, which need torch alone.
$(STAMP): pyproject.toml constraints.txt Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --disable-pip-version-check torch==2.13.0
	$(PIP) install --quiet --disable-pip-version-check -c constraints.txt -e '.[test]'
	$(PIP) install --quiet --disable-pip-version-check --no-deps 'lxt==2.1'
	touch $(STAMP)

# The main job on the embedded default: the toy VLM × the synthetic world × every explainer and metric.
demo: $(STAMP)
	$(VENV)/bin/synfaith run configs/demo.yaml
	$(VENV)/bin/synfaith report runs/demo

# The report test drives headless Chromium; install it where we may (root with apt), else it skips.
# Tests run on every core (pytest-xdist, one torch thread per worker; files stay whole so each
# module-scoped fixture is built once); TEST_WORKERS=0 runs them in this process.
TEST_WORKERS ?= auto
test: $(STAMP) chromium
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

chromium:
	@command -v chromium >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium >/dev/null; } || \
		echo "chromium not installed: the report's browser test will be skipped"

bench: $(STAMP)
	$(PY) benchmarks/metric_cost.py
	$(PY) benchmarks/run_throughput.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
