#include "visibility/query.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "persistence/sqlite_db.h"
#include "persistence/sql_filter.h"

namespace eon::visibility {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using Runs = std::vector<std::string>;
namespace enums = temporal::api::enums::v1;

constexpr int64_t kSecond = 1'000'000'000;
constexpr int64_t kHour = 3600 * kSecond;
constexpr int64_t kT0 = 1'704'067'200 * kSecond;  // 2024-01-01T00:00:00Z

const std::map<std::string, int>& CustomAttributes() {
  static const auto* attributes = new std::map<std::string, int>{
      {"CustomKeyword", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"CustomText", enums::INDEXED_VALUE_TYPE_TEXT},
      {"CustomInt", enums::INDEXED_VALUE_TYPE_INT},
      {"CustomDouble", enums::INDEXED_VALUE_TYPE_DOUBLE},
      {"CustomBool", enums::INDEXED_VALUE_TYPE_BOOL},
      {"CustomDatetime", enums::INDEXED_VALUE_TYPE_DATETIME},
      {"CustomKeywordList", enums::INDEXED_VALUE_TYPE_KEYWORD_LIST},
      {"My Attr", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"O'Brien", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"Order", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"Bad\"Name", enums::INDEXED_VALUE_TYPE_KEYWORD},
      {"Unspecified", enums::INDEXED_VALUE_TYPE_UNSPECIFIED},
      {"NotAType", 99},
  };
  return *attributes;
}

// The query parsed, then rendered as SQLite's SQL (what SqliteStore runs).
Result<persistence::SqlFilter> Translate(std::string_view query) {
  EON_ASSIGN_OR_RETURN(auto parsed, ParseQuery(query, CustomAttributes()));
  return persistence::RenderSqliteFilter(parsed);
}

// Six executions in namespace ns1 (start times 4h, 3h, 2h, 1h, 0.5h, 0h after kT0, so the default
// order is r4 r3 r2 r1 r6 r5) and one in ns2 that no query may return.
class QueryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = persistence::SqliteDb::Open(":memory:");
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(db).value();
    ASSERT_TRUE(db_->Exec(R"sql(
      CREATE TABLE visibility (
        namespace_id TEXT NOT NULL, run_id TEXT NOT NULL, workflow_id TEXT NOT NULL,
        workflow_type TEXT NOT NULL, status INTEGER NOT NULL, start_time_ns INTEGER NOT NULL,
        close_time_ns INTEGER, execution_time_ns INTEGER NOT NULL,
        execution_duration_ns INTEGER, task_queue TEXT NOT NULL, history_length INTEGER,
        history_size_bytes INTEGER, state_transition_count INTEGER, parent_workflow_id TEXT,
        parent_run_id TEXT, root_workflow_id TEXT, root_run_id TEXT, search_attributes TEXT,
        PRIMARY KEY (namespace_id, run_id)))sql")
                    .ok());
    const int64_t h = kHour;
    Insert("ns1", "r1", "order-1", "OrderWorkflow", 1, kT0 + h, std::nullopt, kT0 + h, std::nullopt,
           "orders", 10, 1000, 5, "NULL", "NULL", "'order-1'", "'r1'",
           R"({"CustomKeyword":"gold","CustomText":"hello world","CustomInt":5,)"
           R"("CustomDouble":1.5,"CustomBool":true,"CustomDatetime":)" +
               std::to_string(kT0 + h) +
               R"(,"CustomKeywordList":["a","b"],"BuildIds":["v1"],"My Attr":"spaced"})");
    Insert("ns1", "r2", "order-2", "OrderWorkflow", 2, kT0 + 2 * h, kT0 + 3 * h, kT0 + 2 * h, h,
           "orders", 20, 2000, 8, "'order-1'", "'r1'", "'order-1'", "'r1'",
           R"({"CustomKeyword":"silver","CustomInt":10,"CustomDouble":2.5,"CustomBool":false,)"
           R"("CustomDatetime":)" +
               std::to_string(kT0 + 2 * h) +
               R"(,"CustomKeywordList":["b","c"],"TemporalChangeVersion":["fix-1"],)"
               R"("O'Brien":"x"})");
    Insert("ns1", "r3", "payment-1", "PaymentWorkflow", 3, kT0 + 3 * h, kT0 + 3 * h + 10 * kSecond,
           kT0 + 3 * h, 10 * kSecond, "payments", 30, 3000, 12, "'other'", "'rX'", "'payment-1'",
           "'r3'",
           R"({"CustomKeyword":"gold","CustomText":"it's \"quoted\"","CustomInt":-3,)"
           R"("CustomKeywordList":["c"]})");
    Insert("ns1", "r4", "payment-2", "PaymentWorkflow", 6, kT0 + 4 * h, kT0 + 5 * h,
           kT0 + 4 * h + h / 2, h, "payments", 40, 4000, 20, "NULL", "NULL", "'payment-2'", "'r4'",
           R"({"Order":"y"})");
    Insert("ns1", "r5", "misc", "Misc_Type%", 7, kT0, kT0 + kSecond / 4, kT0, kSecond / 4, "Orders",
           1, 100, 1, "NULL", "NULL", "NULL", "NULL", "");
    Insert("ns1", "r6", "payment-3", "PaymentWorkflow", 2, kT0 + h / 2, kT0 + 2 * h / 3,
           kT0 + h / 2, h / 6, "payments", 50, 5000, 25, "NULL", "NULL", "'payment-3'", "'r6'",
           R"({"CustomKeyword":"bronze"})");
    Insert("ns2", "r7", "order-1", "OrderWorkflow", 1, kT0 + 10 * h, std::nullopt, kT0 + 10 * h,
           std::nullopt, "orders", 10, 1000, 5, "NULL", "NULL", "NULL", "NULL",
           R"({"CustomKeyword":"gold","CustomKeywordList":["a","b","c"]})");
  }

