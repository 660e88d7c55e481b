# perfrun — see README.md. Every tool the targets need is installed by
# scripts/deps.sh (Debian packages) or built here from the Go module proxy, pinned.
SHELL := /bin/bash
GO ?= go
BIN := $(CURDIR)/bin
TOOLS := $(BIN)/tools
STATICCHECK_VERSION := v0.8.2
BENCHSTAT_VERSION := v0.0.0-20260908200009-22c9c6c9d4da
ACTIONLINT_VERSION := v1.7.12

# The reference system's programs and the CLI.
PROGRAMS := listener worker controller migrate
# perfrun's version, recorded in every result (compare refuses runs of two).
PERFRUN_VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo devel)
PERFRUN_LDFLAGS := -X github.com/perfrun/perfrun/runner.version=$(PERFRUN_VERSION)

.PHONY: all build test test-unit fuzz lint deps bench-system clean

all: build

build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(PERFRUN_LDFLAGS)" -o $(BIN)/ $(addprefix ./system/cmd/,$(PROGRAMS)) ./cmd/perfrun

# deps installs what the tests need from Debian when it is missing.
deps:
	bash scripts/deps.sh

# test is what CI runs (.ci/run): unit and integration tests against real
# redis-server processes, then a short seeded fuzz run, then the suites'
# smoke label and one good/bad pair on the local cluster (test-suites), and
# the Tekton pairs (test-tekton); last the kind path's smoke (kind-smoke,
# about 2 min once built; the local cluster is down by then).
test: build
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) test-report
	$(MAKE) test-dashboards
	$(MAKE) test-workflows
	$(MAKE) test-k6
	$(MAKE) fuzz FUZZTIME=20s
	$(MAKE) test-suites
	$(MAKE) test-tekton
	$(MAKE) test-interrupts
	$(MAKE) test-cluster
	$(MAKE) kind-smoke

# The local cluster (cluster/local): Debian packages, then the binaries built
# from the pinned tools/ modules into a cache keyed by version
# ($(CLUSTER_CACHE)/kubernetes-v1.35.4/ and so on; the cold build takes
# minutes, later ones nothing). test-cluster brings a real cluster up, deploys
# fixtures/ onto it, and checks down leaves the host as it was (root only).
CLUSTER_CACHE ?= $(HOME)/.cache/perfrun
.PHONY: cluster-deps cluster-tools test-cluster
cluster-deps:
	bash scripts/cluster-deps.sh

cluster-tools: cluster-deps
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(GO) run ./cmd/perfrun cluster build --cache-dir $(CLUSTER_CACHE)

test-cluster: cluster-tools
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(GO) test -tags cluster -count=1 -timeout 30m -v -run '^TestLocalCluster$$' ./cluster/local/

# k6 builds bin/k6: k6 pinned in xk6-backend/go.mod with the k6/x/backend
# extension, as `xk6 build --with ...=./xk6-backend` would (cold: minutes).
# test-k6 runs the extension's own module's tests: unit tests, the
# integration test that builds k6, the listener and the worker and runs
# fixtures/load/smoke.js against them on a real redis-server, and the one
# that runs fixtures/load/taskruns.js against a real kube-apiserver and etcd
# (cluster-tools' binaries, started as plain processes on 127.0.0.1: no
# cluster, no root); PERFRUN_REQUIRE_KUBE makes missing ones fail, not skip.
# bench-k6 compares requests per load-generator CPU-second of the extension,
# k6/http and wrk on one loopback listener (bin/bench/k6.md).
.PHONY: k6 test-k6 bench-k6
k6:
	@mkdir -p $(BIN)
	cd xk6-backend && CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/k6 ./cmd/k6

test-k6: cluster-tools
	cd xk6-backend && $(GO) vet -tags benchobjects .
	cd xk6-backend && PERFRUN_CACHE=$(CLUSTER_CACHE) PERFRUN_REQUIRE_KUBE=1 $(GO) test -count=1 -timeout 20m ./...

