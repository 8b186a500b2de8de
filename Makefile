# gradbook: `make book` builds the HTML book, `make test` runs every test. Both set up .venv first.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.gradbook-installed
CLASSROOM_STAMP := $(VENV)/.gradbook-classroom
# npm writes it on every install: older than package-lock.json means node_modules is out of date.
NODE_STAMP := node_modules/.package-lock.json
export TF_CPP_MIN_LOG_LEVEL ?= 2
export PYDEVD_DISABLE_FILE_VALIDATION = 1

.PHONY: help setup setup-classroom vendor book classroom-config test test-quick test-unit test-library test-classroom test-notebooks test-browser test-live test-pages lab bench assignments grade feedback clean

help:
	@echo "make book   - set up .venv and build the HTML book into _build/html"
	@echo "make book SOLUTIONS=0 - the classroom edition, every exercise's solution left out, into $(CLASSROOM_HTML)"
	@echo "make test   - set up .venv and run the unit tests, build the book, and run the browser tests"
	@echo "make test-quick - the unit tests that need no training, nbgrader or browser (seconds, for a quick loop)"
	@echo "make test-notebooks - run every chapter as a learner would, checked cell by cell (nbval)"
	@echo "make lab    - open the chapters in JupyterLab"
	@echo "make bench  - time chapter execution, slider updates, the NumPy convolution and training speed"
	@echo "make assignments            - write the student versions to _build/assignments/release/"
	@echo "make grade SUBMISSIONS=dir  - grade dir/<student>/<assignment>/*.ipynb into _build/assignments/grades.csv (JOBS=n at a time)"
	@echo "make feedback               - one page per student and assignment, into $(FEEDBACK)"

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.txt -e .
	@# Keep TensorFlow's C++ log lines out of stored notebook outputs (see shared notes).
	mkdir -p $(VENV)/etc/ipython
	echo "c.IPKernelApp.capture_fd_output = False" > $(VENV)/etc/ipython/ipython_kernel_config.py
	touch $(STAMP)

# ESLint for the page script in book/static (tests/test_widgets_static.py runs it): the versions
# package-lock.json pins, installed with npm (which the book build needs anyway).
$(NODE_STAMP): package-lock.json
	npm ci --no-audit --no-fund

# The instructors' tools (nbgrader): the package's `classroom` extra.
setup-classroom: $(CLASSROOM_STAMP)

