#include "persistence/records.h"

#include <google/protobuf/io/coded_stream.h>

namespace eon::persistence {

bool ParseRecord(std::string_view bytes, google::protobuf::Message* message, int nesting_max) {
  google::protobuf::io::CodedInputStream input(reinterpret_cast<const uint8_t*>(bytes.data()),
                                               static_cast<int>(bytes.size()));
  input.SetRecursionLimit(nesting_max);
  return message->ParseFromCodedStream(&input) && input.ConsumedEntireMessage();
}

namespace {

using google::protobuf::Descriptor;
using google::protobuf::FieldDescriptor;

bool ReadVarint(const uint8_t*& p, const uint8_t* end, uint64_t& value) {
  value = 0;
  for (int shift = 0; shift < 64 && p < end; shift += 7) {
    const uint8_t byte = *p++;
    value |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) return true;
  }
  return false;
}

// Walks the wire form of one message of `type` (null: a type not known, whose length-delimited
// fields are opaque, as the parser keeps them) from `p`, and says whether it nests messages at
// most `budget` levels below itself, counted as the parser counts them (each message or group
// entered, map entries included, spends one level). `group` is the field number of the group
// being walked (0 for a message, which ends at `end`). Nothing is allocated: this is the check
// of what a parse with that budget would accept, for the price of reading the tags.
bool NestsWithin(const uint8_t*& p, const uint8_t* end, const Descriptor* type, int budget,
                 uint64_t group) {
  while (p < end) {
    uint64_t tag;
    if (!ReadVarint(p, end, tag)) return false;
    const uint64_t number = tag >> 3;
    if (number == 0 || number > FieldDescriptor::kMaxNumber) return false;
    const FieldDescriptor* field =
        type ? type->FindFieldByNumber(static_cast<int>(number)) : nullptr;
    switch (tag & 7) {
      case 0: {  // varint
        uint64_t ignored;
        if (!ReadVarint(p, end, ignored)) return false;
        break;
      }
      case 1:  // fixed64
        if (end - p < 8) return false;
        p += 8;
        break;
      case 5:  // fixed32
        if (end - p < 4) return false;
        p += 4;
        break;
      case 2: {  // length-delimited: a message, or bytes the parser does not look into
        uint64_t length;
        if (!ReadVarint(p, end, length) || length > static_cast<uint64_t>(end - p)) return false;
        const uint8_t* field_end = p + length;
        if (field != nullptr && field->type() == FieldDescriptor::TYPE_MESSAGE) {
          if (budget == 0) return false;
          if (!NestsWithin(p, field_end, field->message_type(), budget - 1, 0) || p != field_end)
            return false;
        }
        p = field_end;
        break;
      }
      case 3: {  // start of a group, which the parser enters as it enters a message
        if (budget == 0) return false;
        const Descriptor* group_type =
            field != nullptr && field->type() == FieldDescriptor::TYPE_GROUP ? field->message_type()
                                                                             : nullptr;
        if (!NestsWithin(p, end, group_type, budget - 1, number)) return false;
        break;
      }
      case 4:  // end of a group: only of the one being walked
        return number == group;
      default:
        return false;
    }
  }
  return group == 0;
}

}  // namespace

bool NestsWithin(std::string_view bytes, const google::protobuf::Descriptor* type,
                 int nesting_max) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data());
  return NestsWithin(p, p + bytes.size(), type, nesting_max, 0);
}

Result<std::string> SerializeRecord(const google::protobuf::Message& message, const char* what) {
  std::string bytes;
  if (!message.SerializeToString(&bytes)) {
    return InvalidArgument(std::string("the ") + what + " record cannot be serialized");
  }
  if (!NestsWithin(bytes, message.GetDescriptor(), kRecordNestingMax)) {
    return InvalidArgument(std::string("the ") + what +
                           " record nests messages deeper than the limit of " +
                           std::to_string(kRecordNestingMax) + " levels");
  }
  return bytes;
}

}  // namespace eon::persistence
