// A list filter as the stores receive it: a parsed, typed predicate over the listing tables
// (visibility rows and schedules' listings share their columns), with its ORDER BY and GROUP BY.
// visibility/query.h parses Temporal's list-filter language into this; each store renders it in
// its own SQL (persistence/sql_filter.h for SQLite). Nothing in here is SQL text: a renderer
// decides how to spell columns, search attribute lookups, operators and bound values.
//
// The listing tables (see persistence/sqlite_store.cc for SQLite's):
//   one column per ListingColumn below (NULL when unset), plus `search_attributes`, a JSON object
//   mapping custom (and some system) search attribute names to values: Keyword and Text as JSON
//   strings, Int as integers, Double as numbers, Bool as true/false, Datetime as integer Unix
//   nanoseconds, KeywordList as an array of strings.
//
// Semantics every renderer must give (SQL's three-valued logic):
// - A field that is absent (a NULL column, or a name missing from search_attributes) matches no
//   comparison, IN, BETWEEN or STARTS_WITH, negated or not; only kIsNull / kIsNotNull ask about
//   absence. kNot of an unknown (absent) operand is unknown too, so it does not match either.
// - kStartsWith is an exact, case-sensitive byte prefix test ('%' and '_' mean nothing).
// - A KeywordList field matches kEqual / kIn / kStartsWith when ANY of its elements does; the
//   negated forms (kNotEqual, kNotIn, kNotStartsWith) match when the list is present and NO
//   element does. Ordering comparisons and BETWEEN are not defined on a KeywordList. Unlike a
//   scalar's, the positive forms are false (not unknown) when the list is absent, so kNot of one
//   matches the rows without the list.
// - NOT NOT x is x (also when x is unknown), and AND / OR are associative, so a renderer may
//   regroup and simplify as its SQL dialect needs.
// - Values are already of the field's type (the parser converted and checked them):
//     Keyword, Text, KeywordList -> string; Int, Datetime (Unix ns) -> int64_t;
//     Double -> double (or int64_t); Bool -> bool.
//   ExecutionStatus is the `status` column, an Int (WorkflowExecutionStatus numbers), and
//   ExecutionDuration an Int of nanoseconds.
// - Order keys compare NULL lowest (SQLite's rule): ascending puts absent values first.
//
// Limits (a renderer must refuse, with INVALID_ARGUMENT, a filter that breaks one; the parser
// never builds one): nesting at most kMaxFilterDepth levels, at most kMaxFilterValues values in
// all, search attribute names of 1 to kMaxAttributeNameBytes bytes without '"' or control
// characters (some stores cannot address such a key in JSON).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "temporal/api/enums/v1/common.pb.h"

namespace eon::persistence {

inline constexpr int kMaxFilterDepth = 256;
inline constexpr size_t kMaxFilterValues = 10'000;
inline constexpr size_t kMaxAttributeNameBytes = 255;

// The typed columns of the listing tables. kSearchAttribute: not a column, a key of the
// `search_attributes` JSON object (ListingField::attribute names it).
enum class ListingColumn {
  kSearchAttribute,
  kWorkflowId,            // workflow_id, Keyword (a schedule's id in schedules' listings)
  kRunId,                 // run_id, Keyword
  kWorkflowType,          // workflow_type, Keyword
  kStatus,                // status, Int (WorkflowExecutionStatus)
  kStartTime,             // start_time_ns, Datetime (a schedule's create time)
  kCloseTime,             // close_time_ns, Datetime
  kExecutionTime,         // execution_time_ns, Datetime
  kExecutionDuration,     // execution_duration_ns, Int (ns)
  kTaskQueue,             // task_queue, Keyword
  kHistoryLength,         // history_length, Int
  kHistorySizeBytes,      // history_size_bytes, Int
  kStateTransitionCount,  // state_transition_count, Int
  kParentWorkflowId,      // parent_workflow_id, Keyword
  kParentRunId,           // parent_run_id, Keyword
  kRootWorkflowId,        // root_workflow_id, Keyword
  kRootRunId,             // root_run_id, Keyword
};

using IndexedValueType = temporal::api::enums::v1::IndexedValueType;

struct ListingField {
  ListingColumn column = ListingColumn::kSearchAttribute;
  // For kSearchAttribute: the key in `search_attributes`. For a column: the name the query used
  // (for messages only).
  std::string attribute;
  // How values are stored (see the top of this file); for columns, the column's type above.
  IndexedValueType type = IndexedValueType::INDEXED_VALUE_TYPE_KEYWORD;
};

// Bound values, never pasted into SQL text.
using FilterValue = std::variant<bool, int64_t, double, std::string>;

struct ListingPredicate {
  enum class Op {
    kMatchAll,  // no condition: every row of the namespace
    // Boolean structure over `children`: kAnd / kOr with at least one child, kNot with one.
    kAnd,
    kOr,
    kNot,
    // Comparisons of `field` with `values[0]`.
    kEqual,
    kNotEqual,
    kLess,
    kLessOrEqual,
    kGreater,
    kGreaterOrEqual,
    // `field` among `values` (at least one).
    kIn,
    kNotIn,
    // values[0] <= field <= values[1], inclusive.
    kBetween,
    kNotBetween,
    // `field` begins with the string values[0]; Keyword and KeywordList only.
    kStartsWith,
    kNotStartsWith,
    // Absence (no values).
    kIsNull,
    kIsNotNull,
  };
  Op op = Op::kMatchAll;
  ListingField field;                      // comparison ops only
  std::vector<FilterValue> values;         // comparison ops only
  std::vector<ListingPredicate> children;  // kAnd, kOr, kNot only
};

struct ListingOrderKey {
  ListingField field;  // not Text, not KeywordList
  bool descending = false;
};

struct VisibilityFilter {
  ListingPredicate where;  // kMatchAll when the query has no condition
  // Never empty: the query's keys, or StartTime DESC; always ends with a RunId key so that pages
  // of equal sort keys have a stable order.
  std::vector<ListingOrderKey> order_by;
  bool custom_order_by = false;  // true when the query had its own ORDER BY
  // CountWorkflowExecutions' GROUP BY: one Int field (today only ExecutionStatus); counts are
  // reported per value of it.
  std::optional<ListingField> group_by;
};

}  // namespace eon::persistence
