# The README's two commands: `make demo` (set up, run the main job) and `make test`.
# Each creates .venv when missing and installs the pinned requirements once.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.sorghum_depth_installed
# Wheels of launch, launch_ros and the ros2 CLI (not on PyPI), beside a CI clone; optional.
ROS2_PY ?= ../shared/ros2_py

.PHONY: setup demo test bench default-model clean

setup: $(STAMP)

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt requirements-ros2py.txt \
		setup.py setup.cfg
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --disable-pip-version-check -q -r requirements-dev.txt
	$(PY) -m pip install --disable-pip-version-check -q --no-deps -r requirements-nodeps.txt
	if [ -d $(ROS2_PY) ]; then \
		$(PY) -m pip install --disable-pip-version-check -q -r requirements-ros2py.txt && \
		$(PY) -m pip install --disable-pip-version-check -q --no-deps $(ROS2_PY)/*.whl; \
	else echo "$(ROS2_PY) not found: launch/ros2 CLI not installed, launch tests will skip"; fi
	$(PY) -m pip install --disable-pip-version-check -q --no-deps --no-build-isolation -e .
	touch $@

demo: $(STAMP)
	$(PY) scripts/demo.py

# Rebuild the shipped models/sorghum_synth_small.ts (recorded command; about 30 CPU minutes).
default-model: $(STAMP)
	$(PY) scripts/make_default_model.py

# Two pytest-xdist workers, a test file each at a time (a file's module fixtures and DDS
# domains stay in one process), one torch thread each: 317-465 s of pytest on 2 cores,
# against 661-706 s in one process with two torch threads, and 472 s with two workers of
# two threads each (README, "Development"). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: $(STAMP)
	OMP_NUM_THREADS=1 $(PY) -m pytest -ra -n $(TEST_WORKERS) --dist loadfile test

bench: $(STAMP)
	$(PY) benchmarks/bench_core.py
	$(PY) benchmarks/bench_extract.py
	$(PY) benchmarks/bench_node.py
	$(PY) benchmarks/bench_train.py
	$(PY) benchmarks/bench_threads.py
	$(PY) benchmarks/bench_threads.py --load
	@echo "the recipe benchmark takes hours: $(PY) benchmarks/bench_recipe.py (docs/training.md)"

clean:
	rm -rf build install log *.egg-info demo_output
