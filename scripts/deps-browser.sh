#!/usr/bin/env bash
# deps-browser.sh installs Debian's chromium for the report test (make
# test-report), which opens report.html headless and screenshots it. It is
# apart from deps.sh because chromium is large. Idempotent.
set -euo pipefail

if command -v chromium >/dev/null; then
	echo "deps-browser.sh: ok ($(chromium --version 2>/dev/null | head -1))"
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "deps-browser.sh: chromium missing and not root; install it with apt-get install chromium" >&2
	exit 1
fi
echo "deps-browser.sh: installing chromium"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
echo "deps-browser.sh: ok ($(chromium --version 2>/dev/null | head -1))"
