# The two-command promise: `make demo` and `make test` set up everything on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed

.PHONY: install demo test bench clean

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

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/metric_cost.py
	$(PY) benchmarks/run_throughput.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .hypothesis
