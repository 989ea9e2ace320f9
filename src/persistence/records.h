// How records are stored: protobuf messages, written only in a form that parses back.
//
// Protobuf refuses to parse messages nested deeper than a recursion limit (100 by default). A
// request can legally nest close to that (a failure's cause chain), and a stored record wraps
// what it holds in a few more levels (an event, a map entry, an activity), so records are read
// with a higher limit, kRecordNestingMax, and every write checks that what it stores would parse
// back under that limit (a walk of the bytes' tags, NestsWithin, not a parse): a record that could
// not be read is refused with INVALID_ARGUMENT rather than acknowledged and then found corrupt
// after a restart.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "common/status.h"

namespace eon::persistence {

// Nesting accepted in requests (the gRPC edge parses with this limit).
constexpr int kRequestNestingMax = 100;
// Nesting accepted in stored records: the request limit plus room for the wrappers.
constexpr int kRecordNestingMax = 2 * kRequestNestingMax;

// Parses `bytes` into `message` with the record nesting limit. False if it does not parse.
bool ParseRecord(std::string_view bytes, google::protobuf::Message* message,
                 int nesting_max = kRecordNestingMax);

// Whether `bytes`, the wire form of a message of `type`, would parse with `nesting_max` (the
// nesting part of ParseRecord's check, without building the message).
bool NestsWithin(std::string_view bytes, const google::protobuf::Descriptor* type,
                 int nesting_max = kRecordNestingMax);

// Serializes `message` and checks that the bytes would parse back with kRecordNestingMax.
// `what` names the record in the error ("execution", "history event").
Result<std::string> SerializeRecord(const google::protobuf::Message& message, const char* what);

// Parses a stored record of type T; a record that does not parse is INTERNAL ("corrupt <what>
// record in the database").
template <typename T>
Result<T> ParseStored(std::string_view bytes, const char* what) {
  T message;
  if (!ParseRecord(bytes, &message)) {
    return Internal(std::string("corrupt ") + what + " record in the database");
  }
  return message;
}

}  // namespace eon::persistence
