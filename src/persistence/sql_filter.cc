#include "persistence/sql_filter.h"

#include <algorithm>
#include <string_view>

#include "persistence/indexed_value_type.h"

namespace eon::persistence {
namespace {

namespace enums = temporal::api::enums::v1;
using Op = ListingPredicate::Op;

// A column's SQL name and stored type; nullptr for kSearchAttribute.
struct ColumnInfo {
  const char* sql;
  IndexedValueType type;
};

ColumnInfo Column(ListingColumn column) {
  switch (column) {
    case ListingColumn::kSearchAttribute:
      break;
    case ListingColumn::kWorkflowId:
      return {"workflow_id", enums::INDEXED_VALUE_TYPE_KEYWORD};
    case ListingColumn::kRunId:
      return {"run_id", enums::INDEXED_VALUE_TYPE_KEYWORD};
    case ListingColumn::kWorkflowType:
      return {"workflow_type", enums::INDEXED_VALUE_TYPE_KEYWORD};
    case ListingColumn::kStatus:
      return {"status", enums::INDEXED_VALUE_TYPE_INT};
    case ListingColumn::kStartTime:
      return {"start_time_ns", enums::INDEXED_VALUE_TYPE_DATETIME};
    case ListingColumn::kCloseTime:
      return {"close_time_ns", enums::INDEXED_VALUE_TYPE_DATETIME};
    case ListingColumn::kExecutionTime:
      return {"execution_time_ns", enums::INDEXED_VALUE_TYPE_DATETIME};
    case ListingColumn::kExecutionDuration:
      return {"execution_duration_ns", enums::INDEXED_VALUE_TYPE_INT};
    case ListingColumn::kTaskQueue:
      return {"task_queue", enums::INDEXED_VALUE_TYPE_KEYWORD};
    case ListingColumn::kHistoryLength:
      return {"history_length", enums::INDEXED_VALUE_TYPE_INT};
    case ListingColumn::kHistorySizeBytes:
      return {"history_size_bytes", enums::INDEXED_VALUE_TYPE_INT};
    case ListingColumn::kStateTransitionCount:
      return {"state_transition_count", enums::INDEXED_VALUE_TYPE_INT};
    case ListingColumn::kParentWorkflowId:
      return {"parent_workflow_id", enums::INDEXED_VALUE_TYPE_KEYWORD};
    case ListingColumn::kParentRunId:
      return {"parent_run_id", enums::INDEXED_VALUE_TYPE_KEYWORD};
    case ListingColumn::kRootWorkflowId:
      return {"root_workflow_id", enums::INDEXED_VALUE_TYPE_KEYWORD};
    case ListingColumn::kRootRunId:
      return {"root_run_id", enums::INDEXED_VALUE_TYPE_KEYWORD};
  }
  return {nullptr, enums::INDEXED_VALUE_TYPE_UNSPECIFIED};
}

std::string SqlStringLiteral(std::string_view text) {
  std::string out = "'";
  for (char c : text) {
    out += c;
    if (c == '\'') out += '\'';
  }
  out += '\'';
  return out;
}

Status Invalid(const std::string& what) { return InvalidArgument("list filter: " + what); }

// A field resolved to SQL.
struct Operand {
  std::string name;  // for messages
  IndexedValueType type;
  std::string expr;       // scalar expression (for a KeywordList: the JSON array text)
  std::string json_path;  // SQL string literal of the JSON path; empty for a column
};

enum class Dialect { kSqlite, kPostgres };

// PostgreSQL: a search attribute read from the JSONB column as its type; NULL when absent or
// stored as another JSON type (as SQLite's json_extract compares unequal).
std::string PostgresAttribute(const std::string& name, IndexedValueType type) {
  const std::string key = SqlStringLiteral(name);
  const std::string json = "search_attributes->" + key;
  const std::string text = "(search_attributes->>" + key + ")";
  auto typed = [&](const char* json_type, const char* sql_type) {
    return "(CASE WHEN jsonb_typeof(" + json + ") = '" + json_type + "' THEN " + text +
           "::" + sql_type + " END)";
  };
  switch (type) {
    case enums::INDEXED_VALUE_TYPE_INT:
    case enums::INDEXED_VALUE_TYPE_DATETIME:
      return typed("number", "NUMERIC");
    case enums::INDEXED_VALUE_TYPE_DOUBLE:
      return typed("number", "DOUBLE PRECISION");
    case enums::INDEXED_VALUE_TYPE_BOOL:
      return typed("boolean", "BOOLEAN");
    case enums::INDEXED_VALUE_TYPE_KEYWORD_LIST:
      return "(" + json + ")";
    default:
      return text;
  }
}

Result<Operand> Resolve(const ListingField& field, Dialect dialect) {
  if (field.column != ListingColumn::kSearchAttribute) {
    ColumnInfo column = Column(field.column);
    if (column.sql == nullptr) {
      return Invalid("unknown column " + std::to_string(static_cast<int>(field.column)));
    }
    if (field.type != column.type) {
      return Invalid("field " + field.attribute + " is a " +
                     std::string(IndexedValueTypeName(column.type)) + " column, not " +
                     std::string(IndexedValueTypeName(field.type)));
    }
    return Operand{field.attribute, column.type, column.sql, ""};
  }
  if (!IsIndexedValueType(field.type)) {
    return Invalid("search attribute " + field.attribute + " has unknown type " +
                   std::to_string(static_cast<int>(field.type)));
  }
  if (field.attribute.empty() || field.attribute.size() > kMaxAttributeNameBytes) {
    return Invalid("a search attribute name must have 1 to " +
                   std::to_string(kMaxAttributeNameBytes) + " bytes");
  }
  // SQLite has no escape inside a quoted JSON path label, so a name holding '"' cannot be
  // addressed; refuse it rather than build a path that means something else.
  for (char c : field.attribute) {
    if (c == '"' || static_cast<unsigned char>(c) < 0x20) {
      return Invalid("search attribute name " + field.attribute +
                     " contains a character that cannot be queried (a '\"' or a control "
                     "character)");
    }
  }
  if (dialect == Dialect::kPostgres) {
    return Operand{field.attribute, field.type, PostgresAttribute(field.attribute, field.type), ""};
  }
  std::string path = SqlStringLiteral("$.\"" + field.attribute + "\"");
  return Operand{field.attribute, field.type, "json_extract(search_attributes, " + path + ")",
                 path};
}

class Renderer {
 public:
  Renderer(SqlFilter& out, Dialect dialect, int first_param)
      : out_(out), dialect_(dialect), next_param_(first_param) {}

