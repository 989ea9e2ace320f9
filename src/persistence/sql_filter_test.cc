// SQLite's rendering of list filters: the SQL text it writes, and (through a real SqliteStore on
// an in-memory database) what the rendered filters select. Filters are built by hand here, as a
// store sees them, including ones the query parser would never build.
#include "persistence/sql_filter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "persistence/sqlite_store.h"

namespace eon::persistence {
namespace {

namespace enums = temporal::api::enums::v1;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::UnorderedElementsAre;
using Op = ListingPredicate::Op;
using Runs = std::vector<std::string>;

ListingField Column(ListingColumn column, IndexedValueType type) {
  return ListingField{column, "column", type};
}
ListingField WorkflowId() {
  return Column(ListingColumn::kWorkflowId, enums::INDEXED_VALUE_TYPE_KEYWORD);
}
ListingField HistoryLength() {
  return Column(ListingColumn::kHistoryLength, enums::INDEXED_VALUE_TYPE_INT);
}
ListingField Attr(const std::string& name, IndexedValueType type) {
  return ListingField{ListingColumn::kSearchAttribute, name, type};
}

ListingPredicate Compare(ListingField field, Op op, std::vector<FilterValue> values) {
  ListingPredicate p;
  p.op = op;
  p.field = std::move(field);
  p.values = std::move(values);
  return p;
}
ListingPredicate Combine(Op op, std::vector<ListingPredicate> children) {
  ListingPredicate p;
  p.op = op;
  p.children = std::move(children);
  return p;
}
// One child, moved in (an initializer list would copy the whole subtree).
ListingPredicate Wrap(Op op, ListingPredicate child) {
  ListingPredicate p;
  p.op = op;
  p.children.push_back(std::move(child));
  return p;
}
FilterValue Str(const std::string& text) { return FilterValue(text); }

VisibilityFilter Where(ListingPredicate where) {
  VisibilityFilter filter;
  filter.where = std::move(where);
  filter.order_by.push_back(
      {Column(ListingColumn::kRunId, enums::INDEXED_VALUE_TYPE_KEYWORD), /*descending=*/false});
  return filter;
}

Result<SqlFilter> Render(ListingPredicate where) {
  return RenderSqliteFilter(Where(std::move(where)));
}

std::string WhereSql(ListingPredicate where) {
  auto sql = Render(std::move(where));
  EXPECT_TRUE(sql.ok()) << sql.status().message();
  return sql.ok() ? sql->where : "<error>";
}

TEST(SqliteFilter, EveryOperatorOnAColumn) {
  struct Case {
    Op op;
    std::vector<FilterValue> values;
    std::string sql;
  };
  const Case cases[] = {
      {Op::kEqual, {Str("a")}, "(workflow_id = ?)"},
      {Op::kNotEqual, {Str("a")}, "(workflow_id != ?)"},
      {Op::kLess, {Str("a")}, "(workflow_id < ?)"},
      {Op::kLessOrEqual, {Str("a")}, "(workflow_id <= ?)"},
      {Op::kGreater, {Str("a")}, "(workflow_id > ?)"},
      {Op::kGreaterOrEqual, {Str("a")}, "(workflow_id >= ?)"},
      {Op::kIn, {Str("a"), Str("b")}, "(workflow_id IN (?, ?))"},
      {Op::kNotIn, {Str("a")}, "(workflow_id NOT IN (?))"},
      {Op::kBetween, {Str("a"), Str("b")}, "(workflow_id BETWEEN ? AND ?)"},
      {Op::kNotBetween, {Str("a"), Str("b")}, "(workflow_id NOT BETWEEN ? AND ?)"},
      {Op::kStartsWith, {Str("a")}, "(instr(workflow_id, ?) = 1)"},
      {Op::kNotStartsWith, {Str("a")}, "(instr(workflow_id, ?) != 1)"},
      {Op::kIsNull, {}, "(workflow_id IS NULL)"},
      {Op::kIsNotNull, {}, "(workflow_id IS NOT NULL)"},
  };
  for (const Case& c : cases) {
    auto sql = Render(Compare(WorkflowId(), c.op, c.values));
    ASSERT_TRUE(sql.ok()) << c.sql << ": " << sql.status().message();
    EXPECT_EQ(sql->where, c.sql);
    EXPECT_EQ(sql->params.size(), c.values.size()) << c.sql;
  }
  ListingPredicate all;
  EXPECT_EQ(WhereSql(all), "1");
}

TEST(SqliteFilter, BooleanStructure) {
  auto a = Compare(WorkflowId(), Op::kEqual, {Str("a")});
  auto b = Compare(HistoryLength(), Op::kGreater, {int64_t{3}});
  EXPECT_EQ(WhereSql(Combine(Op::kAnd, {a, b})), "(workflow_id = ?) AND (history_length > ?)");
  EXPECT_EQ(WhereSql(Combine(Op::kOr, {a, b, a})),
            "(workflow_id = ?) OR (history_length > ?) OR (workflow_id = ?)");
  EXPECT_EQ(WhereSql(Combine(Op::kNot, {a})), "NOT (workflow_id = ?)");
  EXPECT_EQ(WhereSql(Combine(Op::kAnd, {a})), "(workflow_id = ?)");
  // Parentheses only where precedence needs them: an OR under an AND, an AND or OR under a NOT.
  EXPECT_EQ(WhereSql(Combine(Op::kAnd, {Combine(Op::kOr, {a, b}), a})),
            "((workflow_id = ?) OR (history_length > ?)) AND (workflow_id = ?)");
  EXPECT_EQ(WhereSql(Combine(Op::kOr, {Combine(Op::kAnd, {a, b}), a})),
            "(workflow_id = ?) AND (history_length > ?) OR (workflow_id = ?)");
  EXPECT_EQ(WhereSql(Combine(Op::kNot, {Combine(Op::kOr, {a, b})})),
            "NOT ((workflow_id = ?) OR (history_length > ?))");
  EXPECT_EQ(WhereSql(Combine(Op::kAnd, {Combine(Op::kNot, {a}), b})),
            "NOT (workflow_id = ?) AND (history_length > ?)");
  // NOT NOT x is x.
  EXPECT_EQ(WhereSql(Wrap(Op::kNot, Wrap(Op::kNot, a))), "(workflow_id = ?)");
  EXPECT_EQ(WhereSql(Wrap(Op::kNot, Wrap(Op::kNot, Wrap(Op::kNot, a)))), "NOT (workflow_id = ?)");
  // Parameters follow their placeholders' order.
  auto sql = Render(Combine(Op::kOr, {b, a}));
  ASSERT_TRUE(sql.ok());
  EXPECT_EQ(std::get<int64_t>(sql->params[0]), 3);
  EXPECT_EQ(std::get<std::string>(sql->params[1]), "a");
}

TEST(SqliteFilter, SearchAttributesOfEachType) {
  const std::string kw = "json_extract(search_attributes, '$.\"K\"')";
  EXPECT_EQ(WhereSql(Compare(Attr("K", enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kEqual, {Str("x")})),
            "(" + kw + " = ?)");
  EXPECT_EQ(WhereSql(Compare(Attr("K", enums::INDEXED_VALUE_TYPE_TEXT), Op::kNotEqual, {Str("x")})),
            "(" + kw + " != ?)");
  EXPECT_EQ(WhereSql(Compare(Attr("K", enums::INDEXED_VALUE_TYPE_INT), Op::kLess, {int64_t{1}})),
            "(" + kw + " < ?)");
  EXPECT_EQ(WhereSql(Compare(Attr("K", enums::INDEXED_VALUE_TYPE_DOUBLE), Op::kGreater, {1.5})),
            "(" + kw + " > ?)");
  EXPECT_EQ(WhereSql(Compare(Attr("K", enums::INDEXED_VALUE_TYPE_DATETIME), Op::kBetween,
                             {int64_t{1}, int64_t{2}})),
            "(" + kw + " BETWEEN ? AND ?)");
  // Bool binds as 0/1, which is what json_extract reads from true/false.
  auto sql = Render(Compare(Attr("K", enums::INDEXED_VALUE_TYPE_BOOL), Op::kEqual, {true}));
  ASSERT_TRUE(sql.ok());
  EXPECT_EQ(sql->where, "(" + kw + " = ?)");
  EXPECT_EQ(std::get<int64_t>(sql->params[0]), 1);
  // A KeywordList matches when any element does; negated, when present and none does.
  const std::string each =
      "EXISTS (SELECT 1 FROM json_each(search_attributes, '$.\"K\"') AS kl WHERE ";
  auto list = Attr("K", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST);
  EXPECT_EQ(WhereSql(Compare(list, Op::kEqual, {Str("x")})), each + "kl.value = ?)");
  EXPECT_EQ(WhereSql(Compare(list, Op::kNotEqual, {Str("x")})),
            "(" + kw + " IS NOT NULL AND NOT " + each + "kl.value = ?))");
  EXPECT_EQ(WhereSql(Compare(list, Op::kIn, {Str("x"), Str("y")})), each + "kl.value IN (?, ?))");
  EXPECT_EQ(WhereSql(Compare(list, Op::kNotIn, {Str("x")})),
            "(" + kw + " IS NOT NULL AND NOT " + each + "kl.value IN (?)))");
  EXPECT_EQ(WhereSql(Compare(list, Op::kStartsWith, {Str("x")})), each + "instr(kl.value, ?) = 1)");
  EXPECT_EQ(WhereSql(Compare(list, Op::kIsNull, {})), "(" + kw + " IS NULL)");
}

TEST(SqliteFilter, NamesAreQuotedAndValuesNeverWrittenIntoTheSql) {
  auto sql =
      Render(Compare(Attr("O'Brien; DROP TABLE visibility", enums::INDEXED_VALUE_TYPE_KEYWORD),
                     Op::kEqual, {Str("it's'); DELETE FROM visibility; --")}));
  ASSERT_TRUE(sql.ok());
  EXPECT_EQ(sql->where,
            "(json_extract(search_attributes, '$.\"O''Brien; DROP TABLE visibility\"') = ?)");
  EXPECT_THAT(sql->where, Not(HasSubstr("DELETE")));
  EXPECT_EQ(std::get<std::string>(sql->params[0]), "it's'); DELETE FROM visibility; --");
}

TEST(SqliteFilter, OrderAndGroup) {
  VisibilityFilter filter;
  filter.order_by = {{Column(ListingColumn::kStartTime, enums::INDEXED_VALUE_TYPE_DATETIME), true},
                     {Attr("Prio", enums::INDEXED_VALUE_TYPE_INT), false},
                     {Column(ListingColumn::kRunId, enums::INDEXED_VALUE_TYPE_KEYWORD), true}};
  filter.group_by = Column(ListingColumn::kStatus, enums::INDEXED_VALUE_TYPE_INT);
  auto sql = RenderSqliteFilter(filter);
  ASSERT_TRUE(sql.ok()) << sql.status().message();
  EXPECT_EQ(sql->where, "1");
  EXPECT_EQ(sql->order_by,
            "start_time_ns DESC, json_extract(search_attributes, '$.\"Prio\"') ASC, run_id DESC");
  EXPECT_EQ(sql->group_by, "status");
}

// Filters that break the header's rules get INVALID_ARGUMENT naming the problem.
TEST(SqliteFilter, MalformedFiltersAreRejected) {
  auto keyword = Attr("K", enums::INDEXED_VALUE_TYPE_KEYWORD);
  auto list = Attr("K", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST);
  auto boolean = Attr("K", enums::INDEXED_VALUE_TYPE_BOOL);
  const std::pair<ListingPredicate, std::string> cases[] = {
      {Combine(Op::kAnd, {}), "AND / OR without operands"},
      {Combine(Op::kOr, {}), "AND / OR without operands"},
      {Combine(Op::kNot, {}), "NOT takes exactly one operand"},
      {Combine(Op::kNot, {Compare(keyword, Op::kIsNull, {}), Compare(keyword, Op::kIsNull, {})}),
       "NOT takes exactly one operand"},
      {Compare(keyword, Op::kEqual, {}), "wrong number of values (0)"},
      {Compare(keyword, Op::kEqual, {Str("a"), Str("b")}), "wrong number of values (2)"},
      {Compare(keyword, Op::kBetween, {Str("a")}), "wrong number of values (1)"},
      {Compare(keyword, Op::kIn, {}), "wrong number of values (0)"},
      {Compare(keyword, Op::kIsNull, {Str("a")}), "IS NULL takes no value"},
      {Compare(keyword, Op::kEqual, {int64_t{1}}), "wrong type for K of type Keyword"},
      {Compare(HistoryLength(), Op::kEqual, {Str("1")}), "wrong type"},
      {Compare(HistoryLength(), Op::kEqual, {1.5}), "wrong type"},
      {Compare(boolean, Op::kEqual, {int64_t{1}}), "wrong type"},
      {Compare(list, Op::kIn, {Str("a"), int64_t{1}}), "wrong type"},
      {Compare(boolean, Op::kLess, {true}), "operator < is not supported for K of type Bool"},
      {Compare(list, Op::kGreater, {Str("a")}), "operator > is not supported"},
      {Compare(list, Op::kBetween, {Str("a"), Str("b")}), "operator BETWEEN is not supported"},
      {Compare(HistoryLength(), Op::kStartsWith, {int64_t{1}}), "STARTS_WITH is not supported"},
      {Compare(Attr("T", enums::INDEXED_VALUE_TYPE_TEXT), Op::kStartsWith, {Str("a")}),
       "STARTS_WITH is not supported"},
      {Compare(keyword, static_cast<Op>(999), {Str("a")}), "unknown operator 999"},
      {Compare(Column(static_cast<ListingColumn>(999), enums::INDEXED_VALUE_TYPE_INT), Op::kIsNull,
               {}),
       "unknown column 999"},
      {Compare(Column(ListingColumn::kWorkflowId, enums::INDEXED_VALUE_TYPE_INT), Op::kIsNull, {}),
       "is a Keyword column, not Int"},
      {Compare(Attr("K", enums::INDEXED_VALUE_TYPE_UNSPECIFIED), Op::kIsNull, {}),
       "unknown type 0"},
      {Compare(Attr("K", static_cast<IndexedValueType>(77)), Op::kIsNull, {}), "unknown type 77"},
      {Compare(Attr("", enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kIsNull, {}), "1 to 255 bytes"},
      {Compare(Attr(std::string(256, 'a'), enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kIsNull, {}),
       "1 to 255 bytes"},
      {Compare(Attr("a\"b", enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kIsNull, {}),
       "cannot be queried"},
      {Compare(Attr("a\nb", enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kIsNull, {}),
       "cannot be queried"},
      {Compare(Attr(std::string("a\0b", 3), enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kIsNull, {}),
       "cannot be queried"},
  };
  for (const auto& [where, expected] : cases) {
    auto sql = Render(where);
    ASSERT_FALSE(sql.ok()) << expected;
    EXPECT_EQ(sql.status().code(), StatusCode::INVALID_ARGUMENT) << expected;
    EXPECT_THAT(sql.status().message(), HasSubstr(expected));
    EXPECT_THAT(sql.status().message(), HasSubstr("list filter: "));
  }

  VisibilityFilter no_order;
  EXPECT_THAT(RenderSqliteFilter(no_order).status().message(), HasSubstr("no ORDER BY key"));
  VisibilityFilter text_order = Where({});
  text_order.order_by.push_back({Attr("T", enums::INDEXED_VALUE_TYPE_TEXT), false});
  EXPECT_THAT(RenderSqliteFilter(text_order).status().message(),
              HasSubstr("cannot order by T of type Text"));
  VisibilityFilter keyword_group = Where({});
  keyword_group.group_by = WorkflowId();
  EXPECT_THAT(RenderSqliteFilter(keyword_group).status().message(),
              HasSubstr("GROUP BY needs an Int field"));
}

// A chain as deep as the limit renders; one level more is refused, not a stack overflow.
TEST(SqliteFilter, NestingAndValueLimits) {
  auto leaf = Compare(WorkflowId(), Op::kEqual, {Str("x")});
  auto nest = [&](int depth) {
    ListingPredicate p = leaf;
    for (int i = 1; i < depth; ++i) p = Wrap(Op::kAnd, std::move(p));
    return p;
  };
  EXPECT_TRUE(Render(nest(kMaxFilterDepth)).ok());
  auto too_deep = Render(nest(kMaxFilterDepth + 1));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_deep.status().message(), HasSubstr("nests deeper than 256 levels"));
  // Far deeper still: refused just the same (the check comes before the recursion).
  ListingPredicate deep = leaf;
  for (int i = 0; i < 20'000; ++i) deep = Wrap(Op::kNot, std::move(deep));
  EXPECT_FALSE(Render(std::move(deep)).ok());

  std::vector<FilterValue> many(kMaxFilterValues, Str("v"));
  EXPECT_TRUE(Render(Compare(WorkflowId(), Op::kIn, many)).ok());
  many.push_back(Str("v"));
  auto too_many = Render(Compare(WorkflowId(), Op::kIn, many));
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(too_many.status().message(), HasSubstr("more than 10000 values"));
}

// The rendered filters, run by the store itself.
class SqliteFilterStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = SqliteStore::Open(SqliteOptions{});
    ASSERT_TRUE(store.ok()) << store.status().message();
    store_ = std::move(store).value();
    Add("r1", "order-1", 1, 10,
        R"({"K":"gold","T":"hello","I":5,"D":1.5,"B":true,)"
        R"("DT":1000,"KL":["a","b"]})");
    Add("r2", "order-2", 2, 20, R"({"K":"silver","I":10,"D":2.5,"B":false,"DT":2000,"KL":["c"]})");
    Add("r3", "it's \"quoted\" %_", 3, 30, R"({"K":"it's \"x\"","KL":[]})");
    Add("r4", std::string(100'000, 'w'), 2, 40, "{}");
  }

  void Add(const std::string& run, const std::string& workflow_id, int64_t status,
           int64_t history_length, const std::string& search_attributes) {
    VisibilityRow row;
    row.namespace_id = "ns";
    row.run_id = run;
    row.workflow_id = workflow_id;
    row.workflow_type = "T";
    row.status = status;
    row.start_time_ns = history_length;
    row.task_queue = "q";
    row.history_length = history_length;
    row.search_attributes_json = search_attributes;
    row.info = run;
    ASSERT_TRUE(store_->UpsertVisibility(row).ok());
  }

  Runs List(ListingPredicate where) {
    auto rows = store_->ListVisibility("ns", Where(std::move(where)), 100, 0);
    EXPECT_TRUE(rows.ok()) << rows.status().message();
    return rows.ok() ? *rows : Runs{"<error>"};
  }

  std::unique_ptr<SqliteStore> store_;
};

TEST_F(SqliteFilterStoreTest, EachTypeSelectsTheRightRows) {
  auto t = [](const char* name, IndexedValueType type) { return Attr(name, type); };
  EXPECT_EQ(List(Compare(t("K", enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kEqual, {Str("gold")})),
            Runs{"r1"});
  EXPECT_EQ(
      List(Compare(t("K", enums::INDEXED_VALUE_TYPE_KEYWORD), Op::kEqual, {Str("it's \"x\"")})),
      Runs{"r3"});
  EXPECT_EQ(List(Compare(t("T", enums::INDEXED_VALUE_TYPE_TEXT), Op::kEqual, {Str("hello")})),
            Runs{"r1"});
  EXPECT_EQ(List(Compare(t("I", enums::INDEXED_VALUE_TYPE_INT), Op::kGreaterOrEqual, {int64_t{6}})),
            Runs{"r2"});
  EXPECT_EQ(List(Compare(t("D", enums::INDEXED_VALUE_TYPE_DOUBLE), Op::kLess, {2.0})), Runs{"r1"});
  EXPECT_EQ(List(Compare(t("D", enums::INDEXED_VALUE_TYPE_DOUBLE), Op::kLess, {int64_t{3}})),
            (Runs{"r1", "r2"}));
  EXPECT_EQ(List(Compare(t("B", enums::INDEXED_VALUE_TYPE_BOOL), Op::kEqual, {false})), Runs{"r2"});
  EXPECT_EQ(List(Compare(t("DT", enums::INDEXED_VALUE_TYPE_DATETIME), Op::kBetween,
                         {int64_t{1500}, int64_t{2000}})),
            Runs{"r2"});
  auto list = t("KL", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST);
  EXPECT_EQ(List(Compare(list, Op::kEqual, {Str("b")})), Runs{"r1"});
  EXPECT_EQ(List(Compare(list, Op::kNotEqual, {Str("b")})), (Runs{"r2", "r3"}));
  EXPECT_EQ(List(Compare(list, Op::kNotIn, {Str("a"), Str("c")})), Runs{"r3"});
  EXPECT_EQ(List(Compare(list, Op::kIsNull, {})), Runs{"r4"});
  // A list's positive test is false (not unknown) without the list: NOT of it matches r4.
  EXPECT_EQ(List(Wrap(Op::kNot, Compare(list, Op::kEqual, {Str("b")}))), (Runs{"r2", "r3", "r4"}));
  // Absent attributes match neither a comparison nor its negation.
  EXPECT_EQ(List(Compare(t("I", enums::INDEXED_VALUE_TYPE_INT), Op::kNotEqual, {int64_t{5}})),
            Runs{"r2"});
  EXPECT_EQ(List(Combine(Op::kNot, {Compare(t("I", enums::INDEXED_VALUE_TYPE_INT), Op::kEqual,
                                            {int64_t{5}})})),
            Runs{"r2"});
}

TEST_F(SqliteFilterStoreTest, HostileValuesAreJustValues) {
  EXPECT_EQ(List(Compare(WorkflowId(), Op::kEqual, {Str("it's \"quoted\" %_")})), Runs{"r3"});
  EXPECT_EQ(List(Compare(WorkflowId(), Op::kStartsWith, {Str("it's \"q")})), Runs{"r3"});
  // '%' and '_' are no wildcards.
  EXPECT_THAT(List(Compare(WorkflowId(), Op::kStartsWith, {Str("%")})), IsEmpty());
  EXPECT_THAT(List(Compare(WorkflowId(), Op::kEqual, {Str("x' OR '1'='1")})), IsEmpty());
  EXPECT_EQ(List(Compare(WorkflowId(), Op::kEqual, {Str(std::string(100'000, 'w'))})), Runs{"r4"});
  EXPECT_EQ(List(Compare(WorkflowId(), Op::kStartsWith, {Str(std::string(50'000, 'w'))})),
            Runs{"r4"});
  EXPECT_THAT(List(Compare(WorkflowId(), Op::kEqual, {Str(std::string(1'000'000, '\''))})),
              IsEmpty());
  // The table is still there.
  EXPECT_EQ(List({}).size(), 4u);
}

// A long flat chain is split so that SQLite's expression depth limit (1,000) is never reached.
TEST_F(SqliteFilterStoreTest, LongChainsRun) {
  std::vector<ListingPredicate> terms;
  for (int i = 0; i < 5'000; ++i) {
    terms.push_back(Compare(HistoryLength(), Op::kEqual, {int64_t{1'000 + i}}));
  }
  terms.push_back(Compare(HistoryLength(), Op::kEqual, {int64_t{20}}));
  EXPECT_EQ(List(Combine(Op::kOr, terms)), Runs{"r2"});
  EXPECT_THAT(List(Combine(Op::kAnd, terms)), IsEmpty());
}

// The deepest nesting SQLite's parser is given (kSqliteNestingMax levels of NOT and parentheses,
// with the costliest test at the bottom) runs; one level more is INVALID_ARGUMENT, not an error
// from inside SQLite.
TEST_F(SqliteFilterStoreTest, NestingUpToSqlitesLimitRuns) {
  static_assert(kSqliteNestingMax % 2 == 0);
  auto never = Compare(WorkflowId(), Op::kIsNull, {});
  ListingPredicate p =
      Compare(Attr("KL", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST), Op::kNotIn, {Str("a"), Str("c")});
  // Each NOT (p OR never) is two levels and leaves the answer as it was after an even count.
  for (int i = 0; i < kSqliteNestingMax / 2; ++i) {
    p = Wrap(Op::kNot, Combine(Op::kOr, {std::move(p), never}));
  }
  EXPECT_EQ(List(p), Runs{"r3"});
  VisibilityFilter counted = Where(p);
  auto count = store_->CountVisibility("ns", counted);
  ASSERT_TRUE(count.ok()) << count.status().message();
  EXPECT_EQ((*count)[0].second, 1);
  // One more level: an OR under an AND is parenthesised.
  p = Combine(Op::kAnd,
              {Combine(Op::kOr, {std::move(p), never}), Compare(WorkflowId(), Op::kIsNotNull, {})});
  auto rows = store_->ListVisibility("ns", Where(p), 100, 0);
  ASSERT_FALSE(rows.ok());
  EXPECT_EQ(rows.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(rows.status().message(), HasSubstr("nests too deeply for SQLite (21 levels"));
}

TEST_F(SqliteFilterStoreTest, CountGroupsAndRejectsBadFilters) {
  VisibilityFilter filter = Where({});
  filter.group_by = Column(ListingColumn::kStatus, enums::INDEXED_VALUE_TYPE_INT);
  auto counts = store_->CountVisibility("ns", filter);
  ASSERT_TRUE(counts.ok()) << counts.status().message();
  EXPECT_THAT(*counts, UnorderedElementsAre(std::pair<int64_t, int64_t>{1, 1},
                                            std::pair<int64_t, int64_t>{2, 2},
                                            std::pair<int64_t, int64_t>{3, 1}));
  auto bad = store_->ListVisibility("ns", Where(Combine(Op::kAnd, {})), 10, 0);
  EXPECT_EQ(bad.status().code(), StatusCode::INVALID_ARGUMENT);
  auto bad_count = store_->CountVisibility("ns", Where(Combine(Op::kNot, {})));
  EXPECT_EQ(bad_count.status().code(), StatusCode::INVALID_ARGUMENT);
  auto bad_schedules = store_->ListSchedules("ns", VisibilityFilter{}, 10, 0);
  EXPECT_EQ(bad_schedules.status().code(), StatusCode::INVALID_ARGUMENT);
}

}  // namespace
}  // namespace eon::persistence
