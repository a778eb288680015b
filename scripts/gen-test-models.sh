#!/usr/bin/env bash
# Generates Whisper models with the exact tensor layout of tiny.en / base.en and random weights
# (real decode speed and memory, meaningless text) for tests and benchmarks. Real weights cannot
# be downloaded on CI machines; see ../shared/models/README.md.
# Usage: scripts/gen-test-models.sh [tiny.en] [base.en]   (default: both)
# Output: ${PARLANCE_TEST_MODELS_DIR:-.cache/models}/random-<name>.bin (skipped when present).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED_MODELS="${PARLANCE_MODELS_DIR:-../shared/models}"
TOOLS="${PARLANCE_SHARED_TOOLS:-$(dirname "$SHARED_MODELS")/tools}"
OUT="${PARLANCE_TEST_MODELS_DIR:-.cache/models}"
mkdir -p "$OUT"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(tiny.en base.en)
for name in "${names[@]}"; do
  case "$name" in
    tiny.en|base.en|tiny) ;;
    *) echo "gen-test-models: no test header for '$name' (tiny.en, base.en, tiny)" >&2; exit 2 ;;
  esac
  src="$SHARED_MODELS/for-tests-ggml-$name.bin"
  dst="$OUT/random-$name.bin"
  if [ -s "$dst" ]; then echo "$dst (exists)"; continue; fi
  [ -f "$src" ] || { echo "gen-test-models: missing $src" >&2; exit 1; }
  # Write to a temp name and rename, so a killed run never leaves a truncated model behind.
  python3 "$TOOLS/gen-random-whisper-ggml.py" "$src" "$dst.tmp.$$"
  mv "$dst.tmp.$$" "$dst"
  echo "$dst"
done
