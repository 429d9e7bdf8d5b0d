#!/usr/bin/env bash
# A/B speed check of two native `webclip` binaries on the same model: runs
# `BEFORE bench` and `AFTER bench` alternately (ABAB...), RUNS times each, takes
# each run's median of one image (`image.median_ms`) and of 4 labels
# (`texts4.median_ms`) from `webclip bench --json`, and prints the median of
# those medians per side and the after/before ratios.
#
#   tools/bench-ab.sh BEFORE_BIN AFTER_BIN MODEL_DIR [RUNS=10] [extra `webclip bench` args]
#   e.g. tools/bench-ab.sh /work/before-bin/webclip target/release/webclip /work/vitb32 10 --family registers
#
# Env: LIMIT (default 1.03): exit 1 if a ratio is above it. OUT: where the raw
# JSON lines go (default a temp file, printed at the end). Needs python3 only.
set -euo pipefail

if [ $# -lt 3 ]; then
    sed -n '2,/^set /p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
before=$1 after=$2 model=$3
shift 3
runs=10
if [ $# -gt 0 ] && [[ $1 =~ ^[0-9]+$ ]]; then runs=$1; shift; fi
extra=("$@")
limit=${LIMIT:-1.03}
out=${OUT:-$(mktemp /tmp/bench-ab.XXXXXX.jsonl)}
: > "$out"

for bin in "$before" "$after"; do
    [ -x "$bin" ] || { echo "bench-ab: $bin is not an executable" >&2; exit 2; }
done
[ -d "$model" ] || [ -f "$model" ] || { echo "bench-ab: no model at $model" >&2; exit 2; }

echo "bench-ab: $runs runs each, ABAB..., model $model, extra args: ${extra[*]:-(none)}"
echo "  A (before) = $before"
echo "  B (after)  = $after"
for ((i = 1; i <= runs; i++)); do
    for side in before after; do
        bin=$([ $side = before ] && echo "$before" || echo "$after")
        json=$("$bin" bench --model "$model" --json "${extra[@]}")
        python3 - "$side" "$i" "$json" "$out" <<'EOF'
import json, sys
side, i, text, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
r = json.loads(text)
row = {"side": side, "run": i, "image_ms": r["image"]["median_ms"], "labels_ms": r["texts4"]["median_ms"],
       "adapter": r.get("adapter"), "family": r.get("family"), "weights": r.get("weights"), "raw": r}
with open(out, "a") as f:
    f.write(json.dumps(row) + "\n")
print(f"  run {i:2d} {side:6s}  image {row['image_ms']:9.2f} ms   4 labels {row['labels_ms']:9.2f} ms"
      f"   ({row['adapter']}, {row['family']}, {row['weights']})", flush=True)
EOF
    done
done

python3 - "$out" "$limit" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
limit = float(sys.argv[2])
worst = 0.0
print()
print(f"{'':8s} {'before median':>14s} {'after median':>14s} {'after/before':>13s}   (spread of per-run medians: min-max)")
for key, name in [("image_ms", "image"), ("labels_ms", "4 labels")]:
    b = [r[key] for r in rows if r["side"] == "before"]
    a = [r[key] for r in rows if r["side"] == "after"]
    mb, ma = statistics.median(b), statistics.median(a)
    ratio = ma / mb
    worst = max(worst, ratio)
    print(f"{name:8s} {mb:11.2f} ms {ma:11.2f} ms {ratio:13.4f}   before {min(b):.2f}-{max(b):.2f}, after {min(a):.2f}-{max(a):.2f}")
verdict = "PASS" if worst <= limit else "FAIL"
print(f"\n{verdict}: worst after/before ratio {worst:.4f} (limit {limit}); raw runs in {sys.argv[1]}")
sys.exit(0 if worst <= limit else 1)
EOF
