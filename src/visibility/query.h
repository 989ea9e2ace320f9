// The visibility list-filter language of ListWorkflowExecutions / CountWorkflowExecutions
// (Temporal's SQL-like "query"), translated to a parameterised SQLite WHERE / ORDER BY / GROUP BY
// over the `visibility` table. Every value in the query becomes a bound parameter; only
// column names, operators and JSON paths of known attributes are written into the SQL text.
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
#include <variant>
#include <vector>

#include "common/status.h"

namespace eon::visibility {

enum class AttributeType { kText, kKeyword, kInt, kDouble, kBool, kDatetime, kKeywordList };

// "Keyword", "Datetime", ...: the names Temporal's API uses for the types.
std::string_view AttributeTypeName(AttributeType type);

// A bound parameter: integers (also Datetime/duration nanoseconds, Bool as 0/1), doubles, text.
using SqlValue = std::variant<int64_t, double, std::string>;

struct SqlQuery {
  // An SQL boolean expression over the `visibility` table; "1" when the query has no filter.
  std::string where = "1";
  // The values for the `?` placeholders of `where`, in order.
  std::vector<SqlValue> params;
  // An SQL ORDER BY list (without the keywords). Always ends in a run_id key so that pages of
  // equal sort keys have a stable order.
  std::string order_by;
  // True when the query had its own ORDER BY clause.
  bool custom_order_by = false;
  // GROUP BY, for CountWorkflowExecutions: SQL expressions, and the attribute names they came
  // from (the names the count response reports groups under). Empty without GROUP BY.
  std::vector<std::string> group_by;
  std::vector<std::string> group_by_attributes;
};

// Upper bounds that keep a hostile query from costing more than a rejection.
inline constexpr size_t kMaxQueryLengthBytes = 10'000;
inline constexpr int kMaxQueryNestingDepth = 100;

// The ORDER BY used when the query names none: newest start first.
inline constexpr std::string_view kDefaultOrderBy = "start_time_ns DESC, run_id DESC";

// Parses `query` and translates it. `custom_attributes` are the namespace's registered search
// attributes (name -> type), stored in the JSON column `search_attributes`; system attributes
// take precedence over a custom one of the same name. Errors are INVALID_ARGUMENT with the
// position (1-based, in bytes) and what is wrong there.
Result<SqlQuery> TranslateQuery(std::string_view query,
                                const std::map<std::string, AttributeType>& custom_attributes);

// Exposed for reuse and tests: RFC 3339 timestamp ("2024-01-02T03:04:05.5+02:00") to Unix
// nanoseconds, and Go-style duration ("1h30m", "250ms", "-1.5s") to nanoseconds. The error
// message says what is wrong, without position.
Result<int64_t> ParseRfc3339Nanos(std::string_view text);
Result<int64_t> ParseGoDurationNanos(std::string_view text);

}  // namespace eon::visibility
