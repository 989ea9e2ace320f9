// A list filter (persistence/visibility_filter.h) rendered as SQL over a listing table
// (`visibility` or `schedules`, which share their columns), in SQLite's dialect or PostgreSQL's:
// one renderer, which differs only in placeholders, how a search attribute is read from the JSON
// column (json_extract / ->> with a typed cast), KeywordList membership (json_each /
// jsonb_array_elements_text), the prefix test and NULL ordering. Every value becomes a bound
// parameter; only column names, operators, and search attribute names (as SQL string literals,
// quotes doubled) are written into the SQL text.
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "common/status.h"
#include "persistence/visibility_filter.h"

namespace eon::persistence {

// How deeply a WHERE may nest NOTs and parenthesised ANDs / ORs: SQLite's parser (its stack
// holds 100 entries) refuses "parser stack overflow" a little past 25 such levels, and this
// leaves room for the statement around the filter and a KeywordList test at the bottom. A
// deeper filter is refused with INVALID_ARGUMENT rather than failing inside SQLite.
inline constexpr int kSqliteNestingMax = 20;

// Bound values: Bool is bound as 0/1, as SQLite's json_extract reads JSON true/false.
using SqlFilterValue = std::variant<int64_t, double, std::string>;

struct SqlFilter {
  // A boolean expression over the table's columns; "1" (PostgreSQL: TRUE) for kMatchAll.
  std::string where = "1";
  // The values for the placeholders of `where`, in order (SQLite's `?`; PostgreSQL's $n,
  // numbered from first_param).
  std::vector<SqlFilterValue> params;
  // The ORDER BY list (without the keywords), e.g. "start_time_ns DESC, run_id DESC".
  std::string order_by;
  // "" or the one GROUP BY expression (without the keywords).
  std::string group_by;
};

// Renders `filter`. INVALID_ARGUMENT (naming what is wrong) when it breaks a rule of
// visibility_filter.h: a value of the wrong type or count, an operator the field's type does not
// have, nesting or value count above the limits (or nesting above kSqliteNestingMax), an
// unusable attribute name, an empty ORDER BY.
Result<SqlFilter> RenderSqliteFilter(const VisibilityFilter& filter);
// The same for PostgreSQL, numbering the placeholders $first_param, $first_param + 1, ...; the
// SQLite-only nesting limit does not apply.
Result<SqlFilter> RenderPostgresFilter(const VisibilityFilter& filter, int first_param);

}  // namespace eon::persistence
