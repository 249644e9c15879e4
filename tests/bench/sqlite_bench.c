/* sqlite_bench: the SQLite peer of tests/bench/run.sh, on the C API (no CLI parsing,
 * no .import staging), so the figure is SQLite's own cost.
 *
 *   sqlite_bench ingest DB FULL|OFF < events.jsonl
 *       WAL journal, PRAGMA synchronous=FULL (the commit is fsynced) or OFF (never
 *       fsynced); table ev(seq INTEGER PRIMARY KEY, key TEXT, body TEXT NOT NULL); one
 *       transaction holding every line, each inserted by one prepared statement that
 *       takes its key with json_extract(line, '$.item.id') (the work of
 *       pspf-produce --key-field item.id). Ends with a WAL checkpoint, as closing does.
 *   sqlite_bench read DB > out.jsonl
 *       prints every body in seq order, one line each.
 *
 * Exit status: 0 done, 1 an SQLite or I/O error (message on stderr), 2 usage. */
#define _GNU_SOURCE
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(sqlite3* db, const char* what) {
  fprintf(stderr, "sqlite_bench: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
  sqlite3_close(db);
  return 1;
}

static int ingest(sqlite3* db, const char* sync) {
  char pragmas[256];
  snprintf(pragmas, sizeof pragmas,
           "PRAGMA journal_mode=WAL; PRAGMA synchronous=%s;"
           "CREATE TABLE ev(seq INTEGER PRIMARY KEY, key TEXT, body TEXT NOT NULL);"
           "BEGIN;",
           sync);
  if (sqlite3_exec(db, pragmas, NULL, NULL, NULL) != SQLITE_OK) return fail(db, "setup");
  sqlite3_stmt* ins = NULL;
  if (sqlite3_prepare_v2(db, "INSERT INTO ev(key, body) VALUES (json_extract(?1, '$.item.id'), ?1)",
                         -1, &ins, NULL) != SQLITE_OK)
    return fail(db, "prepare");
  char* line = NULL;
  size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, stdin)) > 0) {
    if (line[n - 1] == '\n') --n;
    sqlite3_bind_text(ins, 1, line, (int)n, SQLITE_STATIC);
    if (sqlite3_step(ins) != SQLITE_DONE) return fail(db, "insert");
    sqlite3_reset(ins);
  }
  free(line);
  if (ferror(stdin)) return fail(db, "reading stdin");
  sqlite3_finalize(ins);
  if (sqlite3_exec(db, "COMMIT; PRAGMA wal_checkpoint(TRUNCATE);", NULL, NULL, NULL) != SQLITE_OK)
    return fail(db, "commit");
  return sqlite3_close(db) == SQLITE_OK ? 0 : 1;
}

static int read_out(sqlite3* db) {
  sqlite3_stmt* sel = NULL;
  if (sqlite3_prepare_v2(db, "SELECT body FROM ev ORDER BY seq", -1, &sel, NULL) != SQLITE_OK)
    return fail(db, "prepare");
  static char buf[1 << 20];
  setvbuf(stdout, buf, _IOFBF, sizeof buf);
  int rc;
  while ((rc = sqlite3_step(sel)) == SQLITE_ROW) {
    fwrite(sqlite3_column_text(sel, 0), 1, (size_t)sqlite3_column_bytes(sel, 0), stdout);
    putchar('\n');
  }
  if (rc != SQLITE_DONE) return fail(db, "select");
  sqlite3_finalize(sel);
  if (fflush(stdout) != 0 || ferror(stdout)) {
    fprintf(stderr, "sqlite_bench: writing stdout failed\n");
    return 1;
  }
  return sqlite3_close(db) == SQLITE_OK ? 0 : 1;
}

int main(int argc, char** argv) {
  int is_ingest = argc == 4 && strcmp(argv[1], "ingest") == 0 &&
                  (strcmp(argv[3], "FULL") == 0 || strcmp(argv[3], "OFF") == 0);
  int is_read = argc == 3 && strcmp(argv[1], "read") == 0;
  if (!is_ingest && !is_read) {
    fprintf(stderr, "usage: sqlite_bench ingest DB FULL|OFF < lines | sqlite_bench read DB\n");
    return 2;
  }
  sqlite3* db = NULL;
  if (sqlite3_open(argv[2], &db) != SQLITE_OK) return fail(db, argv[2]);
  return is_ingest ? ingest(db, argv[3]) : read_out(db);
}
