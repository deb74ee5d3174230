#!/usr/bin/env bash
# Checks the architecture rules of design.md section 2 on the package as it installs: the import-linter layer
# contracts ([tool.importlinter] in pyproject.toml) and mypy --strict ([tool.mypy]). Exits non-zero on any
# violation. Usage: scripts/check_structure.sh   (PYTHON=... picks the interpreter; default .venv/bin/python)
#
# Why on a wheel: the folders ivr/ cti/ router/ metrics/ ... install as switchboard.ivr, switchboard.cti, ...
# (setuptools package-dir mapping), and the editable install resolves them through an import hook that neither
# tool reads. So the wheel is built from a copy of the work tree (no stale build/ leftovers), unpacked into a
# temporary folder, and both tools run there, with that folder first on the path and the current directory
# outside the repo. Reported paths are mapped back to the repo's folders.
set -uo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
bin=$(dirname "$python")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export COLUMNS=${COLUMNS:-120}

echo "== check_structure: building the wheel"
mkdir -p "$work/src" "$work/dist" "$work/site"
# Tracked and new (not ignored) files of the work tree, as they are now; outside git, the tree less its venv,
# build and cache folders.
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$repo" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"; done | tar --null -T - -cf -) | tar -xf - -C "$work/src"
else
  tar -C "$repo" --exclude=./.venv --exclude=./build --exclude=./.sandbox --exclude='*.egg-info' \
    --exclude=.mypy_cache --exclude=__pycache__ -cf - . | tar -xf - -C "$work/src"
fi
if ! "$python" -m pip wheel --no-deps -q -w "$work/dist" "$work/src" >"$work/build.log" 2>&1; then
  grep -v '^WARNING: Location' "$work/build.log"
  echo "check_structure: FAILED: the wheel does not build"
  exit 1
fi
"$python" -m zipfile -e "$work"/dist/*.whl "$work/site"

# Rewrites site/switchboard/ivr/x.py style paths to the repo's folders (ivr/x.py), longest mapping first.
to_repo_paths() {
  "$python" -c '
import sys, tomllib
mapping = tomllib.load(open(sys.argv[1], "rb"))["tool"]["setuptools"]["package-dir"]
prefixes = sorted(((pkg.replace(".", "/") + "/", folder.rstrip("/") + "/") for pkg, folder in mapping.items()),
                  key=lambda pair: -len(pair[0]))
for line in sys.stdin:
    for installed, folder in prefixes:
        if line.startswith(installed):
            line = folder + line[len(installed):]
            break
    sys.stdout.write(line)
' "$repo/pyproject.toml"
}

failed=()
cd "$work"

echo "== check_structure: import-linter contracts (lint-imports, [tool.importlinter] in pyproject.toml)"
PYTHONPATH="$work/site" "$bin/lint-imports" --no-logo --no-cache "$repo/pyproject.toml" || failed+=("import contracts")

echo "== check_structure: mypy --strict -p switchboard ([tool.mypy] in pyproject.toml)"
(cd "$work/site" && MYPYPATH="$work/site" "$bin/mypy" --strict --config-file "$repo/pyproject.toml" \
  --cache-dir "$repo/.mypy_cache" -p switchboard) >"$work/mypy.log" 2>&1 || failed+=("mypy --strict")
to_repo_paths <"$work/mypy.log" >"$work/mypy.repo.log"
cat "$work/mypy.repo.log"
if grep -q ': error:' "$work/mypy.repo.log"; then
  echo "-- mypy errors per file:"
  grep ': error:' "$work/mypy.repo.log" | cut -d: -f1 | sort | uniq -c | sort -rn
fi

if [ ${#failed[@]} -gt 0 ]; then
  joined=$(printf ', %s' "${failed[@]}")
  echo "check_structure: FAILED: ${joined:2}"
  exit 1
fi
echo "check_structure: OK (import contracts kept, mypy --strict clean)"