  // The WHERE expression of `root`.
  Result<std::string> Where(const ListingPredicate& root) {
    EON_ASSIGN_OR_RETURN(Rendered where, Predicate(root, 1));
    if (dialect_ == Dialect::kSqlite && where.levels > kSqliteNestingMax) {
      return Invalid("nests too deeply for SQLite (" + std::to_string(where.levels) +
                     " levels of NOT and parentheses; at most " +
                     std::to_string(kSqliteNestingMax) + ")");
    }
    return std::move(where.sql);
  }

  Result<std::string> OrderKey(const ListingOrderKey& key) {
    EON_ASSIGN_OR_RETURN(Operand operand, Resolve(key.field, dialect_));
    if (operand.type == enums::INDEXED_VALUE_TYPE_TEXT ||
        operand.type == enums::INDEXED_VALUE_TYPE_KEYWORD_LIST) {
      return Invalid("cannot order by " + operand.name + " of type " +
                     std::string(IndexedValueTypeName(operand.type)));
    }
    // Absent values sort lowest, as in SQLite (PostgreSQL puts NULLs last by default).
    if (dialect_ == Dialect::kPostgres) {
      return operand.expr + (key.descending ? " DESC NULLS LAST" : " ASC NULLS FIRST");
    }
    return operand.expr + (key.descending ? " DESC" : " ASC");
  }

 private:
  // A rendered sub-expression: its SQL, its top operator (kEqual stands for any comparison,
  // which renders in parentheses of its own), and how many levels of NOT and parentheses it
  // nests (what SQLite's parser stack pays for).
  struct Rendered {
    std::string sql;
    Op top;
    int levels = 0;
  };

