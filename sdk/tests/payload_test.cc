// Payload encodings (byte for byte those of the other Temporal SDKs), the codec hook, and the
// conversions between failure exceptions and temporal.api.failure.v1.Failure.
#include "eon/sdk/payload.h"

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "eon/sdk/failure.h"
#include "eon/sdk/options.h"
#include "eon/sdk/result.h"

using eon::sdk::ActivityError;
using eon::sdk::ApplicationError;
using eon::sdk::Bytes;
using eon::sdk::CanceledError;
using eon::sdk::DataConverter;
using eon::sdk::Error;
using eon::sdk::ExceptionToFailure;
using eon::sdk::Failure;
using eon::sdk::FailureToException;
using eon::sdk::FromPayload;
using eon::sdk::OtherFailure;
using eon::sdk::Payload;
using eon::sdk::PayloadError;
using eon::sdk::Payloads;
using eon::sdk::RootCauseMessage;
using eon::sdk::TemporalFailure;
using eon::sdk::TimeoutError;
using eon::sdk::ToPayload;

namespace {

struct Order {
  std::string id;
  int quantity = 0;
  std::vector<std::string> items;
  bool operator==(const Order&) const = default;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Order, id, quantity, items)

std::string Encoding(const Payload& payload) {
  auto it = payload.metadata().find("encoding");
  return it == payload.metadata().end() ? "<none>" : it->second;
}

Payload WithEncoding(const std::string& encoding, const std::string& data) {
  Payload payload;
  (*payload.mutable_metadata())["encoding"] = encoding;
  payload.set_data(data);
  return payload;
}

// XORs the serialized payload with a key and wraps it, the shape of an encryption codec.
class XorCodec : public eon::sdk::PayloadCodec {
 public:
  Payload Encode(const Payload& payload) const override {
    Payload encoded;
    (*encoded.mutable_metadata())["encoding"] = "binary/encrypted";
    encoded.set_data(Xor(payload.SerializeAsString()));
    return encoded;
  }
  Payload Decode(const Payload& payload) const override {
    if (Encoding(payload) != "binary/encrypted") throw PayloadError("not encrypted");
    Payload decoded;
    if (!decoded.ParseFromString(Xor(payload.data()))) throw PayloadError("corrupt payload");
    return decoded;
  }

