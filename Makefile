# Two commands: `make run` (set up, then the main job) and `make test` (set up, then the suite).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow lint setup clean docs katex notebooks

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# constraints.txt pins the torch/torchvision this project is tested with; pyproject asks for ranges
$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[all,test,docs]"
	# LiteRT second (pyproject's litert extra says why), then typing-extensions back to what the rest asks
	# (pip reports xdsl's typing-extensions bound as a conflict; the last line checks that both sides import)
	$(BIN)/pip install -q -c constraints.txt -e ".[litert]"
	$(BIN)/pip install -q -c constraints.txt "typing-extensions>=4.15"
	$(BIN)/python -c "import litert_torch, ai_edge_litert.interpreter, jupyter_client, selenium, pydantic"
	touch $(STAMP)

setup: $(STAMP)

# `make run` on a fresh clone installs only what `convzoo compare` imports (the data and figures extras),
# not everything `make test` needs: measured 2026-12-07 on the idle 2-core AMD EPYC, the whole install took
# 3 min 15 s of make run's 8 min 46 s. With ARGS (any command line), or once `make setup` has run, it uses
# the full install.
RUN_STAMP := $(VENV)/.installed-run
$(RUN_STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/pip install -q -c constraints.txt -e ".[data,figures]"
	touch $(RUN_STAMP)

run: $(if $(ARGS)$(wildcard $(STAMP)),setup,$(RUN_STAMP))
	$(BIN)/python -m convzoo $(or $(ARGS),compare)

# ruff (lint, format check), mypy over the public API, the import contract (.importlinter)
lint: setup
	$(BIN)/ruff check convzoo tests bench experiments
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

# The default tier (< 15 min on an idle 2-core machine). Tests marked `slow` (the registry's other
# widths and depths, whole pipelines, the heavy export tier) run in `make test-slow`; CI runs both.
# --max-worker-restart 0: a crashed worker ends the run naming its test (pytest-xdist 3.8 can wait
# forever after replacing a crashed worker under --dist loadgroup: pytest-dev/pytest-xdist#1378);
# the 15 slowest tests are listed so a slow CI run shows where its time went
XDIST := -n 2 --dist loadgroup --max-worker-restart 0 --durations 15
test: setup lint
	$(BIN)/python -m pytest $(XDIST) -q -rfEs -m "not slow" $(PYTEST_ARGS)
	# the two-process torchrun shard test and the DataLoader-workers one bring down a pytest-xdist
	# worker, so they run on their own
	$(if $(PYTEST_ARGS),,$(BIN)/python -m pytest -p no:xdist -q -rfEs tests/test_webdataset.py -k "two_process or loader_workers")

test-slow: setup
	$(BIN)/python -m pytest $(XDIST) -q -rfEs -m slow $(PYTEST_ARGS)

docs: setup
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# JupyterLab on the course notebooks (the docs extra brings it); it prints the address to open.
# Extra options through JUPYTER_ARGS, e.g. make notebooks JUPYTER_ARGS="--no-browser --port 8890"
# (as root, JupyterLab also wants --allow-root)
notebooks: setup
	$(BIN)/jupyter lab --notebook-dir=docs/notebooks $(JUPYTER_ARGS)

# KaTeX renders the site's math from docs/assets/katex (vendored, so `make docs` needs no network and
# the site none at all). Refresh it from npm: the minified JS/CSS, auto-render and the woff2 fonts
# (the CSS's woff/ttf fallbacks are dropped: every browser KaTeX supports reads woff2).
KATEX ?= katex@0.16
katex:
	rm -rf build/katex && mkdir -p build/katex
	cd build/katex && npm pack -q $(KATEX) >/dev/null && tar xzf katex-*.tgz
	mkdir -p docs/assets/katex/contrib docs/assets/katex/fonts
	cp build/katex/package/dist/katex.min.js build/katex/package/dist/katex.min.css docs/assets/katex/
	cp build/katex/package/dist/contrib/auto-render.min.js docs/assets/katex/contrib/
	cp build/katex/package/dist/fonts/*.woff2 docs/assets/katex/fonts/
	cp build/katex/package/LICENSE docs/assets/katex/LICENSE
	$(PYTHON) -c "import re, pathlib; p = pathlib.Path('docs/assets/katex/katex.min.css'); \
	  p.write_text(re.sub(r',url\(fonts/[^)]+\.woff\) format\(\"woff\"\),url\(fonts/[^)]+\.ttf\) format\(\"truetype\"\)', '', p.read_text()))"

clean:
	rm -rf $(VENV) site
