#!/usr/bin/env bash
# chart.sh SUMMARY OUT.png TITLE: draws the chart of tests/bench/run.sh with gnuplot
# (pngcairo): one panel per operation, log-scale horizontal bars (the median, whiskers
# from the min to the max), pspf orange (its Kafka rows too), peers grey (kcat too),
# the floor blue; skipped and FAILED rows are left out. SUMMARY is the
# summary.tsv that run.sh leaves in its work folder (op, order, kind, label,
# durability, median, min, max, ...); TITLE is the chart's second title line.
# Exit status: 0 drawn, 1 gnuplot failed or missing, 2 usage.
set -u -o pipefail
export LC_ALL=C
[ $# -eq 3 ] || { echo "usage: chart.sh SUMMARY.tsv OUT.png TITLE" >&2; exit 2; }
summary=$1 png=$2 subtitle=$3
command -v gnuplot >/dev/null || { echo "chart.sh: gnuplot is not installed (Debian package gnuplot-nox)" >&2; exit 1; }
work=$(mktemp -d "${TMPDIR:-/tmp}/pspf-chart.XXXXXX") || exit 1
trap 'rm -rf -- "$work"' EXIT
gp="$work/chart.gp"
esc() { printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g'; }
{
  printf 'set terminal pngcairo size 1500,2500 font "DejaVu Sans,12"\n'
  printf 'set output "%s"\n' "$(esc "$png.tmp")"
  printf 'set datafile separator "\\t"\n'
  # (The second line is folded: one line of it ran off the picture's sides.)
  printf 'set multiplot layout 5,2 title "pspf (orange) against its peers (grey) and the physical floor (blue)\\n%s" font "DejaVu Sans,14"\n' \
    "$(esc "$subtitle" | fold -s -w 120 | awk '{ printf "%s%s", (NR > 1 ? "\\n" : ""), $0 }')"
  printf 'set style fill solid 0.9 noborder\nset logscale x\nset format x "10^{%%L}"\nset grid xtics mxtics lc rgb "#dddddd"\n'
  printf 'set key off\nset ytics nomirror scale 0\nset xtics nomirror\nset lmargin 34\nset rmargin 10\n'
} >"$gp"
for op in ingest readout single startup lat50 lat99 rss bytes; do
  dat="$work/$op.dat"
  awk -F'\t' -v OFS='\t' -v op="$op" '
    $1 == op && $6 !~ /^(skip|fail):/ {
      c = ($3 == "pspf" || $3 == "kpspf") ? 14245634 : ($3 == "floor") ? 4877708 : 10066329  # d95f02, 4a6d8c, 999999
      v = $6 + 0
      txt = (v >= 1e6) ? sprintf("%.2f M", v / 1e6) : (v >= 1e4) ? sprintf("%.0f k", v / 1e3) : (v >= 100) ? sprintf("%.0f", v) : (v >= 10) ? sprintf("%.1f", v) : sprintf("%.3g", v)
      lab = $4
      if (length(lab) > 44) lab = substr(lab, 1, 43) "…"
      print n++, $6, $7, $8, c, lab, txt
    }' "$summary" >"$dat"
  [ -s "$dat" ] || continue
  # The axis: from a power of ten below a third of the smallest min (so the shortest
  # bar still shows) to one at least 3 times the largest max (room for the labels).
  read -r lo hi rows < <(awk -F'\t' '
    NR == 1 || $3 < lo { lo = $3 } NR == 1 || $4 > hi { hi = $4 }
    END {
      x = log(lo / 3) / log(10); l = 10 ^ (x < 0 && x != int(x) ? int(x) - 1 : int(x)); h = 10 ^ (int(log(hi) / log(10)) + 1)
      if (h / hi < 3) h *= 10
      printf "%g %g %d\n", l, h, NR
    }' "$dat")
  case $op in
    ingest) title="Ingest: events/s (higher is better)" ;;
    readout) title="Read-out: events/s (higher is better)" ;;
    single) title="One process per event: ms per event (lower is better)" ;;
    startup) title="Start-up and one key lookup: ms (lower is better)" ;;
    lat50) title="End-to-end latency p50: ms (lower is better)" ;;
    lat99) title="End-to-end latency p99: ms (lower is better)" ;;
    rss) title="Peak RSS while ingesting: MiB (lower is better)" ;;
    bytes) title="Bytes on disk per event (lower is better)" ;;
  esac
  cat >>"$gp" <<EOF
set title "$title" font "DejaVu Sans,13"
set xrange [$lo:$hi]
set yrange [$rows-0.5:-0.5]
plot "$dat" using ($lo):1:($lo):2:(\$1-0.38):(\$1+0.38):5:ytic(6) with boxxyerror lc rgb variable, \\
     "" using 2:1:3:4 with xerrorbars pt -1 lc rgb "#333333", \\
     "" using 4:1:(" ".stringcolumn(7)) with labels left font "DejaVu Sans,11"
EOF
done
# The last panel: how to read the others.
cat >>"$gp" <<'EOF'
unset title
unset border
unset tics
unset grid
unset logscale x
set lmargin 4
set rmargin 2
set xrange [0:1]
set yrange [0:1]
set object 1 rect from 0.02,0.80 to 0.08,0.86 fc rgb "#d95f02" fs solid noborder
set object 2 rect from 0.02,0.70 to 0.08,0.76 fc rgb "#999999" fs solid noborder
set object 3 rect from 0.02,0.60 to 0.08,0.66 fc rgb "#4a6d8c" fs solid noborder
set label 1 "pspf" at 0.11,0.83 font "DejaVu Sans,13"
set label 2 "peers: SQLite, Redis Streams, NATS JetStream, kcat" at 0.11,0.73 font "DejaVu Sans,13"
set label 3 "the physical floor: cat, dd, /bin/true, /bin/echo" at 0.11,0.63 font "DejaVu Sans,13"
set label 4 "Bars: the median of the runs; whiskers: min to max.\nLog scales. Durability differs per row:\nsee the table (bench-results.md)." at 0.02,0.42 font "DejaVu Sans,12"
plot NaN
unset multiplot
EOF
if gnuplot "$gp" 2>"$work/gnuplot.err" && mv -- "$png.tmp" "$png"; then
  exit 0
fi
cat -- "$work/gnuplot.err" >&2
rm -f -- "$png.tmp"
exit 1