bench-k6: build k6
	@mkdir -p $(BIN)/bench
	DURATION=$${DURATION:-10s} bash xk6-backend/bench/run.sh $(BIN)/bench/k6.md

# bench-objects compares the extension's object load with kube-burner
# (tools/kube-burner pins it): the same TaskRuns at the same rate against
# one real kube-apiserver and etcd, TaskRuns per generator CPU-second
# (bin/bench/objects.md). RATE, SECONDS and ROUNDS as in the test.
.PHONY: bench-objects
$(TOOLS)/kube-burner: tools/kube-burner/go.mod
	@mkdir -p $(TOOLS)
	cd tools/kube-burner && CGO_ENABLED=0 $(GO) build -trimpath -o $(TOOLS)/kube-burner github.com/kube-burner/kube-burner/cmd/kube-burner

bench-objects: cluster-tools $(TOOLS)/kube-burner
	@mkdir -p $(BIN)/bench
	cd xk6-backend && PERFRUN_CACHE=$(CLUSTER_CACHE) PERFRUN_REQUIRE_KUBE=1 PERFRUN_KUBE_BURNER=$(TOOLS)/kube-burner \
		PERFRUN_BENCH_OUT=$(BIN)/bench/objects.md $(GO) test -tags benchobjects -count=1 -timeout 30m -v -run TestObjectLoadVersusKubeBurner .

# run is perfrun's main job on the embedded local cluster (root): build the
# programs, bin/k6 and bin/perfrun, bring the cluster up, build and import
# the v1/v2 images, then `perfrun run $(SCENARIO)` (results under results/).
# Exit codes: 0 pass, 1 harness error, 2 bad input, 3 assertion failed.
SCENARIO ?= suites/scenarios/smoke.yaml
RUN_FLAGS ?=
.PHONY: run perfrun test-run test-interrupts
perfrun:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(PERFRUN_LDFLAGS)" -o $(BIN)/perfrun ./cmd/perfrun

run: build k6 perfrun cluster-tools
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun cluster up --cache-dir $(CLUSTER_CACHE)
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun cluster load --cache-dir $(CLUSTER_CACHE)
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun run --cache-dir $(CLUSTER_CACHE) --k6 $(BIN)/k6 $(RUN_FLAGS) $(SCENARIO)

# test-run is perfrun run end to end on the local cluster (root): smoke.yaml
# passes, the known-bad worker-kill-v1.yaml exits 3, nothing is left after.
test-run: k6 cluster-tools
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(GO) test -tags cluster -count=1 -timeout 30m -v -run '^TestEndToEnd$$' ./runner/

# test-interrupts SIGKILLs perfrun run in each phase on the local cluster
# (root): result.json says the phase, perfrun clean leaves no perfrun
# namespace; a second SIGINT exits within 2 s (in make test: 4.4 min here).
test-interrupts: k6 cluster-tools
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(GO) test -tags cluster -count=1 -timeout 40m -v -run '^TestKilledInEachPhase$$' ./runner/

# test-report: report.html opened in headless Chromium (Debian's, installed
# by scripts/deps-browser.sh: large, so apart from deps.sh): the lines it
# drew (its DOM) and its screenshots checked. PERFRUN_REQUIRE_BROWSER makes a missing browser fail, not skip.
# test-dashboards: every dashboard query parses with Prometheus's parser and
# names only metrics the live system and k6 export, and every dashboard
# panel's and report series' query returns data from the local cluster's
# Prometheus (cluster-tools builds it) scraping the live system with the
# local cluster's settings (own module: it takes the
# newest Prometheus, whose go.mod wants k8s.io 0.37; the root module's parser,
# for scenario validation, is v0.314, the newest that keeps k8s.io at 0.35).
.PHONY: test-report test-dashboards
test-report:
	bash scripts/deps-browser.sh
	PERFRUN_REQUIRE_BROWSER=1 $(GO) test -count=1 -timeout 5m -run 'Chromium' ./report/

test-dashboards: k6 cluster-tools
	cd dashboards/check && PERFRUN_CACHE=$(CLUSTER_CACHE) PERFRUN_REQUIRE_PROMETHEUS=1 $(GO) test -count=1 -timeout 10m ./...