 private:
  static std::string Xor(std::string bytes) {
    for (char& c : bytes) c = static_cast<char>(c ^ 0x5A);
    return bytes;
  }
};

// The exception FailureToException builds, caught as E (nullptr when it is of another type).
template <typename E>
std::optional<E> RethrowAs(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const E& e) {
    return e;
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Encodings

TEST(Payload, StringIsQuotedJson) {
  Payload payload = ToPayload(std::string("hi"));
  EXPECT_EQ(Encoding(payload), "json/plain");
  EXPECT_EQ(payload.data(), "\"hi\"");
  EXPECT_EQ(payload.metadata_size(), 1);
  EXPECT_EQ(FromPayload<std::string>(payload), "hi");
}

TEST(Payload, Numbers) {
  Payload payload = ToPayload(42);
  EXPECT_EQ(Encoding(payload), "json/plain");
  EXPECT_EQ(payload.data(), "42");
  EXPECT_EQ(FromPayload<int>(payload), 42);
  EXPECT_EQ(FromPayload<int64_t>(ToPayload(int64_t{1} << 40)), int64_t{1} << 40);
  EXPECT_DOUBLE_EQ(FromPayload<double>(ToPayload(2.5)), 2.5);
  EXPECT_EQ(ToPayload(true).data(), "true");
}

TEST(Payload, StructIsCompactJsonObject) {
  Order order{"o-1", 3, {"apple", "pear"}};
  Payload payload = ToPayload(order);
  EXPECT_EQ(Encoding(payload), "json/plain");
  EXPECT_EQ(payload.data(), R"({"id":"o-1","items":["apple","pear"],"quantity":3})");
  EXPECT_EQ(FromPayload<Order>(payload), order);
}

TEST(Payload, VectorsAndMaps) {
  std::vector<int> numbers{1, 2, 3};
  Payload payload = ToPayload(numbers);
  EXPECT_EQ(payload.data(), "[1,2,3]");
  EXPECT_EQ(FromPayload<std::vector<int>>(payload), numbers);

  std::map<std::string, int> counts{{"a", 1}, {"b", 2}};
  EXPECT_EQ(ToPayload(counts).data(), R"({"a":1,"b":2})");
  EXPECT_EQ((FromPayload<std::map<std::string, int>>(ToPayload(counts))), counts);
}

TEST(Payload, Optional) {
  std::optional<int> some = 7;
  EXPECT_EQ(ToPayload(some).data(), "7");
  EXPECT_EQ(FromPayload<std::optional<int>>(ToPayload(some)), 7);

  std::optional<int> none;
  Payload null_json = ToPayload(none);
  EXPECT_EQ(Encoding(null_json), "json/plain");
  EXPECT_EQ(null_json.data(), "null");
  EXPECT_EQ(FromPayload<std::optional<int>>(null_json), std::nullopt);

  // binary/null (what other SDKs send for null/undefined/nil) decodes to nullopt too.
  EXPECT_EQ(FromPayload<std::optional<int>>(eon::sdk::internal::NullPayload()), std::nullopt);
  EXPECT_EQ(FromPayload<std::optional<std::string>>(ToPayload(nullptr)), std::nullopt);
}

TEST(Payload, MonostateAndNullptrAreBinaryNull) {
  Payload payload = ToPayload(std::monostate{});
  EXPECT_EQ(Encoding(payload), "binary/null");
  EXPECT_TRUE(payload.data().empty());
  EXPECT_EQ(Encoding(ToPayload(nullptr)), "binary/null");
  EXPECT_EQ(FromPayload<std::monostate>(payload), std::monostate{});
  EXPECT_TRUE(FromPayload<nlohmann::json>(payload).is_null());
}

TEST(Payload, BytesAreBinaryPlain) {
  Bytes bytes{std::string("\x00\xff raw", 6)};
  Payload payload = ToPayload(bytes);
  EXPECT_EQ(Encoding(payload), "binary/plain");
  EXPECT_EQ(payload.data(), bytes.data);
  EXPECT_EQ(FromPayload<Bytes>(payload), bytes);
  EXPECT_EQ(FromPayload<Bytes>(ToPayload(nullptr)), Bytes{});
}

TEST(Payload, ProtobufIsProtobufJson) {
  temporal::api::common::v1::WorkflowExecution execution;
  execution.set_workflow_id("wf-1");
  execution.set_run_id("run-1");
  Payload payload = ToPayload(execution);
  EXPECT_EQ(Encoding(payload), "json/protobuf");
  EXPECT_EQ(payload.metadata().at("messageType"), "temporal.api.common.v1.WorkflowExecution");
  EXPECT_EQ(payload.data(), R"({"workflowId":"wf-1","runId":"run-1"})");
  auto decoded = FromPayload<temporal::api::common::v1::WorkflowExecution>(payload);
  EXPECT_EQ(decoded.workflow_id(), "wf-1");
  EXPECT_EQ(decoded.run_id(), "run-1");
}

TEST(Payload, ProtobufAcceptsBinaryAndIgnoresUnknownJsonFields) {
  temporal::api::common::v1::WorkflowExecution execution;
  execution.set_workflow_id("wf-2");
  auto binary = WithEncoding("binary/protobuf", execution.SerializeAsString());
  EXPECT_EQ(FromPayload<temporal::api::common::v1::WorkflowExecution>(binary).workflow_id(),
            "wf-2");
  auto newer = WithEncoding("json/protobuf", R"({"workflowId":"wf-3","fieldFromTheFuture":1})");
  EXPECT_EQ(FromPayload<temporal::api::common::v1::WorkflowExecution>(newer).workflow_id(), "wf-3");
}

TEST(Payload, PayloadPassesThrough) {
  Payload raw = WithEncoding("custom/thing", "abc");
  EXPECT_EQ(ToPayload(raw).SerializeAsString(), raw.SerializeAsString());
  EXPECT_EQ(FromPayload<Payload>(raw).SerializeAsString(), raw.SerializeAsString());
}

// ---------------------------------------------------------------------------------------------
// Decode errors

TEST(PayloadErrors, BadJson) {
  EXPECT_THROW(FromPayload<int>(WithEncoding("json/plain", "{not json")), PayloadError);
}

TEST(PayloadErrors, WrongShape) {
  EXPECT_THROW(FromPayload<int>(ToPayload(std::string("seven"))), PayloadError);
  EXPECT_THROW(FromPayload<Order>(ToPayload(5)), PayloadError);
  EXPECT_THROW(FromPayload<std::string>(ToPayload(nullptr)), PayloadError);
}

TEST(PayloadErrors, WrongEncoding) {
  try {
    (void)FromPayload<std::string>(ToPayload(Bytes{"raw"}));
    FAIL() << "expected PayloadError";
  } catch (const PayloadError& e) {
    EXPECT_NE(std::string(e.what()).find("binary/plain"), std::string::npos) << e.what();
  }
  EXPECT_THROW(FromPayload<Bytes>(ToPayload(std::string("text"))), PayloadError);
  EXPECT_THROW(FromPayload<temporal::api::common::v1::WorkflowExecution>(ToPayload(1)),
               PayloadError);
  EXPECT_THROW(FromPayload<temporal::api::common::v1::WorkflowExecution>(
                   WithEncoding("json/protobuf", "[1, 2")),
               PayloadError);
  EXPECT_THROW(FromPayload<int>(Payload()), PayloadError);  // no encoding at all
}

// ---------------------------------------------------------------------------------------------
// Codec

TEST(DataConverter, WithoutCodecIsIdentity) {
  DataConverter converter;
  EXPECT_EQ(converter.codec(), nullptr);
  Payload payload = converter.Encode(std::string("hi"));
  EXPECT_EQ(payload.data(), "\"hi\"");
  EXPECT_EQ(converter.Decode<std::string>(payload), "hi");
}

TEST(DataConverter, CodecAppliesBothWays) {
  DataConverter converter(std::make_shared<XorCodec>());
  Order order{"o-2", 1, {"fig"}};
  Payload encoded = converter.Encode(order);
  EXPECT_EQ(Encoding(encoded), "binary/encrypted");
  EXPECT_EQ(encoded.data().find("fig"), std::string::npos);
  EXPECT_EQ(converter.Decode<Order>(encoded), order);
  // The codec's errors reach the caller.
  EXPECT_THROW(converter.Decode<Order>(ToPayload(order)), PayloadError);

  Payloads all = converter.EncodeAll(std::string("a"), 2);
  ASSERT_EQ(all.payloads_size(), 2);
  EXPECT_EQ(Encoding(all.payloads(0)), "binary/encrypted");
  EXPECT_EQ(converter.Decode<std::string>(all.payloads(0)), "a");
  EXPECT_EQ(converter.Decode<int>(all.payloads(1)), 2);

  Payload plain = converter.ApplyDecode(converter.ApplyEncode(ToPayload(3)));
  EXPECT_EQ(plain.SerializeAsString(), ToPayload(3).SerializeAsString());
}

// ---------------------------------------------------------------------------------------------
// Failures

TEST(Failure, ApplicationErrorRoundTrip) {
  Payloads details = DataConverter().EncodeAll(std::string("card"), 402);
  ApplicationError error("card declined", "CardDeclined", /*non_retryable=*/true, details,
                         std::chrono::milliseconds(1500));
  EXPECT_STREQ(error.what(), "card declined");
  Failure failure = ExceptionToFailure(std::make_exception_ptr(error));
  EXPECT_EQ(failure.message(), "card declined");
  EXPECT_EQ(failure.source(), "EonCppSDK");
  ASSERT_TRUE(failure.has_application_failure_info());
  EXPECT_EQ(failure.application_failure_info().next_retry_delay().seconds(), 1);
  EXPECT_EQ(failure.application_failure_info().next_retry_delay().nanos(), 500'000'000);

  auto rethrown = RethrowAs<ApplicationError>(FailureToException(failure));
  ASSERT_TRUE(rethrown.has_value());
  EXPECT_EQ(rethrown->type(), "CardDeclined");
  EXPECT_TRUE(rethrown->non_retryable());
  ASSERT_EQ(rethrown->details().payloads_size(), 2);
  EXPECT_EQ(FromPayload<std::string>(rethrown->details().payloads(0)), "card");
  EXPECT_EQ(FromPayload<int>(rethrown->details().payloads(1)), 402);
  EXPECT_EQ(rethrown->cause(), nullptr);
}

TEST(Failure, ApplicationErrorDefaults) {
  ApplicationError error("oops");
  EXPECT_EQ(error.type(), "");
  EXPECT_FALSE(error.non_retryable());
  EXPECT_EQ(error.details().payloads_size(), 0);
  EXPECT_FALSE(error.failure().application_failure_info().has_next_retry_delay());
}

TEST(Failure, ActivityErrorCauseIsApplicationError) {
  Failure failure;
  failure.set_message("activity failed");
  failure.mutable_activity_failure_info()->set_activity_id("7");
  failure.mutable_activity_failure_info()->mutable_activity_type()->set_name("Charge");
  *failure.mutable_cause() = ApplicationError("insufficient funds", "Funds").failure();

  auto activity = RethrowAs<ActivityError>(FailureToException(failure));
  ASSERT_TRUE(activity.has_value());
  EXPECT_EQ(activity->activity_id(), "7");
  EXPECT_EQ(activity->activity_type(), "Charge");
  auto cause = RethrowAs<ApplicationError>(activity->cause());
  ASSERT_TRUE(cause.has_value());
  EXPECT_EQ(cause->type(), "Funds");
  EXPECT_STREQ(cause->what(), "insufficient funds");
  // Caught through the base class, it is still the same failure.
  auto base = RethrowAs<TemporalFailure>(FailureToException(failure));
  ASSERT_TRUE(base.has_value());
  EXPECT_EQ(base->failure().activity_failure_info().activity_id(), "7");
}

TEST(Failure, KindsMapToExceptionTypes) {
  Failure timeout;
  timeout.mutable_timeout_failure_info()->set_timeout_type(
      temporal::api::enums::v1::TIMEOUT_TYPE_HEARTBEAT);
  auto timeout_error = RethrowAs<TimeoutError>(FailureToException(timeout));
  ASSERT_TRUE(timeout_error.has_value());
  EXPECT_EQ(timeout_error->timeout_type(), temporal::api::enums::v1::TIMEOUT_TYPE_HEARTBEAT);

  CanceledError canceled;
  EXPECT_STREQ(canceled.what(), "canceled");
  EXPECT_TRUE(canceled.failure().has_canceled_failure_info());
  EXPECT_TRUE(RethrowAs<CanceledError>(
                  FailureToException(ExceptionToFailure(std::make_exception_ptr(canceled))))
                  .has_value());

  Failure terminated;
  terminated.mutable_terminated_failure_info();
  EXPECT_TRUE(RethrowAs<eon::sdk::TerminatedError>(FailureToException(terminated)).has_value());

  Failure child;
  child.mutable_child_workflow_execution_failure_info()
      ->mutable_workflow_execution()
      ->set_workflow_id("child-1");
  auto child_error = RethrowAs<eon::sdk::ChildWorkflowError>(FailureToException(child));
  ASSERT_TRUE(child_error.has_value());
  EXPECT_EQ(child_error->workflow_id(), "child-1");

  Failure server;
  server.set_message("server says no");
  server.mutable_server_failure_info();
  auto other = RethrowAs<OtherFailure>(FailureToException(server));
  ASSERT_TRUE(other.has_value());
  EXPECT_STREQ(other->what(), "server says no");
  EXPECT_TRUE(RethrowAs<OtherFailure>(FailureToException(Failure())).has_value());
}

TEST(Failure, StdExceptionBecomesRetryableApplicationFailure) {
  Failure failure = ExceptionToFailure(std::make_exception_ptr(std::runtime_error("disk full")));
  EXPECT_EQ(failure.message(), "disk full");
  EXPECT_EQ(failure.source(), "EonCppSDK");
  EXPECT_EQ(failure.stack_trace(), "");
  ASSERT_TRUE(failure.has_application_failure_info());
  EXPECT_EQ(failure.application_failure_info().type(), "std::exception");
  EXPECT_FALSE(failure.application_failure_info().non_retryable());
}

TEST(Failure, UnknownExceptionBecomesUnknownFailure) {
  Failure failure = ExceptionToFailure(std::make_exception_ptr(42));
  EXPECT_EQ(failure.message(), "unknown exception");
  EXPECT_EQ(failure.application_failure_info().type(), "unknown");
}

TEST(Failure, RootCauseMessage) {
  Failure outer;
  outer.set_message("activity failed");
  outer.mutable_activity_failure_info();
  Failure* middle = outer.mutable_cause();
  middle->set_message("child failed");
  middle->mutable_child_workflow_execution_failure_info();
  *middle->mutable_cause() = ApplicationError("the real reason").failure();
  EXPECT_EQ(RootCauseMessage(outer), "the real reason");
  EXPECT_EQ(RootCauseMessage(*middle), "the real reason");
  EXPECT_EQ(RootCauseMessage(ApplicationError("alone").failure()), "alone");
}

// ---------------------------------------------------------------------------------------------
// Error

TEST(Error, ToString) {
  Error not_found{grpc::StatusCode::NOT_FOUND, "workflow not found", std::nullopt};
  EXPECT_EQ(not_found.ToString(), "NOT_FOUND: workflow not found");
  EXPECT_EQ((Error{grpc::StatusCode::INVALID_ARGUMENT, "bad", std::nullopt}.ToString()),
            "INVALID_ARGUMENT: bad");
  EXPECT_EQ((Error{grpc::StatusCode::DEADLINE_EXCEEDED, "slow", std::nullopt}.ToString()),
            "DEADLINE_EXCEEDED: slow");
  EXPECT_EQ((Error{grpc::StatusCode::UNAVAILABLE, "", std::nullopt}.ToString()), "UNAVAILABLE");
  EXPECT_EQ(Error{}.ToString(), "UNKNOWN");
}

// ---------------------------------------------------------------------------------------------
// RetryPolicy

TEST(RetryPolicy, OnlyNonZeroFieldsAreSet) {
  auto empty = eon::sdk::RetryPolicy{}.ToProto();
  EXPECT_FALSE(empty.has_initial_interval());
  EXPECT_FALSE(empty.has_maximum_interval());
  EXPECT_EQ(empty.backoff_coefficient(), 0);
  EXPECT_EQ(empty.maximum_attempts(), 0);

  auto policy = eon::sdk::RetryPolicy()
                    .initial_interval(std::chrono::milliseconds(250))
                    .backoff_coefficient(1.5)
                    .maximum_interval(std::chrono::milliseconds(90'000))
                    .maximum_attempts(4)
                    .non_retryable("Fatal")
                    .non_retryable("Bad");
  auto proto = policy.ToProto();
  EXPECT_EQ(proto.initial_interval().seconds(), 0);
  EXPECT_EQ(proto.initial_interval().nanos(), 250'000'000);
  EXPECT_DOUBLE_EQ(proto.backoff_coefficient(), 1.5);
  EXPECT_EQ(proto.maximum_interval().seconds(), 90);
  EXPECT_EQ(proto.maximum_attempts(), 4);
  ASSERT_EQ(proto.non_retryable_error_types_size(), 2);
  EXPECT_EQ(proto.non_retryable_error_types(1), "Bad");
}
