# Shared by the bench scripts: `measure CMD...` prints the median wall
# seconds and the largest peak RSS (MiB) of $RUNS runs of CMD, using $TMP
# for /usr/bin/time's output. Source it after setting RUNS and TMP.
measure() {
  local times=() peak=0 t0 t1 rss
  for _ in $(seq "$RUNS"); do
    t0=$(date +%s%N)
    if [ -x /usr/bin/time ]; then
      /usr/bin/time -f "%M" -o "$TMP/rss" "$@" >/dev/null 2>&1 || true
      rss=$(tail -1 "$TMP/rss")
    else
      "$@" >/dev/null 2>&1 || true
      rss=0
    fi
    t1=$(date +%s%N)
    times+=("$(( (t1 - t0) / 1000 ))")
    [ "$rss" -gt "$peak" ] && peak=$rss
  done
  local med
  med=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
  awk -v us="$med" -v kb="$peak" 'BEGIN {printf "%.3f %.0f\n", us/1e6, kb/1024}'
}
