#include "visibility/query.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>

#include "common/assert.h"

namespace eon::visibility {
namespace {

// ---------------------------------------------------------------------------------------------
// Attributes

// How values of an attribute are checked and converted. The two extra kinds exist because
// ExecutionStatus and ExecutionDuration accept friendlier spellings than plain integers.
enum class Kind {
  kText,
  kKeyword,
  kInt,
  kDouble,
  kBool,
  kDatetime,
  kKeywordList,
  kStatus,
  kDuration
};

// A custom attribute's kind from its temporal.api.enums.v1.IndexedValueType; nullopt for a
// value that is not a type.
std::optional<Kind> KindOf(int type) {
  namespace enums = temporal::api::enums::v1;
  switch (type) {
    case enums::INDEXED_VALUE_TYPE_TEXT:
      return Kind::kText;
    case enums::INDEXED_VALUE_TYPE_KEYWORD:
      return Kind::kKeyword;
    case enums::INDEXED_VALUE_TYPE_INT:
      return Kind::kInt;
    case enums::INDEXED_VALUE_TYPE_DOUBLE:
      return Kind::kDouble;
    case enums::INDEXED_VALUE_TYPE_BOOL:
      return Kind::kBool;
    case enums::INDEXED_VALUE_TYPE_DATETIME:
      return Kind::kDatetime;
    case enums::INDEXED_VALUE_TYPE_KEYWORD_LIST:
      return Kind::kKeywordList;
    default:
      return std::nullopt;
  }
}

std::string_view KindName(Kind kind) {
  switch (kind) {
    case Kind::kText:
      return "Text";
    case Kind::kKeyword:
      return "Keyword";
    case Kind::kInt:
      return "Int";
    case Kind::kDouble:
      return "Double";
    case Kind::kBool:
      return "Bool";
    case Kind::kDatetime:
      return "Datetime";
    case Kind::kKeywordList:
      return "KeywordList";
    case Kind::kStatus:
      return "ExecutionStatus";
    case Kind::kDuration:
      return "duration";
  }
  return "?";
}

using persistence::ListingColumn;
using persistence::ListingField;
using persistence::ListingPredicate;
using Op = persistence::ListingPredicate::Op;
namespace enums = temporal::api::enums::v1;

struct SystemAttribute {
  std::string_view name;
  ListingColumn column;  // kSearchAttribute: kept in the search_attributes map like a custom one
  Kind kind;
};

constexpr SystemAttribute kSystemAttributes[] = {
    {"WorkflowId", ListingColumn::kWorkflowId, Kind::kKeyword},
    {"RunId", ListingColumn::kRunId, Kind::kKeyword},
    {"WorkflowType", ListingColumn::kWorkflowType, Kind::kKeyword},
    {"ExecutionStatus", ListingColumn::kStatus, Kind::kStatus},
    {"StartTime", ListingColumn::kStartTime, Kind::kDatetime},
    {"CloseTime", ListingColumn::kCloseTime, Kind::kDatetime},
    {"ExecutionTime", ListingColumn::kExecutionTime, Kind::kDatetime},
    {"ExecutionDuration", ListingColumn::kExecutionDuration, Kind::kDuration},
    {"TaskQueue", ListingColumn::kTaskQueue, Kind::kKeyword},
    {"HistoryLength", ListingColumn::kHistoryLength, Kind::kInt},
    {"HistorySizeBytes", ListingColumn::kHistorySizeBytes, Kind::kInt},
    {"StateTransitionCount", ListingColumn::kStateTransitionCount, Kind::kInt},
    {"ParentWorkflowId", ListingColumn::kParentWorkflowId, Kind::kKeyword},
    {"ParentRunId", ListingColumn::kParentRunId, Kind::kKeyword},
    {"RootWorkflowId", ListingColumn::kRootWorkflowId, Kind::kKeyword},
    {"RootRunId", ListingColumn::kRootRunId, Kind::kKeyword},
    {"TemporalChangeVersion", ListingColumn::kSearchAttribute, Kind::kKeywordList},
    {"BuildIds", ListingColumn::kSearchAttribute, Kind::kKeywordList},
    // Set on the runs a schedule starts, and on schedules' listings.
    {"TemporalScheduledStartTime", ListingColumn::kSearchAttribute, Kind::kDatetime},
    {"TemporalScheduledById", ListingColumn::kSearchAttribute, Kind::kKeyword},
    {"TemporalSchedulePaused", ListingColumn::kSearchAttribute, Kind::kBool},
};

// How a kind is stored: ExecutionStatus as its number, ExecutionDuration as nanoseconds.
persistence::IndexedValueType StoredType(Kind kind) {
  switch (kind) {
    case Kind::kText:
      return enums::INDEXED_VALUE_TYPE_TEXT;
    case Kind::kKeyword:
      return enums::INDEXED_VALUE_TYPE_KEYWORD;
    case Kind::kInt:
    case Kind::kStatus:
    case Kind::kDuration:
      return enums::INDEXED_VALUE_TYPE_INT;
    case Kind::kDouble:
      return enums::INDEXED_VALUE_TYPE_DOUBLE;
    case Kind::kBool:
      return enums::INDEXED_VALUE_TYPE_BOOL;
    case Kind::kDatetime:
      return enums::INDEXED_VALUE_TYPE_DATETIME;
    case Kind::kKeywordList:
      return enums::INDEXED_VALUE_TYPE_KEYWORD_LIST;
  }
  return enums::INDEXED_VALUE_TYPE_UNSPECIFIED;
}

// A resolved attribute: how values are parsed (kind) and where it is stored (field).
struct Attribute {
  std::string name;
  Kind kind;
  ListingField field;
};

// ---------------------------------------------------------------------------------------------
// Lexer

enum class TokenType { kWord, kQuotedName, kString, kInteger, kDecimal, kSymbol, kEnd };

struct Token {
  TokenType type;
  std::string text;  // Words and symbols as written; strings unescaped; numbers as written.
  size_t position;   // 1-based byte offset of the first character.
};

std::string At(size_t position) { return "at position " + std::to_string(position) + ": "; }

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool IsWordStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
bool IsWordChar(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

Result<std::vector<Token>> Lex(std::string_view q) {
  std::vector<Token> tokens;
  size_t i = 0;
  while (i < q.size()) {
    char c = q[i];
    size_t pos = i + 1;
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
    } else if (c == '\'' || c == '"') {
      std::string value;
      size_t j = i + 1;
      bool closed = false;
      while (j < q.size()) {
        if (q[j] == '\\') {
          if (j + 1 >= q.size()) break;
          char e = q[j + 1];
          value += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
          j += 2;
        } else if (q[j] == c) {
          closed = true;
          ++j;
          break;
        } else {
          value += q[j++];
        }
      }
      if (!closed) return InvalidArgument(At(pos) + "unterminated string");
      tokens.push_back({TokenType::kString, std::move(value), pos});
      i = j;
    } else if (c == '`') {
      size_t end = q.find('`', i + 1);
      if (end == std::string_view::npos) {
        return InvalidArgument(At(pos) + "unterminated `quoted` attribute name");
      }
      if (end == i + 1) return InvalidArgument(At(pos) + "empty `quoted` attribute name");
      tokens.push_back({TokenType::kQuotedName, std::string(q.substr(i + 1, end - i - 1)), pos});
      i = end + 1;
    } else if (IsDigit(c) || (c == '-' && i + 1 < q.size() && IsDigit(q[i + 1])) ||
               (c == '.' && i + 1 < q.size() && IsDigit(q[i + 1]))) {
      size_t j = i + (c == '-' ? 1 : 0);
      bool decimal = false;
      while (j < q.size() && IsDigit(q[j])) ++j;
      if (j < q.size() && q[j] == '.') {
        decimal = true;
        ++j;
        while (j < q.size() && IsDigit(q[j])) ++j;
      }
      if (j < q.size() && (q[j] == 'e' || q[j] == 'E')) {
        size_t k = j + 1;
        if (k < q.size() && (q[k] == '+' || q[k] == '-')) ++k;
        if (k < q.size() && IsDigit(q[k])) {
          decimal = true;
          j = k;
          while (j < q.size() && IsDigit(q[j])) ++j;
        }
      }
      if (j < q.size() && (IsWordChar(q[j]) || q[j] == '.')) {
        return InvalidArgument(At(pos) + "malformed number '" +
                               std::string(q.substr(i, j + 1 - i)) +
                               "' (quote text values, e.g. '1h' or '2024-01-02T00:00:00Z')");
      }
      tokens.push_back({decimal ? TokenType::kDecimal : TokenType::kInteger,
                        std::string(q.substr(i, j - i)), pos});
      i = j;
    } else if (IsWordStart(c)) {
      size_t j = i;
      while (j < q.size() && IsWordChar(q[j])) ++j;
      tokens.push_back({TokenType::kWord, std::string(q.substr(i, j - i)), pos});
      i = j;
    } else {
      std::string_view two = q.substr(i, 2);
      if (two == "!=" || two == "<>" || two == "<=" || two == ">=") {
        tokens.push_back({TokenType::kSymbol, std::string(two), pos});
        i += 2;
      } else if (c == '=' || c == '<' || c == '>' || c == '(' || c == ')' || c == ',') {
        tokens.push_back({TokenType::kSymbol, std::string(1, c), pos});
        ++i;
      } else {
        return InvalidArgument(At(pos) + "unexpected character '" + std::string(1, c) + "'");
      }
    }
  }
  tokens.push_back({TokenType::kEnd, "", q.size() + 1});
  return tokens;
}

bool IsKeyword(const std::string& lower) {
  static constexpr std::string_view kKeywords[] = {"and",         "or",  "not",  "in",    "between",
                                                   "starts_with", "is",  "null", "order", "group",
                                                   "by",          "asc", "desc", "true",  "false"};
  return std::find(std::begin(kKeywords), std::end(kKeywords), lower) != std::end(kKeywords);
}

std::string Describe(const Token& token) {
  switch (token.type) {
    case TokenType::kEnd:
      return "the end of the query";
    case TokenType::kString:
      return "string '" + token.text + "'";
    case TokenType::kQuotedName:
      return "`" + token.text + "`";
    default:
      return "'" + token.text + "'";
  }
}

// ---------------------------------------------------------------------------------------------
// Values

struct Literal {
  enum class Type { kString, kInteger, kDecimal, kBool } type;
  std::string text;
  size_t position;
};

std::string DescribeLiteral(const Literal& literal) {
  switch (literal.type) {
    case Literal::Type::kString:
      return "string '" + literal.text + "'";
    case Literal::Type::kInteger:
      return "integer " + literal.text;
    case Literal::Type::kDecimal:
      return "number " + literal.text;
    case Literal::Type::kBool:
      return "boolean " + literal.text;
  }
  return literal.text;
}

std::optional<int64_t> ParseInt64(std::string_view text) {
  int64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Maps the status names Temporal's UI and SDKs use ("Running", "ContinuedAsNew", also the
// enum spelling "WORKFLOW_EXECUTION_STATUS_TIMED_OUT") to WorkflowExecutionStatus numbers.
std::optional<int64_t> StatusNumber(std::string_view name) {
  std::string key;
  for (char c : name) {
    if (c != '_') key += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  constexpr std::string_view kPrefix = "workflowexecutionstatus";
  if (key.starts_with(kPrefix)) key.erase(0, kPrefix.size());
  static constexpr std::pair<std::string_view, int64_t> kStatuses[] = {
      {"running", 1},    {"completed", 2},      {"failed", 3},  {"canceled", 4},
      {"terminated", 5}, {"continuedasnew", 6}, {"timedout", 7}};
  for (const auto& [status, number] : kStatuses) {
    if (key == status) return number;
  }
  return std::nullopt;
}

Status TypeError(const Attribute& attribute, std::string_view expected, const Literal& literal) {
  return InvalidArgument(At(literal.position) + "search attribute " + attribute.name + " of type " +
                         std::string(KindName(attribute.kind)) + " expects " +
                         std::string(expected) + ", got " + DescribeLiteral(literal));
}

Result<persistence::FilterValue> ConvertValue(const Attribute& attribute, const Literal& literal) {
  using T = Literal::Type;
  switch (attribute.kind) {
    case Kind::kText:
    case Kind::kKeyword:
    case Kind::kKeywordList:
      if (literal.type != T::kString) return TypeError(attribute, "a quoted string", literal);
      return persistence::FilterValue(literal.text);
    case Kind::kInt: {
      if (literal.type != T::kInteger) return TypeError(attribute, "an integer", literal);
      auto value = ParseInt64(literal.text);
      if (!value) {
        return InvalidArgument(At(literal.position) + "integer " + literal.text +
                               " is out of the 64-bit range");
      }
      return persistence::FilterValue(*value);
    }
    case Kind::kDouble: {
      if (literal.type != T::kInteger && literal.type != T::kDecimal) {
        return TypeError(attribute, "a number", literal);
      }
      double value = 0;
      auto [end, ec] =
          std::from_chars(literal.text.data(), literal.text.data() + literal.text.size(), value);
      if (ec != std::errc() || end != literal.text.data() + literal.text.size()) {
        return InvalidArgument(At(literal.position) + "number " + literal.text +
                               " is out of range");
      }
      return persistence::FilterValue(value);
    }
    case Kind::kBool:
      if (literal.type != T::kBool) return TypeError(attribute, "true or false", literal);
      return persistence::FilterValue(Lower(literal.text) == "true");
    case Kind::kDatetime:
    case Kind::kDuration: {
      bool datetime = attribute.kind == Kind::kDatetime;
      std::string_view expected =
          datetime ? "an RFC 3339 timestamp string (e.g. '2024-01-02T03:04:05Z') or integer "
                     "Unix nanoseconds"
                   : "a duration string (e.g. '1h30m', '250ms') or integer nanoseconds";
      if (literal.type == T::kInteger) {
        auto value = ParseInt64(literal.text);
        if (!value) {
          return InvalidArgument(At(literal.position) + "integer " + literal.text +
                                 " is out of the 64-bit range");
        }
        return persistence::FilterValue(*value);
      }
      if (literal.type != T::kString) return TypeError(attribute, expected, literal);
      Result<int64_t> nanos =
          datetime ? ParseRfc3339Nanos(literal.text) : ParseGoDurationNanos(literal.text);
      if (!nanos.ok()) {
        return InvalidArgument(At(literal.position) + "search attribute " + attribute.name + ": " +
                               nanos.status().message());
      }
      return persistence::FilterValue(*nanos);
    }
    case Kind::kStatus: {
      if (literal.type == T::kInteger) {
        auto value = ParseInt64(literal.text);
        if (value && *value >= 1 && *value <= 7) return persistence::FilterValue(*value);
      } else if (literal.type == T::kString) {
        if (auto value = StatusNumber(literal.text)) return persistence::FilterValue(*value);
      }
      return InvalidArgument(At(literal.position) +
                             "ExecutionStatus expects one of 'Running', 'Completed', 'Failed', "
                             "'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut', got " +
                             DescribeLiteral(literal));
    }
  }
  return Internal("unhandled attribute kind");
}

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent, building the predicate tree.

ListingPredicate Combine(Op op, std::vector<ListingPredicate> children) {
  ListingPredicate out;
  out.op = op;
  out.children = std::move(children);
  return out;
}

class Translator {
 public:
  Translator(std::vector<Token> tokens, const std::map<std::string, int>& custom)
      : tokens_(std::move(tokens)), custom_(custom) {}

  Result<persistence::VisibilityFilter> Run() {
    persistence::VisibilityFilter out;
    if (!AtClauseStart() && Peek().type != TokenType::kEnd) {
      EON_ASSIGN_OR_RETURN(out.where, ParseOr());
    }
    bool saw_order = false;
    bool saw_group = false;
    while (Peek().type != TokenType::kEnd) {
      const Token& token = Peek();
      if (token.type == TokenType::kSymbol && token.text == ")") {
        return InvalidArgument(At(token.position) +
                               "unbalanced parenthesis: ')' without a matching '('");
      }
      if (!AtClauseStart()) {
        return InvalidArgument(At(token.position) + "unexpected " + Describe(token) +
                               " after the end of the expression (expected AND, OR, ORDER BY, "
                               "GROUP BY or the end of the query)");
      }
      bool order = Lower(token.text) == "order";
      if ((order && saw_order) || (!order && saw_group)) {
        return InvalidArgument(At(token.position) + "duplicate " + (order ? "ORDER" : "GROUP") +
                               " BY clause");
      }
      if (saw_order || saw_group) {
        // Counts per group have no order to speak of, and Temporal rejects the combination.
        return InvalidArgument(At(token.position) +
                               "ORDER BY and GROUP BY cannot be used together");
      }
      pos_ += 2;
      if (order) {
        saw_order = true;
        EON_RETURN_IF_ERROR(ParseOrderBy(out));
      } else {
        saw_group = true;
        EON_RETURN_IF_ERROR(ParseGroupBy(out));
      }
    }
    if (out.order_by.empty()) {
      // Newest start first.
      out.order_by.push_back({SystemField("StartTime"), /*descending=*/true});
      out.order_by.push_back({SystemField("RunId"), /*descending=*/true});
    }
    return out;
  }

 private:
  const Token& Peek(size_t ahead = 0) const {
    return tokens_[std::min(pos_ + ahead, tokens_.size() - 1)];
  }
  bool PeekWord(std::string_view lower_word, size_t ahead = 0) const {
    const Token& token = Peek(ahead);
    return token.type == TokenType::kWord && Lower(token.text) == lower_word;
  }
  bool PeekSymbol(std::string_view symbol) const {
    return Peek().type == TokenType::kSymbol && Peek().text == symbol;
  }
  bool AtClauseStart() const {
    return (PeekWord("order") || PeekWord("group")) && PeekWord("by", 1);
  }

  static ListingField SystemField(std::string_view name) {
    for (const SystemAttribute& system : kSystemAttributes) {
      if (system.name == name) {
        return ListingField{system.column, std::string(name), StoredType(system.kind)};
      }
    }
    EON_RELEASE_ASSERT(false, "not a system attribute");
    return {};
  }

  Status Nest(const Token& token) {
    if (++depth_ > kMaxQueryNestingDepth) {
      return InvalidArgument(At(token.position) + "query nests deeper than " +
                             std::to_string(kMaxQueryNestingDepth) + " levels");
    }
    return Status::Ok();
  }

  Result<ListingPredicate> ParseOr() {
    EON_ASSIGN_OR_RETURN(ListingPredicate left, ParseAnd());
    if (!PeekWord("or")) return left;
    std::vector<ListingPredicate> terms;
    terms.push_back(std::move(left));
    while (PeekWord("or")) {
      ++pos_;
      EON_ASSIGN_OR_RETURN(ListingPredicate right, ParseAnd());
      terms.push_back(std::move(right));
    }
    return Combine(Op::kOr, std::move(terms));
  }

  Result<ListingPredicate> ParseAnd() {
    EON_ASSIGN_OR_RETURN(ListingPredicate left, ParseNot());
    if (!PeekWord("and")) return left;
    std::vector<ListingPredicate> terms;
    terms.push_back(std::move(left));
    while (PeekWord("and")) {
      ++pos_;
      EON_ASSIGN_OR_RETURN(ListingPredicate right, ParseNot());
      terms.push_back(std::move(right));
    }
    return Combine(Op::kAnd, std::move(terms));
  }

  Result<ListingPredicate> ParseNot() {
    if (!PeekWord("not")) return ParsePrimary();
    const Token& token = Peek();
    EON_RETURN_IF_ERROR(Nest(token));
    ++pos_;
    EON_ASSIGN_OR_RETURN(ListingPredicate operand, ParseNot());
    --depth_;
    std::vector<ListingPredicate> children;
    children.push_back(std::move(operand));
    return Combine(Op::kNot, std::move(children));
  }

  Result<ListingPredicate> ParsePrimary() {
    const Token& token = Peek();
    if (token.type == TokenType::kSymbol && token.text == "(") {
      EON_RETURN_IF_ERROR(Nest(token));
      ++pos_;
      if (PeekSymbol(")")) {
        return InvalidArgument(At(Peek().position) + "empty parentheses");
      }
      EON_ASSIGN_OR_RETURN(ListingPredicate inner, ParseOr());
      if (!PeekSymbol(")")) {
        return InvalidArgument(At(Peek().position) +
                               "unbalanced parenthesis: expected ')' to "
                               "close the '(' at position " +
                               std::to_string(token.position) + ", got " + Describe(Peek()));
      }
      ++pos_;
      --depth_;
      return inner;
    }
    EON_ASSIGN_OR_RETURN(Attribute attribute, ParseAttribute("a search attribute name"));
    return ParsePredicate(attribute);
  }

  Result<Attribute> ParseAttribute(std::string_view expected) {
    const Token& token = Peek();
    bool word = token.type == TokenType::kWord && !IsKeyword(Lower(token.text));
    if (!word && token.type != TokenType::kQuotedName) {
      std::string hint;
      if (token.type == TokenType::kWord) hint = " (quote a name that is a keyword: `Name`)";
      if (token.type == TokenType::kEnd && pos_ > 0) {
        hint = " after " + Describe(tokens_[pos_ - 1]);
      }
      return InvalidArgument(At(token.position) + "expected " + std::string(expected) + ", got " +
                             Describe(token) + hint);
    }
    ++pos_;
    return Resolve(token);
  }

  Result<Attribute> Resolve(const Token& token) {
    const std::string& name = token.text;
    for (const SystemAttribute& system : kSystemAttributes) {
      if (system.name != name) continue;
      if (system.column != ListingColumn::kSearchAttribute) {
        return Attribute{name, system.kind,
                         ListingField{system.column, name, StoredType(system.kind)}};
      }
      return MapAttribute(token, system.kind);
    }
    auto custom = custom_.find(name);
    std::optional<Kind> kind;
    if (custom != custom_.end()) kind = KindOf(custom->second);
    if (!kind) {
      return InvalidArgument(At(token.position) + "unknown search attribute " + name);
    }
    return MapAttribute(token, *kind);
  }

  // An attribute kept in the search_attributes map.
  Result<Attribute> MapAttribute(const Token& token, Kind kind) {
    // Some stores (SQLite 3.40) have no escape inside a quoted JSON path label, so a name
    // holding '"' cannot be addressed there; refuse it rather than build a path that means
    // something else (persistence/visibility_filter.h).
    for (char c : token.text) {
      if (c == '"' || static_cast<unsigned char>(c) < 0x20) {
        return InvalidArgument(At(token.position) + "search attribute name " + token.text +
                               " contains a character that cannot be queried (a '\"' or a "
                               "control character)");
      }
    }
    if (token.text.size() > persistence::kMaxAttributeNameBytes) {
      return InvalidArgument(At(token.position) + "search attribute name is longer than " +
                             std::to_string(persistence::kMaxAttributeNameBytes) + " bytes");
    }
    return Attribute{token.text, kind,
                     ListingField{ListingColumn::kSearchAttribute, token.text, StoredType(kind)}};
  }

  Result<Literal> ParseValue(std::string_view after) {
    const Token& token = Peek();
    Literal literal{Literal::Type::kString, token.text, token.position};
    switch (token.type) {
      case TokenType::kString:
        break;
      case TokenType::kInteger:
        literal.type = Literal::Type::kInteger;
        break;
      case TokenType::kDecimal:
        literal.type = Literal::Type::kDecimal;
        break;
      case TokenType::kWord:
        if (PeekWord("true") || PeekWord("false")) {
          literal.type = Literal::Type::kBool;
          break;
        }
        if (PeekWord("null")) {
          return InvalidArgument(At(token.position) +
                                 "NULL is not a value here; use IS NULL "
                                 "or IS NOT NULL");
        }
        return InvalidArgument(At(token.position) + "expected a value after " + std::string(after) +
                               ", got " + Describe(token) + " (text values must be quoted)");
      default:
        return InvalidArgument(At(token.position) + "expected a value after " + std::string(after) +
                               ", got " + Describe(token));
    }
    ++pos_;
    return literal;
  }

  Status AddValue(const Attribute& attribute, std::string_view after, ListingPredicate& out) {
    EON_ASSIGN_OR_RETURN(Literal literal, ParseValue(after));
    EON_ASSIGN_OR_RETURN(persistence::FilterValue value, ConvertValue(attribute, literal));
    out.values.push_back(std::move(value));
    return Status::Ok();
  }

  static bool Orderable(Kind kind) {
    return kind != Kind::kBool && kind != Kind::kKeywordList && kind != Kind::kStatus;
  }

  Status CheckOperator(const Attribute& attribute, std::string_view op, const Token& at,
                       bool allowed) {
    if (allowed) return Status::Ok();
    return InvalidArgument(At(at.position) + "operator " + std::string(op) +
                           " is not supported for search attribute " + attribute.name +
                           " of type " + std::string(KindName(attribute.kind)));
  }

  Result<ListingPredicate> ParsePredicate(const Attribute& attribute) {
    ListingPredicate out;
    out.field = attribute.field;
    const Token& op_token = Peek();
    if (op_token.type == TokenType::kSymbol && op_token.text != "(" && op_token.text != ")" &&
        op_token.text != ",") {
      std::string op = op_token.text == "<>" ? "!=" : op_token.text;
      bool equality = op == "=" || op == "!=";
      EON_RETURN_IF_ERROR(
          CheckOperator(attribute, op, op_token, equality || Orderable(attribute.kind)));
      ++pos_;
      EON_RETURN_IF_ERROR(AddValue(attribute, "'" + op_token.text + "'", out));
      out.op = op == "="    ? Op::kEqual
               : op == "!=" ? Op::kNotEqual
               : op == "<"  ? Op::kLess
               : op == "<=" ? Op::kLessOrEqual
               : op == ">"  ? Op::kGreater
                            : Op::kGreaterOrEqual;
      return out;
    }
    bool negated = false;
    if (PeekWord("not") &&
        (PeekWord("in", 1) || PeekWord("between", 1) || PeekWord("starts_with", 1))) {
      negated = true;
      ++pos_;
    }
    const Token& keyword = Peek();
    if (PeekWord("in")) {
      ++pos_;
      if (!PeekSymbol("(")) {
        return InvalidArgument(At(Peek().position) + "expected '(' after IN, got " +
                               Describe(Peek()));
      }
      size_t open = Peek().position;
      ++pos_;
      if (PeekSymbol(")")) {
        return InvalidArgument(At(Peek().position) + "empty IN list: give at least one value");
      }
      while (true) {
        EON_RETURN_IF_ERROR(AddValue(attribute, out.values.empty() ? "'('" : "','", out));
        if (PeekSymbol(",")) {
          ++pos_;
          continue;
        }
        if (PeekSymbol(")")) break;
        return InvalidArgument(At(Peek().position) +
                               "expected ',' or ')' in the IN list "
                               "opened at position " +
                               std::to_string(open) + ", got " + Describe(Peek()));
      }
      ++pos_;
      out.op = negated ? Op::kNotIn : Op::kIn;
      return out;
    }
    if (PeekWord("between")) {
      EON_RETURN_IF_ERROR(CheckOperator(attribute, "BETWEEN", keyword, Orderable(attribute.kind)));
      ++pos_;
      EON_RETURN_IF_ERROR(AddValue(attribute, "BETWEEN", out));
      if (!PeekWord("and")) {
        return InvalidArgument(At(Peek().position) + "expected AND in BETWEEN, got " +
                               Describe(Peek()));
      }
      ++pos_;
      EON_RETURN_IF_ERROR(AddValue(attribute, "AND", out));
      out.op = negated ? Op::kNotBetween : Op::kBetween;
      return out;
    }
    if (PeekWord("starts_with")) {
      EON_RETURN_IF_ERROR(
          CheckOperator(attribute, "STARTS_WITH", keyword,
                        attribute.kind == Kind::kKeyword || attribute.kind == Kind::kKeywordList));
      ++pos_;
      EON_RETURN_IF_ERROR(AddValue(attribute, "STARTS_WITH", out));
      out.op = negated ? Op::kNotStartsWith : Op::kStartsWith;
      return out;
    }
    if (PeekWord("is")) {
      ++pos_;
      bool not_null = PeekWord("not");
      if (not_null) ++pos_;
      if (!PeekWord("null")) {
        return InvalidArgument(At(Peek().position) + "expected NULL after IS" +
                               (not_null ? " NOT" : "") + ", got " + Describe(Peek()));
      }
      ++pos_;
      out.op = not_null ? Op::kIsNotNull : Op::kIsNull;
      return out;
    }
    return InvalidArgument(At(op_token.position) +
                           "expected an operator (=, !=, <, <=, >, >=, "
                           "IN, NOT IN, BETWEEN, NOT BETWEEN, STARTS_WITH, IS NULL, IS NOT "
                           "NULL) after " +
                           attribute.name + ", got " + Describe(op_token));
  }

  Status ParseOrderBy(persistence::VisibilityFilter& out) {
    bool has_run_id = false;
    while (true) {
      const Token& name = Peek();
      EON_ASSIGN_OR_RETURN(Attribute attribute, ParseAttribute("a search attribute to ORDER BY"));
      // Temporal does not sort by Text (it is tokenised) or by KeywordList (many values).
      if (attribute.kind == Kind::kText || attribute.kind == Kind::kKeywordList) {
        return InvalidArgument(At(name.position) + "cannot ORDER BY " + attribute.name +
                               " of type " + std::string(KindName(attribute.kind)));
      }
      bool descending = false;
      if (PeekWord("asc") || PeekWord("desc")) {
        descending = PeekWord("desc");
        ++pos_;
      }
      has_run_id |= attribute.field.column == ListingColumn::kRunId;
      out.order_by.push_back({std::move(attribute.field), descending});
      if (!PeekSymbol(",")) break;
      ++pos_;
    }
    if (!has_run_id) out.order_by.push_back({SystemField("RunId"), /*descending=*/true});
    out.custom_order_by = true;
    return Status::Ok();
  }

  Status ParseGroupBy(persistence::VisibilityFilter& out) {
    const Token& name = Peek();
    if (name.type != TokenType::kWord && name.type != TokenType::kQuotedName) {
      return InvalidArgument(At(name.position) + "expected ExecutionStatus after GROUP BY, got " +
                             Describe(name));
    }
    if (name.text != "ExecutionStatus") {
      return InvalidArgument(At(name.position) +
                             "GROUP BY is only supported on "
                             "ExecutionStatus, not " +
                             name.text);
    }
    ++pos_;
    if (PeekSymbol(",")) {
      return InvalidArgument(At(Peek().position) +
                             "GROUP BY supports a single attribute, ExecutionStatus");
    }
    out.group_by = SystemField("ExecutionStatus");
    return Status::Ok();
  }

  std::vector<Token> tokens_;
  const std::map<std::string, int>& custom_;
  size_t pos_ = 0;
  int depth_ = 0;
};

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t DaysFromCivil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

}  // namespace

Result<int64_t> ParseRfc3339Nanos(std::string_view text) {
  const std::string bad = "'" + std::string(text) +
                          "' is not an RFC 3339 timestamp like '2024-01-02T03:04:05Z' or "
                          "'2024-01-02T03:04:05.123+02:00'";
  size_t i = 0;
  auto digits = [&](size_t count, int64_t& out) {
    if (i + count > text.size()) return false;
    out = 0;
    for (size_t k = 0; k < count; ++k) {
      if (!IsDigit(text[i + k])) return false;
      out = out * 10 + (text[i + k] - '0');
    }
    i += count;
    return true;
  };
  auto expect = [&](std::string_view chars) {
    if (i >= text.size() || chars.find(text[i]) == std::string_view::npos) return false;
    ++i;
    return true;
  };
  int64_t year, month, day, hour, minute, second;
  if (!digits(4, year) || !expect("-") || !digits(2, month) || !expect("-") || !digits(2, day) ||
      !expect("Tt ") || !digits(2, hour) || !expect(":") || !digits(2, minute) || !expect(":") ||
      !digits(2, second)) {
    return InvalidArgument(bad);
  }
  int64_t fraction_nanos = 0;
  if (i < text.size() && text[i] == '.') {
    ++i;
    size_t start = i;
    int64_t scale = 100'000'000;
    while (i < text.size() && IsDigit(text[i])) {
      if (i - start >= 9) return InvalidArgument(bad + " (at most 9 fractional digits)");
      fraction_nanos += (text[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == start) return InvalidArgument(bad);
  }
  int64_t offset_seconds = 0;
  if (expect("Zz")) {
  } else if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    int64_t sign = text[i] == '-' ? -1 : 1;
    ++i;
    int64_t offset_hours, offset_minutes;
    if (!digits(2, offset_hours) || !expect(":") || !digits(2, offset_minutes) ||
        offset_hours > 23 || offset_minutes > 59) {
      return InvalidArgument(bad);
    }
    offset_seconds = sign * (offset_hours * 3600 + offset_minutes * 60);
  } else {
    return InvalidArgument(bad + " (missing 'Z' or a UTC offset)");
  }
  if (i != text.size()) return InvalidArgument(bad);
  static constexpr int kDaysInMonth[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1 ||
      day > kDaysInMonth[month - 1] + (month == 2 && IsLeap(year) ? 1 : 0) || hour > 23 ||
      minute > 59 || second > 59) {
    return InvalidArgument(bad + " (a field is out of range)");
  }
  __int128 seconds = static_cast<__int128>(DaysFromCivil(year, month, day)) * 86400 + hour * 3600 +
                     minute * 60 + second - offset_seconds;
  __int128 nanos = seconds * 1'000'000'000 + fraction_nanos;
  if (nanos > INT64_MAX || nanos < INT64_MIN) {
    return InvalidArgument("'" + std::string(text) +
                           "' is outside the representable range (years 1678 to 2262)");
  }
  return static_cast<int64_t>(nanos);
}

Result<int64_t> ParseGoDurationNanos(std::string_view text) {
  const std::string bad = "'" + std::string(text) +
                          "' is not a duration like '1h30m', '10s' or '250ms' (units: ns, us, ms, "
                          "s, m, h)";
  size_t i = 0;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) negative = text[i++] == '-';
  if (text.substr(i) == "0") return int64_t{0};
  if (i == text.size()) return InvalidArgument(bad);
  __int128 total = 0;
  while (i < text.size()) {
    __int128 whole = 0;
    size_t start = i;
    while (i < text.size() && IsDigit(text[i])) {
      whole = whole * 10 + (text[i++] - '0');
      if (whole > INT64_MAX) return InvalidArgument(bad + " (too large)");
    }
    __int128 fraction = 0;
    __int128 fraction_scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && IsDigit(text[i])) {
        if (fraction_scale < 1'000'000'000'000'000'000) {
          fraction = fraction * 10 + (text[i] - '0');
          fraction_scale *= 10;
        }
        ++i;
      }
    }
    if (i == start || (i == start + 1 && text[start] == '.')) return InvalidArgument(bad);
    size_t unit_start = i;
    while (i < text.size() && !IsDigit(text[i]) && text[i] != '.') ++i;
    std::string_view unit = text.substr(unit_start, i - unit_start);
    int64_t unit_nanos;
    if (unit == "ns") {
      unit_nanos = 1;
    } else if (unit == "us" || unit == "\xC2\xB5s" || unit == "\xCE\xBCs") {
      unit_nanos = 1'000;
    } else if (unit == "ms") {
      unit_nanos = 1'000'000;
    } else if (unit == "s") {
      unit_nanos = 1'000'000'000;
    } else if (unit == "m") {
      unit_nanos = 60'000'000'000;
    } else if (unit == "h") {
      unit_nanos = 3'600'000'000'000;
    } else {
      return InvalidArgument(bad + (unit.empty() ? " (missing unit)" : " (unknown unit)"));
    }
    total += whole * unit_nanos + fraction * unit_nanos / fraction_scale;
    if (total > INT64_MAX) return InvalidArgument(bad + " (too large)");
  }
  return static_cast<int64_t>(negative ? -total : total);
}

Result<persistence::VisibilityFilter> ParseQuery(
    std::string_view query, const std::map<std::string, int>& custom_attributes) {
  if (query.size() > kMaxQueryLengthBytes) {
    return InvalidArgument("query is too long: " + std::to_string(query.size()) +
                           " bytes, the limit is " + std::to_string(kMaxQueryLengthBytes));
  }
  EON_ASSIGN_OR_RETURN(std::vector<Token> tokens, Lex(query));
  return Translator(std::move(tokens), custom_attributes).Run();
}

}  // namespace eon::visibility
