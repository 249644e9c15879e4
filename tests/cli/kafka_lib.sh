# shellcheck shell=bash
# Helpers of the Kafka backend's CLI tests (tests/cli/t09NN-kafka-*.sh), sourced
# after lib.sh. They run the commands against librdkafka's mock cluster
# (tests/kafka/mock_cluster.c): brokers on 127.0.0.1, data in memory, stopped by
# the pid that started it (lib.sh's cleanup kills every bg_start job).

MOCK_KAFKA=${PSPF_MOCK_KAFKA:-$PSPF_BIN/../tests/pspf-mock-kafka}
# The mock cluster keeps a member that left its group until the member's session
# times out: a short session lets a group start again soon.
# shellcheck disable=SC2034 # used by the tests that source this file
KAFKA_GROUP_X=(-X session.timeout.ms=6000 -X heartbeat.interval.ms=500)

# kafka_start [BROKERS [TOPIC:PARTITIONS ...]]: starts the mock cluster; sets B to
# its bootstrap address and MOCK_PID. Commands go to it with kafka_cmd.
kafka_start() {
  [ -x "$MOCK_KAFKA" ] || skip "this build has no Kafka backend (librdkafka-dev missing)"
  mkfifo "$T/mock.ctl"
  exec 7<>"$T/mock.ctl" # read-write: opening it does not wait for the other end
  # (A background job's stdin is /dev/null unless the job itself redirects it.)
  # shellcheck disable=SC2016 # expanded by the job's own shell
  bg_start sh -c 'exec "$0" "$@" <&7' "$MOCK_KAFKA" "$@" >"$T/mock.out" 2>"$T/mock.err"
  # shellcheck disable=SC2034 # for the tests that stop it
  MOCK_PID=$BG_PID
  wait_until 10 "the mock cluster's address" has_lines "$T/mock.out" 1
  B=$(head -n 1 "$T/mock.out")
  [[ $B == 127.0.0.1:* ]] || fail "mock cluster printed [$B]"
}

# kafka_cmd CMD...: sends a command to the mock cluster (see mock_cluster.c) and
# waits for its "ok".
kafka_cmd() {
  local before
  before=$(lines_in "$T/mock.out")
  echo "$*" >&7
  wait_until 10 "the mock cluster's answer to '$*'" has_lines "$T/mock.out" $((before + 1))
  [ "$(tail -n 1 "$T/mock.out")" = ok ] || fail "mock cluster: '$*': $(tail -n 1 "$T/mock.out")"
}
