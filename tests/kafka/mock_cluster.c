// pspf-mock-kafka [BROKERS [TOPIC:PARTITIONS ...]]: a Kafka cluster for tests,
// without Kafka. It starts librdkafka's built-in mock cluster (rdkafka_mock.h) with
// BROKERS (default 3) brokers listening on 127.0.0.1, creates the topics named,
// prints its bootstrap address as the first line of stdout, then takes commands
// from stdin, one per line, answering each with "ok" or "error: ..." on stdout:
//
//   topic NAME PARTITIONS      create a topic (replication factor: min(3, brokers))
//   down BROKER | up BROKER    take broker BROKER (1..N) off the network, or back
//   leader TOPIC PART BROKER   make BROKER the leader of partition PART (the mock
//                              places leaders at random)
//   errors API N ERR           the next N requests of API key API fail with ERR
//                              (Kafka error codes: 6 NOT_LEADER, 7 REQUEST_TIMED_OUT)
//   rtt BROKER MS              delay every response of BROKER by MS
//   clear API                  forget the errors queued for API
//
// End of stdin does not stop it; SIGTERM or SIGINT does. It keeps everything in
// memory.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t g_stop = 0;
static void on_signal(int sig) { g_stop = sig; }

static void answer(const char* what) {
  printf("%s\n", what);
  fflush(stdout);
}

static void run_command(rd_kafka_mock_cluster_t* mc, int brokers, char* line) {
  char name[256];
  int a = 0, b = 0, c = 0;
  rd_kafka_resp_err_t err = RD_KAFKA_RESP_ERR_NO_ERROR;
  if (sscanf(line, "topic %255s %d", name, &a) == 2) {
    err = rd_kafka_mock_topic_create(mc, name, a, brokers < 3 ? brokers : 3);
  } else if (sscanf(line, "down %d", &a) == 1) {
    err = rd_kafka_mock_broker_set_down(mc, a);
  } else if (sscanf(line, "leader %255s %d %d", name, &a, &b) == 3) {
    err = rd_kafka_mock_partition_set_leader(mc, name, a, b);
  } else if (sscanf(line, "up %d", &a) == 1) {
    err = rd_kafka_mock_broker_set_up(mc, a);
  } else if (sscanf(line, "errors %d %d %d", &a, &b, &c) == 3) {
    rd_kafka_resp_err_t* errs = calloc((size_t)b, sizeof *errs);
    for (int i = 0; i < b; i++) errs[i] = (rd_kafka_resp_err_t)c;
    rd_kafka_mock_push_request_errors_array(mc, (int16_t)a, (size_t)b, errs);
    free(errs);
  } else if (sscanf(line, "rtt %d %d", &a, &b) == 2) {
    err = rd_kafka_mock_broker_set_rtt(mc, a, b);
  } else if (sscanf(line, "clear %d", &a) == 1) {
    rd_kafka_mock_clear_request_errors(mc, (int16_t)a);
  } else {
    answer("error: unknown command (topic, down, up, leader, errors, rtt, clear)");
    return;
  }
  if (err) {
    char msg[512];
    snprintf(msg, sizeof msg, "error: %s", rd_kafka_err2str(err));
    answer(msg);
  } else {
    answer("ok");
  }
}

int main(int argc, char** argv) {
  int brokers = argc > 1 ? atoi(argv[1]) : 3;
  if (brokers < 1 || brokers > 9) {
    fprintf(stderr, "usage: pspf-mock-kafka [BROKERS (1-9, default 3) [TOPIC:PARTITIONS ...]]\n");
    return 2;
  }
  char errstr[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  // The cluster needs a client handle to live in; this one never connects to it.
  if (rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof errstr) != RD_KAFKA_CONF_OK) {
    fprintf(stderr, "pspf-mock-kafka: %s\n", errstr);
    return 1;
  }
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof errstr);
  if (!rk) {
    fprintf(stderr, "pspf-mock-kafka: %s\n", errstr);
    return 1;
  }
  rd_kafka_mock_cluster_t* mc = rd_kafka_mock_cluster_new(rk, brokers);
  if (!mc) {
    fprintf(stderr, "pspf-mock-kafka: cannot start the mock cluster\n");
    return 1;
  }
  for (int i = 2; i < argc; i++) {
    char name[256];
    int partitions = 0;
    const char* colon = strrchr(argv[i], ':');
    if (!colon || colon == argv[i] || (size_t)(colon - argv[i]) >= sizeof name ||
        sscanf(colon + 1, "%d", &partitions) != 1 || partitions < 1) {
      fprintf(stderr, "pspf-mock-kafka: expected TOPIC:PARTITIONS, got '%s'\n", argv[i]);
      return 2;
    }
    memcpy(name, argv[i], (size_t)(colon - argv[i]));
    name[colon - argv[i]] = 0;
    rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(mc, name, partitions, brokers < 3 ? brokers : 3);
    if (err) {
      fprintf(stderr, "pspf-mock-kafka: topic %s: %s\n", name, rd_kafka_err2str(err));
      return 1;
    }
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;  // no SA_RESTART: a signal ends the blocking read
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  answer(rd_kafka_mock_cluster_bootstraps(mc));

  char line[1024];
  size_t used = 0;
  int open = 1;
  while (!g_stop) {
    if (!open) {
      pause();
      continue;
    }
    ssize_t n = read(0, line + used, sizeof line - 1 - used);
    if (n <= 0) {
      open = n < 0 && !g_stop;  // EOF or an error: no more commands
      continue;
    }
    used += (size_t)n;
    char* nl;
    while ((nl = memchr(line, '\n', used)) != NULL) {
      *nl = 0;
      run_command(mc, brokers, line);
      used -= (size_t)(nl + 1 - line);
      memmove(line, nl + 1, used);
    }
    if (used == sizeof line - 1) used = 0;  // a line too long to be a command
  }
  rd_kafka_mock_cluster_destroy(mc);
  rd_kafka_destroy(rk);
  return 0;
}
