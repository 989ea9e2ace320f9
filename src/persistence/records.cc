#include "persistence/records.h"

#include <google/protobuf/io/coded_stream.h>

#include <memory>

namespace eon::persistence {

bool ParseRecord(std::string_view bytes, google::protobuf::Message* message, int nesting_max) {
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  input.SetRecursionLimit(nesting_max);
  return message->ParseFromCodedStream(&input) && input.ConsumedEntireMessage();
}

Result<std::string> SerializeRecord(const google::protobuf::Message& message, const char* what) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return InvalidArgument(std::string("the ") + what + " record cannot be serialized");
  }
  std::unique_ptr<google::protobuf::Message> back(message.New());
  if (!ParseRecord(bytes, back.get())) {
    return InvalidArgument(std::string("the ") + what +
                           " record nests messages deeper than the limit of " +
                           std::to_string(kRecordNestingMax) + " levels");
  }
  return bytes;
}

}  // namespace eon::persistence
