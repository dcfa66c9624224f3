#!/usr/bin/env bash
# Runs one fuzz target on its corpus and dictionary (fuzz/README.md).
#
#   bash fuzz/run.sh TARGET [LIBFUZZER-ARGS...]    builds TARGET instrumented, then runs it
#   cargo fuzz-run TARGET [-- LIBFUZZER-ARGS...]   the same, via cargo (which builds it and
#                                                  calls this script with the binary's path)
#
# New inputs go to fuzz/target/finds/TARGET (FUZZ_FINDS overrides), never into the committed
# corpus; `-merge=1` among the arguments merges those finds into fuzz/corpus/TARGET instead.
# Crash inputs go to fuzz/target/crashes/TARGET/. Input files among the arguments are run
# once each, without fuzzing (to reproduce a crash).
set -euo pipefail

fuzz="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if [[ $# -eq 0 ]]; then
  echo "usage: bash fuzz/run.sh TARGET [LIBFUZZER-ARGS...]; targets:" \
    "$(cd "$fuzz/fuzz_targets" && ls | sed 's/\.rs$//' | tr '\n' ' ')" >&2
  exit 2
fi

if [[ -f "$1" && -x "$1" ]]; then
  bin="$1"
  target="$(basename "$bin")"
else
  target="$1"
  if [[ ! -f "$fuzz/fuzz_targets/$target.rs" ]]; then
    echo "run.sh: no fuzz target named '$target' (see fuzz/fuzz_targets/)" >&2
    exit 2
  fi
  (cd "$fuzz" && cargo build --release --quiet --bin "$target")
  host="$(rustc -vV | sed -n 's/^host: //p')"
  bin="${CARGO_TARGET_DIR:-$fuzz/target}/$host/release/$target"
fi
shift

crashes="$fuzz/target/crashes/$target"
finds="${FUZZ_FINDS:-$fuzz/target/finds/$target}"
mkdir -p "$crashes" "$finds"
args=(-dict="$fuzz/dicts/$target.dict" -artifact_prefix="$crashes/")

# Longest input per target unless -max_len is given: lines targets gain little from inputs of
# more than a few lines, and each input costs time in proportion to its length (libFuzzer's
# default, 4096, is kept where a frame or a store log needs the room, or a handshake line must
# pass its 1024-byte limit).
case "$target" in
  client_lines | peer_wire) max_len=1024 ;;
  handshake) max_len=512 ;;
  *) max_len= ;;
esac

given_inputs=no
merging=no
for arg in "$@"; do
  case "$arg" in
    -max_len=*) max_len= ;;
    -merge=1) merging=yes ;;
    -*) ;;
    *) given_inputs=yes ;;
  esac
done
if [[ $given_inputs == no ]]; then
  if [[ $merging == yes ]]; then
    args+=("$fuzz/corpus/$target" "$finds")
  else
    # libFuzzer writes new inputs to the first directory only.
    args+=("$finds" "$fuzz/corpus/$target")
  fi
fi
if [[ -n $max_len ]]; then
  args+=(-max_len="$max_len")
fi
exec "$bin" "${args[@]}" "$@"
