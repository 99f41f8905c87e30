#!/usr/bin/env bash
# Builds the API reference with Doxygen (docs/Doxyfile) into build/docs/html and fails if Doxygen
# warns about anything: an undocumented public symbol, a broken \ref, a malformed command.
# Usage: bash tools/docs/check_api_docs.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v doxygen >/dev/null || { echo "check_api_docs.sh: doxygen is needed (apt-get install doxygen)" >&2; exit 1; }
mkdir -p build/docs
rm -f build/docs/doxygen-warnings.log
status=0
doxygen docs/Doxyfile || status=$?
if [ -s build/docs/doxygen-warnings.log ]; then
  echo "check_api_docs.sh: Doxygen warnings (add a /// comment to each symbol named):" >&2
  cat build/docs/doxygen-warnings.log >&2
  exit 1
fi
if [ "$status" -ne 0 ]; then echo "check_api_docs.sh: doxygen failed ($status)" >&2; exit "$status"; fi
echo "check_api_docs.sh: no warnings; reference at build/docs/html/index.html"
