# jq functions shared by `inventory`, its projection worker and verify.sh.
#
# The one rule of the inventory, kept in the same words here (folding a key's events
# into stock) and in schema.sql (the projection's triggers):
#   ITEM_CREATED     the first one sets the stock to initial_qty; later ones are ignored
#   ITEM_CHECKED_IN  adds qty to an existing item
#   ITEM_CHECKED_OUT takes qty away if the stock is at least qty; otherwise it is an
#                    overdraft (possible only for events appended without the
#                    optimistic check, e.g. a plain import): it is not applied, and the
#                    worker appends a CHECKOUT_REJECTED for it
#   CHECKOUT_REJECTED changes nothing (it records the rejection)
# A quantity that is not a positive integer makes the event a no-op.

# qty_ok: true when . is a positive integer
def qty_ok: type == "number" and . > 0 and . == floor;

# init, step($e), fold: an item's events (values, in log order) folded into
# {exists, name, stock, overdrafts, ids}; step applies one event
def init: {exists: false, name: null, stock: 0, overdrafts: [], ids: {}};
def step($e):
  .ids[$e.event_id // ""] = true
  | .overdraft = false
  | if $e.type == "ITEM_CREATED" then
      if .exists then . else
        .exists = true | .name = $e.name
        | .stock = (if ($e.initial_qty | type) == "number" and $e.initial_qty >= 0
                    and $e.initial_qty == ($e.initial_qty | floor)
                    then $e.initial_qty else 0 end)
      end
    elif $e.type == "ITEM_CHECKED_IN" then
      if .exists and ($e.qty | qty_ok) then .stock += $e.qty else . end
    elif $e.type == "ITEM_CHECKED_OUT" then
      if ($e.qty | qty_ok | not) then .
      elif .exists and .stock >= $e.qty then .stock -= $e.qty
      else .overdrafts += [$e.event_id] | .overdraft = true end
    else . end;
def fold: reduce .[] as $e (init; step($e));

# naive_min: the lowest running stock when every event is summed without the rule
# above (verify.sh: the log itself never takes the stock below zero)
def naive_min:
  reduce .[] as $e ({stock: 0, min: 0};
    .stock += (if $e.type == "ITEM_CREATED" then $e.initial_qty
               elif $e.type == "ITEM_CHECKED_IN" then $e.qty
               elif $e.type == "ITEM_CHECKED_OUT" then - $e.qty
               else 0 end)
    | .min = ([.min, .stock] | min))
  | .min;

# sql: a string, number or null as an SQL literal ('' doubles a quote: SQL's escaping,
# not the shell's)
def sql:
  if . == null then "NULL"
  elif type == "number" then tostring
  elif type == "string" then "'" + gsub("'"; "''") + "'"
  else tojson | sql end;

# event_id: an envelope's event id: the value's event_id, else the record id, else one
# derived from its position (so a compensation for it still gets a stable id)
def event_id:
  (.value | objects | .event_id | strings) // .id // "offset-\(.partition)-\(.offset)";

# to_sql: an envelope (pspf-replay -J / pspf-consume -J) -> one INSERT into events,
# which applies only if its offset is past the partition's applied offset (the
# triggers in schema.sql do the rest in the same transaction)
def to_sql:
  . as $env
  | (.value | if type == "object" then . else {} end) as $v
  | [ $env.partition, $env.offset, ($env | event_id),
      ($v.type | strings) // null, ($v.item_id | strings) // $env.key,
      ($v.name | strings) // null,
      (if $v.type == "ITEM_CREATED" then $v.initial_qty else $v.qty end
       | if type == "number" and . >= 0 and . == floor then . else null end),
      ($v.user_id | strings) // null, ($v.request_id | strings) // null,
      ($v.reason | strings) // null, ($v.rejects_event_id | strings) // null, ($v.ts | strings) // ($env.timestamp / 1000 | todate)
    ] as $cols
  | "INSERT INTO events(partition_id, log_offset, event_id, type, item_id, name, qty,"
    + " user_id, request_id, reason, rejects_event_id, ts) SELECT "
    + ($cols | map(sql) | join(", "))
    + " WHERE \($env.offset) > (SELECT coalesce(max(last_offset), -1) FROM applied_offsets"
    + " WHERE partition_id = \($env.partition));";
