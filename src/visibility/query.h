// The visibility list-filter language of ListWorkflowExecutions / CountWorkflowExecutions /
// ListSchedules (Temporal's SQL-like "query"), parsed into the store-neutral filter of
// persistence/visibility_filter.h: a typed predicate, ORDER BY and GROUP BY that each store
// renders in its own SQL. Attribute names are resolved (system columns, or custom attributes
// with their types) and every value is checked and converted to its attribute's type here, so a
// store never sees query text.
//
// Grammar (keywords are case-insensitive, attribute names are case-sensitive):
//   query      := [expr] [ORDER BY order_key {, order_key} | GROUP BY ExecutionStatus]
//   expr       := and_expr {OR and_expr}
//   and_expr   := not_expr {AND not_expr}
//   not_expr   := NOT not_expr | primary
//   primary    := '(' expr ')' | attr predicate
//   predicate  := (= | != | <> | < | <= | > | >=) value
//               | [NOT] IN '(' value {, value} ')'
//               | [NOT] BETWEEN value AND value
//               | [NOT] STARTS_WITH value
//               | IS [NOT] NULL
//   order_key  := attr [ASC | DESC]
//   attr       := identifier | `any text`
//   value      := 'string' | "string" | integer | decimal | TRUE | FALSE
//
// Comparisons follow SQL's three-valued logic: an attribute that is absent (NULL) matches
// neither `X = v` nor `X != v`; use `IS NULL` / `IS NOT NULL` to ask about absence.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "persistence/visibility_filter.h"

namespace eon::visibility {

// Upper bounds that keep a hostile query from costing more than a rejection.
inline constexpr size_t kMaxQueryLengthBytes = 10'000;
inline constexpr int kMaxQueryNestingDepth = 100;

// Parses `query`. `custom_attributes` are the namespace's registered search attributes
// (name -> temporal.api.enums.v1.IndexedValueType; a name with another value is ignored), kept in
// the listing's `search_attributes` map; system attributes take
// precedence over a custom one of the same name. Without ORDER BY the order is StartTime DESC,
// RunId DESC; a RunId key is appended to a query's own keys when it has none. Errors are
// INVALID_ARGUMENT with the position (1-based, in bytes) and what is wrong there.
Result<persistence::VisibilityFilter> ParseQuery(
    std::string_view query, const std::map<std::string, int>& custom_attributes);

// Exposed for reuse and tests: RFC 3339 timestamp ("2024-01-02T03:04:05.5+02:00") to Unix
// nanoseconds, and Go-style duration ("1h30m", "250ms", "-1.5s") to nanoseconds. The error
// message says what is wrong, without position.
Result<int64_t> ParseRfc3339Nanos(std::string_view text);
Result<int64_t> ParseGoDurationNanos(std::string_view text);

}  // namespace eon::visibility
