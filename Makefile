# gradbook: `make book` builds the HTML book, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gradbook-installed
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYDEVD_DISABLE_FILE_VALIDATION = 1

.PHONY: help setup vendor book test test-unit test-notebooks test-browser lab bench assignments grade clean

help:
	@echo "make book   - set up .venv and build the HTML book into _build/html"
	@echo "make test   - set up .venv and run unit, notebook (nbval) and browser tests, building the book"
	@echo "make lab    - open the chapters in JupyterLab"
	@echo "make bench  - time chapter execution, slider updates, the NumPy convolution and training speed"
	@echo "make assignments            - write the student versions to _build/assignments/release/"
	@echo "make grade SUBMISSIONS=dir  - grade dir/<student>/<assignment>/*.ipynb into _build/assignments/grades.csv"

setup: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	@# Keep TensorFlow's C++ log lines out of stored notebook outputs (see shared notes).
	mkdir -p $(VENV)/etc/ipython
	echo "c.IPKernelApp.capture_fd_output = False" > $(VENV)/etc/ipython/ipython_kernel_config.py
	touch $(STAMP)

vendor: $(STAMP)
	$(BIN)/python tools/vendor_assets.py _vendor

# The execution cache keys on notebook code only: a change to the gradbook package must
# invalidate it, or the book would show outputs of the old helpers.
SOURCES := $(wildcard src/gradbook/*.py)
_build/.gradbook-sources: $(SOURCES)
	rm -rf _build/.jupyter_cache _build/.doctrees
	mkdir -p _build
	touch $@

book: setup vendor _build/.gradbook-sources
	$(BIN)/jupyter-book build . --builder html -W --keep-going
	@echo "Open _build/html/index.html"

test-unit: setup
	$(BIN)/python -m pytest tests --ignore=tests/browser

test-notebooks: setup
	$(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider chapters

test-browser: setup
	$(BIN)/python -m pytest tests/browser

test: test-unit test-notebooks book test-browser

lab: setup
	$(BIN)/jupyter lab chapters $(if $(filter 0,$(shell id -u)),--allow-root)

bench: setup
	$(BIN)/python benchmarks/chapter_timing.py
	$(BIN)/python benchmarks/conv_speed.py
	$(BIN)/python benchmarks/train_speed.py

# Classroom assignments (nbgrader): see the instructors' page of the book.
GRADES ?= _build/assignments/grades.csv
CELL_TIMEOUT ?= 60

assignments: setup
	$(BIN)/python -m gradbook.classroom --source assignments/source release _build/assignments/release

grade: setup
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [GRADES=file.csv] [CELL_TIMEOUT=60]"; exit 2; }
	$(BIN)/python -m gradbook.classroom --source assignments/source --cell-timeout $(CELL_TIMEOUT) grade "$(SUBMISSIONS)" "$(GRADES)"

clean:
	rm -rf _build _vendor