  // Parentheses are written only where SQL's precedence (OR < AND < NOT < comparisons) needs
  // them, and NOT NOT x is x (also for an unknown x), so that the nesting SQLite's parser
  // allows (kSqliteNestingMax) goes as far as it can.
  Result<Rendered> Predicate(const ListingPredicate& p, int depth) {
    if (depth > kMaxFilterDepth) {
      return Invalid("nests deeper than " + std::to_string(kMaxFilterDepth) + " levels");
    }
    switch (p.op) {
      case Op::kMatchAll:
        return Rendered{dialect_ == Dialect::kPostgres ? "TRUE" : "1", Op::kEqual, 0};
      case Op::kAnd:
      case Op::kOr:
        return Chain(p, depth);
      case Op::kNot: {
        if (p.children.size() != 1) return Invalid("NOT takes exactly one operand");
        const ListingPredicate& child = p.children[0];
        if (child.op == Op::kNot && child.children.size() == 1) {
          return Predicate(child.children[0], depth + 2);
        }
        EON_ASSIGN_OR_RETURN(Rendered operand, Predicate(child, depth + 1));
        if (operand.top == Op::kAnd || operand.top == Op::kOr) {
          return Rendered{"NOT (" + operand.sql + ")", Op::kNot, operand.levels + 2};
        }
        return Rendered{"NOT " + operand.sql, Op::kNot, operand.levels + 1};
      }
      default: {
        EON_ASSIGN_OR_RETURN(std::string sql, Comparison(p));
        return Rendered{std::move(sql), Op::kEqual, 0};
      }
    }
  }

  // An AND / OR. A long chain is cut in groups of kGroupTerms, each in parentheses (and the
  // groups again, while there are more than kGroupTerms), because SQLite parses a flat chain of
  // N terms into an expression tree N deep and refuses trees deeper than 1,000.
  Result<Rendered> Chain(const ListingPredicate& p, int depth) {
    constexpr size_t kGroupTerms = 64;
    if (p.children.empty()) return Invalid("AND / OR without operands");
    if (p.children.size() == 1) return Predicate(p.children[0], depth + 1);
    const char* glue = p.op == Op::kAnd ? " AND " : " OR ";
    std::vector<Rendered> terms;
    terms.reserve(p.children.size());
    for (const ListingPredicate& child : p.children) {
      EON_ASSIGN_OR_RETURN(Rendered term, Predicate(child, depth + 1));
      // Only an OR under an AND needs parentheses; the other operators bind tighter.
      if (p.op == Op::kAnd && term.top == Op::kOr) {
        term = Rendered{"(" + term.sql + ")", Op::kEqual, term.levels + 1};
      }
      terms.push_back(std::move(term));
    }
    while (terms.size() > kGroupTerms) {
      std::vector<Rendered> groups;
      for (size_t begin = 0; begin < terms.size(); begin += kGroupTerms) {
        Rendered group{"(", Op::kEqual, 0};
        for (size_t i = begin; i < std::min(terms.size(), begin + kGroupTerms); ++i) {
          if (i != begin) group.sql += glue;
          group.sql += terms[i].sql;
          group.levels = std::max(group.levels, terms[i].levels + 1);
        }
        group.sql += ")";
        groups.push_back(std::move(group));
      }
      terms = std::move(groups);
    }
    Rendered out{"", p.op, 0};
    for (size_t i = 0; i < terms.size(); ++i) {
      if (i != 0) out.sql += glue;
      out.sql += terms[i].sql;
      out.levels = std::max(out.levels, terms[i].levels);
    }
    return out;
  }

  Status CheckValue(const Operand& operand, const FilterValue& value) {
    bool ok = false;
    switch (operand.type) {
      case enums::INDEXED_VALUE_TYPE_TEXT:
      case enums::INDEXED_VALUE_TYPE_KEYWORD:
      case enums::INDEXED_VALUE_TYPE_KEYWORD_LIST:
        ok = std::holds_alternative<std::string>(value);
        break;
      case enums::INDEXED_VALUE_TYPE_INT:
      case enums::INDEXED_VALUE_TYPE_DATETIME:
        ok = std::holds_alternative<int64_t>(value);
        break;
      case enums::INDEXED_VALUE_TYPE_DOUBLE:
        ok = std::holds_alternative<double>(value) || std::holds_alternative<int64_t>(value);
        break;
      case enums::INDEXED_VALUE_TYPE_BOOL:
        ok = std::holds_alternative<bool>(value);
        break;
      default:
        break;
    }
    if (!ok) {
      return Invalid("a value of the wrong type for " + operand.name + " of type " +
                     std::string(IndexedValueTypeName(operand.type)));
    }
    return Status::Ok();
  }

