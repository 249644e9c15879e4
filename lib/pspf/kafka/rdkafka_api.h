// The librdkafka calls the Kafka backend makes, loaded when it is first used.
//
// The tools do not link librdkafka: a script starts a pspf command for every step,
// and loading librdkafka.so with its TLS and compression libraries at each start
// would cost local users about a millisecond per command for a backend they do not
// use. So the backend is compiled against librdkafka's headers, and the library is
// opened with dlopen the first time a command is given -b; its functions are
// called through the table below, each with the type its header declares.
#pragma once

#include <librdkafka/rdkafka.h>

namespace pspf::kafka {

// X(function) for every librdkafka function the backend calls.
#define PSPF_RDKAFKA_FUNCTIONS(X)              \
  X(rd_kafka_version_str)                      \
  X(rd_kafka_err2str)                          \
  X(rd_kafka_err2name)                         \
  X(rd_kafka_last_error)                       \
  X(rd_kafka_conf_new)                         \
  X(rd_kafka_conf_set)                         \
  X(rd_kafka_conf_destroy)                     \
  X(rd_kafka_conf_set_dr_msg_cb)               \
  X(rd_kafka_conf_set_rebalance_cb)            \
  X(rd_kafka_conf_set_error_cb)                \
  X(rd_kafka_conf_set_opaque)                  \
  X(rd_kafka_conf_set_log_cb)                  \
  X(rd_kafka_new)                              \
  X(rd_kafka_destroy)                          \
  X(rd_kafka_poll)                             \
  X(rd_kafka_flush)                            \
  X(rd_kafka_outq_len)                         \
  X(rd_kafka_producev)                         \
  X(rd_kafka_produce_batch)                    \
  X(rd_kafka_fatal_error)                      \
  X(rd_kafka_metadata)                         \
  X(rd_kafka_metadata_destroy)                 \
  X(rd_kafka_topic_new)                        \
  X(rd_kafka_topic_destroy)                    \
  X(rd_kafka_query_watermark_offsets)          \
  X(rd_kafka_offsets_for_times)                \
  X(rd_kafka_topic_partition_list_new)         \
  X(rd_kafka_topic_partition_list_add)         \
  X(rd_kafka_topic_partition_list_destroy)     \
  X(rd_kafka_topic_partition_list_find)        \
  X(rd_kafka_assign)                           \
  X(rd_kafka_subscribe)                        \
  X(rd_kafka_consumer_poll)                    \
  X(rd_kafka_consumer_close)                   \
  X(rd_kafka_poll_set_consumer)                \
  X(rd_kafka_commit)                           \
  X(rd_kafka_committed)                        \
  X(rd_kafka_seek_partitions)                  \
  X(rd_kafka_memberid)                         \
  X(rd_kafka_mem_free)                         \
  X(rd_kafka_message_destroy)                  \
  X(rd_kafka_message_timestamp)                \
  X(rd_kafka_message_headers)                  \
  X(rd_kafka_message_errstr)                   \
  X(rd_kafka_header_get_all)                   \
  X(rd_kafka_headers_new)                      \
  X(rd_kafka_header_add)                       \
  X(rd_kafka_headers_destroy)                  \
  X(rd_kafka_queue_new)                        \
  X(rd_kafka_queue_destroy)                    \
  X(rd_kafka_queue_get_consumer)               \
  X(rd_kafka_queue_get_partition)              \
  X(rd_kafka_queue_forward)                    \
  X(rd_kafka_queue_io_event_enable)            \
  X(rd_kafka_queue_poll)                       \
  X(rd_kafka_consume_batch_queue)              \
  X(rd_kafka_event_destroy)                    \
  X(rd_kafka_event_error)                      \
  X(rd_kafka_event_error_string)               \
  X(rd_kafka_event_CreateTopics_result)        \
  X(rd_kafka_event_DeleteTopics_result)        \
  X(rd_kafka_event_DeleteGroups_result)        \
  X(rd_kafka_event_ListConsumerGroups_result)  \
  X(rd_kafka_CreateTopics_result_topics)       \
  X(rd_kafka_DeleteTopics_result_topics)       \
  X(rd_kafka_DeleteGroups_result_groups)       \
  X(rd_kafka_topic_result_error)               \
  X(rd_kafka_topic_result_error_string)        \
  X(rd_kafka_group_result_error)               \
  X(rd_kafka_error_code)                       \
  X(rd_kafka_error_string)                     \
  X(rd_kafka_error_destroy)                    \
  X(rd_kafka_init_transactions)                \
  X(rd_kafka_begin_transaction)                \
  X(rd_kafka_send_offsets_to_transaction)      \
  X(rd_kafka_commit_transaction)               \
  X(rd_kafka_abort_transaction)                \
  X(rd_kafka_consumer_group_metadata)          \
  X(rd_kafka_consumer_group_metadata_destroy)  \
  X(rd_kafka_error_is_fatal)                   \
  X(rd_kafka_error_is_retriable)               \
  X(rd_kafka_error_txn_requires_abort)         \
  X(rd_kafka_NewTopic_new)                     \
  X(rd_kafka_NewTopic_destroy)                 \
  X(rd_kafka_NewTopic_set_config)              \
  X(rd_kafka_CreateTopics)                     \
  X(rd_kafka_DeleteTopic_new)                  \
  X(rd_kafka_DeleteTopic_destroy)              \
  X(rd_kafka_DeleteTopics)                     \
  X(rd_kafka_DeleteGroup_new)                  \
  X(rd_kafka_DeleteGroup_destroy)              \
  X(rd_kafka_DeleteGroups)                     \
  X(rd_kafka_ListConsumerGroups)               \
  X(rd_kafka_ListConsumerGroups_result_valid)  \
  X(rd_kafka_ConsumerGroupListing_group_id)    \
  X(rd_kafka_list_groups)                      \
  X(rd_kafka_group_list_destroy)               \
  X(rd_kafka_AdminOptions_new)                 \
  X(rd_kafka_AdminOptions_destroy)             \
  X(rd_kafka_AdminOptions_set_request_timeout) \
  X(rd_kafka_AdminOptions_set_operation_timeout)

struct RdKafka {
#define PSPF_RDKAFKA_MEMBER(f) decltype(&::f) f = nullptr;
  PSPF_RDKAFKA_FUNCTIONS(PSPF_RDKAFKA_MEMBER)
#undef PSPF_RDKAFKA_MEMBER
};

// The table, librdkafka opened on the first call. Throws Error(usage) naming the
// package when librdkafka.so.1 cannot be loaded or lacks a function (older than
// 2.0).
const RdKafka& rdkafka();

}  // namespace pspf::kafka
