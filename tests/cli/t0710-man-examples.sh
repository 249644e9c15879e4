#!/usr/bin/env bash
# The EXAMPLES of the man pages (man/*.1, man/pspf.7) run, in order, page by page,
# each page in a fresh directory, and do what the page says: every example block
# exits 0 (or the status its page states) and prints exactly the output the page
# shows after it. The markup is described in tests/README.md ("Man page
# examples"); in short, roff comments before an .EX block:
#   .\" test: CMD     a hidden command, run where it stands (setup or a check)
#   .\" output        this block is the exact standard output of the block before
#                     (where the page's directory, also HOME, is written ~)
#   .\" exit: N       the next block exits N
#   .\" crontab       the next block is crontab entries, one a line: each runs with
#                     sh without its five schedule fields
#   .\" background    the next block is a service: it runs in the background until
#                     the next example or the end of the page (SIGTERM then), and
#                     hidden commands in between can wait for its effect
#   .\" skip: WHY     the next block is not run
# Commands the examples call that must not act here (mail, systemctl, logger,
# curl) are replaced by stand-ins that only log their arguments.
# shellcheck source=tests/cli/lib.sh
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || skip "sqlite3 is not installed"

fakebin=$T/fakebin
mkdir "$fakebin"
# shellcheck disable=SC2016  # the stand-ins expand $* and $HOME when they run
for tool in mail systemctl logger; do
  printf '#!/bin/sh\necho "%s $*" >>"$HOME/%s.log"\ncat >/dev/null\n' "$tool" "$tool" \
    >"$fakebin/$tool"
done
# A web hook that is down: curl -f fails (exit 22) and logs the attempt.
# shellcheck disable=SC2016
printf '#!/bin/sh\ncat >/dev/null\necho "curl $*" >>"$HOME/curl.log"\nexit 22\n' >"$fakebin/curl"
chmod +x "$fakebin"/*
export PATH="$fakebin:$PATH"
unset PSPF_DIR  # the examples use the default ./pspf-data

# Helpers for the hidden commands.
# events TOPIC: the number of events in TOPIC (0 when it does not exist).
events() { pspf-replay "$1" 2>/dev/null | wc -l; }
# has_events TOPIC N: TOPIC holds at least N events.
has_events() { [ "$(events "$1")" -ge "$2" ]; }

# stop_background: stops the background example of run_page (bg_pgid, in its
# scope), if one runs: SIGTERM to its process group.
stop_background() {
  [ -n "$bg_pgid" ] || return 0
  kill -TERM -- "-$bg_pgid" 2>/dev/null || true
  wait "$bg_pgid" 2>/dev/null || true
  bg_pgid=""
}

# unroff: the text of an .EX block as a shell reads it (roff escapes resolved).
unroff() {
  sed -e 's/\\-/-/g' -e "s/\\\\(aq/'/g" -e 's/\\(dq/"/g' -e 's/\\(ti/~/g' -e 's/\\(ha/^/g' \
    -e 's/\\&//g' -e 's/\\e/\\/g'
}

# run_page PAGE: runs the EXAMPLES of PAGE in a fresh directory (also its HOME).
# Prints how many blocks it ran.
run_page() {
  local page=$1 name dir no line in_ex=0 block="" mode=run want_exit=0 ran=0 n=0
  local bg_pgid="" last_out="" rc
  name=$(basename "$page")
  dir=$T/$name
  mkdir "$dir"
  cd "$dir"
  export HOME=$dir
  while IFS=$'\t' read -r no line; do
    if [ $in_ex -eq 1 ]; then
      if [ "$line" = ".EE" ]; then
        in_ex=0
        block=$(printf '%s' "$block" | unroff)
        case $mode in
        output)
          [ -n "$last_out" ] || fail "$name: example at line $n: an output block with no example before it"
          printf '%s\n' "$block" >"$dir/.want"
          # The page's directory is also HOME: a page shows it as ~.
          sed "s|$dir|~|g" "$last_out" >"$dir/.got"
          expect_same_file "$dir/.want" "$dir/.got" "$name: output of the example before line $n"
          ;;
        skip) ;;
        background)
          stop_background
          set -m
          bash -e -o pipefail -c "$block" >"$dir/.bg.out" 2>"$dir/.bg.err" </dev/null &
          bg_pgid=$!
          set +m
          BG_PIDS+=("$bg_pgid")
          ran=$((ran + 1))
          ;;
        run | crontab)
          stop_background
          rc=0
          if [ $mode = crontab ]; then
            # One entry a line (crontab has no continuation lines): cron hands
            # what follows the five schedule fields to sh.
            while IFS= read -r entry; do
              case $entry in '' | '#'*) continue ;; esac
              [[ $entry =~ ^([^[:space:]]+[[:space:]]+){5}(.+)$ ]] ||
                fail "$name:$n: not a crontab entry: $entry"
              sh -c "${BASH_REMATCH[2]}" >>"$dir/.ex$n.out" 2>>"$dir/.ex$n.err" </dev/null ||
                { rc=$?; break; }
            done <<<"$block"
          else
            bash -e -o pipefail -c "$block" >"$dir/.ex$n.out" 2>"$dir/.ex$n.err" </dev/null || rc=$?
          fi
          if [ "$rc" -ne "$want_exit" ]; then
            echo "--- example at line $n of $name:" >&2
            printf '%s\n' "$block" >&2
            echo "--- stdout:" >&2
            head -c 2000 "$dir/.ex$n.out" >&2
            echo "--- stderr:" >&2
            head -c 2000 "$dir/.ex$n.err" >&2
            fail "$name: example at line $n exited $rc, expected $want_exit"
          fi
          last_out=$dir/.ex$n.out
          ran=$((ran + 1))
          ;;
        esac
        block="" mode=run want_exit=0
      else
        case $line in
        .*) fail "$name: a roff request inside an example: $line" ;;
        esac
        block+="$line"$'\n'
      fi
      continue
    fi
    case $line in
    '.EX') in_ex=1 n=$no ;;
    '.\" test: '*)
      eval "${line#'.\" test: '}" >>"$dir/.hidden.log" 2>&1 || {
        tail -n 20 "$dir/.hidden.log" >&2
        fail "$name:$no: hidden command failed: ${line#'.\" test: '}"
      }
      ;;
    '.\" output') mode="output" ;;
    '.\" crontab') mode="crontab" ;;
    '.\" background') mode="background" ;;
    '.\" skip: '*) mode="skip" ;;
    '.\" exit: '*) want_exit=${line#'.\" exit: '} ;;
    '.\"'*) ;;
    esac
  done < <(awk '/^\.SH /{p = ($0 ~ /^\.SH EXAMPLES/); next} p {print NR "\t" $0}' "$page")
  stop_background
  [ $in_ex -eq 0 ] || fail "$name: an .EX block without .EE"
  cd "$T"
  echo "$name: $ran examples ran" >&2
  [ $ran -gt 0 ] || fail "$name: no example ran"
}

pages=("$SRC_TOP"/man/*.1 "$SRC_TOP"/man/pspf.7)
[ ${#pages[@]} -ge 7 ] || fail "found only ${#pages[@]} pages"
for page in "${pages[@]}"; do
  run_page "$page"
done
