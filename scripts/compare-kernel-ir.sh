#!/usr/bin/env bash
# Compares two directories written by scripts/kernel-ir.sh: configurations
# whose IR is identical, and for the others the change in the count of each
# op (LLVM dialect) or PTX instruction, grouped by identical changes, so that
# each difference can be explained rather than read as a renumbered diff.
set -euo pipefail
old=${1:?usage: compare-kernel-ir.sh OLD_DIR NEW_DIR}
new=${2:?usage: compare-kernel-ir.sh OLD_DIR NEW_DIR}
hist() {
  # LLVM dialect ops, or PTX opcodes (the first word of an instruction).
  grep -oE '(llvm|x86vector|vector)\.[A-Za-z_.0-9]+' "$1" ||
    grep -E '^\s+[a-z][a-z0-9_.]*(\s|;)' "$1" | awk '{print $1}'
}
same=0
declare -A groups
for f in "$old"/*.txt; do
  n=$(basename "$f")
  if cmp -s "$f" "$new/$n"; then same=$((same + 1)); continue; fi
  delta=$(diff <(hist "$f" | sort | uniq -c) <(hist "$new/$n" | sort | uniq -c) |
    awk '/^[<>]/ {s = ($1 == "<") ? -1 : 1; c[$3] += s * $2}
         END {for (k in c) if (c[k]) printf "%s%+d ", k, c[k]}' |
    tr ' ' '\n' | sort | tr '\n' ' ' || true)
  key="${n%%_dc*}: ${delta:-same op counts, other order}"
  groups[$key]="${groups[$key]:-} ${n%.txt}"
done
echo "identical: $same"
for k in "${!groups[@]}"; do
  set -- ${groups[$k]}
  echo "$# configurations: $k (e.g. $1)"
done | sort -t: -k2
