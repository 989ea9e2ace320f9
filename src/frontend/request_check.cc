#include "frontend/request_check.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/duration.pb.h>
#include <google/protobuf/timestamp.pb.h>

#include <string>

namespace eon::frontend {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

constexpr int64_t kNanosPerSecond = 1'000'000'000;

Status CheckDuration(const Message& message, const std::string& path) {
  google::protobuf::Duration d;
  d.CopyFrom(message);
  if (d.nanos() <= -kNanosPerSecond || d.nanos() >= kNanosPerSecond) {
    return InvalidArgument("invalid Duration " + path + ": nanos " + std::to_string(d.nanos()) +
                           " is outside (-1e9, 1e9)");
  }
  if ((d.seconds() > 0 && d.nanos() < 0) || (d.seconds() < 0 && d.nanos() > 0)) {
    return InvalidArgument("invalid Duration " + path + ": seconds " +
                           std::to_string(d.seconds()) + " and nanos " +
                           std::to_string(d.nanos()) + " have different signs");
  }
  if (d.seconds() > kDurationSecondsMax || d.seconds() < -kDurationSecondsMax) {
    return InvalidArgument("invalid Duration " + path + ": " + std::to_string(d.seconds()) +
                           " seconds is more than the limit of " +
                           std::to_string(kDurationSecondsMax) + " (100 years)");
  }
  return Status::Ok();
}

Status CheckTimestamp(const Message& message, const std::string& path) {
  google::protobuf::Timestamp t;
  t.CopyFrom(message);
  if (t.nanos() < 0 || t.nanos() >= kNanosPerSecond) {
    return InvalidArgument("invalid Timestamp " + path + ": nanos " + std::to_string(t.nanos()) +
                           " is outside [0, 1e9)");
  }
  if (t.seconds() > kTimestampSecondsMax || t.seconds() < -kTimestampSecondsMax) {
    return InvalidArgument("invalid Timestamp " + path + ": " + std::to_string(t.seconds()) +
                           " seconds from the Unix epoch is out of range (at most " +
                           std::to_string(kTimestampSecondsMax) + " either way)");
  }
  return Status::Ok();
}

Status Check(const Message& message, const std::string& path) {
  const Descriptor* d = message.GetDescriptor();
  if (d == google::protobuf::Duration::descriptor()) return CheckDuration(message, path);
  if (d == google::protobuf::Timestamp::descriptor()) return CheckTimestamp(message, path);
  const auto* reflection = message.GetReflection();
  std::vector<const FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const FieldDescriptor* field : fields) {
    if (field->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    std::string child = path.empty() ? field->name() : path + "." + field->name();
    if (field->is_repeated()) {
      int size = reflection->FieldSize(message, field);
      for (int i = 0; i < size; ++i) {
        EON_RETURN_IF_ERROR(Check(reflection->GetRepeatedMessage(message, field, i), child));
      }
    } else {
      EON_RETURN_IF_ERROR(Check(reflection->GetMessage(message, field), child));
    }
  }
  return Status::Ok();
}

}  // namespace

Status CheckRequestFields(const google::protobuf::Message& request) { return Check(request, ""); }

}  // namespace eon::frontend