  // The next placeholder for a value compared with `operand`: "?" for SQLite, "$n::TYPE" for
  // PostgreSQL (typed, since the statement is not prepared against a column).
  std::string Placeholder(const Operand& operand) {
    if (dialect_ == Dialect::kSqlite) return "?";
    const std::string n = "$" + std::to_string(next_param_++);
    switch (operand.type) {
      case enums::INDEXED_VALUE_TYPE_INT:
      case enums::INDEXED_VALUE_TYPE_DATETIME:
        return n + "::BIGINT";
      case enums::INDEXED_VALUE_TYPE_DOUBLE:
        return n + "::DOUBLE PRECISION";
      case enums::INDEXED_VALUE_TYPE_BOOL:
        return "(" + n + "::BIGINT <> 0)";  // bound as 0/1
      default:
        return n + "::TEXT";
    }
  }

  // Checks and binds values.size() == count values (count 0: at least one); returns their
  // placeholders.
  Result<std::vector<std::string>> Bind(const Operand& operand, const ListingPredicate& p,
                                        size_t count) {
    if (count != 0 ? p.values.size() != count : p.values.empty()) {
      return Invalid("wrong number of values (" + std::to_string(p.values.size()) + ") for " +
                     operand.name);
    }
    values_ += p.values.size();
    if (values_ > kMaxFilterValues) {
      return Invalid("more than " + std::to_string(kMaxFilterValues) + " values");
    }
    std::vector<std::string> placeholders;
    for (const FilterValue& value : p.values) {
      EON_RETURN_IF_ERROR(CheckValue(operand, value));
      if (const auto* b = std::get_if<bool>(&value)) {
        out_.params.emplace_back(int64_t{*b ? 1 : 0});
      } else if (const auto* i = std::get_if<int64_t>(&value)) {
        out_.params.emplace_back(*i);
      } else if (const auto* d = std::get_if<double>(&value)) {
        out_.params.emplace_back(*d);
      } else {
        out_.params.emplace_back(std::get<std::string>(value));
      }
      placeholders.push_back(Placeholder(operand));
    }
    return placeholders;
  }

  static std::string Joined(const std::vector<std::string>& placeholders) {
    std::string out;
    for (const auto& one : placeholders) out += (out.empty() ? "" : ", ") + one;
    return out;
  }

  // `EXISTS (SELECT 1 FROM json_each(<list>) WHERE <condition on kl.value>)`, negated so that a
  // row without the attribute stays unmatched, like a NULL scalar.
  std::string ListPredicate(const Operand& operand, const std::string& condition,
                            bool negate) const {
    std::string exists =
        dialect_ == Dialect::kPostgres
            ? "EXISTS (SELECT 1 FROM jsonb_array_elements_text(CASE WHEN jsonb_typeof(" +
                  operand.expr + ") = 'array' THEN " + operand.expr + " END) AS kl(value) WHERE " +
                  condition + ")"
            : "EXISTS (SELECT 1 FROM json_each(search_attributes, " + operand.json_path +
                  ") AS kl WHERE " + condition + ")";
    if (!negate) return exists;
    return "(" + operand.expr + " IS NOT NULL AND NOT " + exists + ")";
  }

  Status Unsupported(const Operand& operand, std::string_view op) {
    return Invalid("operator " + std::string(op) + " is not supported for " + operand.name +
                   " of type " + std::string(IndexedValueTypeName(operand.type)));
  }

