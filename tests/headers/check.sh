#!/usr/bin/env bash
# The installed headers are the API and nothing else. Installs the built tapegrad into a
# temporary prefix and fails if
#   - an installed header does not compile on its own (it must include what it uses),
#   - an installed header mentions detail:: (internals belong in the modules' src/ folders),
#   - a header of some module's include/ folder is not installed, or anything else is,
#   - docs/api.md's table of the installed headers (and its count) is not exactly that list.
# Usage: check.sh BUILD_DIR SOURCE_DIR CXX
set -euo pipefail
build=$1 src=$2 cxx=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
status=0
installed=$(cd "$work/prefix/include" && find . -type f | sed 's|^\./||' | sort)
expected=$(cd "$src" && for d in include */include; do [ -d "$d" ] && (cd "$d" && find . -name '*.h' | sed 's|^\./||'); done | sort)
if [ "$installed" != "$expected" ]; then
  echo "installed headers differ from the modules' include/ folders:"
  diff <(echo "$expected") <(echo "$installed") || true
  status=1
fi
documented=$(grep -o '^| `<tapegrad/[^>]*>`' "$src/docs/api.md" | sed 's/^| `<\(.*\)>`$/\1/' | sort)
if [ "$installed" != "$documented" ]; then
  echo "docs/api.md's table of installed headers differs from what cmake --install copies (< table, > installed):"
  diff <(echo "$documented") <(echo "$installed") || true
  status=1
fi
count=$(echo "$installed" | wc -l)
if ! grep -q "copies these $count headers" "$src/docs/api.md"; then
  echo "docs/api.md does not say 'copies these $count headers'"
  status=1
fi
n=0
for h in $installed; do
  n=$((n + 1))
  if grep -n 'detail::' "$work/prefix/include/$h"; then
    echo "$h: an installed header mentions detail:: (move the internals to a private header)"
    status=1
  fi
  if ! echo "#include <$h>" | "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Werror -I "$work/prefix/include" -x c++ - 2>"$work/err"; then
    echo "$h does not compile on its own:"
    head -20 "$work/err"
    status=1
  fi
done
[ "$n" -gt 30 ] || { echo "only $n headers installed: the check saw nothing"; status=1; }
[ "$status" -eq 0 ] && echo "all $n installed headers are self-contained and free of detail::"
exit "$status"