$(CLASSROOM_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e ".[classroom]"
	touch $(CLASSROOM_STAMP)

vendor: $(STAMP)
	$(BIN)/python tools/vendor_assets.py _vendor

# The execution cache keys on notebook code only: a change to the gradbook package must
# invalidate it, or the book would show outputs of the old helpers.
SOURCES := $(wildcard src/gradbook/*.py src/gradbook/*/*.py)
_build/.gradbook-sources: $(SOURCES)
	rm -rf _build/.jupyter_cache _build/.doctrees $(CLASSROOM_OUT)/_build/.doctrees
	mkdir -p _build
	touch $@

# The classroom edition, `make book SOLUTIONS=0`: the same book with every exercise's solution
# left out (sphinx-exercise's hide_solutions), built into a folder of its own so that both editions
# can exist side by side; it reuses the execution cache, so no chapter runs twice. Jupyter Book 1.x
# reads one configuration file, so the recipe writes a copy of _config.yml with hide_solutions set.
SOLUTIONS ?= 1
ifeq ($(filter 0 1,$(SOLUTIONS)),)
$(error SOLUTIONS must be 1 (the default, with solutions) or 0 (the classroom edition), not '$(SOLUTIONS)')
endif
CLASSROOM_CONFIG ?= _build/_config_classroom.yml
CLASSROOM_OUT    := _build/classroom
CLASSROOM_HTML   := $(CLASSROOM_OUT)/_build/html

# The copy of _config.yml (tools/classroom_config.py says what changes). Any Python with PyYAML (Jupyter Book's dependency) will do; `make book` uses the book's own.
CONFIG_PYTHON ?= $(BIN)/python
WRITE_CLASSROOM_CONFIG = $(CONFIG_PYTHON) tools/classroom_config.py _config.yml $(CLASSROOM_CONFIG)

classroom-config:
	$(WRITE_CLASSROOM_CONFIG)

# GRADBOOK_STATIC_FACES=1: every exploration precomputes the static face the HTML shows (a learner
# running a notebook in JupyterLab gets the live controls at once instead).
ifeq ($(SOLUTIONS),0)
BOOK_CONFIG  = $(WRITE_CLASSROOM_CONFIG)
BOOK_ARGS   := --config $(CLASSROOM_CONFIG) --path-output $(CLASSROOM_OUT)
BOOK_HTML   := $(CLASSROOM_HTML)
else
BOOK_CONFIG :=
BOOK_ARGS   :=
BOOK_HTML   := _build/html
endif
book: setup vendor _build/.gradbook-sources
	$(BOOK_CONFIG)
	GRADBOOK_STATIC_FACES=1 $(BIN)/jupyter-book build . --builder html -W --keep-going $(BOOK_ARGS)
	$(BOOK_ZH_CN)
	@echo "Open $(BOOK_HTML)/index.html"

# The Simplified Chinese edition: the same sources, with Sphinx's language set to zh_CN, so every
# sentence comes from locales/zh_CN/ (tools/translations.py) and every formula, figure and number
# from the same executed notebooks (the execution cache: nothing runs twice). Built into a folder of
# its own, then placed at _build/html/zh_CN/, where each page's language link expects it.
# The classroom edition (SOLUTIONS=0) has its Chinese edition too, also without solutions.
ifeq ($(SOLUTIONS),0)
ZH_CN_SOURCE := $(CLASSROOM_CONFIG)
ZH_CN_CONFIG := _build/_config_classroom_zh_CN.yml
ZH_CN_OUT    := _build/classroom_zh_CN
else
ZH_CN_SOURCE := _config.yml
ZH_CN_CONFIG := _build/_config_zh_CN.yml
ZH_CN_OUT    := _build/zh_CN
endif
define BOOK_ZH_CN
	$(BIN)/python tools/translations.py config $(ZH_CN_SOURCE) $(ZH_CN_CONFIG)
	GRADBOOK_STATIC_FACES=1 $(BIN)/jupyter-book build . --builder html -W --keep-going --config $(ZH_CN_CONFIG) --path-output $(ZH_CN_OUT)
	rm -rf $(BOOK_HTML)/zh_CN && cp -r $(ZH_CN_OUT)/_build/html $(BOOK_HTML)/zh_CN
endef

test-unit: test-library test-classroom

# The quick loop while editing: every unit test not marked slow (no training, nbgrader or browser).
test-quick: setup
	$(BIN)/python -m pytest -p no:cacheprovider -m "not slow" tests src/gradbook --ignore=tests/browser

test-library: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests src/gradbook --ignore=tests/browser --ignore=tests/test_classroom.py

# The assignments released and graded with nbgrader (each submission runs in its own kernel).
test-classroom: setup-classroom
	$(BIN)/python -m pytest -p no:cacheprovider tests/test_classroom.py

# Each chapter as a learner runs it (live controls only), checked cell by cell; quick to run alone.
test-notebooks: setup
	GRADBOOK_STATIC_FACES=0 $(BIN)/python -m pytest --nbval-lax --nbval-current-env -p no:cacheprovider chapters

# Each chapter in a real JupyterLab, as a learner runs it: Run All, no error output, controls moved.
test-live: setup
	$(BIN)/python -m pytest -p no:cacheprovider tests/browser/test_live_chapters.py tests/browser/test_live_lab.py

# The built book's pages in Chromium, offline: math, figures, static controls, links.
# The two editions' pages are checked by two browsers at once (the other suites have ended by
# then, so both cores are free); the English report follows the Chinese one.
ZH_PAGE_TESTS := zh_CN or chinese or language
test-pages: book
	@$(BIN)/python -m pytest -p no:cacheprovider tests/browser/test_offline_book.py -k "not ($(ZH_PAGE_TESTS))" \
	  > _build/test-pages-en.log 2>&1 & english=$$!; \
	$(BIN)/python -m pytest -p no:cacheprovider tests/browser/test_offline_book.py -k "$(ZH_PAGE_TESTS)"; chinese=$$?; \
	wait $$english; english=$$?; cat _build/test-pages-en.log; exit $$(( english || chinese ))

test-browser: test-live test-pages

# `make test` executes each chapter twice, once per face: the book build runs it with the static
# faces (any failing check fails the build), and test-live runs it as a learner does in a real
# JupyterLab (any error output fails the test). `make test-notebooks` would be a third run.
# The suites are independent and each spends much of its time waiting (on a kernel, a browser
# or a grader), so they run at once; each prints its report when it ends, and every suite runs
# even if another fails.
# Everything is installed first: nothing may change the environment while the suites run.
test: setup setup-classroom
	@echo "make test: running test-library, test-classroom, test-live and book + test-pages at once; each reports when it ends."
	$(MAKE) --no-print-directory -k -j4 --output-sync=target test-library test-classroom test-live test-pages

lab: setup
	$(BIN)/jupyter lab chapters $(if $(filter 0,$(shell id -u)),--allow-root)

bench: setup
	$(BIN)/python benchmarks/chapter_timing.py
	$(BIN)/python benchmarks/conv_speed.py
	$(BIN)/python benchmarks/train_speed.py

# Classroom assignments (nbgrader): see the instructors' page of the book.
GRADES ?= _build/assignments/grades.csv
assignments: setup-classroom
	$(BIN)/python -m gradbook.classroom --source assignments/source release _build/assignments/release

# Each student's code runs in a bubblewrap sandbox; JOBS submissions at a time (default: one per core).
# UNSANDBOXED=1 grades without the sandbox where none can be made: the students' code then runs
# with your rights. `make feedback` turns the grades into one page per student and assignment.
grade: setup-classroom
	@test -n "$(SUBMISSIONS)" || { echo "usage: make grade SUBMISSIONS=dir [GRADES=file.csv] [JOBS=n] [CELL_TIMEOUT=seconds] [UNSANDBOXED=1]"; exit 2; }
	$(BIN)/python -m gradbook.classroom --source assignments/source $(if $(CELL_TIMEOUT),--cell-timeout $(CELL_TIMEOUT)) grade "$(SUBMISSIONS)" "$(GRADES)" $(if $(JOBS),--jobs $(JOBS)) $(if $(filter 1,$(UNSANDBOXED)),--unsandboxed)

FEEDBACK ?= _build/assignments/feedback
feedback: setup-classroom
	$(BIN)/python -m gradbook.classroom feedback "$(basename $(GRADES)).json" "$(FEEDBACK)"

clean:
	rm -rf _build _vendor