  void Insert(const std::string& ns, const std::string& run, const std::string& workflow_id,
              const std::string& type, int status, int64_t start, std::optional<int64_t> close,
              int64_t execution_time, std::optional<int64_t> duration, const std::string& queue,
              int64_t history_length, int64_t history_size, int64_t transitions,
              const std::string& parent_workflow_sql, const std::string& parent_run_sql,
              const std::string& root_workflow_sql, const std::string& root_run_sql,
              const std::string& search_attributes_json) {
    auto opt = [](std::optional<int64_t> v) { return v ? std::to_string(*v) : "NULL"; };
    std::string sa = "NULL";
    if (!search_attributes_json.empty()) {
      sa = "'";
      for (char c : search_attributes_json) sa += c == '\'' ? std::string("''") : std::string(1, c);
      sa += "'";
    }
    std::string sql =
        "INSERT INTO visibility VALUES ('" + ns + "', '" + run + "', '" + workflow_id + "', '" +
        type + "', " + std::to_string(status) + ", " + std::to_string(start) + ", " + opt(close) +
        ", " + std::to_string(execution_time) + ", " + opt(duration) + ", '" + queue + "', " +
        std::to_string(history_length) + ", " + std::to_string(history_size) + ", " +
        std::to_string(transitions) + ", " + parent_workflow_sql + ", " + parent_run_sql + ", " +
        root_workflow_sql + ", " + root_run_sql + ", " + sa + ")";
    Status status_ = db_->Exec(sql);
    ASSERT_TRUE(status_.ok()) << status_.message() << "\n" << sql;
  }

  static void BindAll(sqlite3_stmt* stmt, int first,
                      const std::vector<persistence::SqlFilterValue>& params) {
    for (size_t i = 0; i < params.size(); ++i) {
      int index = first + static_cast<int>(i);
      if (const auto* n = std::get_if<int64_t>(&params[i])) {
        sqlite3_bind_int64(stmt, index, *n);
      } else if (const auto* d = std::get_if<double>(&params[i])) {
        sqlite3_bind_double(stmt, index, *d);
      } else {
        const auto& s = std::get<std::string>(params[i]);
        sqlite3_bind_text(stmt, index, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
      }
    }
  }

  // The run ids the query lists in namespace ns1, in the query's order.
  Runs List(const std::string& query) {
    auto translated = Translate(query);
    EXPECT_TRUE(translated.ok()) << query << ": " << translated.status().message();
    if (!translated.ok()) return {"<error>"};
    std::string sql = "SELECT run_id FROM visibility WHERE namespace_id = ? AND (" +
                      translated->where + ") ORDER BY " + translated->order_by;
    auto statement = db_->Prepare(sql);
    EXPECT_TRUE(statement.ok()) << query << ": " << statement.status().message() << "\n" << sql;
    if (!statement.ok()) return {"<sql error>"};
    (*statement)->Bind(1, std::string_view("ns1"));
    BindAll((*statement)->raw(), 2, translated->params);
    Runs runs;
    while ((*statement)->Step()) runs.push_back((*statement)->ColumnText(0));
    EXPECT_TRUE((*statement)->status().ok()) << query << ": " << (*statement)->status().message();
    return runs;
  }

  // status -> count for a Count query with GROUP BY.
  std::map<int64_t, int64_t> CountByStatus(const std::string& query) {
    auto parsed = ParseQuery(query, CustomAttributes());
    EXPECT_TRUE(parsed.ok()) << query << ": " << parsed.status().message();
    if (!parsed.ok()) return {};
    EXPECT_TRUE(parsed->group_by.has_value());
    if (!parsed->group_by) return {};
    EXPECT_EQ(parsed->group_by->column, persistence::ListingColumn::kStatus);
    EXPECT_EQ(parsed->group_by->attribute, "ExecutionStatus");
    auto translated = persistence::RenderSqliteFilter(*parsed);
    EXPECT_TRUE(translated.ok()) << translated.status().message();
    if (!translated.ok()) return {};
    EXPECT_EQ(translated->group_by, "status");
    std::string sql = "SELECT " + translated->group_by +
                      ", COUNT(*) FROM visibility WHERE namespace_id = ? AND (" +
                      translated->where + ") GROUP BY " + translated->group_by;
    auto statement = db_->Prepare(sql);
    EXPECT_TRUE(statement.ok()) << statement.status().message();
    if (!statement.ok()) return {};
    (*statement)->Bind(1, std::string_view("ns1"));
    BindAll((*statement)->raw(), 2, translated->params);
    std::map<int64_t, int64_t> counts;
    while ((*statement)->Step()) counts[(*statement)->ColumnInt(0)] = (*statement)->ColumnInt(1);
    return counts;
  }

  std::unique_ptr<persistence::SqliteDb> db_;
};

TEST_F(QueryTest, EmptyQueryListsTheNamespaceNewestFirst) {
  EXPECT_EQ(List(""), (Runs{"r4", "r3", "r2", "r1", "r6", "r5"}));
  EXPECT_EQ(List("   \n\t"), (Runs{"r4", "r3", "r2", "r1", "r6", "r5"}));
  auto parsed = ParseQuery("", CustomAttributes());
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->where.op, persistence::ListingPredicate::Op::kMatchAll);
  EXPECT_FALSE(parsed->custom_order_by);
  EXPECT_FALSE(parsed->group_by.has_value());
  auto translated = Translate("");
  ASSERT_TRUE(translated.ok());
  EXPECT_EQ(translated->where, "1");
  EXPECT_THAT(translated->params, IsEmpty());
  EXPECT_EQ(translated->order_by, "start_time_ns DESC, run_id DESC");
  EXPECT_THAT(translated->group_by, IsEmpty());
}

