// RetryPolicy's wire form.
#include "eon/sdk/options.h"

#include <google/protobuf/util/time_util.h>

namespace eon::sdk {

using google::protobuf::util::TimeUtil;

temporal::api::common::v1::RetryPolicy RetryPolicy::ToProto() const {
  temporal::api::common::v1::RetryPolicy proto;
  // Zero fields stay unset so the server applies its defaults.
  if (initial_interval_.count() != 0) {
    *proto.mutable_initial_interval() = TimeUtil::MillisecondsToDuration(initial_interval_.count());
  }
  if (backoff_coefficient_ != 0) proto.set_backoff_coefficient(backoff_coefficient_);
  if (maximum_interval_.count() != 0) {
    *proto.mutable_maximum_interval() = TimeUtil::MillisecondsToDuration(maximum_interval_.count());
  }
  if (maximum_attempts_ != 0) proto.set_maximum_attempts(maximum_attempts_);
  for (const std::string& type : non_retryable_error_types_) {
    proto.add_non_retryable_error_types(type);
  }
  return proto;
}

}  // namespace eon::sdk