# test-run-panels RESULT=results/NAME-…: after a real run on the local
# cluster, every dashboard panel and report series of that run has data in
# the cluster's Prometheus, or is not applicable to its scenario (reads
# only: the result folder and Prometheus's HTTP API).
.PHONY: test-run-panels
test-run-panels:
	cd dashboards/check && PERFRUN_RESULT=$(abspath $(RESULT)) $(GO) test -tags cluster -count=1 -v -timeout 5m -run '^TestRunPanelsHaveData$$' .

# fuzz runs each fuzz target for FUZZTIME (three targets: three times that in all).
# New inputs are minimized for at most FUZZMINIMIZE: the scenario decoder's
# seeds are whole scenario files, and Go's default (60s per input) would
# spend a short run minimizing instead of fuzzing.
FUZZTIME ?= 60s
FUZZMINIMIZE ?= 2s
# scripts/fuzz.sh retries once a run that Go's coordinator ended with only
# "context deadline exceeded" and no failing input.
fuzz:
	bash scripts/fuzz.sh ./system/apisonator FuzzParseTransaction $(FUZZTIME) $(FUZZMINIMIZE)
	bash scripts/fuzz.sh ./scenario FuzzParse $(FUZZTIME) $(FUZZMINIMIZE)
	bash scripts/fuzz.sh ./system/catalog FuzzReadAuthReply $(FUZZTIME) $(FUZZMINIMIZE)

$(TOOLS)/staticcheck:
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

$(TOOLS)/actionlint:
	GOBIN=$(TOOLS) $(GO) install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)