TEST_F(QueryTest, ValuesAreBoundNeverPastedIntoTheSql) {
  auto translated = Translate("WorkflowId = 'secret-value' OR HistoryLength > 12345");
  ASSERT_TRUE(translated.ok());
  EXPECT_THAT(translated->where, ::testing::Not(HasSubstr("secret-value")));
  EXPECT_THAT(translated->where, ::testing::Not(HasSubstr("12345")));
  ASSERT_EQ(translated->params.size(), 2u);
  EXPECT_EQ(std::get<std::string>(translated->params[0]), "secret-value");
  EXPECT_EQ(std::get<int64_t>(translated->params[1]), 12345);
  // An attempted injection is just an odd workflow id.
  EXPECT_THAT(List(R"(WorkflowId = 'x\' OR 1=1 --')"), IsEmpty());
}

TEST_F(QueryTest, KeywordComparisons) {
  EXPECT_EQ(List("WorkflowId = 'order-1'"), (Runs{"r1"}));
  EXPECT_EQ(List("WorkflowId != 'order-1'"), (Runs{"r4", "r3", "r2", "r6", "r5"}));
  EXPECT_EQ(List("WorkflowId <> 'order-1'"), (Runs{"r4", "r3", "r2", "r6", "r5"}));
  EXPECT_EQ(List("WorkflowType IN ('OrderWorkflow', 'Misc_Type%')"), (Runs{"r2", "r1", "r5"}));
  EXPECT_EQ(List("WorkflowType NOT IN ('OrderWorkflow', 'Misc_Type%')"), (Runs{"r4", "r3", "r6"}));
  EXPECT_EQ(List("TaskQueue = \"orders\""), (Runs{"r2", "r1"}));  // Case-sensitive.
  EXPECT_EQ(List("WorkflowId > 'order-2'"), (Runs{"r4", "r3", "r6"}));
  EXPECT_EQ(List("WorkflowId >= 'order-2'"), (Runs{"r4", "r3", "r2", "r6"}));
  EXPECT_EQ(List("WorkflowId < 'order-1'"), (Runs{"r5"}));
  EXPECT_EQ(List("WorkflowId <= 'order-1'"), (Runs{"r1", "r5"}));
  EXPECT_EQ(List("WorkflowId BETWEEN 'order-1' AND 'order-2'"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("WorkflowId NOT BETWEEN 'order-1' AND 'order-2'"), (Runs{"r4", "r3", "r6", "r5"}));
  EXPECT_EQ(List("RunId = 'r3'"), (Runs{"r3"}));
  EXPECT_THAT(List("RunId = 'r7'"), IsEmpty());  // Another namespace's run.
}

TEST_F(QueryTest, StartsWithIsAnExactCaseSensitivePrefix) {
  EXPECT_EQ(List("WorkflowId STARTS_WITH 'order'"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("WorkflowId NOT STARTS_WITH 'order'"), (Runs{"r4", "r3", "r6", "r5"}));
  EXPECT_EQ(List("WorkflowType starts_with 'Misc_'"), (Runs{"r5"}));
  EXPECT_THAT(List("WorkflowType STARTS_WITH 'misc'"), IsEmpty());
  // No LIKE wildcards: '%' and '_' are ordinary characters.
  EXPECT_THAT(List("WorkflowType STARTS_WITH '%'"), IsEmpty());
  EXPECT_THAT(List("WorkflowType STARTS_WITH 'Misc%'"), IsEmpty());
  EXPECT_EQ(List("WorkflowType STARTS_WITH 'Misc_Type%'"), (Runs{"r5"}));
  EXPECT_EQ(List("WorkflowId STARTS_WITH ''"), (Runs{"r4", "r3", "r2", "r1", "r6", "r5"}));
}

TEST_F(QueryTest, IntComparisons) {
  EXPECT_EQ(List("HistoryLength = 20"), (Runs{"r2"}));
  EXPECT_EQ(List("HistoryLength != 20"), (Runs{"r4", "r3", "r1", "r6", "r5"}));
  EXPECT_EQ(List("HistoryLength < 20"), (Runs{"r1", "r5"}));
  EXPECT_EQ(List("HistoryLength <= 20"), (Runs{"r2", "r1", "r5"}));
  EXPECT_EQ(List("HistoryLength > 30"), (Runs{"r4", "r6"}));
  EXPECT_EQ(List("HistoryLength >= 30"), (Runs{"r4", "r3", "r6"}));
  EXPECT_EQ(List("HistoryLength IN (1, 40)"), (Runs{"r4", "r5"}));
  EXPECT_EQ(List("HistoryLength NOT IN (1, 40)"), (Runs{"r3", "r2", "r1", "r6"}));
  EXPECT_EQ(List("HistoryLength BETWEEN 10 AND 30"), (Runs{"r3", "r2", "r1"}));
  EXPECT_EQ(List("HistoryLength NOT BETWEEN 10 AND 30"), (Runs{"r4", "r6", "r5"}));
  EXPECT_EQ(List("HistorySizeBytes > 2500"), (Runs{"r4", "r3", "r6"}));
  EXPECT_EQ(List("StateTransitionCount <= 5"), (Runs{"r1", "r5"}));
  EXPECT_EQ(List("HistoryLength > -1"), (Runs{"r4", "r3", "r2", "r1", "r6", "r5"}));
}

TEST_F(QueryTest, ExecutionStatusByNameOrNumber) {
  EXPECT_EQ(List("ExecutionStatus = 'Running'"), (Runs{"r1"}));
  EXPECT_EQ(List("ExecutionStatus = 'completed'"), (Runs{"r2", "r6"}));
  EXPECT_EQ(List("ExecutionStatus = 'ContinuedAsNew'"), (Runs{"r4"}));
  EXPECT_EQ(List("ExecutionStatus = 'CONTINUED_AS_NEW'"), (Runs{"r4"}));
  EXPECT_EQ(List("ExecutionStatus = 'WORKFLOW_EXECUTION_STATUS_TIMED_OUT'"), (Runs{"r5"}));
  EXPECT_EQ(List("ExecutionStatus != 'Running'"), (Runs{"r4", "r3", "r2", "r6", "r5"}));
  EXPECT_EQ(List("ExecutionStatus IN ('Failed', 'TimedOut')"), (Runs{"r3", "r5"}));
  EXPECT_EQ(List("ExecutionStatus NOT IN ('Failed', 'TimedOut')"), (Runs{"r4", "r2", "r1", "r6"}));
  EXPECT_EQ(List("ExecutionStatus = 3"), (Runs{"r3"}));
  EXPECT_THAT(List("ExecutionStatus = 'Canceled' OR ExecutionStatus = 'Terminated'"), IsEmpty());
}

TEST_F(QueryTest, DatetimeLiteralsWithOffsetsAndFractions) {
  EXPECT_EQ(List("StartTime = '2024-01-01T01:00:00Z'"), (Runs{"r1"}));
  EXPECT_EQ(List("StartTime > '2024-01-01T02:00:00Z'"), (Runs{"r4", "r3"}));
  EXPECT_EQ(List("StartTime >= '2024-01-01T02:00:00Z'"), (Runs{"r4", "r3", "r2"}));
  EXPECT_EQ(List("StartTime < '2024-01-01T01:00:00Z'"), (Runs{"r6", "r5"}));
  EXPECT_EQ(List("StartTime <= '2024-01-01T01:00:00Z'"), (Runs{"r1", "r6", "r5"}));
  EXPECT_EQ(List("StartTime = '2024-01-01T03:00:00+01:00'"), (Runs{"r2"}));
  EXPECT_EQ(List("StartTime = '2023-12-31T21:00:00-05:00'"), (Runs{"r2"}));
  EXPECT_EQ(List("StartTime = '2024-01-01t00:30:00.000z'"), (Runs{"r6"}));
  EXPECT_EQ(List("StartTime != '2024-01-01T00:00:00Z'"), (Runs{"r4", "r3", "r2", "r1", "r6"}));
  EXPECT_EQ(List("CloseTime = '2024-01-01T00:00:00.25Z'"), (Runs{"r5"}));
  EXPECT_EQ(List("CloseTime BETWEEN '2024-01-01T03:00:00Z' AND '2024-01-01T05:00:00Z'"),
            (Runs{"r4", "r3", "r2"}));
  // The running r1 has no close time, so it matches neither the range nor its negation.
  EXPECT_EQ(List("CloseTime NOT BETWEEN '2024-01-01T03:00:00Z' AND '2024-01-01T05:00:00Z'"),
            (Runs{"r6", "r5"}));
  EXPECT_EQ(List("CloseTime != '2024-01-01T03:00:00Z'"), (Runs{"r4", "r3", "r6", "r5"}));
  EXPECT_EQ(List("CloseTime IS NULL"), (Runs{"r1"}));
  EXPECT_EQ(List("CloseTime is not null"), (Runs{"r4", "r3", "r2", "r6", "r5"}));
  EXPECT_EQ(List("StartTime IN ('2024-01-01T00:00:00Z', '2024-01-01T04:00:00Z')"),
            (Runs{"r4", "r5"}));
  EXPECT_EQ(List("StartTime NOT IN ('2024-01-01T00:00:00Z', '2024-01-01T04:00:00Z')"),
            (Runs{"r3", "r2", "r1", "r6"}));
  EXPECT_EQ(List("StartTime >= " + std::to_string(kT0 + 3 * kHour)), (Runs{"r4", "r3"}));
  EXPECT_EQ(List("ExecutionTime > '2024-01-01T04:00:00Z'"), (Runs{"r4"}));
}

TEST_F(QueryTest, ExecutionDurationAsGoDurationOrNanoseconds) {
  EXPECT_EQ(List("ExecutionDuration = '1h'"), (Runs{"r4", "r2"}));
  EXPECT_EQ(List("ExecutionDuration > '5s'"), (Runs{"r4", "r3", "r2", "r6"}));
  EXPECT_EQ(List("ExecutionDuration < '1s'"), (Runs{"r5"}));
  EXPECT_EQ(List("ExecutionDuration = '250ms'"), (Runs{"r5"}));
  EXPECT_EQ(List("ExecutionDuration = 10000000000"), (Runs{"r3"}));
  EXPECT_EQ(List("ExecutionDuration = '0.5h30m'"), (Runs{"r4", "r2"}));
  EXPECT_EQ(List("ExecutionDuration BETWEEN '10s' AND '10m'"), (Runs{"r3", "r6"}));
  EXPECT_EQ(List("ExecutionDuration IN ('10m', '10s')"), (Runs{"r3", "r6"}));
  EXPECT_EQ(List("ExecutionDuration != '1h'"), (Runs{"r3", "r6", "r5"}));
  EXPECT_EQ(List("ExecutionDuration IS NULL"), (Runs{"r1"}));
}

TEST_F(QueryTest, NullableKeywordColumns) {
  EXPECT_EQ(List("ParentWorkflowId IS NULL"), (Runs{"r4", "r1", "r6", "r5"}));
  EXPECT_EQ(List("ParentWorkflowId IS NOT NULL"), (Runs{"r3", "r2"}));
  EXPECT_EQ(List("ParentWorkflowId = 'order-1'"), (Runs{"r2"}));
  EXPECT_EQ(List("ParentWorkflowId != 'order-1'"), (Runs{"r3"}));
  EXPECT_EQ(List("ParentRunId = 'r1'"), (Runs{"r2"}));
  EXPECT_EQ(List("RootWorkflowId = 'order-1'"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("RootRunId IS NULL"), (Runs{"r5"}));
}

TEST_F(QueryTest, CustomKeyword) {
  EXPECT_EQ(List("CustomKeyword = 'gold'"), (Runs{"r3", "r1"}));
  EXPECT_EQ(List("CustomKeyword != 'gold'"), (Runs{"r2", "r6"}));
  EXPECT_EQ(List("CustomKeyword IN ('silver', 'bronze')"), (Runs{"r2", "r6"}));
  EXPECT_EQ(List("CustomKeyword NOT IN ('silver', 'bronze')"), (Runs{"r3", "r1"}));
  EXPECT_EQ(List("CustomKeyword STARTS_WITH 'go'"), (Runs{"r3", "r1"}));
  EXPECT_EQ(List("CustomKeyword NOT STARTS_WITH 'go'"), (Runs{"r2", "r6"}));
  EXPECT_EQ(List("CustomKeyword > 'gold'"), (Runs{"r2"}));
  EXPECT_EQ(List("CustomKeyword IS NULL"), (Runs{"r4", "r5"}));
  EXPECT_EQ(List("CustomKeyword IS NOT NULL"), (Runs{"r3", "r2", "r1", "r6"}));
}

TEST_F(QueryTest, CustomTextWithEscapedQuotes) {
  EXPECT_EQ(List("CustomText = 'hello world'"), (Runs{"r1"}));
  EXPECT_EQ(List(R"(CustomText = 'it\'s "quoted"')"), (Runs{"r3"}));
  EXPECT_EQ(List(R"(CustomText = "it's \"quoted\"")"), (Runs{"r3"}));
  EXPECT_EQ(List("CustomText != 'hello world'"), (Runs{"r3"}));
  EXPECT_EQ(List("CustomText IN ('hello world', 'nope')"), (Runs{"r1"}));
  EXPECT_EQ(List("CustomText IS NULL"), (Runs{"r4", "r2", "r6", "r5"}));
}

TEST_F(QueryTest, CustomInt) {
  EXPECT_EQ(List("CustomInt > 0"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("CustomInt = -3"), (Runs{"r3"}));
  EXPECT_EQ(List("CustomInt BETWEEN -5 AND 5"), (Runs{"r3", "r1"}));
  EXPECT_EQ(List("CustomInt IN (5, 10)"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("CustomInt NOT IN (5, 10)"), (Runs{"r3"}));
  EXPECT_EQ(List("CustomInt <= 5"), (Runs{"r3", "r1"}));
  EXPECT_EQ(List("CustomInt != 5"), (Runs{"r3", "r2"}));
  EXPECT_EQ(List("CustomInt IS NULL"), (Runs{"r4", "r6", "r5"}));
}

TEST_F(QueryTest, CustomDouble) {
  EXPECT_EQ(List("CustomDouble > 2"), (Runs{"r2"}));
  EXPECT_EQ(List("CustomDouble = 1.5"), (Runs{"r1"}));
  EXPECT_EQ(List("CustomDouble < 3"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("CustomDouble BETWEEN 1.0 AND 2.0"), (Runs{"r1"}));
  EXPECT_EQ(List("CustomDouble = 2.5e0"), (Runs{"r2"}));
  EXPECT_EQ(List("CustomDouble >= 1.5"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("CustomDouble != 1.5"), (Runs{"r2"}));
  EXPECT_EQ(List("CustomDouble IN (2.5, 7)"), (Runs{"r2"}));
}

TEST_F(QueryTest, CustomBool) {
  EXPECT_EQ(List("CustomBool = true"), (Runs{"r1"}));
  EXPECT_EQ(List("CustomBool = FALSE"), (Runs{"r2"}));
  EXPECT_EQ(List("CustomBool != true"), (Runs{"r2"}));
  EXPECT_EQ(List("CustomBool IN (true)"), (Runs{"r1"}));
  EXPECT_EQ(List("CustomBool IS NULL"), (Runs{"r4", "r3", "r6", "r5"}));
}

TEST_F(QueryTest, CustomDatetime) {
  EXPECT_EQ(List("CustomDatetime > '2024-01-01T01:30:00Z'"), (Runs{"r2"}));
  EXPECT_EQ(List("CustomDatetime = " + std::to_string(kT0 + kHour)), (Runs{"r1"}));
  EXPECT_EQ(List("CustomDatetime BETWEEN '2024-01-01T00:00:00Z' AND '2024-01-01T01:00:00Z'"),
            (Runs{"r1"}));
  EXPECT_EQ(List("CustomDatetime <= '2024-01-01T04:00:00+02:00'"), (Runs{"r2", "r1"}));
}

TEST_F(QueryTest, KeywordListContains) {
  EXPECT_EQ(List("CustomKeywordList = 'b'"), (Runs{"r2", "r1"}));
  EXPECT_EQ(List("CustomKeywordList = 'a'"), (Runs{"r1"}));
  EXPECT_EQ(List("CustomKeywordList != 'a'"), (Runs{"r3", "r2"}));
  EXPECT_EQ(List("CustomKeywordList IN ('a', 'c')"), (Runs{"r3", "r2", "r1"}));
  EXPECT_EQ(List("CustomKeywordList NOT IN ('a')"), (Runs{"r3", "r2"}));
  EXPECT_THAT(List("CustomKeywordList NOT IN ('a', 'c')"), IsEmpty());
  EXPECT_EQ(List("CustomKeywordList STARTS_WITH 'c'"), (Runs{"r3", "r2"}));
  EXPECT_EQ(List("CustomKeywordList NOT STARTS_WITH 'a'"), (Runs{"r3", "r2"}));
  EXPECT_EQ(List("CustomKeywordList IS NULL"), (Runs{"r4", "r6", "r5"}));
  EXPECT_EQ(List("CustomKeywordList IS NOT NULL"), (Runs{"r3", "r2", "r1"}));
  EXPECT_EQ(List("BuildIds = 'v1'"), (Runs{"r1"}));
  EXPECT_EQ(List("TemporalChangeVersion = 'fix-1'"), (Runs{"r2"}));
  EXPECT_EQ(List("BuildIds IS NULL"), (Runs{"r4", "r3", "r2", "r6", "r5"}));
}

TEST_F(QueryTest, BooleanLogicPrecedenceAndParentheses) {
  EXPECT_EQ(List("WorkflowType = 'OrderWorkflow' OR WorkflowType = 'PaymentWorkflow' AND "
                 "ExecutionStatus = 'Failed'"),
            (Runs{"r3", "r2", "r1"}));
  EXPECT_EQ(List("(WorkflowType = 'OrderWorkflow' OR WorkflowType = 'PaymentWorkflow') AND "
                 "ExecutionStatus = 'Failed'"),
            (Runs{"r3"}));
  EXPECT_EQ(List("NOT ExecutionStatus = 'Running'"), (Runs{"r4", "r3", "r2", "r6", "r5"}));
  EXPECT_EQ(List("NOT (ExecutionStatus = 'Running' OR ExecutionStatus = 'Completed')"),
            (Runs{"r4", "r3", "r5"}));
  EXPECT_EQ(List("NOT NOT ExecutionStatus = 'Running'"), (Runs{"r1"}));
  EXPECT_EQ(List("((((WorkflowId = 'order-1'))))"), (Runs{"r1"}));
  EXPECT_EQ(List("(WorkflowId = 'order-1' or (TaskQueue = 'payments' and not (HistoryLength > "
                 "35)))"),
            (Runs{"r3", "r1"}));
  EXPECT_EQ(List("HistoryLength BETWEEN 10 AND 30 AND WorkflowType = 'PaymentWorkflow'"),
            (Runs{"r3"}));
  EXPECT_EQ(List("CustomKeyword = 'gold' and not CustomKeyword in ('x') Or RunId = 'r5'"),
            (Runs{"r3", "r1", "r5"}));
  // Three-valued logic: rows without CustomKeyword match neither it nor its negation.
  EXPECT_EQ(List("NOT CustomKeyword = 'gold'"), (Runs{"r2", "r6"}));
}

TEST_F(QueryTest, BackquotedAndOddAttributeNames) {
  EXPECT_EQ(List("`My Attr` = 'spaced'"), (Runs{"r1"}));
  EXPECT_EQ(List("`WorkflowId` = 'order-2'"), (Runs{"r2"}));
  EXPECT_EQ(List("`O'Brien` = 'x'"), (Runs{"r2"}));
  EXPECT_EQ(List("`Order` = 'y' ORDER BY `Order`"), (Runs{"r4"}));
}

TEST_F(QueryTest, OrderByMultipleKeysAndDirections) {
  EXPECT_EQ(List("ORDER BY HistoryLength"), (Runs{"r5", "r1", "r2", "r3", "r4", "r6"}));
  EXPECT_EQ(List("order by WorkflowType asc, StartTime desc"),
            (Runs{"r5", "r2", "r1", "r4", "r3", "r6"}));
  // SQLite sorts NULL lowest: the running r1 comes last when descending.
  EXPECT_EQ(List("ORDER BY CloseTime DESC"), (Runs{"r4", "r3", "r2", "r6", "r5", "r1"}));
  // Ties (no CustomInt) fall back to run_id descending.
  EXPECT_EQ(List("ExecutionStatus != 'Running' ORDER BY CustomInt DESC"),
            (Runs{"r2", "r3", "r6", "r5", "r4"}));
  EXPECT_EQ(List("ORDER BY ExecutionStatus, RunId"), (Runs{"r1", "r2", "r6", "r3", "r4", "r5"}));
  EXPECT_TRUE(ParseQuery("ORDER BY HistoryLength", CustomAttributes())->custom_order_by);
  auto translated = Translate("ORDER BY HistoryLength");
  ASSERT_TRUE(translated.ok());
  EXPECT_EQ(translated->where, "1");
  EXPECT_EQ(translated->order_by, "history_length ASC, run_id DESC");
  translated = Translate("ORDER BY ExecutionStatus DESC, RunId");
  ASSERT_TRUE(translated.ok());
  EXPECT_EQ(translated->order_by, "status DESC, run_id ASC");
}

// Nesting runs as far as SQLite's parser allows and is then refused with INVALID_ARGUMENT (not
// an error from inside SQLite); the longest flat chain that fits in a query runs.
TEST_F(QueryTest, DeepAndLongQueries) {
  auto alternating = [](int levels) {
    std::string query = "RunId = 'r2'";
    for (int i = 0; i < levels; ++i) {
      // A term that is always true under AND, never under OR: the answer stays r2.
      query =
          std::string(i % 2 ? "(RunId != 'none' AND " : "(WorkflowId = 'none' OR ") + query + ")";
    }
    return query;
  };
  EXPECT_EQ(List(alternating(31)), Runs{"r2"});  // 15 levels of parentheses in the SQL
  auto too_deep = Translate(alternating(kMaxQueryNestingDepth));
  ASSERT_FALSE(too_deep.ok());
  EXPECT_EQ(too_deep.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_deep.status().message(), HasSubstr("nests too deeply for SQLite"));
  // Parentheses alone and pairs of NOTs cost nothing.
  EXPECT_EQ(List(std::string(kMaxQueryNestingDepth, '(') + "RunId = 'r2'" +
                 std::string(kMaxQueryNestingDepth, ')')),
            Runs{"r2"});
  std::string nots;
  for (int i = 0; i < kMaxQueryNestingDepth; ++i) nots += "NOT ";
  EXPECT_EQ(List(nots + "RunId = 'r2'"), Runs{"r2"});
  EXPECT_EQ(List(nots.substr(4) + "RunId = 'r2'"), (Runs{"r4", "r3", "r1", "r6", "r5"}));
  std::string chain = "RunId='r3'";
  while (chain.size() + 14 <= kMaxQueryLengthBytes) chain += " OR RunId='zz'";
  EXPECT_GT(chain.size(), kMaxQueryLengthBytes - 14);
  EXPECT_EQ(List(chain), Runs{"r3"});
}

TEST_F(QueryTest, GroupByExecutionStatusCounts) {
  EXPECT_EQ(CountByStatus("GROUP BY ExecutionStatus"),
            (std::map<int64_t, int64_t>{{1, 1}, {2, 2}, {3, 1}, {6, 1}, {7, 1}}));
  EXPECT_EQ(CountByStatus("WorkflowType = 'PaymentWorkflow' group by ExecutionStatus"),
            (std::map<int64_t, int64_t>{{2, 1}, {3, 1}, {6, 1}}));
}

// Each malformed query is rejected with INVALID_ARGUMENT and a message naming the problem.
TEST(QueryErrors, MalformedQueriesSayWhatIsWrong) {
  const std::pair<std::string, std::string> cases[] = {
      {"WorkflowId = 'abc", "at position 14: unterminated string"},
      {"WorkflowId = ", "expected a value after '='"},
      {"WorkflowId =", "expected a value after '=', got the end of the query"},
      {"Nope = 'x'", "unknown search attribute Nope"},
      {"Unspecified = 'x'", "unknown search attribute Unspecified"},
      {"NotAType = 'x'", "unknown search attribute NotAType"},
      {"workflowid = 'x'", "unknown search attribute workflowid"},
      {"HistoryLength = 'ten'", "HistoryLength of type Int expects an integer, got string 'ten'"},
      {"HistoryLength = 1.5", "expects an integer, got number 1.5"},
      {"CustomDouble = 'x'", "expects a number"},
      {"CustomBool = 1", "expects true or false"},
      {"WorkflowId = 5", "expects a quoted string, got integer 5"},
      {"CustomKeywordList = true", "expects a quoted string"},
      {"StartTime = 'yesterday'", "is not an RFC 3339 timestamp"},
      {"StartTime = '2024-02-30T00:00:00Z'", "out of range"},
      {"StartTime = '2024-01-01T00:00:00'", "missing 'Z' or a UTC offset"},
      {"StartTime = 1.5", "expects an RFC 3339 timestamp"},
      {"ExecutionDuration = '5 minutes'", "is not a duration"},
      {"ExecutionStatus = 'Sleeping'", "ExecutionStatus expects one of"},
      {"ExecutionStatus = 9", "ExecutionStatus expects one of"},
      {"WorkflowId == 'x'", "at position 13: expected a value after '='"},
      {"WorkflowId LIKE 'x'", "expected an operator"},
      {"WorkflowId ~ 'x'", "at position 12: unexpected character '~'"},
      {"ExecutionStatus < 'Running'", "operator < is not supported for search attribute"},
      {"CustomBool > true", "operator > is not supported"},
      {"CustomKeywordList BETWEEN 'a' AND 'b'", "operator BETWEEN is not supported"},
      {"CustomText STARTS_WITH 'x'", "operator STARTS_WITH is not supported"},
      {"HistoryLength STARTS_WITH '1'", "operator STARTS_WITH is not supported"},
      {"(WorkflowId = 'x'", "unbalanced parenthesis: expected ')' to close the '(' at position 1"},
      {"WorkflowId = 'x')", "unbalanced parenthesis: ')' without a matching '('"},
      {"WorkflowId = 'x' garbage", "unexpected 'garbage' after the end of the expression"},
      {"WorkflowId = 'x' 'y'", "after the end of the expression"},
      {"GROUP BY WorkflowType", "GROUP BY is only supported on ExecutionStatus"},
      {"GROUP BY ExecutionStatus, WorkflowType", "single attribute"},
      {"GROUP BY ExecutionStatus ORDER BY StartTime", "cannot be used together"},
      {"ORDER BY StartTime ORDER BY RunId", "duplicate ORDER BY"},
      {"WorkflowId IN ()", "empty IN list"},
      {"WorkflowId IN ('a' 'b')", "expected ',' or ')' in the IN list"},
      {"WorkflowId IN 'a'", "expected '(' after IN"},
      {"WorkflowId = NULL", "use IS NULL"},
      {"WorkflowId IS 'x'", "expected NULL after IS"},
      {"WorkflowId IS NOT 5", "expected NULL after IS NOT"},
      {"WorkflowId = abc", "text values must be quoted"},
      {"HistoryLength = 99999999999999999999", "out of the 64-bit range"},
      {"HistoryLength = 5abc", "malformed number '5a'"},
      {"WorkflowId BETWEEN 'a' 'b'", "expected AND in BETWEEN"},
      {"ORDER BY CustomText", "cannot ORDER BY CustomText of type Text"},
      {"ORDER BY CustomKeywordList", "cannot ORDER BY"},
      {"ORDER BY", "expected a search attribute to ORDER BY"},
      {"ORDER BY Nope", "unknown search attribute Nope"},
      {"AND WorkflowId = 'x'", "expected a search attribute name, got 'AND'"},
      {"WorkflowId = 'x' AND", "got the end of the query"},
      {"()", "empty parentheses"},
      {"`WorkflowId = 'x'", "unterminated `quoted` attribute name"},
      {"`Bad\"Name` = 'x'", "cannot be queried"},
      {"WorkflowId = 'x' AND HistoryLength = 'y'", "at position 38: "},
  };
  for (const auto& [query, expected] : cases) {
    auto translated = ParseQuery(query, CustomAttributes());
    ASSERT_FALSE(translated.ok()) << query;
    EXPECT_EQ(translated.status().code(), StatusCode::INVALID_ARGUMENT) << query;
    EXPECT_THAT(translated.status().message(), HasSubstr(expected)) << query;
  }
}

TEST(QueryErrors, LengthAndNestingLimits) {
  auto too_long = ParseQuery(std::string(kMaxQueryLengthBytes + 1, ' '), CustomAttributes());
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ(too_long.status().code(), StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(too_long.status().message(), HasSubstr("query is too long"));

  auto nested = [](int depth) {
    return std::string(depth, '(') + "WorkflowId = 'x'" + std::string(depth, ')');
  };
  EXPECT_TRUE(ParseQuery(nested(kMaxQueryNestingDepth), CustomAttributes()).ok());
  auto too_deep = ParseQuery(nested(kMaxQueryNestingDepth + 1), CustomAttributes());
  ASSERT_FALSE(too_deep.ok());
  EXPECT_THAT(too_deep.status().message(), HasSubstr("nests deeper than 100 levels"));

  std::string nots;
  for (int i = 0; i <= kMaxQueryNestingDepth; ++i) nots += "NOT ";
  auto too_many_nots = ParseQuery(nots + "WorkflowId = 'x'", CustomAttributes());
  ASSERT_FALSE(too_many_nots.ok());
  EXPECT_THAT(too_many_nots.status().message(), HasSubstr("nests deeper"));

  // Long flat chains are fine: they do not recurse.
  std::string chain = "WorkflowId = 'x'";
  for (int i = 0; i < 300; ++i) chain += " OR WorkflowId = 'x'";
  EXPECT_TRUE(ParseQuery(chain, CustomAttributes()).ok());
}

TEST(QueryTimes, Rfc3339) {
  EXPECT_EQ(*ParseRfc3339Nanos("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(*ParseRfc3339Nanos("1969-12-31T23:59:59.999999999Z"), -1);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-01-01T00:00:00Z"), kT0);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-01-01T02:30:00.5+02:30"), kT0 + kSecond / 2);
  EXPECT_EQ(*ParseRfc3339Nanos("2024-02-29 00:00:00Z"), kT0 + 59 * 24 * kHour);
  EXPECT_FALSE(ParseRfc3339Nanos("2023-02-29T00:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2024-01-01T00:00:00.Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2024-01-01T00:00:00.1234567891Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2024-01-01T24:00:00Z").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2024-01-01T00:00:00+0100").ok());
  EXPECT_FALSE(ParseRfc3339Nanos("2024-01-01T00:00:00Zjunk").ok());
  EXPECT_THAT(ParseRfc3339Nanos("3000-01-01T00:00:00Z").status().message(),
              HasSubstr("outside the representable range"));
}

TEST(QueryTimes, GoDurations) {
  EXPECT_EQ(*ParseGoDurationNanos("1h30m"), 90 * 60 * kSecond);
  EXPECT_EQ(*ParseGoDurationNanos("250ms"), kSecond / 4);
  EXPECT_EQ(*ParseGoDurationNanos("-1.5s"), -3 * kSecond / 2);
  EXPECT_EQ(*ParseGoDurationNanos("1us"), 1000);
  EXPECT_EQ(*ParseGoDurationNanos("1\xC2\xB5s"), 1000);
  EXPECT_EQ(*ParseGoDurationNanos("7ns"), 7);
  EXPECT_EQ(*ParseGoDurationNanos("0"), 0);
  EXPECT_EQ(*ParseGoDurationNanos("1h0.5m10s"), kHour + 40 * kSecond);
  for (const char* bad : {"", "1", "1x", "h", "-", ".s", "1h 30m", "9999999999999999999h"}) {
    EXPECT_FALSE(ParseGoDurationNanos(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace eon::visibility
