# edgelstm: two commands on a fresh machine: `make setup` then `make test`.
SHELL := /bin/bash
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
APT_PKGS := gcc-arm-none-eabi libnewlib-arm-none-eabi picolibc-arm-none-eabi qemu-system-arm chromium
TARGET  ?= cortex-m4
MODEL   ?=
DEMO    := demo

.PHONY: setup apt venv test bench demo profile export run clean help

help:
	@echo "make setup    venv + Python packages + ARM toolchain, QEMU, chromium (apt)"
	@echo "make test     the whole test suite"
	@echo "make demo     train the demo LSTM and GRU on BasicMotions and convert them every way"
	@echo "make profile MODEL=m.keras TARGET=cortex-m4   (default: the demo LSTM)"
	@echo "make export TARGET=cortex-m   C for the demo LSTM (MODEL=m.keras CALIB=c.npy for yours) into export/,"
	@echo "                               cross-compiled; TARGET=cortex-m0plus|m3|m4|m7|m33|m55|host (cortex-m = m4)"
	@echo "make run TARGET=cortex-m4      export, then run it on the QEMU board of that core and compare with TFLM"
	@echo "make bench    conversion sweep, on-device runs (all QEMU cores), edgelstm vs CMSIS-NN (CMSIS_NN_DIR=...),"
	@echo "              per-kernel cost fits -> bench/results.json, bench/results.md, profiles/*.toml [calibration.kernels]"
	@echo "              held-out float vs int8 accuracy of the issue-12 table models -> bench/accuracy.json, accuracy.md"

setup: apt venv

# apt only when something is missing; a second run takes seconds.
apt:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "apt: installing$$missing"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends $$missing; \
	else echo "apt: all present"; fi

venv: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt
	$(BIN)/pip install -q --no-deps tf-keras==2.21.0
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

test: venv
	$(BIN)/python -m pytest -q -n 2 --dist load --durations=30

# CMSIS-NN (a peer measured side by side, Apache-2.0) is compiled from CMSIS_NN_DIR, never copied; a missing
# folder skips those columns with a note. ONLY=cmsis_nn,kernels runs some benchmarks and keeps the others' results
# (ONLY=accuracy: the table models' held-out accuracy, bench/accuracy.md).
CMSIS_NN_DIR ?= /work/shared/peers/CMSIS-NN
bench: venv
	CMSIS_NN_DIR="$(CMSIS_NN_DIR)" $(BIN)/python -m edgelstm.bench --out bench $(if $(ONLY),--only $(ONLY),)

demo: venv
	$(BIN)/edgelstm demo -o $(DEMO)

profile: venv
	$(BIN)/edgelstm profile $(if $(MODEL),$(MODEL),--demo lstm) --target $(TARGET) -o report/

CORE     = $(if $(filter cortex-m,$(TARGET)),cortex-m4,$(TARGET))
MODEL_ARGS = $(if $(MODEL),$(MODEL) $(if $(CALIB),--calib $(CALIB),),--demo $(or $(KIND),lstm))

export: venv
	$(BIN)/edgelstm export $(MODEL_ARGS) --target $(CORE) --build -o export/

run: venv
	$(BIN)/edgelstm export $(MODEL_ARGS) --target $(CORE) -o export/
	$(BIN)/edgelstm run export/ --target $(CORE) --vectors 50

clean:
	rm -rf out report build demo export