  Result<std::string> Comparison(const ListingPredicate& p) {
    if (!p.children.empty()) return Invalid("a comparison has no sub-predicates");
    EON_ASSIGN_OR_RETURN(Operand operand, Resolve(p.field, dialect_));
    const bool list = operand.type == enums::INDEXED_VALUE_TYPE_KEYWORD_LIST;
    const bool orderable = !list && operand.type != enums::INDEXED_VALUE_TYPE_BOOL;
    const char* symbol = nullptr;
    switch (p.op) {
      case Op::kEqual:
        symbol = "=";
        break;
      case Op::kNotEqual:
        symbol = "!=";
        break;
      case Op::kLess:
        symbol = "<";
        break;
      case Op::kLessOrEqual:
        symbol = "<=";
        break;
      case Op::kGreater:
        symbol = ">";
        break;
      case Op::kGreaterOrEqual:
        symbol = ">=";
        break;
      default:
        break;
    }
    if (symbol != nullptr) {
      const bool equality = p.op == Op::kEqual || p.op == Op::kNotEqual;
      if (!equality && !orderable) return Unsupported(operand, symbol);
      EON_ASSIGN_OR_RETURN(auto bound, Bind(operand, p, 1));
      const std::string& value = bound[0];
      if (list) return ListPredicate(operand, "kl.value = " + value, p.op == Op::kNotEqual);
      return "(" + operand.expr + " " + symbol + " " + value + ")";
    }
    switch (p.op) {
      case Op::kIn:
      case Op::kNotIn: {
        const bool negated = p.op == Op::kNotIn;
        EON_ASSIGN_OR_RETURN(auto bound, Bind(operand, p, 0));
        const std::string values = Joined(bound);
        if (list) return ListPredicate(operand, "kl.value IN (" + values + ")", negated);
        return "(" + operand.expr + (negated ? " NOT IN (" : " IN (") + values + "))";
      }
      case Op::kBetween:
      case Op::kNotBetween: {
        if (!orderable) return Unsupported(operand, "BETWEEN");
        EON_ASSIGN_OR_RETURN(auto bound, Bind(operand, p, 2));
        return "(" + operand.expr + (p.op == Op::kNotBetween ? " NOT BETWEEN " : " BETWEEN ") +
               bound[0] + " AND " + bound[1] + ")";
      }
      case Op::kStartsWith:
      case Op::kNotStartsWith: {
        if (operand.type != enums::INDEXED_VALUE_TYPE_KEYWORD && !list) {
          return Unsupported(operand, "STARTS_WITH");
        }
        const bool negated = p.op == Op::kNotStartsWith;
        EON_ASSIGN_OR_RETURN(auto bound, Bind(operand, p, 1));
        const std::string& value = bound[0];
        // An exact, case-sensitive prefix test (instr() = 1 in SQLite; PostgreSQL compares the
        // prefix, naming its one parameter twice); LIKE would fold ASCII case and give '%' and
        // '_' in the prefix a meaning.
        auto prefix = [&](const std::string& of, const char* op) {
          if (dialect_ == Dialect::kSqlite) return "instr(" + of + ", " + value + ") " + op + " 1";
          return "substr(" + of + ", 1, length(" + value + ")) " + op + " " + value;
        };
        if (list) return ListPredicate(operand, prefix("kl.value", "="), negated);
        return "(" + prefix(operand.expr, negated ? "!=" : "=") + ")";
      }
      case Op::kIsNull:
      case Op::kIsNotNull:
        if (!p.values.empty()) return Invalid("IS NULL takes no value");
        return "(" + operand.expr + (p.op == Op::kIsNotNull ? " IS NOT NULL)" : " IS NULL)");
      default:
        return Invalid("unknown operator " + std::to_string(static_cast<int>(p.op)));
    }
  }

  SqlFilter& out_;
  const Dialect dialect_;
  int next_param_;  // PostgreSQL's next $n
  size_t values_ = 0;
};

Result<SqlFilter> Render(const VisibilityFilter& filter, Dialect dialect, int first_param) {
  SqlFilter out;
  Renderer renderer(out, dialect, first_param);

  EON_ASSIGN_OR_RETURN(out.where, renderer.Where(filter.where));
  if (filter.order_by.empty()) return Invalid("no ORDER BY key");
  if (filter.order_by.size() > kMaxFilterValues) return Invalid("too many ORDER BY keys");
  for (const ListingOrderKey& key : filter.order_by) {
    EON_ASSIGN_OR_RETURN(std::string sql, renderer.OrderKey(key));
    if (!out.order_by.empty()) out.order_by += ", ";
    out.order_by += sql;
  }
  if (filter.group_by) {
    EON_ASSIGN_OR_RETURN(Operand operand, Resolve(*filter.group_by, dialect));
    if (operand.type != enums::INDEXED_VALUE_TYPE_INT) {
      return Invalid("GROUP BY needs an Int field, not " + operand.name + " of type " +
                     std::string(IndexedValueTypeName(operand.type)));
    }
    out.group_by = operand.expr;
    // A search attribute reads as NUMERIC there; counts are grouped by whole numbers.
    if (dialect == Dialect::kPostgres &&
        filter.group_by->column == ListingColumn::kSearchAttribute) {
      out.group_by = "(" + operand.expr + ")::BIGINT";
    }
  }
  return out;
}

}  // namespace

Result<SqlFilter> RenderSqliteFilter(const VisibilityFilter& filter) {
  return Render(filter, Dialect::kSqlite, 1);
}

Result<SqlFilter> RenderPostgresFilter(const VisibilityFilter& filter, int first_param) {
  return Render(filter, Dialect::kPostgres, first_param);
}

}  // namespace eon::persistence
