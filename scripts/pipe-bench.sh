#!/usr/bin/env bash
# pipe-bench.sh: measures, side by side in one run, reading a Pipe-mode FIFO
# with `dd of=/dev/null bs=1M` and with this module's readers
# (`smtrain pipe read`: Channel.Open plus the RecordIO, TFRecord or line
# reader), from the same writer and the same file in page cache:
#
#   pipe1M:      the writer (`smtrain pipe serve --pipe-size 1048576`, 1 MiB
#                writes) enlarges the pipe to 1 MiB, so both readers get it;
#   pipeDefault: the writer is `dd bs=1M` and the pipe keeps the kernel's
#                default size unless the reader enlarges it (ours does).
#
# Usage: scripts/pipe-bench.sh [MiB per run (default 512)] [runs (default 5)]
# ROWS="recordio-100 lines-100" and PIPES=pipe1M measure only those rows.
# Measure on a quiet machine (1-minute load average below 1): the two
# readers and the writer need the CPUs to themselves.
# Prints one line per format and pipe: the median MB/s of each reader, their
# ratio, and the median CPU time (user+sys) each reader spent per GB, which
# is less sensitive to other load on the machine than wall time.
set -euo pipefail

size_mib=${1:-512}
runs=${2:-5}
root=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# SMTRAIN=path measures that build of smtrain instead of this tree's.
if [ -n "${SMTRAIN:-}" ]; then
  smtrain=$SMTRAIN
else
  (cd "$root" && go build -o "$tmp/smtrain" ./cmd/smtrain)
  smtrain=$tmp/smtrain
fi

# One block of whole records per format, repeated to size_mib MiB.
python3 - "$tmp" <<'EOF'
import struct, sys
d = sys.argv[1]
def crc32c(data, table=[]):
    if not table:
        for i in range(256):
            c = i
            for _ in range(8):
                c = (c >> 1) ^ (0x82f63b78 if c & 1 else 0)
            table.append(c)
    crc = 0xffffffff
    for b in data:
        crc = table[(crc ^ b) & 0xff] ^ (crc >> 8)
    return crc ^ 0xffffffff
def mask(c):
    return ((((c >> 15) | (c << 17)) & 0xffffffff) + 0xa282ead8) & 0xffffffff
def recordio(data):
    pad = (4 - len(data) % 4) % 4
    return struct.pack("<II", 0xCED7230A, len(data)) + data + b"\0" * pad
def tfrecord(data):
    n = struct.pack("<Q", len(data))
    return n + struct.pack("<I", mask(crc32c(n))) + data + struct.pack("<I", mask(crc32c(data)))
block = 1 << 20
for name, make in [
    ("recordio-100", lambda: recordio(b"r" * 100)),
    ("recordio-4096", lambda: recordio(b"r" * 4096)),
    ("recordio-1048576", lambda: recordio(b"r" * 1048576)),
    ("tfrecord-4096", lambda: tfrecord(b"t" * 4096)),
    ("lines-100", lambda: b"1.5," * 24 + b"2.0\n"),
]:
    rec = make()
    n = max(1, (4 * block) // len(rec))
    with open(f"{d}/{name}.block", "wb") as f:
        f.write(rec * n)
EOF

rows=${ROWS:-recordio-100 recordio-4096 recordio-1048576 tfrecord-4096 lines-100}
for f in "$tmp"/*.block; do
  name=${f%.block}
  case " $rows " in *" ${name##*/} "*) ;; *) rm "$f"; continue ;; esac
  reps=$(( size_mib * 1048576 / $(stat -c %s "$f") ))
  for _ in $(seq "$reps"); do cat "$f"; done > "$name.data"
  rm "$f"
  cat "$name.data" > /dev/null # into page cache
done

for f in $rows; do
  if [ ! -f "$tmp/$f.data" ]; then
    echo "pipe-bench: unknown row $f in ROWS (rows: recordio-100 recordio-4096 recordio-1048576 tfrecord-4096 lines-100)" >&2
    exit 2
  fi
done

now() { date +%s.%N; }

# measure PIPE READER FORMAT FILE: prints "MB/s CPU-s/GB" of one run.
measure() {
  local pipe=$1 reader=$2 format=$3 file=$4
  local dir=$tmp/run/train
  rm -rf "$tmp/run"; mkdir -p "$tmp/run"
  local wpid
  if [ "$pipe" = pipe1M ]; then
    "$smtrain" pipe serve --channel-dir "$dir" --epochs 1 --pipe-size 1048576 "$file" & wpid=$!
  else
    mkfifo "${dir}_0"
    dd if="$file" of="${dir}_0" bs=1M status=none & wpid=$!
  fi
  local t0 t1
  # Both readers start once the FIFO exists.
  while [ ! -p "${dir}_0" ]; do
    kill -0 "$wpid" 2>/dev/null || { echo "pipe-bench: the writer exited before creating ${dir}_0" >&2; exit 1; }
    sleep 0.001
  done
  if [ "$reader" = dd ]; then
    t0=$(now)
    /usr/bin/time -o "$tmp/cpu" -f "%U %S" dd if="${dir}_0" of=/dev/null bs=1M status=none
    t1=$(now)
  else
    t0=$(now)
    /usr/bin/time -o "$tmp/cpu" -f "%U %S" "$smtrain" pipe read --channel-dir "$dir" --format "$format" > "$tmp/out"
    t1=$(now)
  fi
  wait "$wpid"
  local size; size=$(stat -c %s "$file")
  read -r u s < "$tmp/cpu"
  python3 -c "print('%.0f %.3f' % ($size / ($t1 - $t0) / 1e6, ($u + $s) / ($size / 1e9)))"
}

# median COLUMN: the median of column COLUMN of stdin.
median() { awk -v c="$1" '{print $c}' | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

printf '%-18s %-12s %9s %9s %6s %12s %12s\n' format pipe "dd MB/s" "Go MB/s" ratio "dd CPU s/GB" "Go CPU s/GB"
for pipe in ${PIPES:-pipe1M pipeDefault}; do
  for f in $rows; do
    format=${f%%-*}
    file=$tmp/$f.data
    dd_runs=() go_runs=()
    for _ in $(seq "$runs"); do
      # Alternate the readers so that both see the same machine load.
      dd_runs+=("$(measure "$pipe" dd "$format" "$file")")
      go_runs+=("$(measure "$pipe" go "$format" "$file")")
    done
    d=$(printf '%s\n' "${dd_runs[@]}" | median 1)
    g=$(printf '%s\n' "${go_runs[@]}" | median 1)
    dc=$(printf '%s\n' "${dd_runs[@]}" | median 2)
    gc=$(printf '%s\n' "${go_runs[@]}" | median 2)
    printf '%-18s %-12s %9s %9s %6.2f %12s %12s\n' "$f" "$pipe" "$d" "$g" "$(python3 -c "print($g / $d)")" "$dc" "$gc"
  done
done