# test-workflows: the nightly workflow cannot run here (no Docker, no kind),
# so at least its syntax, expressions, action inputs and job graph are
# checked by actionlint.
.PHONY: test-workflows
test-workflows: $(TOOLS)/actionlint
	$(TOOLS)/actionlint -no-color .github/workflows/*.yml

$(TOOLS)/benchstat:
	GOBIN=$(TOOLS) $(GO) install golang.org/x/perf/cmd/benchstat@$(BENCHSTAT_VERSION)

lint: $(TOOLS)/staticcheck
	$(GO) vet ./...
	$(TOOLS)/staticcheck ./...

# bench-system: authrep and job-apply benchmarks against a real Redis, with
# redis-benchmark's figure for the same commands as the ceiling (bin/bench/).
bench-system: $(TOOLS)/benchstat
	COUNT=$${COUNT:-6} bash scripts/bench-system.sh
	$(TOOLS)/benchstat bin/bench/system.txt

clean:
	rm -rf $(BIN)

# Suites (suites/, Ginkgo v2): each property's good scenario must pass and
# its known-bad one must fail, run through perfrun run's runner on a cluster
# (the local one by default; PERFRUN_PROVIDER=kind|kubeconfig). Reports and
# every run's result folder go to $(SUITES_OUT). test-suites is what CI runs:
# the smoke label and the one good/bad pair labelled ci. verdict-accuracy
# runs every pair N times and prints property, mode, runs, passes, fails.
# nightly does the nightly label on kind (images built here and loaded with
# kind, Prometheus and Chaos Mesh installed); nightly-local the same suite on
# the local cluster (root).
SUITES_OUT ?= $(BIN)/suites
KIND_VERSION ?= v0.33.0
# Chaos Mesh needs its chart and images from the network: none by default
# (pod kills are API deletes); the nightly workflow passes 2.7.2.
CHAOS_MESH_VERSION ?=
N ?= 3
# PROPERTY narrows verdict-accuracy to one property's pair (a label:
# throughput, distribution, disruption, upgrade, no-loss).
PROPERTY ?=
ACCURACY_FILTER = nightly && !smoke$(if $(PROPERTY), && $(PROPERTY))
# $(1) is Ginkgo's suite timeout in minutes; go test's is 10 minutes more,
# so that Ginkgo's own timeout fires first and its AfterSuite (cluster logs,
# teardown) runs: go test's would panic past it.
SUITES_GO_TEST = PERFRUN_CACHE=$(CLUSTER_CACHE) PERFRUN_RESULTS=$(SUITES_OUT)/results PERFRUN_K6=$(BIN)/k6 \
	$(GO) test -tags cluster -count=1 -v -timeout $$(( $(1) + 10 ))m ./suites -ginkgo.v -ginkgo.timeout=$(1)m -ginkgo.label-filter='$(2)' \
	-ginkgo.junit-report=$(SUITES_OUT)/$(3).junit.xml -ginkgo.json-report=$(SUITES_OUT)/$(3).json
.PHONY: test-suites verdict-accuracy nightly nightly-local
test-suites: build k6 cluster-tools
	@mkdir -p $(SUITES_OUT)
	$(call SUITES_GO_TEST,40,smoke || ci,ci)

# test-tekton: the Tekton pairs once each on the local cluster: the real
# Tekton Pipelines controller (tools/tekton, built on first use) judged by
# its own reconcile counts and its TaskRuns (pods completed by kwok).
.PHONY: test-tekton
test-tekton: build k6 cluster-tools
	@mkdir -p $(SUITES_OUT)
	$(call SUITES_GO_TEST,60,tekton,tekton)

PROPERTIES = throughput distribution disruption ownership upgrade no-loss core-utilization tekton-distribution tekton-disruption
.PHONY: check-property
check-property:
	@if [ -n "$(PROPERTY)" ] && ! echo " $(PROPERTIES) " | grep -q " $(PROPERTY) "; then \
		echo "PROPERTY=$(PROPERTY): want one of: $(PROPERTIES)" >&2; exit 2; fi

verdict-accuracy: check-property build k6 cluster-tools
	@mkdir -p $(SUITES_OUT)
	PERFRUN_RUNS=$(N) $(call SUITES_GO_TEST,300,$(ACCURACY_FILTER),accuracy); status=$$?; \
	$(GO) run ./suites/cmd/accuracy $(SUITES_OUT)/accuracy.json && exit $$status

$(TOOLS)/kind:
	GOBIN=$(TOOLS) $(GO) install sigs.k8s.io/kind@$(KIND_VERSION)

# crictl goes into kind's node image (v1.36.0 does not resolve on the proxy).
CRICTL_VERSION ?= v1.37.0
$(TOOLS)/crictl:
	GOBIN=$(TOOLS) $(GO) install sigs.k8s.io/cri-tools/cmd/crictl@$(CRICTL_VERSION)

# kind-image builds kind's node image offline (perfrun cluster kind-image:
# Debian's root filesystem by mmdebstrap, kind's files from its module, the
# Kubernetes, etcd, CoreDNS and pause of cluster-tools, kubeadm from
# tools/kubeadm), into Docker: the machine's, or perfrun's own dockerd
# (scripts/with-docker.sh) for the build. kind-smoke is the kind path end
# to end: perfrun run --provider kind on smoke.yaml from nothing (the node
# image built when missing), the cluster deleted after, the host as it was.
.PHONY: kind-image kind-smoke
KIND_DEPS = build k6 perfrun cluster-tools $(TOOLS)/kind $(TOOLS)/crictl
kind-image: $(KIND_DEPS)
	PATH=$(TOOLS):$$PATH sh scripts/with-docker.sh $(BIN)/perfrun cluster kind-image --cache-dir $(CLUSTER_CACHE)

kind-smoke: $(KIND_DEPS)
	PATH=$(TOOLS):$$PATH PERFRUN_CACHE=$(CLUSTER_CACHE) sh scripts/kind-smoke.sh $(BIN)/kind-smoke

NIGHTLY_FILTER ?= nightly
nightly: $(KIND_DEPS)
	@mkdir -p $(SUITES_OUT)
	PATH=$(TOOLS):$$PATH PERFRUN_PROVIDER=kind PERFRUN_CHAOS_MESH_VERSION=$(CHAOS_MESH_VERSION) \
	PERFRUN_ARTIFACTS=$(SUITES_OUT)/cluster-logs sh scripts/with-docker.sh env $(call SUITES_GO_TEST,180,$(NIGHTLY_FILTER),nightly); status=$$?; \
	$(GO) run ./suites/cmd/accuracy $(SUITES_OUT)/nightly.json; exit $$status

nightly-local: build k6 cluster-tools
	@mkdir -p $(SUITES_OUT)
	PERFRUN_ARTIFACTS=$(SUITES_OUT)/cluster-logs $(call SUITES_GO_TEST,180,$(NIGHTLY_FILTER),nightly); status=$$?; \
	$(GO) run ./suites/cmd/accuracy $(SUITES_OUT)/nightly.json; exit $$status

# Scale runs (README "Scale runs"): distributed k6 (loadgen), HPAs
# (fixtures/hpa), simulated nodes (cluster/kwok). On the local cluster (root).
# scale-smoke: the same 200/s load from 2 generators and from 1; both must
# pass (one verdict each, over all generators); then one listener saturated
# past its readiness threshold leaves the endpoints and comes back. ~7 min. Not in make test: it
# needs the cluster.
# scale: the manual QE set, tens of minutes: the HPA step-up/step-down, the
# controller at 10,000 items with 5 replicas on 100 simulated nodes, one
# listener's saturated throughput (the base of scale efficiency).
SCALE_RUN = PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun run --cache-dir $(CLUSTER_CACHE) --k6 $(BIN)/k6 --results results/scale $(RUN_FLAGS)
.PHONY: scale-up scale-smoke scale
scale-up: build k6 perfrun cluster-tools
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun cluster up --cache-dir $(CLUSTER_CACHE)
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun cluster load --cache-dir $(CLUSTER_CACHE)

scale-smoke: scale-up
	$(SCALE_RUN) --set GENERATORS=2 --set RATE=200 --set FLOOR=160 suites/scenarios/scale-generators.yaml
	$(SCALE_RUN) --set GENERATORS=1 --set RATE=200 --set FLOOR=160 suites/scenarios/scale-generators.yaml
	$(SCALE_RUN) suites/scenarios/scale-readiness.yaml

scale: scale-up
	$(SCALE_RUN) suites/scenarios/scale-hpa.yaml
	PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun cluster kwok --cache-dir $(CLUSTER_CACHE) --nodes 100
	$(SCALE_RUN) --set REPLICAS=5 suites/scenarios/scale-controller.yaml; rc=$$?; \
	  PERFRUN_CACHE=$(CLUSTER_CACHE) $(BIN)/perfrun cluster kwok --cache-dir $(CLUSTER_CACHE) --down; exit $$rc
	$(SCALE_RUN) --set REPLICAS=1 --set RATE=3000 suites/scenarios/scale-efficiency.yaml

# tekton-scale: what the real Tekton Pipelines controller sustains here,
# in StatefulSet mode with 1 and with 3 replicas, at each of TEKTON_RATES
# TaskRuns/s (suites/scenarios/tekton-throughput.yaml, results under
# results/scale). A run past what the controller sustains fails its latency
# bound (exit 3): that is the measurement, so the sweep goes on; a harness
# error or bad input (1, 2) stops it.
# TEKTON_OVERLAYS=statefulset-1-qps: one replica with Tekton's client rate
# limit raised, to tell that limit from the CPU.
TEKTON_RATES ?= 5 10 20 40
TEKTON_OVERLAYS ?= statefulset-1 statefulset
.PHONY: tekton-scale
tekton-scale: scale-up
	@for o in $(TEKTON_OVERLAYS); do for r in $(TEKTON_RATES); do \
	  echo "== tekton-throughput OVERLAY=fixtures/tekton/$$o RATE=$$r"; \
	  $(SCALE_RUN) --set OVERLAY=fixtures/tekton/$$o --set RATE=$$r suites/scenarios/tekton-throughput.yaml; \
	  rc=$$?; [ $$rc = 0 ] || [ $$rc = 3 ] || exit $$rc; \
	done; done
